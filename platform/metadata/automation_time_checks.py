"""Do a rule's time-based trigger, schedule, timing and `where:` make sense? Each problem at its place in the file.

- `scheduled` and `relative` are listed alone in `on` (the clock fires them, not a save);
- a scheduled rule has `schedule` (and a relative one `timing`), and no rule has the other's key;
- the cron expression is one croniter reads (5 fields, or a nickname such as @daily);
- each time zone is an IANA name (zoneinfo), e.g. Asia/Shanghai;
- a timing names a date or datetime field of the object and exactly one of `before` / `after`;
- `where` names fields of the object (the values are checked by the query language when it runs);
- the condition does not use changed() or previous(): no save fires the rule.
"""
from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from crmkit.metadata.automation import AutomationRule
from crmkit.metadata.automation_time import TIME_TRIGGERS
from crmkit.metadata.errors import did_you_mean
from crmkit.metadata.model import SYSTEM_FIELDS
from crmkit.metadata.semantic import ObjectScope, Reporter
from crmkit.sandbox import SandboxError, compile_expression

#: Value types a `timing` may start from (a formula's `returns` counts).
MOMENT_TYPES = frozenset({"date", "datetime"})
#: System fields holding a moment.
SYSTEM_MOMENTS = frozenset({"created_at", "updated_at"})
_CONNECTIVES = ("and", "or", "not")


def check_time_trigger(scope: ObjectScope, rule: AutomationRule, report: Reporter) -> None:
    """Report every problem of `rule`'s time-based trigger (nothing for a rule with none and no time keys)."""
    timed = [trigger for trigger in rule.triggers if trigger in TIME_TRIGGERS]
    if timed and len(rule.triggers) > 1:
        report.at(rule.location, f"'{timed[0]}' is fired by the clock, not by a save; list it alone in 'on' and "
                                 "put the other triggers in a rule of their own.", "on")
    scheduled, relative = "scheduled" in rule.triggers, "relative" in rule.triggers
    _presence(rule, report, scheduled, "schedule", rule.schedule is not None)
    _presence(rule, report, relative, "timing", rule.timing is not None)
    if rule.where is not None and not scheduled:
        report.at(rule.location, "'where' selects the records of a scheduled rule; this rule is not on "
                                 "[scheduled]. Use 'condition' instead.", "where", at_key=True)
    if rule.schedule is not None:
        _schedule(rule, report)
    if rule.timing is not None:
        _timing(scope, rule, report)
    if rule.where is not None:
        _where_fields(scope, rule, rule.where, report)
    if timed and rule.condition:
        _no_previous(rule, timed[0], report)


def _no_previous(rule: AutomationRule, trigger: str, report: Reporter) -> None:
    """changed() and previous() compare with the stored record on a save; the clock fires no save."""
    try:
        names = compile_expression(rule.condition).names
    except SandboxError:
        return  # reported by the condition's own check
    for helper in sorted(names & {"changed", "previous"}):
        report.at(rule.location, f"a {trigger} rule fires without a save, so its condition cannot use {helper}(); "
                                 "compare with the record's values instead.", "condition")


def _presence(rule: AutomationRule, report: Reporter, triggered: bool, key: str, given: bool) -> None:
    trigger = "scheduled" if key == "schedule" else "relative"
    if triggered and not given:
        example = ('schedule: {cron: "0 2 * * *", time_zone: Asia/Shanghai}' if key == "schedule"
                   else "timing: {field: created_at, after: 3 days}")
        report.at(rule.location, f"a rule on [{trigger}] needs '{key}', e.g. {example}.", "on")
    elif given and not triggered:
        report.at(rule.location, f"'{key}' only applies to a rule on [{trigger}]; add it to 'on' or remove "
                                 f"'{key}'.", key, at_key=True)


def _schedule(rule: AutomationRule, report: Reporter) -> None:
    schedule = rule.schedule
    assert schedule is not None
    if not croniter.is_valid(schedule.cron) or len(schedule.cron.split()) > 5:
        report.at(rule.location, f"'{schedule.cron}' is not a cron expression; write five fields (minute hour day "
                                 "month weekday), e.g. \"0 2 * * *\" for 02:00 every day.", "schedule", "cron")
    _zone(rule, report, schedule.time_zone, "schedule")


def _zone(rule: AutomationRule, report: Reporter, name: str, key: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        report.at(rule.location, f"'{name}' is not a time zone; give an IANA name such as Asia/Shanghai or UTC.",
                  key, "time_zone")


def _timing(scope: ObjectScope, rule: AutomationRule, report: Reporter) -> None:
    timing, obj = rule.timing, scope.obj
    assert timing is not None
    fdef = obj.fields.get(timing.field)
    if fdef is None and timing.field not in SYSTEM_MOMENTS:
        moments = sorted(SYSTEM_MOMENTS | {name for name, f in obj.fields.items() if f.value_type in MOMENT_TYPES})
        hint = did_you_mean(timing.field, moments) or f" Its date fields: {', '.join(moments)}."
        report.at(rule.location, f"'{timing.field}' is not a field of {obj.name}.{hint}", "timing", "field")
    elif fdef is not None and fdef.value_type not in MOMENT_TYPES:
        report.at(rule.location, f"'{timing.field}' is a {fdef.value_type} field; a timing counts from a date or "
                                 "datetime field.", "timing", "field")
    if timing.ambiguous:
        report.at(rule.location, "a timing needs exactly one of 'before' or 'after', e.g. after: 3 days.", "timing")
    elif timing.offset is None:
        side = "before" if timing.before else "after"
        report.at(rule.location, f"'{timing.text}' is not a duration; write a whole number and minutes, hours, days "
                                 "or weeks, e.g. 3 days.", "timing", side)
    _zone(rule, report, timing.time_zone, "timing")


def _where_fields(scope: ObjectScope, rule: AutomationRule, where: Any, report: Reporter) -> None:
    obj = scope.obj
    if isinstance(where, (list, tuple)):
        for item in where:
            _where_fields(scope, rule, item, report)
        return
    if not hasattr(where, "items"):
        return
    for key, value in where.items():
        if key in _CONNECTIVES:
            _where_fields(scope, rule, value, report)
            continue
        name = key.split(".")[0]
        if name not in obj.fields and name not in SYSTEM_FIELDS:
            report.at(rule.location, f"the filter names '{name}', which is not a field of {obj.name}."
                                     f"{did_you_mean(name, obj.fields)}", "where")
