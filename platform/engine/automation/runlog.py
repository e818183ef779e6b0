"""The run log: every rule that fired, what it did and how it ended (docs/automation.md, "The run log").

    crm.as_user(admin_id).automation_runs.runs(object="deal", outcome="dead")   # the admin page
    crm.runlog_prune()                                                            # the periodic task

Written where the run happens, so an entry exists exactly when what it reports does:

- a before-save rule (update_record, run_script) in the save's own transaction; on a create
  the entry waits on the context until the after-write step knows the record's id
  (`flush_pending`). A rule that could not run refuses the save, whose transaction rolls
  back: its `refused` entry is kept on the context and written in a transaction of its own
  once the save's has ended (`write_failed`), so the admin still sees why;
- an after-save action when the worker finishes its outbox row (automation/outbox.py), in
  the transaction that marks the row done, failed or dead; rows written `dead` or `stopped`
  at the save get their entry at the save.

An entry names the record, the rule, the trigger, the kinds of the actions (never their
values), the outcome, the duration in milliseconds and the error sentence. Old entries,
and the outbox rows long done, are pruned by a periodic task (`prune`) after
CRMKIT_RUNLOG_RETENTION_DAYS days (default 90).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from sqlalchemy import Connection, delete, insert, select

from crmkit.engine import messages
from crmkit.engine.database import write_transaction
from crmkit.engine.retention import retention_days
from crmkit.engine.query.inputs import INT64_MAX, INT64_MIN, is_record_id
from crmkit.engine.security.access import PermissionDenied

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext
    from crmkit.engine.crm import Crm
    from crmkit.engine.records.events import RecordEvent

logger = logging.getLogger("crmkit.automation")

RUN_TABLE = "crmkit_automation_run"
#: Days an entry of the run log (and a done outbox row) is kept, unless CRMKIT_RUNLOG_RETENTION_DAYS says otherwise.
DEFAULT_RETENTION_DAYS = 90
#: The most entries one page of the admin list holds.
MAX_PAGE = 200


def retention() -> timedelta:
    """How long entries are kept: CRMKIT_RUNLOG_RETENTION_DAYS (a whole number of days >= 1), else 90 days.

    ValueError naming the variable when it is set to anything else.
    """
    return retention_days("CRMKIT_RUNLOG_RETENTION_DAYS", DEFAULT_RETENTION_DAYS)


def elapsed_ms(started: float) -> int:
    """Whole milliseconds since `started` (a time.perf_counter() reading)."""
    return max(0, round((time.perf_counter() - started) * 1000))


def entry(*, at: datetime, object_name: str, record_id: int | None, rule: str, trigger: str,
          actions: Iterable[str], outcome: str, duration_ms: int, error: str | None = None,
          actor_id: int | None = None, outbox_id: int | None = None) -> dict[str, Any]:
    """One run log row as a dict for `write` (rule: "object.rule"; trigger: create, update, ..., manual)."""
    return {"at": at, "object": object_name, "record_id": record_id, "rule": rule, "trigger": trigger,
            "actions": list(actions), "outcome": outcome, "duration_ms": duration_ms, "error": error,
            "actor_id": actor_id, "outbox_id": outbox_id}


def outbox_entry(row: Any, now, outcome: str, duration_ms: int, error: str | None = None) -> dict[str, Any]:
    """The entry of outbox row `row` (a crmkit_outbox row) ending, or failing an attempt, `now`."""
    return entry(at=now, object_name=row.object, record_id=row.record_id, rule=row.rule, trigger=row.operation,
                 actions=[row.kind], outcome=outcome, duration_ms=duration_ms, error=error, actor_id=row.actor_id,
                 outbox_id=row.id)


def write(connection: Connection, context_or_crm: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `rows` (from `entry`) on `connection`, inside the caller's transaction."""
    if rows:
        table = context_or_crm.runtime.system_table(RUN_TABLE)
        connection.execute(insert(table), [dict(row) for row in rows])


def flush_pending(connection: Connection, context: "UserContext", events: Sequence["RecordEvent"]) -> None:
    """The entries of before-save rules of records just created, now that their ids are known.

    `context.pending_runs` holds, in the order the records were prepared, (object, [entries]);
    the create events come in the same order (a single create, or a bulk create's records).
    """
    pending = getattr(context, "pending_runs", None)
    if not pending:
        return
    rows = []
    for event in events:
        if event.operation.value != "create" or not pending or pending[0][0] != event.object:
            continue
        _, entries = pending.pop(0)
        rows.extend({**row, "record_id": event.record_id} for row in entries)
    write(connection, context, rows)


