"""Automation rules in the save: before-save actions change the record, after-save actions become outbox rows.

Before the write (records/pipeline.py, SavePipeline.prepare), once the values are coerced,
defaulted, checked for required fields and lookups and their formulas computed, and before
the validation rules and stage transitions: each active rule of the object whose triggers
include the save's operation and which has update_record actions is taken in declared
order; its condition is evaluated on the values as earlier rules left them, and when true
its update_record actions set their fields (coerced as system input). Formulas are computed
again, then the validation rules and transitions check the record as it will be saved.
An assign_owner action sets `owner_id` (automation/assignment.py); after the rules, an object
with `scoring:` gets its score when the save creates it or changes a field the conditions
read (automation/scoring.py).

In the after-write step (records/events.py, step 5), in the write's transaction: each
active rule whose triggers include the event's operation and which has after-save actions
is evaluated on the stored record (with `previous()` and `changed()` on update), and each
of its after-save actions becomes one outbox row holding the values it computed, so the
worker applies what the record said at its save. A condition or value that cannot be
computed gives a `dead` row with the reason (and a log line) instead of refusing the save.

Recursion: a save made by the worker for an outbox row carries that row's depth and chain
of rules (`AutomationOrigin`). Rules in the chain do not fire again (a rule never fires on a
change it caused, directly or down its chain); rows beyond MAX_DEPTH are written `stopped`
with the reason and logged as an error, and never run.
"""
from __future__ import annotations

import ast
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

from sqlalchemy import Connection, insert

from crmkit.engine import messages
from crmkit.engine.automation import runlog
from crmkit.engine.automation.rule_errors import told
from crmkit.engine.automation.notify_reads import quoted_fields, quoted_lookups
from crmkit.engine.automation.scripts import run_record_script
from crmkit.engine.automation.deliveries import delivery_payload
from crmkit.engine.automation.action_types import plugin_payload
from crmkit.engine.automation.assignment import pick_owner
from crmkit.engine.automation.scoring import needs_scoring, score
from crmkit.engine.fieldtypes import to_json
from crmkit.engine.records.errors import RECORD_ERRORS, RecordValidationError
from crmkit.engine.records.evaluation import load_related
from crmkit.metadata.automation import DELIVERY_ACTIONS, AutomationAction, AutomationRule
from crmkit.metadata.model import ObjectDef
from crmkit.sandbox import RecordView, SandboxError, compile_expression
from crmkit.sandbox.expression import CompiledExpression

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext
    from crmkit.engine.records.events import RecordEvent
    from crmkit.engine.records.pipeline import SavePipeline

logger = logging.getLogger("crmkit.automation")

#: The most automation steps in one chain: a person's save is step 1, a save the worker makes for it step 2, ...
MAX_DEPTH = 5


@dataclass(frozen=True)
class AutomationOrigin:
    """Why a save happens: the outbox row the worker is doing (its depth and chain of rule keys)."""

    depth: int
    chain: frozenset[str]
    outbox_id: int | None = None
    #: The user whose save wrote the outbox row (`user` in the conditions its saves fire; automation/acting_user.py).
    actor_id: int | None = None


@contextmanager
def rules_held(context: "UserContext", *, outgoing_only: bool = False) -> Iterator[frozenset[str]]:
    """Within the block, `context`'s saves fire no automation rule (every rule is put in their chain);
    with `outgoing_only`, only the rules with an action that reaches outside (send_email, call_webhook).

    Yields the keys of the rules held ("lead.welcome"). The importer's "without automation" and
    the demo data (which sends no email to made-up people) use it."""
    kept = context.automation
    keys = frozenset(rule.key(obj.name) for obj in context.runtime.registry.objects.values()
                     for rule in obj.automations
                     if not outgoing_only or any(action.type in DELIVERY_ACTIONS for action in rule.actions))
    context.automation = AutomationOrigin(depth=kept.depth if kept else 0,
                                          chain=keys | (kept.chain if kept else frozenset()),
                                          outbox_id=kept.outbox_id if kept else None,
                                          actor_id=kept.actor_id if kept else None)
    try:
        yield keys
    finally:
        context.automation = kept


