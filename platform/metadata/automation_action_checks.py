"""Checks of the `notify` and `run_script` actions, each problem at its place in the file (automation_checks.py calls them).

notify: `to` names the owner ("owner"), a system user field (created_by, updated_by) or a role's
members ("role:<name>"); `message` is an expression over the record; `set` does not apply.
run_script: `script` compiles under the sandbox's script policy (a problem names its line and
column inside the script); `set` does not apply; the rule's triggers must save the record.
"""
from __future__ import annotations

from typing import Callable, Mapping

from crmkit.metadata.automation import AutomationAction, AutomationRule
from crmkit.metadata.automation_names import AUTOMATION_NAMES
from crmkit.metadata.errors import did_you_mean
from crmkit.metadata.expressions import ExpressionReport, analyse
from crmkit.metadata.names import IDENTIFIER
from crmkit.metadata.semantic import ObjectScope, Reporter
from crmkit.sandbox import check_script

#: Recipients a notify action may name besides "role:<name>": the record's owner, its creator, its last editor.
USER_RECIPIENTS = {"owner": "owner_id", "owner_id": "owner_id", "created_by": "created_by",
                   "updated_by": "updated_by"}
#: Triggers whose record is being saved (a run_script action changes it before the write).
_SAVING = frozenset({"created", "updated", "saved", "manual"})


def not_for(action: AutomationAction, report: Reporter, keys: tuple[str, ...], owner: str) -> None:
    """Report each of `keys` that `action` gives although only an `owner` action takes it."""
    for key in keys:
        if getattr(action, key):
            report.at(action.location, f"'{key}' does not apply to a {action.type} action; it is for {owner}.",
                      key, at_key=True)


def check_notify(scope: ObjectScope, rule: AutomationRule, number: int, action: AutomationAction,
                 report: Reporter) -> dict[str, ExpressionReport]:
    """`to` and `message` of a notify action; returns the message's analysis."""
    _no_set(action, report)
    not_for(action, report, ("script", "limits"), "run_script")
    for key in ("lookup", "object"):
        if getattr(action, key) is not None:
            report.at(action.location, f"'{key}' does not apply to a notify action.", key, at_key=True)
    if not action.to:
        report.at(action.location, "a notify action needs 'to': owner, created_by, updated_by or role:<name>.")
    for recipient in action.to:
        if recipient.startswith("role:"):
            if not IDENTIFIER.fullmatch(recipient[5:]):
                report.at(action.location, f"'{recipient}' does not name a role; write role:<role name>.", "to")
        elif recipient not in USER_RECIPIENTS:
            hint = did_you_mean(recipient, USER_RECIPIENTS)
            report.at(action.location, f"'{recipient}' is not a recipient: use owner, created_by, updated_by or "
                                       f"role:<name>.{hint}", "to")
    if not action.message:
        report.at(action.location, "a notify action needs 'message': an expression giving the text, such as "
                                   "\"'Deal won: ' + name\".")
        return {}
    result = analyse(action.message, scope.obj, scope.objects, scope.catalog.function_names, "message",
                     AUTOMATION_NAMES)
    for problem in result.problems:
        report.at(action.location, problem, "message")
    return {f"automation:{rule.name}:{number}:message": result}


def check_run_script(scope: ObjectScope, rule: AutomationRule, number: int, action: AutomationAction,
                     report: Reporter) -> dict[str, ExpressionReport]:
    """`script` of a run_script action compiles, and the rule's triggers save the record."""
    _no_set(action, report)
    not_for(action, report, ("to", "message"), "notify")
    late = [trigger for trigger in rule.triggers if trigger not in _SAVING]
    if late:
        report.at(action.location, f"a run_script action changes the record before it is saved, so a rule on "
                                   f"{' or '.join(late)} cannot use it.", "type")
    if not action.script:
        report.at(action.location, "a run_script action needs 'script': the script whose result (a dict) sets "
                                   "fields of the record.")
        return {}
    for problem in check_script(action.script):
        report.at(action.location, f"line {problem.line}, column {problem.column} of the script: {problem.message}",
                  "script")
    return {}


def _no_set(action: AutomationAction, report: Reporter) -> None:
    if action.set:
        report.at(action.location, f"'set' does not apply to a {action.type} action.", "set", at_key=True)


#: Action type -> its checks (the others are checked in automation_checks.py).
EXTRA_ACTION_CHECKS: Mapping[str, Callable[..., dict[str, ExpressionReport]]] = {
    "notify": check_notify,
    "run_script": check_run_script,
}
