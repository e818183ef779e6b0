"""The hooks plugins implement. Built-in field types, helper functions and packages use them too."""
from __future__ import annotations

from typing import TYPE_CHECKING

from pluggy import HookimplMarker, HookspecMarker

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext
    from crmkit.engine.records.events import RecordDraft, RecordEvent

hookspec = HookspecMarker("crmkit")
hookimpl = HookimplMarker("crmkit")


@hookspec
def crmkit_field_types():
    """Return a list of crmkit.engine.fieldtypes.FieldType objects this plugin adds.

    Besides storage and input, a FieldType may say how it is shown and edited: `widget`,
    `formatter`, `input_attributes` and `filter_operators` (docs/plugins.md, "How a field
    type is shown"); types that leave them out get the defaults of their value kind.
    """


@hookspec
def crmkit_sandbox_functions():
    """Return a dict of name -> callable made available to formulas, defaults and conditions."""


@hookspec
def crmkit_messages():
    """Return a list of crmkit.engine.messages.Message: the plugin's own sentences users see (its field
    types' errors) with their Chinese text, so screens show them in the user's language (docs/errors.md)."""


@hookspec
def crmkit_metadata_packages():
    """Return a list of paths to metadata packages (files or folders) this plugin ships."""


@hookspec
def crmkit_before_save(context: "UserContext", draft: "RecordDraft") -> None:
    """Called inside the transaction before a record is created or updated, after its validation rules passed.

    May change values with `draft.set(field, value)` or refuse the save with
    `draft.refuse(message, field)` (a RecordValidationError). Not called for deletes,
    restores or erasures, which write no new values.
    """


@hookspec
def crmkit_after_save(context: "UserContext", event: "RecordEvent") -> None:
    """Called inside the transaction after every write (create, update, delete, restore, erase).

    Runs after history and propagation, once per record written, cascades included.
    Raising rolls the whole write back.
    """


@hookspec
def crmkit_automation_actions():
    """Return a list of crmkit.engine.automation.action_types.ActionType: automation action types this plugin adds.

    Each is done after the save, through the outbox, by the worker (docs/automation.md,
    "Action types from plugins"); metadata names it as `type:` with its `options:`.
    """
