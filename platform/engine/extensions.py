"""What plugins contributed, gathered once: field types, helper functions, packages, action and widget kinds."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

import pluggy
from marshmallow import ValidationError

from crmkit.engine.automation.action_types import collect_action_types
from crmkit.engine.automation.trigger_types import collect_trigger_types
from crmkit.engine.fieldtypes import FieldTypes
from crmkit.engine.fieldtypes.base import coerce, error_messages
from crmkit.engine.messages import Message
from crmkit.engine.query.filter_checks import filter_value_checks
from crmkit.engine.reports.widget_kinds import collect_widget_kinds
from crmkit.metadata.catalog import Catalog
from crmkit.metadata.model import FieldDef, frozen_map


@dataclass(frozen=True)
class Extensions:
    plugin_manager: pluggy.PluginManager
    field_types: FieldTypes
    functions: Mapping[str, Callable[..., Any]]
    catalog: Catalog
    #: Plugins' own messages (crmkit_messages), translated like the engine's (crmkit.engine.messages).
    messages: tuple[Message, ...] = ()
    #: Automation action types plugins register (crmkit_automation_actions), by name.
    action_types: Mapping[str, Any] = field(default_factory=frozen_map)
    #: Dashboard widget kinds plugins register (crmkit_dashboard_widgets), by name.
    widget_kinds: Mapping[str, Any] = field(default_factory=frozen_map)
    #: Automation triggers plugins register (crmkit_automation_triggers), by name.
    trigger_types: Mapping[str, Any] = field(default_factory=frozen_map)

    @classmethod
    def from_plugins(cls, manager: pluggy.PluginManager) -> "Extensions":
        field_types = FieldTypes.collect(manager.hook.crmkit_field_types())
        functions: dict[str, Callable[..., Any]] = {}
        for contribution in reversed(manager.hook.crmkit_sandbox_functions()):
            functions.update(contribution or {})
        action_types = collect_action_types(manager.hook.crmkit_automation_actions())
        widget_kinds = collect_widget_kinds(manager.hook.crmkit_dashboard_widgets())
        trigger_types = collect_trigger_types(manager.hook.crmkit_automation_triggers())
        catalog = Catalog.build((replace(t.kind, value_problem=value_problem(t)) for t in field_types.types.values()),
                                functions,
                                (action.kind for action in action_types.values()),
                                (widget.kind for widget in widget_kinds.values()),
                                (trigger.kind for trigger in trigger_types.values()))
        catalog = replace(catalog, registry_checks=(filter_value_checks(field_types),))
        messages = tuple(message for contribution in manager.hook.crmkit_messages() for message in contribution or ())
        return cls(manager, field_types, frozen_map(functions), catalog, messages, action_types, widget_kinds,
                   trigger_types)

    def package_paths(self) -> list[Path]:
        """Metadata packages that plugins ship, by package folder or file."""
        return [Path(path) for paths in self.plugin_manager.hook.crmkit_metadata_packages() for path in paths or ()]


def default_extensions() -> Extensions:
    from crmkit.plugins import default_plugin_manager

    return Extensions.from_plugins(default_plugin_manager())


def value_problem(field_type: Any) -> Callable[[FieldDef, Any], str | None] | None:
    """The check metadata validation makes of a static default (metadata/catalog.py FieldKind.value_problem): the
    field type's own coercion of it, as a save would make it, its refusal as one sentence; None for a type users
    do not write (computed ones)."""
    if not field_type.writable or field_type.input_field is None:  # a plugin type without an input: not checked
        return None

    def problem(fdef: FieldDef, value: Any) -> str | None:
        try:
            coerce(field_type.input_field(fdef), value)
        except ValidationError as error:
            return " ".join(error_messages(error.messages))
        except (TypeError, ValueError, ArithmeticError) as error:  # a plugin's field that does not say it nicely
            return str(error) or type(error).__name__
        return None

    return problem
