"""What the metadata layer must know about field types and helper functions.

The engine owns field type behaviour (columns, coercion, operators); the metadata layer
only needs each type's name, the options it accepts and the kind of value it holds.
Plugins contribute both through hooks, so validation takes a Catalog instead of
importing the engine.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping

from crmkit.metadata.model import frozen_map

#: Options every field accepts, whatever its type.
COMMON_FIELD_OPTIONS = frozenset(
    {
        "type", "label", "help", "description", "required", "unique", "indexed",
        "searchable", "read_only", "default", "renamed_from", "personal",
    }
)

VALUE_KINDS = frozenset(
    {"text", "integer", "decimal", "boolean", "date", "datetime", "list", "reference"}
)


@dataclass(frozen=True)
class FieldKind:
    """A field type as metadata sees it."""

    name: str
    value_kind: str
    options: frozenset[str] = frozenset()
    required_options: frozenset[str] = frozenset()
    #: JSON Schema property definitions for options only a plugin's type knows.
    option_schemas: Mapping[str, Any] = field(default_factory=frozen_map)
    #: Computed types (formula, rollup, autonumber) are written by the engine, never by users.
    computed: bool = False
    #: Types that may be the `returns` of a formula.
    formula_result: bool = False
    #: Types that can carry `unique`, `indexed`, `searchable`.
    indexable: bool = True
    searchable: bool = False
    description: str = ""
    #: Why a value (a static default) is one a field of this type would refuse, or None: given by the engine
    #: (its coercion, engine/extensions.py); None here means values are not checked before a save.
    value_problem: Callable[[Any, Any], "str | None"] | None = field(default=None, compare=False)

    def accepts(self, option: str) -> bool:
        return option in COMMON_FIELD_OPTIONS or option in self.options


@dataclass(frozen=True)
class ActionKind:
    """An automation action type a plugin registers, as metadata sees it (crmkit.engine.automation.action_types)."""

    name: str
    #: JSON Schema of the action's `options:` (an object schema); empty: any options.
    options_schema: Mapping[str, Any] = field(default_factory=frozen_map)
    description: str = ""


@dataclass(frozen=True)
class TriggerKind:
    """An automation trigger a plugin registers, as metadata sees it (crmkit.engine.automation.trigger_types):
    a name a rule's `on:` may list, and the record operations ("create", "update", "delete", "restore") it
    is tested on."""

    name: str
    operations: frozenset[str] = frozenset()
    description: str = ""


#: A dashboard chart kind's own check: (widget, report) -> (message, key) problems (crmkit.metadata.reports shapes).
ChartCheck = Callable[[Any, Any], Iterable[tuple[str, str]]]


@dataclass(frozen=True)
class ChartKind:
    """A dashboard widget kind a plugin registers, as metadata sees it (crmkit.engine.reports.widget_kinds).

    `groups`: True when it draws the groups of a summary or matrix report (a report without
    group_by is refused), False when it draws a total. `check(widget, report)` yields
    `(message, key)` for the widget's problems of the kind's own, each reported at the
    widget's `key` (such as "chart" or "value").
    """

    name: str
    groups: bool = True
    check: ChartCheck | None = None
    description: str = ""

    def problems(self, widget: Any, report: Any) -> Iterator[tuple[str, str]]:
        yield from (self.check(widget, report) or ()) if self.check is not None else ()


@dataclass(frozen=True)
class Catalog:
    kinds: Mapping[str, FieldKind]
    function_names: frozenset[str] = frozenset()
    #: Automation action types plugins register (the built-in ones are crmkit.metadata.automation's).
    action_kinds: Mapping[str, ActionKind] = field(default_factory=frozen_map)
    #: Dashboard widget kinds plugins register (the built-in ones are crmkit.metadata.reports.CHART_KINDS).
    chart_kinds: Mapping[str, ChartKind] = field(default_factory=frozen_map)
    #: Automation triggers plugins register (the built-in ones are crmkit.metadata.automation.TRIGGERS).
    trigger_kinds: Mapping[str, TriggerKind] = field(default_factory=frozen_map)
    #: Checks of a whole registry the engine adds (metadata/registry.py runs them once every other check holds):
    #: each yields (location, message, key path under the location) for what it refuses.
    registry_checks: tuple[Callable[[Any], Iterable[tuple[Any, str, tuple]]], ...] = field(default=(), compare=False)
    #: Packages already installed, read back from the database (on every open, and beside a package being
    #: installed): the rules added after they may have been installed (values of defaults, filters and scoring
    #: points, names PostgreSQL keeps, renames naming a declared entry, autonumber starts, entries declared in two
    #: files) are not applied to them, so a database an older crmkit filled stays open and takes other packages;
    #: they apply to every package installed or upgraded.
    installed: frozenset[str] = frozenset()

    def lenient(self, package: str) -> bool:
        """Whether `package` is one already installed (`installed`): newer rules are not applied to it."""
        return package in self.installed

    @classmethod
    def build(cls, kinds: Iterable[FieldKind], function_names: Iterable[str] = (),
              action_kinds: Iterable[ActionKind] = (), chart_kinds: Iterable[ChartKind] = (),
              trigger_kinds: Iterable[TriggerKind] = ()) -> "Catalog":
        by_name: dict[str, FieldKind] = {}
        for kind in kinds:
            if kind.name in by_name:
                raise ValueError(f"two plugins define the field type {kind.name!r}")
            by_name[kind.name] = kind
        actions: dict[str, ActionKind] = {}
        for action in action_kinds:
            if action.name in actions:
                raise ValueError(f"two plugins define the automation action type {action.name!r}")
            actions[action.name] = action
        charts: dict[str, ChartKind] = {}
        for chart in chart_kinds:
            if chart.name in charts:
                raise ValueError(f"two plugins define the dashboard widget kind {chart.name!r}")
            charts[chart.name] = chart
        triggers: dict[str, TriggerKind] = {}
        for trigger in trigger_kinds:
            if trigger.name in triggers:
                raise ValueError(f"two plugins define the automation trigger {trigger.name!r}")
            triggers[trigger.name] = trigger
        return cls(frozen_map(by_name), frozenset(function_names), frozen_map(actions), frozen_map(charts),
                   frozen_map(triggers))

    def kind(self, name: str) -> FieldKind | None:
        return self.kinds.get(name)

    @property
    def formula_result_types(self) -> tuple[str, ...]:
        return tuple(sorted(name for name, kind in self.kinds.items() if kind.formula_result))
