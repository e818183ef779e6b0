"""Do an object's automation rules and stage transitions make sense? Each problem at its place in the file.

Rules: unique names; conditions and value expressions compile and read only fields of the
object (and one lookup step); each action names what it needs and sets only fields that
exist and can be written; `update_record` runs before the save, so a rule on deleted or
restored cannot use it; `create_record` gives every required field of the new record.
Transitions: the field is a picklist; every value named is one of its options; required
fields exist; conditions compile.
"""
from __future__ import annotations

from typing import Iterable

from crmkit.metadata.automation import ANY_VALUE, DELIVERY_ACTIONS, AutomationAction, AutomationRule, StageTransitions
from crmkit.metadata.delivery_checks import check_delivery_action, check_email_templates
from crmkit.metadata.errors import did_you_mean
from crmkit.metadata.expressions import ExpressionReport, analyse
from crmkit.metadata.model import SYSTEM_FIELDS, ObjectDef
from crmkit.metadata.semantic import ObjectScope, Reporter
from crmkit.metadata.automation_action_checks import EXTRA_ACTION_CHECKS, not_for as _not_for
from crmkit.metadata.automation_names import AUTOMATION_NAMES

#: Triggers whose record is being saved, so that it can still be changed before the write; and the
#: time-based ones, whose update_record changes the record through the outbox (automation_time.py).
SAVING_TRIGGERS = frozenset({"created", "updated", "saved", "manual", "scheduled", "relative"})


def check_automation(scope: ObjectScope, report: Reporter) -> dict[str, ExpressionReport]:
    """Check `scope.obj`'s rules and transitions; returns the analyses of their expressions (for related reads)."""
    analyses: dict[str, ExpressionReport] = {}
    seen: set[str] = set()
    for rule in scope.obj.automations:
        if rule.name in seen:
            report.at(rule.location, f"two automation rules of {scope.obj.name} are named '{rule.name}'; rename one.",
                      "name")
        seen.add(rule.name)
        if rule.object is not None and rule.object != scope.obj.name:
            report.at(rule.location, f"a rule written under {scope.obj.name} is that object's; 'object' is for "
                                     "package-level rules (automations: at the top of a package). Remove it.",
                      "object", at_key=True)
        analyses.update(_rule(scope, rule, report))
    for transitions in scope.obj.transitions.values():
        analyses.update(_transitions(scope, transitions, report))
    check_email_templates(scope, report)
    return analyses


def _expression(scope: ObjectScope, source: str, kind: str, report: Reporter, location, *option) -> ExpressionReport:
    result = analyse(source, scope.obj, scope.objects, scope.catalog.function_names, kind, AUTOMATION_NAMES)
    for message in result.problems:
        report.at(location, message, *option)
    return result


def _rule(scope: ObjectScope, rule: AutomationRule, report: Reporter) -> dict[str, ExpressionReport]:
    from crmkit.metadata.automation_time_checks import check_time_trigger

    check_time_trigger(scope, rule, report)
    analyses = {}
    if rule.condition:
        analyses[f"automation:{rule.name}"] = _expression(scope, rule.condition, "condition", report,
                                                          rule.location, "condition")
    for number, action in enumerate(rule.actions):
        if action.type in EXTRA_ACTION_CHECKS:
            analyses.update(EXTRA_ACTION_CHECKS[action.type](scope, rule, number, action, report))
            continue
        if action.type in DELIVERY_ACTIONS:
            check_delivery_action(scope, action, report)
            continue
        _not_for(action, report, ("to", "message"), "notify")
        _not_for(action, report, ("script", "limits"), "run_script")
        if not action.set and action.type in ("update_record", "update_related", "create_record"):
            report.at(action.location, f"this {action.type} action needs 'set': field name -> an expression giving "
                                       "its value.")
        target = _action_target(scope, rule, action, report)
        for name, source in action.set.items():
            if target is not None:
                _settable(scope, target, name, report, action)
            key = f"automation:{rule.name}:{number}:{name}"
            analyses[key] = _expression(scope, source, f"value of '{name}'", report, action.location, "set", name)
    return analyses


