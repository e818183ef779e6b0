"""Automation in the model: rules (`automations:`) and stage transitions (`transitions:`) of an object.

    objects:
      opportunity:
        transitions:
          stage:
            moves:
              - {from: Prospecting, to: [Qualification, Closed Lost]}
              - {from: "*", to: Closed Lost, requires: [loss_reason]}
        automations:
          - name: won_follow_up
            on: [updated]
            condition: "changed('stage') and stage == 'Closed Won'"
            actions:
              - {type: update_record, set: {next_step: "'Hand over to delivery'"}}
              - {type: create_record, object: activity, set: {subject: "'Kick-off: ' + name", opportunity: "id"}}

Frozen dataclasses built from schema-checked documents (builder.py calls `build_automations`
and `build_transitions`); the checks that they make sense are in automation_checks.py, what
they do at run time in crmkit.engine.automation (docs/automation.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from dataclasses import field as _field
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from crmkit.metadata.automation_time import Schedule, Timing, build_schedule, build_timing, build_where
from crmkit.metadata.model import NOWHERE, Label, SourceLocation, frozen_map

if TYPE_CHECKING:
    from crmkit.metadata.assignment import OwnerAssignment
    from crmkit.metadata.source import SourceDocument

#: The triggers a rule may name, and the record operations (events.Operation values) each fires on.
TRIGGERS: Mapping[str, frozenset[str]] = frozen_map({
    "created": frozenset({"create"}),
    "updated": frozenset({"update"}),
    "saved": frozenset({"create", "update"}),
    "deleted": frozenset({"delete"}),
    "restored": frozenset({"restore"}),
    # A person's click on the record's button or a list's bulk action (engine/automation/manual.py).
    "manual": frozenset({"manual"}),
    # Fired by the clock, never by a save (automation_time.py).
    "scheduled": frozenset(),
    "relative": frozenset(),
})
#: Actions that change the triggering record inside its save, before the write.
BEFORE_SAVE_ACTIONS = frozenset({"update_record", "run_script", "assign_owner"})
#: Actions done after the save commits, through the outbox.
AFTER_SAVE_ACTIONS = frozenset({"update_related", "create_record", "notify", "send_email", "call_webhook"})
#: After-save actions that reach outside the database (email, webhooks): claimed, delivered, then marked
#: done (crmkit.engine.automation.deliveries), not done inside the marking transaction.
DELIVERY_ACTIONS = frozenset({"send_email", "call_webhook"})
#: In a move's `from` or `to`: any value.
ANY_VALUE = "*"


@dataclass(frozen=True)
class AutomationAction:
    """One thing a rule does: `type` (update_record, update_related, create_record) with its values.

    `set` maps a field name (of this record, of the lookup's target, or of `object`) to an
    expression over the triggering record.
    """

    type: str
    set: Mapping[str, str]
    lookup: str | None = None
    object: str | None = None
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)
    #: For assign_owner: how the owner is picked (crmkit.metadata.assignment).
    assignment: "OwnerAssignment | None" = None
    #: For an action type a plugin registers: its `options:` (checked against the plugin's JSON Schema).
    options: Mapping[str, Any] = _field(default_factory=frozen_map)
    #: run_script: the script's source, and lower limits than the sandbox's defaults ({cpu_seconds, memory_mb,
    #: wall_seconds}).
    script: str | None = None
    limits: Mapping[str, float] | None = None
    #: notify: who is told ("owner", a lookup-to-user field, "role:<name>"); send_email: the recipients (field,
    #: lookup.field, owner, an address).
    to: tuple[str, ...] = ()
    #: notify: the message (an expression).
    message: str | None = None
    #: send_email: the object's template and the language.
    template: str | None = None
    language: str | None = None
    #: call_webhook: where to POST, the environment variable holding the signing secret, the fields sent.
    url: str | None = None
    secret_env: str | None = None
    fields: tuple[str, ...] = ()

    @property
    def before_save(self) -> bool:
        return self.type in BEFORE_SAVE_ACTIONS


@dataclass(frozen=True)
class AutomationRule:
    """When one of `triggers` happens to a record and `condition` holds (or there is none), do `actions`."""

    name: str
    triggers: tuple[str, ...]
    actions: tuple[AutomationAction, ...]
    condition: str | None = None
    label: Label = _field(default_factory=Label)
    active: bool = True
    package: str = ""
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)
    #: `on: [scheduled]`: when it fires, and `where`, the filter selecting its records (automation_time.py).
    schedule: Schedule | None = None
    where: Mapping[str, Any] | None = None
    #: `on: [relative]`: when it fires for each record, from a date field.
    timing: Timing | None = None
    #: The object a package-level rule is for (None for a rule written under its object).
    object: str | None = None
    #: The author accepts that the rule shows fields permission sets protect (metadata/disclosure_checks.py).
    discloses_protected_fields: bool = False

    @cached_property
    def operations(self) -> frozenset[str]:
        """The record operations ("create", "update", ...) this rule's built-in triggers fire on (a plugin's
        trigger, crmkit_automation_triggers, fires through its own test: engine/automation/trigger_types.py)."""
        return frozenset().union(*(TRIGGERS.get(trigger, frozenset()) for trigger in self.triggers))

    @cached_property
    def acts_before_save(self) -> bool:
        """Whether any action changes the record before it is saved (update_record)."""
        return any(action.before_save for action in self.actions)

    @cached_property
    def acts_after_save(self) -> bool:
        """Whether any action is done after the save, through the outbox."""
        return not all(action.before_save for action in self.actions)

    def key(self, object_name: str) -> str:
        """`object.rule`: the rule's name across objects (the outbox and the recursion chain use it)."""
        return f"{object_name}.{self.name}"


