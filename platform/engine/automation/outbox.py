"""The outbox's life: a pending row is done once, retried with backoff, or dead for an admin to replay.

    crm.outbox.work(outbox_id)   # one row: "done", "retry", "dead" or "skipped"
    crm.outbox.work_many(ids)    # what the queue's task does: several rows, one commit, a savepoint each
    crm.outbox.requeue()         # pending rows whose delivery never finished, handed to the queue again
    crm.outbox.work_due()        # every due row, now, in this process (tests, `crmkit worker --once`)
    crm.outbox.rows(status="dead"); crm.outbox.replay(outbox_id)

`work` claims the row (PostgreSQL: FOR UPDATE SKIP LOCKED, so two workers never do one row
at once; SQLite: the write lock), performs its action and marks it done in ONE transaction:
a worker killed half-way leaves the row pending and unchanged, and the periodic requeue
hands it to another worker, which does it once. A failure is recorded in a transaction of
its own: an error the action's own data causes (a validation error, a deleted record, a
refused permission: a CrmkitError other than a stale record or a busy database) makes the
row dead at once; any other error is retried after BACKOFF[attempt] seconds, and the row
is dead after MAX_ATTEMPTS. Every moment comes from `Crm.clock`, so tests move time
instead of sleeping.

send_email and call_webhook rows cannot be done inside a transaction: the claim gives them a
lease instead, and deliveries.py sends them and marks them done (claim -> send -> done).
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Sequence

from sqlalchemy import Connection, select, update

from crmkit.engine.automation import runlog
from crmkit.engine.automation.actions import perform
from crmkit.engine.automation.deliveries import deliver, settle_abandoned, take_lease
from crmkit.engine.automation.rules import AutomationOrigin
from crmkit.engine.database import ConnectionLost, DatabaseBusy
from crmkit.engine.records.errors import RecordNotFound, StaleRecordError
from crmkit.engine.security.access import RightsChanged
from crmkit.engine import messages
from crmkit.engine.messages import Message
from crmkit.errors import CrmkitError
from crmkit.metadata.automation import DELIVERY_ACTIONS

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext
    from crmkit.engine.crm import Crm

logger = logging.getLogger("crmkit.automation")

#: Seconds to wait before the 2nd, 3rd, ... attempt.
BACKOFF = (30, 120, 600, 3600)
#: Attempts before a failing row is dead.
MAX_ATTEMPTS = len(BACKOFF) + 1
#: A pending row handed to the queue this long ago without being done is handed again (a lost task).
REQUEUE_AFTER = timedelta(minutes=2)
#: Errors that say nothing about the action itself: the same row may work in a moment.
TRANSIENT = (StaleRecordError, DatabaseBusy, ConnectionLost, RightsChanged)


class OutboxRowNotFound(RecordNotFound):
    def __init__(self, outbox_id: Any) -> None:
        super().__init__("outbox", outbox_id)


#: Replaying a row that exists but is not dead (crmkit outbox --replay 3 on a done row).
NOT_DEAD = Message("outbox row {id} is {status}, not dead: only dead rows can be replayed "
                   "(crmkit outbox --status dead lists them).",
                   "发件箱第 {id} 行的状态是 {status}，不是 dead：只能重放 dead 的行（crmkit outbox --status dead 可列出）。")


class OutboxRowNotDead(OutboxRowNotFound):
    """The row exists but is pending, done, stopped or sending: there is nothing to replay."""

    def __init__(self, outbox_id: Any, status: str) -> None:
        super().__init__(outbox_id)
        self.message = NOT_DEAD(id=outbox_id, status=status)
        self.args = (self.message,)


class Outbox:
    """The automation outbox of one database, worked as the platform."""

    def __init__(self, crm: "Crm") -> None:
        self.crm = crm
        self.table = crm.runtime.system_table("crmkit_outbox")

    def work(self, outbox_id: int) -> str:
        """Do the row's action if it is pending and due; returns what became of it.

        "done"; "retry" (failed, pending again from its next attempt); "dead"; "skipped" (not
        pending, not yet due, or being done by another worker right now).
        """
        context = self.crm.as_system()
        now = self.crm.clock()
        started = time.perf_counter()
        try:
            with context.writing() as connection:
                row = self._claim(connection, outbox_id, now)
                if row is None:
                    return "skipped"
                if row.kind in DELIVERY_ACTIONS:  # claimed here, delivered outside the transaction (deliveries.py)
                    lease = take_lease(connection, self, row, now)
                else:
                    lease = None
                    context.automation = AutomationOrigin(row.depth, frozenset(row.chain), row.id, row.actor_id)
                    perform(context, row.kind, row.payload)
                    connection.execute(update(self.table).where(self.table.c.id == row.id).values(
                        status="done", attempts=row.attempts + 1, finished_at=now, last_error=None))
                    runlog.write(connection, self.crm, [runlog.outbox_entry(row, now, "done", runlog.elapsed_ms(started))])
            if lease is not None:
                return deliver(self, row, lease, started)
            return "done"
        except Exception as error:  # recorded on the row; nothing of the action was kept
            return self._failed(outbox_id, error, started)

    def work_many(self, outbox_ids: Sequence[int]) -> dict[int, str]:
        """Do several rows in one transaction, each in a savepoint of its own: {outbox id: outcome} (as `work`).

        What the queue's task does with the ids of one save or one requeue (at most BATCH): one
        commit for all of them instead of one each. The rows are claimed together (PostgreSQL:
        FOR UPDATE SKIP LOCKED); a row whose action fails is rolled back to its savepoint alone
        and recorded as `work` records it (retried or dead), after the others commit done.
        send_email and call_webhook rows are done one by one by `work` (claim -> send -> done).
        If the transaction itself fails (a lost connection), each row is done on its own.
        """
        ids = sorted(set(outbox_ids))
        if len(ids) == 1:
            return {ids[0]: self.work(ids[0])}
        context, now = self.crm.as_system(), self.crm.clock()
        outcomes: dict[int, str] = {}
        failures: list[tuple[int, Exception, float]] = []
        alone: list[int] = []
        try:
            with context.writing() as connection:
                rows = self._claim_many(connection, ids, now)
                done, entries = [], []
                for row in rows:
                    if row.kind in DELIVERY_ACTIONS:
                        alone.append(row.id)
                        continue
                    started = time.perf_counter()
                    error = self._perform_in_savepoint(context, connection, row)
                    if error is not None:
                        failures.append((row.id, error, started))
                        continue
                    done.append(row.id)
                    entries.append(runlog.outbox_entry(row, now, "done", runlog.elapsed_ms(started)))
                if done:
                    table = self.table
                    connection.execute(update(table).where(table.c.id.in_(done)).values(
                        status="done", attempts=table.c.attempts + 1, finished_at=now, last_error=None))
                    runlog.write(connection, self.crm, entries)
        except Exception:  # nothing of the batch was kept: each row on its own, as `work` does it
            logger.warning("a batch of %d outbox rows failed as a whole; working them one by one", len(ids),
                           exc_info=True)
            return {outbox_id: self.work(outbox_id) for outbox_id in ids}
        outcomes.update(dict.fromkeys(done, "done"))
        for outbox_id, error, started in failures:
            outcomes[outbox_id] = self._failed(outbox_id, error, started)
        for outbox_id in alone:
            outcomes[outbox_id] = self.work(outbox_id)
        for outbox_id in ids:
            outcomes.setdefault(outbox_id, "skipped")
        return outcomes

    @staticmethod
    def _perform_in_savepoint(context: "UserContext", connection: Connection, row: Any) -> Exception | None:
        """Perform `row`'s action in a savepoint; on failure roll back to it (and forget what it queued)."""
        queued, planned = len(context.outbox_ids), len(context.pending_runs)
        savepoint = connection.begin_nested()
        try:
            context.automation = AutomationOrigin(row.depth, frozenset(row.chain), row.id, row.actor_id)
            perform(context, row.kind, row.payload)
            savepoint.commit()
            return None
        except Exception as error:  # recorded by the caller; nothing of this row's action is kept
            savepoint.rollback()
            del context.outbox_ids[queued:]
            del context.pending_runs[planned:]
            return error
        finally:
            context.automation = None

    def _claim_many(self, connection: Connection, outbox_ids: Sequence[int], now) -> list[Any]:
        table = self.table
        query = select(table).where(table.c.id.in_(list(outbox_ids)), table.c.status == "pending",
                                    table.c.next_attempt_at <= now).order_by(table.c.id)
        if connection.dialect.name != "sqlite":
            query = query.with_for_update(skip_locked=True)
        return connection.execute(query).all()

    def _claim(self, connection: Connection, outbox_id: int, now) -> Any:
        table = self.table
        query = select(table).where(table.c.id == outbox_id, table.c.status == "pending",
                                    table.c.next_attempt_at <= now)
        if connection.dialect.name != "sqlite":
            query = query.with_for_update(skip_locked=True)
        return connection.execute(query).first()

    def _failed(self, outbox_id: int, error: Exception, started: float) -> str:
        table, now = self.table, self.crm.clock()
        # A sentence in words, never an exception's class name: the run log and the outbox page show it translated.
        text = error.message if isinstance(error, CrmkitError) else messages.ACTION_FAILED(
            reason=str(error).strip() or messages.ACTION_FAILED_NO_DETAIL())
        with self.crm.as_system().writing() as connection:
            row = connection.execute(select(table).where(
                table.c.id == outbox_id, table.c.status == "pending")).first()
            if row is None:
                return "skipped"
            attempts = row.attempts + 1
            permanent = isinstance(error, CrmkitError) and not isinstance(error, TRANSIENT)
            dead = permanent or attempts >= MAX_ATTEMPTS
            if dead:
                values = {"status": "dead", "finished_at": now}
                logger.error("outbox row %s (%s) is dead after %d attempt(s): %s", outbox_id, row.rule, attempts, text)
            else:
                later = now + timedelta(seconds=BACKOFF[attempts - 1])
                values = {"next_attempt_at": later, "queued_at": later}
                logger.warning("outbox row %s (%s) failed, attempt %d; again at %s: %s", outbox_id, row.rule,
                               attempts, later.isoformat(), text)
            connection.execute(update(table).where(table.c.id == outbox_id).values(
                attempts=attempts, last_error=text, **values))
            runlog.write(connection, self.crm, [runlog.outbox_entry(row, now, "dead" if dead else "failed",
                                                           runlog.elapsed_ms(started), text)])
        if dead:
            return "dead"
        if self.crm.queue is not None:
            self.crm.queue.enqueue([outbox_id], eta=values["next_attempt_at"])
        return "retry"

    def due(self, *, limit: int = 500) -> list[int]:
        """Ids of pending rows due now (oldest first), whatever their queued_at: what `work_due` does."""
        table = self.table
        with self.crm.engine.connect() as connection:
            return list(connection.execute(
                select(table.c.id).where(table.c.status == "pending", table.c.next_attempt_at <= self.crm.clock())
                .order_by(table.c.next_attempt_at, table.c.id).limit(limit)).scalars())

    def work_due(self, *, limit: int = 500) -> dict[int, str]:
        """Work every due row in this process, in order: {outbox id: outcome}. Rows they cause wait for the next call."""
        return {outbox_id: self.work(outbox_id) for outbox_id in self.due(limit=limit)}

    def requeue(self, *, limit: int = 1000) -> list[int]:
        """Pending rows due, last handed to the queue more than REQUEUE_AFTER ago: handed again; returns their ids.

        A worker killed after taking a task, a queue that lost it, a web process that
        committed and died before enqueueing: each leaves such a row.
        """
        table, now = self.table, self.crm.clock()
        settle_abandoned(self)  # emails whose worker died during SMTP DATA: dead, never resent
        with self.crm.as_system().writing() as connection:
            ids = list(connection.execute(
                select(table.c.id).where(table.c.status == "pending", table.c.next_attempt_at <= now,
                                         table.c.queued_at <= now - REQUEUE_AFTER)
                .order_by(table.c.id).limit(limit)).scalars())
            if ids:
                connection.execute(update(table).where(table.c.id.in_(ids)).values(queued_at=now))
        if ids and self.crm.queue is not None:
            self.crm.queue.enqueue(ids)
        return ids

    def rows(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Outbox rows, newest first (all, or those of one status such as "dead")."""
        table = self.table
        query = select(table).order_by(table.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(table.c.status == status)
        with self.crm.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def row(self, outbox_id: int) -> dict[str, Any] | None:
        """One outbox row as stored (column -> value), or None when there is none with that id."""
        with self.crm.engine.connect() as connection:
            found = connection.execute(select(self.table).where(self.table.c.id == outbox_id)).first()
        return dict(found._mapping) if found is not None else None

    def replay(self, outbox_ids: Sequence[int]) -> list[int]:
        """Make dead rows pending again, due now, with their attempts reset; returns those replayed."""
        table, now = self.table, self.crm.clock()
        with self.crm.as_system().writing() as connection:
            found = dict(connection.execute(select(table.c.id, table.c.status).where(
                table.c.id.in_(list(outbox_ids)))).all())
            for outbox_id in outbox_ids:
                if outbox_id not in found:
                    raise OutboxRowNotFound(outbox_id)
                if found[outbox_id] != "dead":
                    raise OutboxRowNotDead(outbox_id, found[outbox_id])
            ids = [outbox_id for outbox_id, status in found.items() if status == "dead"]
            connection.execute(update(table).where(table.c.id.in_(ids)).values(
                status="pending", attempts=0, next_attempt_at=now, queued_at=now, finished_at=None))
        if self.crm.queue is not None:
            self.crm.queue.enqueue(ids)
        return ids
