"""The run log and in-app notification tables, created with the other system tables (automation/tables.py).

crmkit_automation_run: one row per rule that fired (its condition held) and what came of it.
crmkit_notification: one row per user told something by a `notify` action.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text

from crmkit.engine.columns import JsonDocument, RecordId, UtcDateTime

#: done: the rule's actions were done; failed: an attempt failed and is retried later; dead: failed for
#: good (an outbox dead letter); stopped: not run, its chain of rules reached the depth limit; refused: a
#: before-save or manual rule could not run, so the save it was part of was refused.
OUTCOMES = ("done", "failed", "dead", "stopped", "refused")


def define_runlog_tables(metadata: MetaData) -> None:
    """crmkit_automation_run and crmkit_notification."""
    run = Table(
        "crmkit_automation_run", metadata,
        Column("id", RecordId, primary_key=True, autoincrement=True),
        Column("at", UtcDateTime(), nullable=False),
        #: The record whose save (or manual run) fired the rule; None for a new record whose create was refused.
        Column("object", String(63), nullable=False),
        Column("record_id", BigInteger(), nullable=True),
        #: "object.rule", and what fired it: create, update, delete, restore or manual.
        Column("rule", String(127), nullable=False),
        Column("trigger", String(16), nullable=False),
        #: The kinds of the actions this run did or tried (["update_record", ...]); never their values.
        Column("actions", JsonDocument(), nullable=False),
        Column("outcome", String(16), nullable=False),
        Column("duration_ms", Integer(), nullable=False),
        Column("error", Text(), nullable=True),
        Column("actor_id", BigInteger(), nullable=True),
        Column("outbox_id", BigInteger(), nullable=True),
        sqlite_autoincrement=True,
    )
    Index("ix_crmkit_automation_run_record", run.c.object, run.c.record_id, run.c.at, run.c.id)
    Index("ix_crmkit_automation_run_at", run.c.at)
    notification = Table(
        "crmkit_notification", metadata,
        Column("id", RecordId, primary_key=True, autoincrement=True),
        Column("user_id", BigInteger(), nullable=False),
        Column("object", String(63), nullable=False),
        Column("record_id", BigInteger(), nullable=False),
        Column("message", Text(), nullable=False),
        Column("rule", String(127), nullable=False),
        #: The outbox row that told it: with user_id unique, so a row done twice tells nobody twice.
        Column("outbox_id", BigInteger(), nullable=True),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("read_at", UtcDateTime(), nullable=True),
        sqlite_autoincrement=True,
    )
    # The unread badge: one count over (user_id, read_at IS NULL) by this index.
    Index("ix_crmkit_notification_unread", notification.c.user_id, notification.c.read_at, notification.c.id)
    Index("ux_crmkit_notification_outbox", notification.c.outbox_id, notification.c.user_id, unique=True)