@dataclass(frozen=True)
class StageMove:
    """A move from any of `sources` to any of `targets` (ANY_VALUE: every value)."""

    sources: tuple[str, ...]
    targets: tuple[str, ...]
    condition: str | None = None
    message: Label = _field(default_factory=Label)
    requires: tuple[str, ...] = ()
    #: What the move does (as an automation rule's actions: before the save, or through the outbox after it).
    actions: tuple[AutomationAction, ...] = ()
    #: The author accepts that the condition reads fields permission sets protect (metadata/disclosure_checks.py).
    discloses_protected_fields: bool = False
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)

    def matches(self, previous: Any, value: Any) -> bool:
        """Whether this move is from `previous` to `value`."""
        return (ANY_VALUE in self.sources or previous in self.sources) and (
            ANY_VALUE in self.targets or value in self.targets)


@dataclass(frozen=True)
class StageTransitions:
    """The allowed moves between the values of the picklist `field`; any other change of it is refused."""

    field: str
    moves: tuple[StageMove, ...]
    #: The values a new record may start with; None: any.
    initial: tuple[str, ...] | None = None
    package: str = ""
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)

    def move(self, previous: Any, value: Any) -> StageMove | None:
        """The first declared move from `previous` to `value`; None when the move is not allowed."""
        return next((move for move in self.moves if move.matches(previous, value)), None)

    def targets(self, previous: Any, options: Sequence[str]) -> tuple[str, ...]:
        """The values of `options` a record holding `previous` may move to (before conditions)."""
        return tuple(value for value in options if value != previous and self.move(previous, value) is not None)


def _values(given: str | Sequence[str]) -> tuple[str, ...]:
    return (given,) if isinstance(given, str) else tuple(given)


def build_action(document: "SourceDocument", path: tuple, action: Mapping[str, Any]) -> AutomationAction:
    """The action at `path` of `document` (a rule's or a stage move's `actions` item)."""
    from crmkit.metadata.assignment import build_assignment
    from crmkit.metadata.builder import location

    return AutomationAction(
        type=action["type"], set=frozen_map(action.get("set") or {}), lookup=action.get("lookup"),
        object=action.get("object"), location=location(document, path, at_key=False), script=action.get("script"),
        limits=frozen_map(action["limits"]) if action.get("limits") else None,
        to=_values(action["to"]) if action.get("to") else (), message=action.get("message"),
        template=action.get("template"), language=action.get("language"), url=action.get("url"),
        secret_env=action.get("secret_env"), fields=tuple(action.get("fields") or ()),
        assignment=build_assignment(document, path, action), options=frozen_map(action.get("options") or {}))


