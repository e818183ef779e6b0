"""Planned runs that are due become outbox rows, once; and `run_time_based`, all time-based work due now.

    run_due_planned(crm)     # relative rules: due planned runs -> outbox rows
    run_time_based(crm)      # that and scheduled rules: what `crmkit worker` does each minute

A batch of due runs is claimed in one transaction (PostgreSQL: FOR UPDATE SKIP LOCKED, so two
workers never take one run; SQLite: the write lock). For each, the record is read as it is
now and the rule's condition checked again ("4 hours after created_at while still New"):
true, its outbox rows are written and the run is `done`; false, or the record or rule gone,
the run is `skipped`. The rows and the mark commit together, so a run fires once however
many workers run and whenever one dies.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from crmkit.engine.automation.firing import Firing, fire
from crmkit.engine.automation.scheduled import run_scheduled

if TYPE_CHECKING:
    from crmkit.engine.crm import Crm

logger = logging.getLogger("crmkit.automation")

#: Planned runs claimed per transaction.
BATCH = 200


def run_due_planned(crm: "Crm", *, batch: int = BATCH) -> dict[str, int]:
    """Fire every planned run due now; returns {"done": n, "skipped": n}."""
    counts = {"done": 0, "skipped": 0}
    if not _any_due(crm):  # most minutes: one read, no write lock taken (SQLite)
        return counts
    while True:
        done, skipped = _batch(crm, batch)
        counts["done"] += done
        counts["skipped"] += skipped
        if done + skipped < batch:
            return counts


def _any_due(crm: "Crm") -> bool:
    table = crm.runtime.system_table("crmkit_planned_run")
    with crm.engine.connect() as connection:
        return connection.execute(select(table.c.id).where(
            table.c.status == "pending", table.c.due_at <= crm.clock()).limit(1)).first() is not None


def _batch(crm: "Crm", size: int) -> tuple[int, int]:
    context, now = crm.as_system(), crm.clock()
    table = context.runtime.system_table("crmkit_planned_run")
    done = skipped = 0
    with context.writing() as connection:
        query = (select(table).where(table.c.status == "pending", table.c.due_at <= now)
                 .order_by(table.c.due_at, table.c.id).limit(size))
        if connection.dialect.name != "sqlite":
            query = query.with_for_update(skip_locked=True)
        for run in connection.execute(query).all():
            ids = _fire(connection, context, run, now)
            status = "skipped" if ids is None else "done"
            connection.execute(update(table).where(table.c.id == run.id).values(status=status, fired_at=now))
            if ids is None:
                skipped += 1
            else:
                done += 1
                context.outbox_ids.extend(ids)
    return done, skipped


def _fire(connection, context, run: Any, now) -> list[int] | None:
    """The outbox ids the run wrote; None when it does not fire (rule or record gone, condition false)."""
    obj = context.runtime.registry.objects.get(run.object)
    name = run.rule.partition(".")[2]
    rule = next((rule for rule in obj.automations if rule.name == name), None) if obj is not None else None
    if rule is None or not rule.active or rule.timing is None:
        logger.info("planned run %s skipped: the rule %s is no longer active", run.id, run.rule)
        return None
    records = context.runtime.table(obj.name)
    values = connection.execute(select(records).where(records.c.id == run.record_id)).mappings().first()
    if values is None:
        return None
    return fire(connection, context, Firing(obj, rule, "relative", now, rule.timing.time_zone), dict(values))


def run_time_based(crm: "Crm") -> dict[str, Any]:
    """All time-based work due now: scheduled rules' firings, then due planned runs (`crmkit worker --once`).

    Returns {"scheduled": {"object.rule": outbox rows}, "relative": {"done": n, "skipped": n}}.
    """
    return {"scheduled": run_scheduled(crm), "relative": run_due_planned(crm)}
