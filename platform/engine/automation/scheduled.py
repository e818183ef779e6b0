"""Scheduled rules: at each moment of their cron expression, act on the records their filter selects, once.

    run_scheduled(crm)      # every rule whose moment has come; what `crmkit worker` runs each minute

A rule's state row (crmkit_schedule_state, automation/time_tables.py) holds the cron moment
of its last firing. When the next moment after it has passed, a worker claims the firing
with a conditional UPDATE (the row moves to the LATEST moment that has passed: a worker
down for three nights fires once, not three times) and works the records in batches of
BATCH, in id order: the `where:` filter runs in SQL (crmkit.engine.query, as the platform,
with `today` in the schedule's time zone), the `condition` in the sandbox on each record
that passed, and each batch's outbox rows commit with the advance of the row's `after_id`.
Several workers: the claim succeeds for one; a batch re-reads the row locked (waiting for a
lock another worker holds) and goes on only if it is still where that worker left it. A worker that dies leaves `after_id` where its last
batch committed, and the next run goes on from there. A new rule starts counting from the
moment it is first seen (it does not fire for moments before it existed).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from crmkit.engine.automation.firing import Firing, fire
from crmkit.engine.query import QueryContext, compile_filter
from crmkit.engine.records.clock import local_today
from crmkit.errors import CrmkitError
from crmkit.metadata.automation import AutomationRule
from crmkit.metadata.model import ObjectDef

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext
    from crmkit.engine.crm import Crm

logger = logging.getLogger("crmkit.automation")

#: Records read, checked and written as outbox rows per transaction.
BATCH = 500


def latest_moment(cron: str, time_zone: str, after: datetime, now: datetime) -> datetime | None:
    """The latest moment of `cron` (in `time_zone`) later than `after` and not later than `now`; None if none.

    Aware datetimes in, an aware UTC datetime out. Daylight saving: croniter's rules for
    local times that are skipped or repeated.
    """
    zone = ZoneInfo(time_zone)
    # get_prev skips a start that is itself a moment: start a second later so `now` itself counts.
    moment = croniter(cron, now.astimezone(zone) + timedelta(seconds=1)).get_prev(datetime)
    moment = moment.astimezone(ZoneInfo("UTC"))
    return moment if moment > after else None


def scheduled_rules(crm: "Crm") -> list[tuple[ObjectDef, AutomationRule]]:
    """Every active scheduled rule of the installed metadata."""
    return [(obj, rule) for obj in crm.registry.objects.values() for rule in obj.automations
            if rule.active and rule.schedule is not None and "scheduled" in rule.triggers]


def run_scheduled(crm: "Crm", *, batch: int = BATCH) -> dict[str, int]:
    """Fire every scheduled rule whose moment has come (or finish a firing a worker left half-done).

    Returns {"object.rule": outbox rows written} for the rules this call fired. Safe to call
    from several processes at once: each firing happens once.
    """
    fired: dict[str, int] = {}
    for obj, rule in scheduled_rules(crm):
        written = _run_rule(crm, obj, rule, batch)
        if written is not None:
            fired[rule.key(obj.name)] = written
    return fired


def _run_rule(crm: "Crm", obj: ObjectDef, rule: AutomationRule, batch: int) -> int | None:
    context, now, key = crm.as_system(), crm.clock(), rule.key(obj.name)
    table = context.runtime.system_table("crmkit_schedule_state")
    with context.reading() as connection:
        state = connection.execute(select(table).where(table.c.rule == key)).first()
    if state is None:
        _start_counting(context, key, now)
        return None
    due, after = state.due_at, state.after_id
    if after is None:
        moment = latest_moment(rule.schedule.cron, rule.schedule.time_zone, state.due_at, now)
        if moment is None:
            return None
        with context.writing() as connection:
            claimed = connection.execute(update(table).where(
                table.c.rule == key, table.c.due_at == state.due_at, table.c.after_id.is_(None)).values(
                due_at=moment, after_id=0, finished_at=None)).rowcount
        if claimed != 1:
            return None  # another worker fired it
        due, after = moment, 0
        logger.info("scheduled rule %s fires for %s", key, due.isoformat())
    written = 0
    firing = Firing(obj, rule, "scheduled", due, rule.schedule.time_zone)
    while after is not None:
        step = _batch(context, firing, after, batch)
        if step is None:
            return written or None
        after, count = step
        written += count
    return written


def _start_counting(context: "UserContext", key: str, now: datetime) -> None:
    table = context.runtime.system_table("crmkit_schedule_state")
    try:
        with context.writing() as connection:
            connection.execute(insert(table).values(rule=key, due_at=now, after_id=None, finished_at=now))
    except IntegrityError:
        pass  # another worker saw the rule first


def _batch(context: "UserContext", firing: Firing, after: int, size: int) -> tuple[int | None, int] | None:
    """One batch of the firing after record `after`: (where the next starts, or None when done; rows written).

    None when another worker has moved the firing on (this one stops).
    """
    obj, rule, key = firing.obj, firing.rule, firing.rule.key(firing.obj.name)
    state = context.runtime.system_table("crmkit_schedule_state")
    records = context.runtime.table(obj.name)
    with context.writing() as connection:
        query = select(state.c.after_id).where(state.c.rule == key, state.c.due_at == firing.at)
        if connection.dialect.name != "sqlite":
            # Wait for the lock, never skip it: a lock on the row does not mean its holder goes on
            # with the firing. PostgreSQL keeps a row locked to the end of a conditional UPDATE's
            # transaction even when the re-checked row no longer matches (another worker's
            # failed claim), and a batch that rolls back releases it without moving on.
            # Skipping such a row would make the worker that claimed the firing give up on it.
            # After the wait the row is read as its holder left it, and `after` decides.
            query = query.with_for_update()
        if connection.execute(query).scalar() != after:
            return None
        try:
            where = compile_filter(_query_context(context, firing), obj.name, rule.where)
        except CrmkitError as error:
            logger.error("scheduled rule %s cannot select its records: %s", key, error.message)
            _advance(connection, state, key, None, firing.at)
            return None, 0
        rows = connection.execute(select(records).where(and_(where, records.c.id > after))
                                  .order_by(records.c.id).limit(size)).mappings().all()
        ids: list[int] = []
        for row in rows:
            ids.extend(fire(connection, context, firing, dict(row)) or ())
        context.outbox_ids.extend(ids)
        following = rows[-1]["id"] if len(rows) == size else None
        _advance(connection, state, key, following, firing.at)
    return following, len(ids)


def _advance(connection, state, key: str, following: int | None, at: datetime) -> None:
    connection.execute(update(state).where(state.c.rule == key).values(
        after_id=following, finished_at=at if following is None else None))


def _query_context(context: "UserContext", firing: Firing) -> QueryContext:
    runtime = context.runtime
    return QueryContext(runtime.registry, runtime.schema, runtime.field_types,
                        today=local_today(firing.at, firing.time_zone), timezone=firing.time_zone)