def build_automations(document: "SourceDocument", package: str, base: tuple,
                      specs: Sequence[Mapping[str, Any]]) -> tuple[AutomationRule, ...]:
    from crmkit.metadata.builder import location

    rules = []
    for index, spec in enumerate(specs):
        path = base + ("automations", index)
        actions = tuple(build_action(document, path + ("actions", number), action)
                        for number, action in enumerate(spec.get("actions") or ()))
        rules.append(AutomationRule(
            name=spec["name"], triggers=tuple(spec["on"]), actions=actions, condition=spec.get("condition"),
            label=Label.of(spec.get("label"), spec["name"]), active=bool(spec.get("active", True)), package=package,
            location=location(document, path, at_key=False), schedule=build_schedule(spec.get("schedule")),
            where=build_where(spec.get("where")), timing=build_timing(spec.get("timing")), object=spec.get("object"),
            discloses_protected_fields=bool(spec.get("discloses_protected_fields"))))
    return tuple(rules)


def move_rules(by_field: Mapping[str, StageTransitions]) -> tuple[AutomationRule, ...]:
    """The rules that do the `actions` of stage moves: `<field>_move_<n>` for the n-th move (from 1) that has some.

    Each fires on an update that makes its move: the field changed, and this move is the first
    declared one listing the old and the new value (the one the transition check decided by).
    """
    rules = []
    for transitions in by_field.values():
        name = transitions.field
        for number, move in enumerate(transitions.moves):
            if not move.actions:
                continue
            earlier = [f"not ({_matches(name, other)})" for other in transitions.moves[:number]]
            condition = " and ".join([f"changed({name!r})", f"({_matches(name, move)})", *earlier])
            rules.append(AutomationRule(
                name=f"{name}_move_{number + 1}", triggers=("updated",), actions=move.actions, condition=condition,
                label=Label.of({"en": f"{name}: {', '.join(move.sources)} -> {', '.join(move.targets)}"}),
                package=transitions.package, location=move.location,
                discloses_protected_fields=move.discloses_protected_fields))
    return tuple(rules)


def _matches(field_name: str, move: StageMove) -> str:
    """An expression true when the record moves from one of `move`'s sources to one of its targets."""
    sources = "True" if ANY_VALUE in move.sources else f"previous({field_name!r}) in {tuple(move.sources)!r}"
    targets = "True" if ANY_VALUE in move.targets else f"{field_name} in {tuple(move.targets)!r}"
    return f"{sources} and {targets}"


def build_transitions(document: "SourceDocument", package: str, base: tuple,
                      specs: Mapping[str, Mapping[str, Any]]) -> Mapping[str, StageTransitions]:
    from crmkit.metadata.builder import location

    built = {}
    for field_name, spec in specs.items():
        path = base + ("transitions", field_name)
        moves = tuple(
            StageMove(sources=_values(move["from"]), targets=_values(move["to"]), condition=move.get("condition"),
                      message=Label.of(move["message"]) if move.get("message") else Label(),
                      requires=tuple(move.get("requires") or ()),
                      discloses_protected_fields=bool(move.get("discloses_protected_fields")),
                      actions=tuple(build_action(document, path + ("moves", number, "actions", index), action)
                                    for index, action in enumerate(move.get("actions") or ())),
                      location=location(document, path + ("moves", number), at_key=False))
            for number, move in enumerate(spec.get("moves") or ()))
        initial = spec.get("initial")
        built[field_name] = StageTransitions(field=field_name, moves=moves,
                                             initial=tuple(initial) if initial else None, package=package,
                                             location=location(document, path))
    return frozen_map(built)
