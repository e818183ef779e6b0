"""The hooks plugins implement. Built-in field types, helper functions and packages use them too."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pluggy import HookimplMarker, HookspecMarker

if TYPE_CHECKING:
    import click
    from flask import Blueprint, Flask

    from crmkit.engine import Crm
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


@hookspec
def crmkit_automation_triggers():
    """Return a list of crmkit.engine.automation.trigger_types.TriggerType: automation triggers this plugin adds.

    A rule lists one in `on:` beside the built-in triggers; it fires after a write of the
    trigger's operations when the trigger's `fires(event)` (a RecordEvent) is true, and its
    after-save actions become outbox rows like a built-in trigger's (docs/automation.md).
    """


@hookspec
def crmkit_dashboard_widgets():
    """Return a list of crmkit.engine.reports.widget_kinds.DashboardWidgetKind: dashboard chart kinds this plugin adds.

    Each names a `chart:` a dashboard widget may declare beside the built-in kinds
    (crmkit.metadata.reports.CHART_KINDS), with `check(widget, report)` yielding
    `(message, key)` problems that `crmkit validate` reports at the widget, and
    `build(result, widget, presentation)` returning the JSON-ready chart data the page draws
    with the kind's `script` (a JavaScript file the plugin ships).
    """


@hookspec
def crmkit_detail_panels(context: "UserContext", object_name: str, record: Any) -> Any:
    """Return a list of crmkit.ui.extension_points.Panel (or None) shown on a record's detail page, below its sections.

    `record` is the Record the viewer read through `context` (their permissions applied);
    a panel's `body` is plain text (escaped) unless it is a markupsafe.Markup.
    """


@hookspec
def crmkit_form_widgets():
    """Return a dict of widget name -> callable(widget, errors) -> markupsafe.Markup | None: form inputs of this plugin.

    A field type whose `widget` is that name (FieldType.widget) is edited through the callable:
    `widget` is the crmkit.engine.fieldtypes.widgets.Widget of the field (id, name, value,
    attributes, required, ...), `errors` the engine's sentences about it; returning None
    falls back to the built-in input of the type's value kind.
    """


@hookspec
def crmkit_web_routes(app: "Flask") -> None:
    """Called once by crmkit.ui.app.create_app with the Flask application, after the built-in blueprints.

    Register blueprints or routes here; every page is behind the sign-in like the built-in
    ones, so a view reads records through `crmkit.ui.views.user_context()`.
    """


@hookspec
def crmkit_api_routes(blueprint: "Blueprint") -> None:
    """Called once per application with a blueprint at the REST API's prefix (`/api/v1`), before it is registered.

    The API layer calls it through crmkit.plugins.add_api_routes and gives the blueprint its
    token authentication and error format. Add endpoints with `@blueprint.route(...)`.
    """


@hookspec
def crmkit_cli_commands(cli: "click.Group") -> None:
    """Called once with the `crmkit` command group: add commands with `@cli.command()` or `cli.add_command`."""


@hookspec
def crmkit_startup(crm: "Crm", app: "Flask | None") -> None:
    """Called once when the web application over `crm` is ready to serve (`app`), after crmkit_web_routes.

    For warm caches, checks of the plugin's configuration, or background clients. Raising
    stops start-up with the error.
    """
