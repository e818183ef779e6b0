"""A test plugin that registers the automation action type `stamp`: it writes a text into a field of the record."""
from __future__ import annotations

from typing import Any, Mapping

from crmkit.engine.automation.action_types import ActionType
from crmkit.hookspecs import hookimpl

#: The payloads `stamp` was performed with, in order (the tests read it).
PERFORMED: list[Mapping[str, Any]] = []


def stamp(context, payload: Mapping[str, Any]) -> None:
    """Set `options.field` of the triggering record to the computed `values.text`."""
    PERFORMED.append(payload)
    records = context.records(payload["object"])
    current = records.get(payload["record_id"])
    records.update(current.id, {payload["options"]["field"]: payload["values"]["text"]}, version=current.version)


@hookimpl
def crmkit_automation_actions():
    return [ActionType.of("stamp", stamp, description="Write a text into a field of the record.", options_schema={
        "type": "object", "additionalProperties": False, "required": ["field"],
        "properties": {"field": {"type": "string"}}})]
