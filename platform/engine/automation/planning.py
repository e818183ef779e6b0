"""Planned runs of relative rules, kept current in each record's save transaction.

    plan_runs(connection, context, events)    # records/events.py, the after-write step, after the outbox

A relative rule (`on: [relative]`, `timing: {field: close_date, before: 3 days}`) fires for a
record at its field's moment plus the offset (a date field's day starts at midnight in the
timing's time zone). For each event of an object with such rules, in the write's transaction:

- created or restored: each rule whose field has a value and whose condition holds is planned;
- updated: a rule is planned again when the event changes its field or a field its condition
  reads (a lookup the condition reads through counts); a blank field or a false condition
  removes the pending run, a new moment replaces it;
- deleted: the record's pending runs are removed (a restore plans them again).

A run already done for the same moment is not planned again (a record re-saved after its
reminder fired is not reminded twice); a moved date plans a new run. The rows are written
with the record or not at all; crmkit.engine.automation.due fires them.
"""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from typing import TYPE_CHECKING, Any, Mapping, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, delete, insert, select, update

from crmkit.engine.automation.firing import Firing, holds, scope
from crmkit.metadata.automation import AutomationRule
from crmkit.metadata.model import ObjectDef
from crmkit.sandbox import SandboxError, compile_expression

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext
    from crmkit.engine.records.events import RecordEvent

#: Each rule's watched fields, by rule identity (rules are immutable and live as long as their registry).
_WATCHED: dict[int, tuple[AutomationRule, frozenset[str]]] = {}


#: Each object's active relative rules, by object identity: the save of an object without any pays one lookup.
_RELATIVE: dict[int, tuple[ObjectDef, tuple[AutomationRule, ...]]] = {}


def relative_rules(obj: ObjectDef) -> tuple[AutomationRule, ...]:
    """The active relative rules of `obj`."""
    kept = _RELATIVE.get(id(obj))
    if kept is not None and kept[0] is obj:
        return kept[1]
    rules = tuple(rule for rule in obj.automations
                  if rule.active and rule.timing is not None and "relative" in rule.triggers)
    _RELATIVE[id(obj)] = (obj, rules)
    return rules


def watched_fields(rule: AutomationRule) -> frozenset[str]:
    """The fields whose change plans `rule` again: its timing's field and every field its condition reads."""
    kept = _WATCHED.get(id(rule))
    if kept is not None and kept[0] is rule:
        return kept[1]
    fields = {rule.timing.field}
    if rule.condition:
        compiled = compile_expression(rule.condition)
        fields |= set(compiled.value_names) | {path[0] for path in compiled.attribute_paths}
    _WATCHED[id(rule)] = (rule, frozenset(fields))
    return frozenset(fields)


def due_moment(value: Any, rule: AutomationRule) -> datetime | None:
    """When `rule` fires for a record whose timing field holds `value` (aware UTC); None for a blank field."""
    timing = rule.timing
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    elif isinstance(value, date):
        moment = datetime.combine(value, time(0), ZoneInfo(timing.time_zone))
    else:
        return None
    return (moment + timing.delta).astimezone(timezone.utc)


def plan_runs(connection: Connection, context: "UserContext", events: Sequence["RecordEvent"]) -> None:
    """Plan, re-plan or remove the relative rules' runs of the records `events` wrote, on `connection`."""
    registry = context.runtime.registry
    for event in events:
        obj = registry.objects.get(event.object)
        if obj is None or not obj.automations:
            continue
        rules = relative_rules(obj)
        if not rules:
            continue
        if event.current is None:  # deleted
            _remove_pending(connection, context, obj.name, event.record_id, None)
            continue
        for rule in rules:
            if event.previous is None or event.changed & watched_fields(rule):
                _plan(connection, context, obj, rule, event.current, event.at)


def _plan(connection: Connection, context: "UserContext", obj: ObjectDef, rule: AutomationRule,
          values: Mapping[str, Any], at: datetime) -> None:
    due = due_moment(values.get(rule.timing.field), rule)
    if due is not None and rule.condition:
        firing = Firing(obj, rule, "relative", at, rule.timing.time_zone)
        try:
            names, functions = scope(connection, context, firing, values)
            if not holds(firing, names, functions):
                due = None
        except SandboxError:
            pass  # planned all the same: checked again when it fires, where a failure is recorded
    key, record_id = rule.key(obj.name), values["id"]
    if due is None:
        _remove_pending(connection, context, obj.name, record_id, key)
        return
    table = context.runtime.system_table("crmkit_planned_run")
    existing = connection.execute(select(table.c.id, table.c.due_at, table.c.status).where(
        table.c.object == obj.name, table.c.record_id == record_id, table.c.rule == key)).first()
    if existing is None:
        connection.execute(insert(table).values(object=obj.name, record_id=record_id, rule=key, due_at=due,
                                                status="pending", fired_at=None))
    elif existing.due_at != due or existing.status == "skipped":
        connection.execute(update(table).where(table.c.id == existing.id).values(
            due_at=due, status="pending", fired_at=None))


def _remove_pending(connection: Connection, context: "UserContext", object_name: str, record_id: int,
                    key: str | None) -> None:
    table = context.runtime.system_table("crmkit_planned_run")
    query = delete(table).where(table.c.object == object_name, table.c.record_id == record_id,
                                table.c.status == "pending")
    if key is not None:
        query = query.where(table.c.rule == key)
    connection.execute(query)
