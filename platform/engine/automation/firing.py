"""A time-based rule firing for one record: its condition checked now, its actions written as outbox rows.

Used by scheduled rules (automation/scheduled.py, each record their `where` selects) and
relative ones (automation/due.py, each planned run that is due), on the caller's connection
and inside its transaction, so the rows commit with the mark that the firing happened. The
rows are those of a save's rules (automation/rules.py): depth 1, the rule as their chain,
run by the worker as the platform. An `update_record` action changes the record itself
after the fact (kind `update_related` on the record's own id): there is no save to change it in.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping

from sqlalchemy import Connection, insert

from crmkit.engine import messages
from crmkit.engine.automation.rules import _payload, _values
from crmkit.engine.fieldtypes import to_json
from crmkit.engine.records.clock import clock_functions
from crmkit.engine.records.evaluation import load_related
from crmkit.metadata.automation import AutomationRule
from crmkit.metadata.model import ObjectDef
from crmkit.sandbox import SandboxError, compile_expression

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext

logger = logging.getLogger("crmkit.automation")


@dataclass(frozen=True)
class Firing:
    """What fired: `rule` of `obj` for the stored record `values`, at `at`; `operation` is the outbox's word."""

    obj: ObjectDef
    rule: AutomationRule
    operation: str  # "scheduled" or "relative"
    at: datetime
    time_zone: str


def scope(connection: Connection, context: "UserContext", firing: Firing, values: Mapping[str, Any]):
    """(names, functions) the rule's expressions see for the record `values` ('today' in the rule's zone)."""
    obj = firing.obj
    related = load_related(connection, context.runtime, obj, values)
    return context.pipeline(obj.name).evaluator.scope(values, related, None,
                                                      clock_functions(firing.at, firing.time_zone))


def holds(firing: Firing, names, functions) -> bool:
    """Whether the rule's condition is true (always, without one); SandboxError when it cannot be evaluated."""
    condition = firing.rule.condition
    return not condition or bool(compile_expression(condition).evaluate(names, functions))


def fire(connection: Connection, context: "UserContext", firing: Firing, values: Mapping[str, Any]) -> list[int] | None:
    """Write the outbox rows of `firing` for the record `values`; their pending ids, or None when the condition is false.

    A condition or value that cannot be evaluated writes one `dead` row with the reason and
    logs it (as an after-save rule does), so the firing still counts as done.
    """
    obj, rule = firing.obj, firing.rule
    rows: list[dict[str, Any]] = []
    try:
        names, functions = scope(connection, context, firing, values)
        if not holds(firing, names, functions):
            return None
        for number, action in enumerate(rule.actions):
            if action.type == "update_record":
                rows.append(_row(number, "update_related", {
                    "object": obj.name, "record_id": values["id"],
                    "values": {name: to_json(value) for name, value in _values(action, names, functions).items()}}))
                continue
            payload = _payload(context, obj, action, names, functions)
            if payload is not None:
                rows.append(_row(number, action.type, payload))
    except SandboxError as error:
        logger.error("automation rule %s could not run for %s record %s: %s", rule.key(obj.name), obj.name,
                     values.get("id"), error)
        rows = [{"action": 0, "kind": rule.actions[0].type, "payload": None, "status": "dead",
                 "last_error": messages.RULE_FAILED(rule=rule.name, reason=str(error))}]
    return _insert(connection, context, firing, values["id"], rows)


def _row(number: int, kind: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    return {"action": number, "kind": kind, "payload": dict(payload), "status": "pending", "last_error": None}


def _insert(connection: Connection, context: "UserContext", firing: Firing, record_id: int,
            rows: list[dict[str, Any]]) -> list[int]:
    table = context.runtime.system_table("crmkit_outbox")
    at, ids = firing.at, []
    for row in rows:
        row.update(object=firing.obj.name, record_id=record_id, operation=firing.operation,
                   rule=firing.rule.key(firing.obj.name), depth=1, chain=[firing.rule.key(firing.obj.name)],
                   attempts=0, next_attempt_at=at, queued_at=at, actor_id=None, created_at=at,
                   finished_at=None if row["status"] == "pending" else at)
        outbox_id = connection.execute(insert(table).returning(table.c.id), row).scalar_one()
        if row["status"] == "pending":
            ids.append(outbox_id)
    return ids
