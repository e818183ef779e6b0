"""Automation action types that plugins register (the `crmkit_automation_actions` hook).

    from crmkit.engine.automation.action_types import ActionType
    from crmkit.hookspecs import hookimpl

    @hookimpl
    def crmkit_automation_actions():
        return [ActionType.of("post_to_chat", post, options_schema={
            "type": "object", "required": ["channel"], "properties": {"channel": {"type": "string"}}})]

    def post(context, payload):    # payload: {"object", "record_id", "options", "values"}
        ...

A plugin's action is done after the save, through the outbox, exactly like update_related
and create_record: at the save its `set` expressions are computed over the record into
`payload["values"]`, and the worker calls `perform(context, payload)` as the platform, inside
the transaction that marks the row done (automation/outbox.py). A `CrmkitError` it raises
makes the row dead at once; any other error is retried with backoff.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from crmkit.metadata.automation import AFTER_SAVE_ACTIONS, BEFORE_SAVE_ACTIONS
from crmkit.metadata.catalog import ActionKind
from crmkit.metadata.model import frozen_map

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext

Perform = Callable[["UserContext", Mapping[str, Any]], None]


@dataclass(frozen=True)
class ActionType:
    """A plugin's action type: its name and options schema (`kind`) and what the worker does (`perform`)."""

    kind: ActionKind
    perform: Perform

    @property
    def name(self) -> str:
        return self.kind.name

    @classmethod
    def of(cls, name: str, perform: Perform, *, options_schema: Mapping[str, Any] | None = None,
           description: str = "") -> "ActionType":
        """An action type named `name` (an identifier) whose `options:` must fit `options_schema` (JSON Schema)."""
        return cls(ActionKind(name, frozen_map(options_schema or {}), description), perform)


def collect_action_types(contributions: Iterable[Iterable[ActionType] | None],
                         builtin: Iterable[str] = ()) -> Mapping[str, ActionType]:
    """name -> ActionType from the hook's results; ValueError for a name given twice or a built-in's name."""
    taken = set(BEFORE_SAVE_ACTIONS | AFTER_SAVE_ACTIONS) | set(builtin)
    found: dict[str, ActionType] = {}
    for contribution in contributions:
        for action_type in contribution or ():
            if action_type.name in taken:
                raise ValueError(f"the automation action type {action_type.name!r} is built in; a plugin cannot "
                                 "replace it: choose another name")
            if action_type.name in found:
                raise ValueError(f"two plugins define the automation action type {action_type.name!r}")
            found[action_type.name] = action_type
    return frozen_map(found)


def plugin_payload(object_name: str, record_id: Any, options: Mapping[str, Any],
                   values: Mapping[str, Any]) -> dict[str, Any]:
    """What a plugin action's outbox row holds: the triggering record, the action's options and its computed values."""
    return {"object": object_name, "record_id": record_id, "options": dict(options), "values": dict(values)}
