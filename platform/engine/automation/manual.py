"""Manual rules (`on: [manual]`): a person runs a rule on records they may edit, from a button or a bulk action.

    crm.as_user(7).records("deal")  # the user's rights decide everything below
    outcomes = run_manual(crm.as_user(7), "deal", "escalate", [42, 43])
    outcomes[42].outcome  # "done", "refused" or "not_found"

Each record is done in a transaction of its own, as the acting user:

1. The rule must be an active `manual` rule of the object and the user must have the object's
   `edit` permission (else PermissionDenied / ManualRuleNotFound, for the whole call).
2. The record is read with the user's row filter for editing: a record they cannot read is
   `not_found`, exactly like a missing id, so nothing about it is learned (nor logged); one
   they can read but not edit is refused with the engine's sentence.
3. The rule's condition is evaluated on the stored record; false: `refused` ("does not apply").
4. Its before-save actions (update_record, run_script) compute values that are saved as an
   update BY THE USER: field-level edit rights, validation rules and stage transitions
   apply as for the user's own edit, and the save fires the object's `updated` rules.
5. Its after-save actions become outbox rows (trigger `manual`) in the same transaction.

Each run is in the run log (trigger `manual`): `done`, or `refused` with the sentence.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from crmkit.engine import messages
from crmkit.engine.automation import runlog
from crmkit.engine.automation.rule_errors import told
from crmkit.engine.automation.rules import _rule_rows, before_save_values
from crmkit.engine.messages import Message
from crmkit.engine.records.errors import RecordError, RecordNotFound, RecordValidationError
from crmkit.engine.records.evaluation import load_related
from crmkit.engine.records.record import Actor
from crmkit.engine.security.access import PermissionDenied
from crmkit.metadata.automation import AutomationRule
from crmkit.sandbox import SandboxError, compile_expression

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext

MANUAL = "manual"
#: The most records one bulk run takes.
MAX_RECORDS = 200

NOT_MANUAL = Message("'{rule}' is not a rule that can be run by hand on {object}.",
                     "“{rule}”不是可在{object}上手动运行的规则。")
NOT_APPLICABLE = Message("the rule '{rule}' does not apply to this record.", "规则“{rule}”不适用于这条记录。")
TOO_MANY = Message("a rule can be run on at most {limit} records at once.", "一次最多可对 {limit} 条记录运行规则。")


class ManualRuleNotFound(RecordError):
    status = 404
    title = "Not found"


@dataclass(frozen=True)
class ManualOutcome:
    """What running the rule did to one record: done, refused (with `error`) or not_found."""

    record_id: Any
    outcome: str
    error: str | None = None
    #: Field-level errors of a refused save ({field: [sentence]}), as the user may be told them.
    errors: dict[str, list[str]] | None = None


@dataclass(frozen=True)
class _ManualEvent:
    """What _rule_rows reads of a record event, for a manual run."""

    object: str
    record_id: int
    actor: Actor
    at: datetime
    #: The record as stored after the run's before-save actions (send_email and call_webhook read it).
    current: Mapping[str, Any]
    previous: None = None

    class operation:  # noqa: N801 - read as event.operation.value
        value = MANUAL


def manual_rules(context: "UserContext", object_name: str) -> list[AutomationRule]:
    """The active manual rules of the object the user may run (they need its edit permission); [] otherwise."""
    obj = context.runtime.registry.objects.get(object_name)
    if obj is None:
        return []
    policy = context.policy
    if policy is not None and not policy.can(object_name, "edit"):
        return []
    return [rule for rule in obj.automations if rule.active and MANUAL in rule.triggers]


def run_manual(context: "UserContext", object_name: str, rule_name: str,
               record_ids: Sequence[Any]) -> dict[Any, ManualOutcome]:
    """Run the manual rule `rule_name` on each of `record_ids` as the context's user: {record id: outcome}.

    ManualRuleNotFound for a rule that is not an active manual rule of the object;
    PermissionDenied without the object's edit permission; RecordError for more than MAX_RECORDS ids.
    """
    language = context.actor.language
    rule = next((rule for rule in manual_rules(context, object_name) if rule.name == rule_name), None)
    if rule is None:
        if context.policy is not None and not context.policy.can(object_name, "edit"):
            context.policy.require(object_name, "edit")
        raise ManualRuleNotFound(NOT_MANUAL.in_language(language, rule=rule_name, object=object_name))
    if len(record_ids) > MAX_RECORDS:
        raise RecordError(TOO_MANY.in_language(language, limit=MAX_RECORDS))
    return {record_id: _run_one(context, object_name, rule, record_id) for record_id in dict.fromkeys(record_ids)}


def _run_one(context: "UserContext", object_name: str, rule: AutomationRule, record_id: Any) -> ManualOutcome:
    service = context.records(object_name)
    obj, pipeline = service.obj, service.pipeline
    started = time.perf_counter()
    try:
        with context.writing() as connection:
            service._allowed(("edit",))
            current = service._load(connection, record_id, lock=True, level="edit")
            now = context.now()
            clock = context.clock_functions(now)
            related = load_related(connection, context.runtime, obj, current)
            names, functions = pipeline.evaluator.scope(current, related, None, clock)
            if rule.condition and not compile_expression(rule.condition).evaluate(names, functions):
                raise _Refused(NOT_APPLICABLE.in_language(context.actor.language,
                                                         rule=rule.label.get(context.actor.language)))
            values: dict[str, Any] = {}
            for action in rule.actions:
                if action.before_save:
                    values.update(before_save_values(obj, action, names, functions, {**current, **values}, current))
            stored = current
            if values:
                stored = dict(service.update(current["id"], values, version=current["version"]).values)
                stored = {**current, **stored}
                related = load_related(connection, context.runtime, obj, stored)
                names, functions = pipeline.evaluator.scope(stored, related, None, clock)
            event = _ManualEvent(obj.name, current["id"], context.actor, now, stored)
            if rule.acts_after_save:  # its condition held before the before-save actions changed the record
                decided = dataclasses.replace(rule, condition=None)
                context.outbox_ids.extend(_rule_rows(connection, context, obj, decided, event, names, functions))
            runlog.write(connection, context, [_entry(context, obj.name, current["id"], rule, "done", started)])
        return ManualOutcome(record_id, "done")
    except RecordNotFound:
        return ManualOutcome(record_id, "not_found", messages.NO_RECORD.in_language(
            context.actor.language, object=object_name, id=record_id))
    except (_Refused, SandboxError, RecordValidationError, PermissionDenied) as error:
        if isinstance(error, SandboxError):
            text = messages.RULE_FAILED.in_language(context.actor.language, rule=rule.name, reason=str(error))
            shown = told(context, rule.name, str(error), context.actor.language)
        else:
            text = shown = error.message if hasattr(error, "message") else str(error)
        runlog.write_failed(context.crm, [_entry(context, obj.name, record_id, rule, "refused", started, text)])
        return ManualOutcome(record_id, "refused", shown,
                             error.errors if isinstance(error, RecordValidationError) else None)


class _Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _entry(context: "UserContext", object_name: str, record_id: Any, rule: AutomationRule, outcome: str,
           started: float, error: str | None = None) -> dict[str, Any]:
    return runlog.entry(at=context.now(), object_name=object_name, record_id=record_id,
                        rule=rule.key(object_name), trigger=MANUAL,
                        actions=[action.type for action in rule.actions], outcome=outcome,
                        duration_ms=runlog.elapsed_ms(started), error=error, actor_id=context.actor.user_id)