def _rules(obj: ObjectDef, operation: str, origin: AutomationOrigin | None, *, before: bool) -> list[AutomationRule]:
    chain = origin.chain if origin is not None else None
    return [rule for rule in obj.automations
            if rule.active and operation in rule.operations
            and (rule.acts_before_save if before else rule.acts_after_save)
            and not (chain and rule.key(obj.name) in chain)]


@dataclass(frozen=True)
class RuleCheck:
    """A rule as a save evaluates it: its condition compiled once, and the field of its `changed()` guard.

    `guard`: when the condition is `changed('field')` or starts with `changed('field') and ...`, that field.
    A save in which it did not change (every create: nothing has a previous value) makes the condition false
    as evaluating it would, since `and` stops at its first false operand; the rule is then passed over
    without building the sandbox's scope. None for any other condition, and where `changed` is not the helper
    (an object with a field of that name, which expressions read instead).
    """

    rule: AutomationRule
    key: str
    condition: CompiledExpression | None
    guard: str | None

    def passed_over(self, values: Mapping[str, Any], previous: Mapping[str, Any] | None) -> bool:
        """Whether the guard makes the condition false for a save of `values` (`previous`: before it, None on create)."""
        guard = self.guard
        return guard is not None and (previous is None or previous.get(guard) == values.get(guard))


def rule_checks(pipeline: "SavePipeline", operation: str, origin: AutomationOrigin | None, *,
                before: bool) -> list[RuleCheck]:
    """`_rules` as RuleChecks, in declared order. Built once per object, operation and side of the save, on its
    pipeline (a new one for every metadata change: records/pipeline.py); the origin's chain filtered each time."""
    cache = pipeline.rule_checks
    checks = cache.get((operation, before))
    if checks is None:
        obj = pipeline.obj
        shadowed = "changed" in pipeline.evaluator.names
        checks = cache[(operation, before)] = [
            RuleCheck(rule, rule.key(obj.name), compile_expression(rule.condition) if rule.condition else None,
                      None if shadowed else changed_guard(rule.condition))
            for rule in _rules(obj, operation, None, before=before)]
    chain = origin.chain if origin is not None else None
    return [check for check in checks if check.key not in chain] if chain else checks


def changed_guard(condition: str | None) -> str | None:
    """The field of `changed('field')` when `condition` is that call or an `and` starting with it; else None."""
    if not condition:
        return None
    try:
        body = ast.parse(condition.strip(), mode="eval").body
    except SyntaxError:
        return None
    first = body.values[0] if isinstance(body, ast.BoolOp) and isinstance(body.op, ast.And) else body
    if (isinstance(first, ast.Call) and isinstance(first.func, ast.Name) and first.func.id == "changed"
            and len(first.args) == 1 and not first.keywords and isinstance(first.args[0], ast.Constant)
            and isinstance(first.args[0].value, str)):
        return first.args[0].value
    return None