def _action_target(scope: ObjectScope, rule: AutomationRule, action: AutomationAction,
                   report: Reporter) -> ObjectDef | None:
    """The object whose fields `action` sets, after checking the keys its type needs; None if unknown."""
    obj = scope.obj
    for key, needed_by in (("lookup", "update_related"), ("object", "create_record")):
        if getattr(action, key) is not None and action.type != needed_by:
            report.at(action.location, f"'{key}' does not apply to a {action.type} action; it is for {needed_by}.",
                      key, at_key=True)
    if action.type not in ("update_record", "update_related", "create_record"):
        return None  # assign_owner and plugins' action types: assignment_checks.py
    if action.type == "update_record":
        late = [trigger for trigger in rule.triggers if trigger not in SAVING_TRIGGERS]
        if late:
            report.at(action.location, f"an update_record action changes the record before it is saved, so a rule "
                                       f"on {' or '.join(late)} cannot use it; use update_related or create_record.",
                      "type")
        return obj
    if action.type == "update_related":
        lookup = obj.fields.get(action.lookup or "")
        if action.lookup is None:
            report.at(action.location, "an update_related action needs 'lookup': the lookup field of "
                                       f"{obj.name} naming the record to change.")
        elif lookup is None or not lookup.is_lookup:
            lookups = [name for name, fdef in obj.fields.items() if fdef.is_lookup]
            hint = did_you_mean(action.lookup, lookups) or (f" Lookups of {obj.name}: {', '.join(lookups)}."
                                                            if lookups else "")
            report.at(action.location, f"'{action.lookup}' is not a lookup field of {obj.name}.{hint}", "lookup")
        else:
            return scope.objects.get(lookup.to or "")
        return None
    if action.object is None:
        report.at(action.location, "a create_record action needs 'object': the object of the record to create.")
        return None
    target = scope.objects.get(action.object)
    if target is None:
        hint = did_you_mean(action.object, scope.objects)
        report.at(action.location, f"'{action.object}' is not an object here.{hint}", "object")
        return None
    missing = [name for name, fdef in target.fields.items() if fdef.required and name not in action.set
               and fdef.default is None and not fdef.default_expression and _writable(scope, target, name)]
    if missing:
        report.at(action.location, f"a new {target.name} record needs {', '.join(missing)} (required, with no "
                                   f"default); give {'it' if len(missing) == 1 else 'them'} in 'set'.", "set")
    return target


def _writable(scope: ObjectScope, obj: ObjectDef, name: str) -> bool:
    kind = scope.catalog.kind(obj.fields[name].type)
    return kind is not None and not kind.computed


def _settable(scope: ObjectScope, target: ObjectDef, name: str, report: Reporter, action: AutomationAction) -> None:
    if name in SYSTEM_FIELDS and name != "owner_id":
        report.at(action.location, f"'{name}' is set by the platform; an action cannot set it.", "set", name,
                  at_key=True)
    elif name not in target.fields and name != "owner_id":
        hint = did_you_mean(name, target.fields)
        report.at(action.location, f"'{name}' is not a field of {target.name}.{hint}", "set", name, at_key=True)
    elif name in target.fields and not _writable(scope, target, name):
        report.at(action.location, f"'{name}' of {target.name} is computed ({target.fields[name].type}); "
                                   "an action cannot set it.", "set", name, at_key=True)


def _transitions(scope: ObjectScope, transitions: StageTransitions,
                 report: Reporter) -> dict[str, ExpressionReport]:
    obj = scope.obj
    fdef = obj.fields.get(transitions.field)
    if fdef is None or fdef.type != "picklist":
        what = "is not a field of" if fdef is None else f"is a {fdef.type} field of"
        hint = did_you_mean(transitions.field, [n for n, f in obj.fields.items() if f.type == "picklist"])
        report.at(transitions.location, f"stage transitions are for a picklist field; '{transitions.field}' {what} "
                                        f"{obj.name}.{hint}", at_key=True)
        return {}
    options = fdef.option_values
    _known_values(transitions.initial or (), options, report, transitions.location, "initial", allow_any=False)
    analyses = {}
    for number, move in enumerate(transitions.moves):
        _known_values(move.sources, options, report, move.location, "from")
        _known_values(move.targets, options, report, move.location, "to")
        for name in move.requires:
            if name not in obj.fields:
                hint = did_you_mean(name, obj.fields)
                report.at(move.location, f"'{name}' is not a field of {obj.name}.{hint}", "requires")
        if move.condition:
            analyses[f"transition:{fdef.name}:{number}"] = _expression(scope, move.condition, "condition", report,
                                                                       move.location, "condition")
        elif move.message:
            report.at(move.location, "'message' is told when the move's condition is false; this move has no "
                                     "condition.", "message", at_key=True)
    return analyses


def _known_values(values: Iterable[str], options: tuple[str, ...], report: Reporter, location, key: str,
                  allow_any: bool = True) -> None:
    for value in values:
        if value == ANY_VALUE and allow_any:
            continue
        if value not in options:
            hint = did_you_mean(value, options) or f" Options are: {', '.join(options)}."
            report.at(location, f"'{value}' is not one of the picklist's options.{hint}", key)

