"""The tables of time-based rules, created with the other system tables (automation/tables.py).

crmkit_schedule_state: one row per scheduled rule ("object.rule"): the cron moment of its
last firing (`due_at`) and, while that firing is being worked, how far it has come
(`after_id`: the last record id done; NULL once the firing is complete). A worker claims a
firing with a conditional UPDATE of this row, and each batch of records advances `after_id`
in the transaction that writes the batch's outbox rows, so each firing happens once however
many workers run, and a worker dying half-way leaves the rest to the next one.

crmkit_planned_run: one row per record and relative rule: when the rule fires for it
(`due_at`), written in the record's save transaction (automation/planning.py) and turned
into outbox rows once (`status` pending -> done, or skipped when its condition no longer
holds or its record is gone).
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, MetaData, String, Table, UniqueConstraint

from crmkit.engine.columns import RecordId, UtcDateTime

#: pending: to fire at due_at; done: fired (its outbox rows written); skipped: due, but its condition
#: was false or its record gone.
PLANNED_STATUSES = ("pending", "done", "skipped")


def define_time_tables(metadata: MetaData) -> None:
    """crmkit_schedule_state and crmkit_planned_run."""
    Table(
        "crmkit_schedule_state", metadata,
        Column("rule", String(127), primary_key=True),
        Column("due_at", UtcDateTime(), nullable=False),
        Column("after_id", BigInteger(), nullable=True),
        Column("finished_at", UtcDateTime(), nullable=True),
    )
    planned = Table(
        "crmkit_planned_run", metadata,
        Column("id", RecordId, primary_key=True, autoincrement=True),
        Column("object", String(63), nullable=False),
        Column("record_id", BigInteger(), nullable=False),
        Column("rule", String(127), nullable=False),
        Column("due_at", UtcDateTime(), nullable=False),
        Column("status", String(16), nullable=False),
        Column("fired_at", UtcDateTime(), nullable=True),
        UniqueConstraint("object", "record_id", "rule", name="uq_crmkit_planned_run_record"),
        sqlite_autoincrement=True,
    )
    Index("ix_crmkit_planned_run_due", planned.c.status, planned.c.due_at)