def run_before_save(context: "UserContext", connection: Connection, pipeline: "SavePipeline",
                    values: dict[str, Any], previous: Mapping[str, Any] | None,
                    clock: Mapping[str, Callable[..., Any]]) -> list[str]:
    """Apply the update_record actions of the rules that fire; returns the fields they set, in order.

    RecordValidationError when a condition or value cannot be computed (the save is refused,
    as for a validation rule that cannot be checked) or a value does not fit its field.
    """
    obj = pipeline.obj
    checks = rule_checks(pipeline, "create" if previous is None else "update", context.automation, before=True)
    if not checks and obj.scoring is None:
        return []
    related = load_related(connection, pipeline.runtime, obj, values)
    changed: list[str] = []
    entries: list[dict[str, Any]] = []
    names: dict[str, Any] | None = None  # the scope, built for the first rule whose guard lets it be evaluated
    for check in checks:
        rule = check.rule
        if check.passed_over(values, previous):
            continue
        if names is None or changed:  # later rules see what earlier ones set
            names, functions = pipeline.evaluator.scope(values, related, previous, clock)
        started = time.perf_counter()
        try:
            if check.condition is not None and not check.condition.evaluate(names, functions):
                continue
            for number, action in enumerate(rule.actions):
                if action.type == "assign_owner" and action.assignment is not None:  # assign_owner (automation/assignment.py)
                    owner = pick_owner(connection, pipeline.runtime, obj, f"{rule.key(obj.name)}.{number}",
                                       action.assignment, values, context.now(), context.actor.user_id)
                    if owner is not None and owner != values.get("owner_id"):
                        values["owner_id"] = owner
                        if "owner_id" not in changed:
                            changed.append("owner_id")
                elif action.before_save:
                    for name, raw in before_save_values(obj, action, names, functions, values, previous).items():
                        values[name] = pipeline.coerce_one(name, raw)
                        if name not in changed:
                            changed.append(name)
        except (SandboxError, RecordValidationError) as error:
            logger.warning("automation rule %s could not run for %s record %s: %s", rule.key(obj.name), obj.name,
                           values.get("id") or "(new)", error)
            reason = str(error) if isinstance(error, SandboxError) else _sentences(error)
            text = messages.RULE_FAILED(rule=rule.name, reason=reason)
            context.failed_runs.append(_run_entry(context, obj, rule, previous, "refused", started, error=text,
                                                  before=True))
            if isinstance(error, SandboxError):
                raise RecordValidationError({RECORD_ERRORS: [told(context, rule.name, reason)]}) from None
            raise
        entries.append(_run_entry(context, obj, rule, previous, "done", started, before=True))
    if previous is None:  # the record's id is known after the write: records/events.py writes them then
        context.pending_runs.append((obj.name, entries))
    else:
        runlog.write(connection, context, entries)
    if needs_scoring(obj, values, previous, changed):  # scoring sees what the rules set (automation/scoring.py)
        if changed:
            related = load_related(connection, pipeline.runtime, obj, values)
            pipeline.evaluator.compute_formulas(values, related, previous)
        names, functions = pipeline.evaluator.scope(values, related, previous, clock)
        field = obj.scoring.field
        fresh = pipeline.coerce_one(field, score(obj.scoring, names, functions, object_name=obj.name,
                                                 record_id=values.get("id")))
        if fresh != values.get(field) or previous is None:
            values[field] = fresh
            if field not in changed:
                changed.append(field)
    return changed