def write_failed(crm: "Crm", rows: Sequence[Mapping[str, Any]]) -> None:
    """Entries of rules that refused a save, in a transaction of their own (the save's rolled back).

    A database that cannot take them is logged, never raised over the save's own error.
    """
    try:
        with write_transaction(crm.write_engine) as connection:
            write(connection, crm, rows)
    except Exception:  # the save's error is what the user must see
        logger.exception("the run log could not keep %d refused run(s)", len(rows))


@dataclass(frozen=True)
class Run:
    """One run log entry as the admin page and the timeline show it."""

    id: int
    at: datetime
    object: str
    record_id: int | None
    rule: str
    trigger: str
    actions: tuple[str, ...]
    outcome: str
    duration_ms: int
    error: str | None
    actor_id: int | None
    outbox_id: int | None

    @property
    def rule_name(self) -> str:
        """The rule's name without its object."""
        return self.rule.split(".", 1)[-1]

    @classmethod
    def of(cls, row: Any, *, with_error: bool = True) -> "Run":
        return cls(row.id, row.at, row.object, row.record_id, row.rule, row.trigger, tuple(row.actions or ()),
                   row.outcome, row.duration_ms, row.error if with_error else None, row.actor_id, row.outbox_id)


class AutomationRuns:
    """The run log for an administrator: entries with filters, newest first, and pruning."""

    def __init__(self, context: "UserContext") -> None:
        policy = context.policy
        if policy is not None and not policy.is_admin:
            raise PermissionDenied(messages.RUN_LOG_ADMINS_ONLY())
        self.context = context
        self.table = context.runtime.system_table(RUN_TABLE)

    def dead_letters(self, *, limit: int = 100) -> list[dict[str, Any]]:
        """The outbox's dead rows, newest first (Outbox.rows)."""
        return self.context.crm.outbox.rows(status="dead", limit=limit)

    def outbox_row(self, outbox_id: int) -> dict[str, Any] | None:
        """One outbox row as stored, or None (Outbox.row)."""
        return self.context.crm.outbox.row(outbox_id)

    def replay(self, outbox_ids: Sequence[int]) -> list[int]:
        """Make dead rows pending again (Outbox.replay; OutboxRowNotFound for one that is not dead)."""
        return self.context.crm.outbox.replay(outbox_ids)

    def runs(self, *, object: str | None = None, rule: str | None = None, outcome: str | None = None,
             record_id: int | None = None, before: int | None = None, limit: int = 50) -> list[Run]:
        """Entries newest first, of one object / rule ("object.rule" or its name) / outcome if given;
        `before`: only entries with a smaller id (the next page)."""
        table = self.table
        query = select(table).order_by(table.c.id.desc()).limit(max(1, min(limit, MAX_PAGE)))
        if object:
            query = query.where(table.c.object == object)
        if rule:
            query = query.where(table.c.rule == rule if "." in rule else table.c.rule.like(f"%.{_escape(rule)}",
                                                                                          escape="\\"))
        if outcome:
            query = query.where(table.c.outcome == outcome)
        if record_id is not None:
            if not is_record_id(record_id):
                return []
            query = query.where(table.c.record_id == record_id)
        if before is not None:
            query = query.where(table.c.id < max(INT64_MIN, min(int(before), INT64_MAX)))  # within 64 bits
        with self.context.reading() as connection:
            return [Run.of(row) for row in connection.execute(query)]


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def prune(crm: "Crm", *, keep: timedelta | None = None) -> dict[str, int]:
    """Delete run log entries older than `keep` (default: `retention()`), outbox rows done that long ago and
    notifications read that long ago; returns {table: rows deleted}. Pending, dead and stopped outbox rows stay."""
    cutoff = crm.clock() - (keep if keep is not None else retention())
    runtime = crm.runtime
    runs = runtime.system_table(RUN_TABLE)
    outbox = runtime.system_table("crmkit_outbox")
    notes = runtime.system_table("crmkit_notification")
    with write_transaction(crm.write_engine) as connection:
        counts = {
            RUN_TABLE: connection.execute(delete(runs).where(runs.c.at < cutoff)).rowcount,
            "crmkit_notification": connection.execute(delete(notes).where(
                notes.c.read_at.is_not(None), notes.c.read_at < cutoff)).rowcount,
            # A row that told a notification still kept stays: its payload says what the message quotes, which
            # the recipient must still be allowed to read each time it is shown (notifications.Notifications.list).
            "crmkit_outbox": connection.execute(delete(outbox).where(
                outbox.c.status == "done", outbox.c.finished_at < cutoff,
                outbox.c.id.not_in(select(notes.c.outbox_id).where(notes.c.outbox_id.is_not(None))))).rowcount,
        }
    if any(counts.values()):
        logger.info("pruned automation logs older than %s: %s", cutoff.isoformat(), counts)
    return counts
