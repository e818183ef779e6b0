"""Time-based triggers of automation rules in the model: `scheduled` (a cron expression) and `relative` (a date field).

    automations:
      - name: nightly_pool
        on: [scheduled]
        schedule: {cron: "0 2 * * *", time_zone: Asia/Shanghai}
        where: {in_pool: false}                       # the filter language (docs/query.md), run in SQL
        condition: "last_activity_at is None"         # then, per record that passed `where`, in the sandbox
        actions: [{type: update_record, set: {in_pool: "True"}}]
      - name: follow_up
        on: [relative]
        timing: {field: created_at, after: 3 days}     # or before: 4 hours; date fields: midnight in time_zone
        condition: "status == 'New'"                  # when planned, and again when it fires

Frozen dataclasses; the checks are in automation_time_checks.py, what they do at run time in
crmkit.engine.automation (scheduled.py, planning.py, docs/automation.md).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping

from crmkit.metadata.model import frozen_map

#: Triggers the clock fires, never a save: a rule naming one names nothing else in `on`.
TIME_TRIGGERS = frozenset({"scheduled", "relative"})
#: The time zone of a schedule or timing that states none (cron moments and midnight of a date field).
DEFAULT_TIME_ZONE = "UTC"
#: "3 days", "4 hours", "1 week", "30 minutes": a whole number and a unit (the JSON Schema's pattern).
OFFSET = re.compile(r"^\s*(\d{1,6})\s+(minute|hour|day|week)s?\s*$")


def parse_offset(text: str) -> timedelta | None:
    """The duration `text` names ("3 days" -> 3 days); None when it is not `N minutes|hours|days|weeks`."""
    found = OFFSET.match(text)
    if found is None:
        return None
    return timedelta(**{f"{found.group(2)}s": int(found.group(1))})


@dataclass(frozen=True)
class Schedule:
    """When a `scheduled` rule fires: the moments of `cron` (5 fields, croniter) in the IANA zone `time_zone`."""

    cron: str
    time_zone: str = DEFAULT_TIME_ZONE


@dataclass(frozen=True)
class Timing:
    """When a `relative` rule fires for a record: its date or datetime `field` plus `offset` (negative: before).

    `text` is the offset as written ("3 days"); a date field's day starts at midnight in `time_zone`.
    """

    field: str
    offset: timedelta | None
    text: str
    before: bool = False
    time_zone: str = DEFAULT_TIME_ZONE
    #: Both `before` and `after` were given (or neither): the checks refuse it.
    ambiguous: bool = False

    @property
    def delta(self) -> timedelta:
        """The signed offset added to the field's moment (zero when the text did not parse; the checks say so)."""
        offset = self.offset or timedelta(0)
        return -offset if self.before else offset


def build_schedule(spec: Mapping[str, Any] | None) -> Schedule | None:
    if not spec:
        return None
    return Schedule(cron=str(spec.get("cron", "")), time_zone=spec.get("time_zone") or DEFAULT_TIME_ZONE)


def build_timing(spec: Mapping[str, Any] | None) -> Timing | None:
    if not spec:
        return None
    before = "before" in spec
    text = str(spec.get("before") if before else spec.get("after", ""))
    ambiguous = before == ("after" in spec)
    return Timing(field=spec.get("field", ""), offset=parse_offset(text), text=text, before=before,
                  time_zone=spec.get("time_zone") or DEFAULT_TIME_ZONE, ambiguous=ambiguous)


def build_where(spec: Any) -> Mapping[str, Any] | None:
    """The `where:` filter as declared (a dict, or a list of conditions); None without one."""
    if spec is None:
        return None
    return frozen_map({"and": list(spec)}) if isinstance(spec, list) else frozen_map(dict(spec))