def before_save_values(obj: ObjectDef, action: AutomationAction, names: Mapping[str, Any],
                       functions: Mapping[str, Any], values: Mapping[str, Any],
                       previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """{field: raw value} a before-save action sets: its `set` expressions, or what its script returned.

    SandboxError when an expression or the script cannot run (or hits a sandbox limit).
    """
    if action.type == "run_script":
        return run_record_script(obj, action, values, previous)
    return _values(action, names, functions)


def _run_entry(context: "UserContext", obj: ObjectDef, rule: AutomationRule, previous: Mapping[str, Any] | None,
               outcome: str, started: float, *, error: str | None = None, before: bool,
               trigger: str | None = None) -> dict[str, Any]:
    """A run log entry for `rule` on this record (its actions before or after the save)."""
    return runlog.entry(at=context.now(), object_name=obj.name,
                        record_id=previous.get("id") if previous is not None else None, rule=rule.key(obj.name),
                        trigger=trigger or ("create" if previous is None else "update"),
                        actions=[action.type for action in rule.actions if action.before_save == before],
                        outcome=outcome, duration_ms=runlog.elapsed_ms(started), error=error,
                        actor_id=context.actor.user_id,
                        outbox_id=context.automation.outbox_id if context.automation is not None else None)


def _sentences(error: RecordValidationError) -> str:
    """A validation error's sentences in one line (field names, no values beyond what the sentences say)."""
    return "; ".join(f"{field}: {text}" if field != RECORD_ERRORS else text
                     for field, texts in error.errors.items() for text in texts)


def _values(action: AutomationAction, names: Mapping[str, Any], functions: Mapping[str, Any]) -> dict[str, Any]:
    """Each of the action's expressions evaluated (SandboxError if one cannot be)."""
    return {name: _plain(compile_expression(source).evaluate(names, functions)) for name, source in action.set.items()}


def _plain(value: Any) -> Any:
    """A related record given as a value (`set: {account: account}`) is its id."""
    if isinstance(value, RecordView):
        return getattr(value, "id", None) if value else None
    return value


def write_outbox(connection: Connection, context: "UserContext", events: Sequence["RecordEvent"]) -> list[int]:
    """The outbox rows of the after-save actions `events` fire, written on `connection`; returns their ids."""
    runtime, origin = context.runtime, context.automation
    ids: list[int] = []
    for event in events:
        obj = runtime.registry.objects.get(event.object)
        if obj is None or not obj.automations:
            continue
        pipeline = context.pipeline(obj.name)
        checks = rule_checks(pipeline, event.operation.value, origin, before=False)
        if runtime.extensions.trigger_types:
            rules = _with_plugin_triggers(obj, [check.rule for check in checks], event, origin,
                                          runtime.extensions.trigger_types)
            known = {id(check.rule): check for check in checks}
            checks = [known.get(id(rule)) or RuleCheck(rule, rule.key(obj.name), None, None) for rule in rules]
        if not checks:
            continue
        current = event.current if event.current is not None else event.previous or {}
        previous = event.previous if event.current is not None else None
        names: dict[str, Any] | None = None  # built for the first rule whose guard lets it be evaluated
        for check in checks:
            if check.passed_over(current, previous):
                continue
            if names is None:
                values = dict(current)
                related = load_related(connection, runtime, obj, values)
                names, functions = pipeline.evaluator.scope(values, related, previous,
                                                            context.clock_functions(event.at))
            ids.extend(_rule_rows(connection, context, obj, check.rule, event, names, functions, check.condition))
    return ids


def _with_plugin_triggers(obj: ObjectDef, rules: list[AutomationRule], event: "RecordEvent",
                          origin: AutomationOrigin | None, trigger_types: Mapping[str, Any]) -> list[AutomationRule]:
    """`rules` and the rules with after-save actions that a plugin's trigger in their `on:` fires for `event`,
    in declared order (crmkit_automation_triggers, automation/trigger_types.py)."""
    chain = origin.chain if origin is not None else None
    chosen = {id(rule) for rule in rules}
    for rule in obj.automations:
        if (id(rule) not in chosen and rule.active and rule.acts_after_save
                and not (chain and rule.key(obj.name) in chain)
                and any(trigger in trigger_types and trigger_types[trigger].fired_by(event) for trigger in rule.triggers)):
            chosen.add(id(rule))
    return [rule for rule in obj.automations if id(rule) in chosen]


def _rule_rows(connection: Connection, context: "UserContext", obj: ObjectDef, rule: AutomationRule,
               event: "RecordEvent", names, functions, condition: CompiledExpression | None = None) -> list[int]:
    """`condition`: the rule's condition compiled (RuleCheck), or None to compile it here."""
    origin = context.automation
    depth = 1 if origin is None else origin.depth + 1
    chain = sorted((origin.chain if origin is not None else frozenset()) | {rule.key(obj.name)})
    rows: list[dict[str, Any]] = []
    try:
        if condition is None and rule.condition:
            condition = compile_expression(rule.condition)
        fires = condition is None or condition.evaluate(names, functions)
        if not fires:
            return []
        for number, action in enumerate(rule.actions):
            if not action.before_save:
                payload = (delivery_payload(obj, action, event) if action.type in DELIVERY_ACTIONS
                           else _payload(context, obj, action, names, functions))
                if payload is not None and action.type == "notify":
                    payload["rule"] = rule.key(obj.name)
                if payload is not None:
                    rows.append({"action": number, "kind": action.type, "payload": payload, "status": "pending",
                                 "last_error": None})
    except SandboxError as error:
        logger.error("automation rule %s could not run for %s record %s: %s", rule.key(obj.name), obj.name,
                     event.record_id, error)
        rows = [{"action": 0, "kind": rule.actions[0].type, "payload": None, "status": "dead",
                 "last_error": messages.RULE_FAILED(rule=rule.name, reason=str(error))}]
    if depth > MAX_DEPTH:
        logger.error("automation rule %s for %s record %s stopped: its chain (%s) reached the depth limit of %d",
                     rule.key(obj.name), obj.name, event.record_id, " -> ".join(chain), MAX_DEPTH)
        for row in rows:
            row.update(status="stopped", last_error=messages.DEPTH_REACHED(limit=MAX_DEPTH))
    table = context.runtime.system_table("crmkit_outbox")
    ids = []
    unrun = [row for row in rows if row["status"] != "pending"]
    if unrun:  # dead (could not be computed) or stopped (depth): their run ends here, at the save
        runlog.write(connection, context, [runlog.entry(
            at=event.at, object_name=obj.name, record_id=event.record_id, rule=rule.key(obj.name),
            trigger=event.operation.value, actions=[action.type for action in rule.actions if not action.before_save],
            outcome=unrun[0]["status"],
            duration_ms=0, error=unrun[0]["last_error"], actor_id=event.actor.user_id,
            outbox_id=origin.outbox_id if origin is not None else None)])
    for row in rows:
        row.update(object=obj.name, record_id=event.record_id, operation=event.operation.value,
                   rule=rule.key(obj.name), depth=depth, chain=chain, attempts=0, next_attempt_at=event.at,
                   queued_at=event.at, actor_id=_actor_id(event, origin), created_at=event.at,
                   finished_at=None if row["status"] == "pending" else event.at)
        record_id = connection.execute(insert(table).returning(table.c.id), row).scalar_one()
        if row["status"] == "pending":
            ids.append(record_id)
    return ids


def _payload(context: "UserContext", obj: ObjectDef, action: AutomationAction, names, functions
             ) -> dict[str, Any] | None:
    """What the worker is to do, with the values computed now; None when there is nothing to do."""
    if action.type == "notify":
        return notify_payload(obj, action, names, functions)
    values = {name: to_json(value) for name, value in _values(action, names, functions).items()}
    if action.type in context.runtime.extensions.action_types:  # a plugin's action type
        return plugin_payload(obj.name, names.get("id"), action.options, values)
    if action.type == "update_related":
        target_id = names.get(action.lookup)
        target_id = getattr(target_id, "id", None) if isinstance(target_id, RecordView) else target_id
        if target_id is None:
            return None  # the lookup is empty: there is no record to change
        return {"object": obj.fields[action.lookup].to, "record_id": target_id, "values": values}
    # A created record belongs to the triggering record's owner (not to the platform, whom no one
    # below an administrator would see it through), unless the action says otherwise.
    values.setdefault("owner_id", names.get("owner_id"))
    return {"object": action.object, "values": values}


def notify_payload(obj: ObjectDef, action: AutomationAction, names: Mapping[str, Any],
                   functions: Mapping[str, Any]) -> dict[str, Any] | None:
    """A notify row's payload: the message computed now, the user ids named by fields, the roles by name.

    None when nobody is named (an empty owner) and no role is. SandboxError if the message cannot be computed.
    """
    compiled = compile_expression(action.message or "''")
    message = compiled.evaluate(names, functions)
    # The fields the message quotes ([object, field]): a recipient who may not read one of them is not told.
    read = quoted_fields(obj, compiled)
    related = sorted({(obj.fields[lookup].to, int(record_id)) for lookup in quoted_lookups(obj, compiled)
                      if (record_id := getattr(names.get(lookup), "id", None)) is not None})
    users, roles = [], []
    for recipient in action.to:
        if recipient.startswith("role:"):
            roles.append(recipient[5:])
        else:
            user = names.get("owner_id" if recipient in ("owner", "owner_id") else recipient)
            if user is not None:
                users.append(int(user))
    if not users and not roles:
        return None
    return {"object": obj.name, "record_id": names.get("id"), "message": "" if message is None else str(message),
            "users": users, "roles": roles, "reads": sorted([list(pair) for pair in read]),
            "related": [list(pair) for pair in related]}


def _actor_id(event: "RecordEvent", origin: AutomationOrigin | None) -> int | None:
    """Whose save a row comes from: the event's user, or down a chain of rules the user who started it."""
    if event.actor.user_id is None and origin is not None:
        return origin.actor_id
    return event.actor.user_id
