"""What the worker does for one outbox row: the after-save actions, as the platform (no sharing limits).

Each runs inside the transaction that marks its row done (automation/outbox.py), so its
database effect and the `done` mark commit together or not at all: a row is applied once
however often its id is delivered. The saves go through the whole save pipeline, so the
records they write fire their own rules, one step deeper (automation/rules.py).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

from crmkit.engine.records.errors import RecordError

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext


class ActionRefused(RecordError):
    """An outbox row that no action can do (an unknown kind, a missing payload): it is not retried."""

    title = "Automation action refused"


def update_related(context: "UserContext", payload: Mapping[str, Any]) -> None:
    """Set `payload["values"]` on record `payload["record_id"]` of `payload["object"]`, as it is now."""
    records = context.records(payload["object"])
    current = records.get(payload["record_id"])  # RecordNotFound when it was deleted meanwhile
    records.update(current.id, dict(payload["values"]), version=current.version)


def create_record(context: "UserContext", payload: Mapping[str, Any]) -> None:
    """Create a record of `payload["object"]` with `payload["values"]`."""
    context.records(payload["object"]).create(dict(payload["values"]))


def notify(context: "UserContext", payload: Mapping[str, Any]) -> None:
    """Tell `payload["users"]` and the members of `payload["roles"]` `payload["message"]` about the record
    (automation/notifications.py), once per outbox row."""
    from crmkit.engine.automation.notifications import deliver

    origin = context.automation
    with context.writing() as connection:  # the worker's open transaction: done with the row's `done` mark
        deliver(context, connection, payload, origin.outbox_id if origin is not None else None,
                payload.get("rule", ""))


#: Action kind -> what does it; plugins' actions join here in a later step (docs/automation.md).
ACTIONS: dict[str, Callable[["UserContext", Mapping[str, Any]], None]] = {
    "update_related": update_related,
    "create_record": create_record,
    "notify": notify,
}


def perform(context: "UserContext", kind: str, payload: Mapping[str, Any] | None) -> None:
    """Do one outbox row's action on `context` (whose open transaction marks the row done)."""
    action = ACTIONS.get(kind)
    if action is None and kind in context.runtime.extensions.action_types:  # a plugin's (action_types.py)
        action = context.runtime.extensions.action_types[kind].perform
    if action is None or payload is None:
        raise ActionRefused(f"the outbox row has no action to do ({kind}).")
    action(context, payload)
