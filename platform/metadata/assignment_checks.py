"""Do an object's action types, assign_owner actions and scoring make sense? Each problem at its place in the file.

Action types: built in, or registered by a plugin (its `options` fit the plugin's JSON
Schema); the built-in field-setting actions need `set`. assign_owner: a known strategy
with what it needs (one role, team or user; `open` for least_loaded; `rules` and a
`fallback` for rules), roles that exist, rule fields that exist holding values their
picklists offer, and a trigger that saves the record. Scoring: a number field that can be
written, points that fit it, conditions that compile and read fields that exist.

Teams and users are data, not metadata: an unknown team or username is not found here but
at run time, where it leaves the owner as it is and logs a warning (docs/automation.md).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from jsonschema import Draft202012Validator

from crmkit.metadata.assignment import OwnerPool
from crmkit.metadata.automation import AFTER_SAVE_ACTIONS, BEFORE_SAVE_ACTIONS, AutomationAction, AutomationRule
from crmkit.metadata.automation_checks import SAVING_TRIGGERS
from crmkit.metadata.errors import did_you_mean
from crmkit.metadata.expressions import ExpressionReport, analyse
from crmkit.metadata.model import SYSTEM_FIELDS, SourceLocation
from crmkit.metadata.semantic import ObjectScope, Reporter

#: Number kinds a score may be kept in.
SCORE_KINDS = frozenset({"integer", "decimal"})


def check_assignment(scope: ObjectScope, roles: Mapping[str, Any], report: Reporter) -> dict[str, ExpressionReport]:
    """Check `scope.obj`'s action types, assign_owner actions and scoring; returns the scoring conditions' analyses."""
    builtin = BEFORE_SAVE_ACTIONS | AFTER_SAVE_ACTIONS
    for rule in scope.obj.automations:
        for action in rule.actions:
            _action_type(scope, action, builtin, report)
            if action.type == "assign_owner":
                _assign_owner(scope, rule, action, roles, report)
    return _scoring(scope, report)


def _action_type(scope: ObjectScope, action: AutomationAction, builtin: frozenset[str], report: Reporter) -> None:
    plugin = scope.catalog.action_kinds.get(action.type)
    if action.type not in builtin and plugin is None:
        known = sorted(builtin | set(scope.catalog.action_kinds))
        hint = did_you_mean(action.type, known) or f" Action types are: {', '.join(known)}."
        report.at(action.location, f"'{action.type}' is not an automation action type.{hint}", "type")
        return
    if action.type == "assign_owner" and action.set:
        report.at(action.location, "an assign_owner action picks the owner itself; remove 'set' (or use an "
                                   "update_record action to set other fields).", "set", at_key=True)
    if plugin is None and action.options:
        report.at(action.location, f"'options' is for action types plugins add; {action.type} takes none.",
                  "options", at_key=True)
    if plugin is not None and plugin.options_schema:
        for error in Draft202012Validator(dict(plugin.options_schema)).iter_errors(dict(action.options)):
            where = ".".join(str(part) for part in error.absolute_path)
            report.at(action.location, f"the options of {action.type}{' at ' + where if where else ''}: "
                                       f"{error.message}.", "options")
    if action.type != "assign_owner" and action.assignment is not None:
        report.at(action.location, f"{', '.join(sorted(action.assignment.given))} "
                                   f"{'is' if len(action.assignment.given) == 1 else 'are'} for assign_owner "
                                   f"actions; a {action.type} action does not use them.", "type")


def _assign_owner(scope: ObjectScope, rule: AutomationRule, action: AutomationAction, roles: Mapping[str, Any],
                  report: Reporter) -> None:
    assignment, location = action.assignment, action.location
    late = [trigger for trigger in rule.triggers if trigger not in SAVING_TRIGGERS]
    if late:
        report.at(location, f"an assign_owner action gives the record its owner before it is saved, so a rule on "
                            f"{' or '.join(late)} cannot use it.", "type")
    if assignment.strategy == "rules":
        if not assignment.rules:
            report.at(location, "strategy rules needs 'rules': a list of {when: {field: value}, role|team|user: ...}.")
        if assignment.pool.given:
            report.at(location, f"with strategy rules the owner comes from 'rules' and 'fallback'; remove "
                                f"'{assignment.pool.given[0]}'.", assignment.pool.given[0], at_key=True)
        for table_rule in assignment.rules:
            _pool(table_rule.pool, roles, report, table_rule.location)
            _when(scope, table_rule.when, report, table_rule.location)
        if assignment.fallback is not None:
            _pool(assignment.fallback, roles, report, location, "fallback")
    else:
        for key in ("rules", "fallback"):
            if (assignment.rules if key == "rules" else assignment.fallback):
                report.at(location, f"'{key}' is for strategy rules; this action's strategy is "
                                    f"{assignment.strategy}.", key, at_key=True)
        _pool(assignment.pool, roles, report, location)
    if assignment.open is not None and assignment.strategy != "least_loaded":
        report.at(location, f"'open' counts the load for strategy least_loaded; this action's strategy is "
                            f"{assignment.strategy}.", "open", at_key=True)
    for key in (assignment.open or {}):
        name = str(key).split(".")[0]
        if key not in ("and", "or", "not") and name not in scope.obj.fields and name not in SYSTEM_FIELDS:
            report.at(location, f"'open' names '{name}', which is not a field of {scope.obj.name}."
                                f"{did_you_mean(name, scope.obj.fields)}", "open")


def _pool(pool: OwnerPool, roles: Mapping[str, Any], report: Reporter, location: SourceLocation, *option: str) -> None:
    if len(pool.given) != 1:
        report.at(location, "say who may be given the record with exactly one of 'role', 'team' or 'user'.", *option)
    if pool.role and pool.role not in roles:
        hint = did_you_mean(pool.role, roles) or (f" Roles are: {', '.join(sorted(roles))}." if roles else
                                                  " No package declares any role.")
        report.at(location, f"the role '{pool.role}' does not exist.{hint}", *option, "role")


def _when(scope: ObjectScope, when: Mapping[str, tuple], report: Reporter, location: SourceLocation) -> None:
    for name, values in when.items():
        fdef = scope.obj.fields.get(name)
        if fdef is None and name not in SYSTEM_FIELDS:
            report.at(location, f"'{name}' is not a field of {scope.obj.name}.{did_you_mean(name, scope.obj.fields)}",
                      "when", name, at_key=True)
            continue
        if fdef is not None and fdef.type in ("picklist", "multipicklist") and fdef.option_values:
            for value in values:
                if str(value) not in fdef.option_values:
                    hint = did_you_mean(str(value), fdef.option_values) or (
                        f" Options are: {', '.join(fdef.option_values)}.")
                    report.at(location, f"'{value}' is not one of the options of {name}.{hint}", "when", name)


def _scoring(scope: ObjectScope, report: Reporter) -> dict[str, ExpressionReport]:
    obj, scoring = scope.obj, scope.obj.scoring
    if scoring is None:
        return {}
    fdef = obj.fields.get(scoring.field)
    kind = scope.catalog.kind(fdef.type) if fdef is not None else None
    if fdef is None:
        numbers = [name for name, f in obj.fields.items()
                   if (scope.catalog.kind(f.type) and scope.catalog.kind(f.type).value_kind in SCORE_KINDS)]
        hint = did_you_mean(scoring.field, obj.fields) or (f" Number fields of {obj.name}: {', '.join(numbers)}."
                                                           if numbers else " Add one, e.g. score: {type: integer}.")
        report.at(scoring.location, f"the score field '{scoring.field}' is not a field of {obj.name}.{hint}", "field")
    elif kind is None or kind.value_kind not in SCORE_KINDS or kind.computed:
        report.at(scoring.location, f"the score is kept in a number field (integer or decimal) that is not computed; "
                                    f"'{scoring.field}' is a {fdef.type} field.", "field")
    analyses = {}
    whole = kind is not None and kind.value_kind == "integer"
    for number, rule in enumerate(scoring.rules):
        if whole and rule.points != int(rule.points):  # the schema made sure it is a number
            report.at(rule.location, f"'{scoring.field}' holds whole numbers, so points must be whole; "
                                     f"{rule.points} is not.", "points")
        elif fdef is not None and kind is not None and kind.value_problem is not None \
                and not scope.catalog.lenient(obj.package):
            # What the field can store, not its min and max: the score is a sum, so one rule may take points off.
            problem = kind.value_problem(replace(fdef, min=None, max=None), int(rule.points) if whole else rule.points)
            if problem:
                report.at(rule.location, f"{rule.points} points do not fit '{scoring.field}': {problem} "
                                         "Give fewer points, or keep the score in a field that holds them.", "points")
        result = analyse(rule.condition, obj, scope.objects, scope.catalog.function_names, "condition")
        for message in result.problems:
            report.at(rule.location, message, "condition")
        analyses[f"scoring:{number}"] = result
    return analyses

