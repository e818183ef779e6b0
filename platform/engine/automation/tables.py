"""The automation outbox table, created with the other system tables (engine/tables.py).

One row per after-save action a save decided on, written in the save's own transaction
(records/events.py, step 5), so the row exists exactly when the save committed. The row
is the record of truth of that action: the queue only carries its id.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text

from crmkit.engine.automation.runlog_tables import define_runlog_tables
from crmkit.engine.automation.time_tables import define_time_tables
from crmkit.engine.columns import JsonDocument, RecordId, UtcDateTime

#: pending: to be done (again, from next_attempt_at); done; dead: failed for good, waiting for an admin's
#: replay; stopped: not run because its chain of rules reached the depth limit.
STATUSES = ("pending", "done", "dead", "stopped")
#: An email whose SMTP transaction reached DATA: never sent again by the platform (deliveries.py).
SENDING = "sending"


def define_automation_tables(metadata: MetaData) -> None:
    """crmkit_outbox."""
    outbox = Table(
        "crmkit_outbox", metadata,
        Column("id", RecordId, primary_key=True, autoincrement=True),
        #: The record whose save decided the action, and the rule ("object.rule") and its action's position.
        Column("object", String(63), nullable=False),
        Column("record_id", BigInteger(), nullable=False),
        Column("operation", String(16), nullable=False),
        Column("rule", String(127), nullable=False),
        Column("action", Integer(), nullable=False),
        Column("kind", String(63), nullable=False),
        #: What to do, computed at the save: {"object", "record_id"?, "values"} (values as JSON text).
        Column("payload", JsonDocument(), nullable=True),
        #: How many automation steps led here (1: a person's save) and the rules on the way ("object.rule").
        Column("depth", Integer(), nullable=False),
        Column("chain", JsonDocument(), nullable=False),
        Column("status", String(16), nullable=False),
        Column("attempts", Integer(), nullable=False, default=0),
        Column("next_attempt_at", UtcDateTime(), nullable=False),
        #: When the id was last handed to the queue; the periodic requeue hands it again only long after.
        Column("queued_at", UtcDateTime(), nullable=False),
        Column("last_error", Text(), nullable=True),
        Column("actor_id", BigInteger(), nullable=True),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("finished_at", UtcDateTime(), nullable=True),
        sqlite_autoincrement=True,
    )
    Index("ix_crmkit_outbox_due", outbox.c.status, outbox.c.next_attempt_at)
    Index("ix_crmkit_outbox_record", outbox.c.object, outbox.c.record_id)
    define_runlog_tables(metadata)
    define_time_tables(metadata)
    define_delivery_tables(metadata)


def define_delivery_tables(metadata: MetaData) -> None:
    """crmkit_email_opt_out: addresses that asked for no more marketing mail (docs/automation.md, "Unsubscribe")."""
    Table(
        "crmkit_email_opt_out", metadata,
        #: Lower-cased, so that "Ann@Example.com" and "ann@example.com" are one person.
        Column("address", String(320), primary_key=True),
        #: The record whose marketing mail carried the link, if any.
        Column("object", String(63), nullable=True),
        Column("record_id", BigInteger(), nullable=True),
        Column("created_at", UtcDateTime(), nullable=False),
    )


def define_assignment_tables(metadata: MetaData) -> None:
    """crmkit_assignment_turn: where each round robin stands (engine/automation/assignment.py).

    One row per counter ("object.rule.action" and the pool); an assignment updates its row
    before reading it, so the row lock (PostgreSQL) or the write lock (SQLite) makes two
    concurrent saves take their turns one after the other, never the same one.
    """
    Table(
        "crmkit_assignment_turn", metadata,
        Column("key", String(255), primary_key=True),
        #: The user given the last record, or None before the first; the next turn is the next user by id.
        Column("last_user_id", BigInteger(), nullable=True),
        #: How many turns were taken: the row's update is what serialises concurrent assignments.
        Column("turns", BigInteger(), nullable=False, default=0),
        Column("updated_at", UtcDateTime(), nullable=False),
    )
