"""Time-based rules in metadata: schedule, timing and where are kept as written, and each mistake is a
sentence at its file:line:column."""
from __future__ import annotations

from datetime import timedelta

import pytest

from crmkit.metadata import MetadataError, validate_paths
from crmkit.metadata.automation_time import parse_offset
from tests.automation.test_time_rules import TIMED


def problems(write_package, catalog, rules: str) -> list[str]:
    text = TIMED.split("    automations:\n")[0] + "    automations:\n" + rules + TIMED.split("  task:\n")[1].join(
        ["  task:\n", ""])
    with pytest.raises(MetadataError) as caught:
        validate_paths([write_package(text)], catalog)
    return [problem.format() for problem in caught.value.problems]


def test_schedule_timing_and_where_are_kept_as_written(write_package, catalog):
    lead = validate_paths([write_package(TIMED)], catalog).object("lead")
    follow_up, before_close, nightly = lead.automations
    assert follow_up.timing.field == "created_at" and follow_up.timing.delta == timedelta(hours=4)
    assert before_close.timing.delta == -timedelta(days=3) and before_close.timing.time_zone == "Asia/Shanghai"
    assert (nightly.schedule.cron, nightly.schedule.time_zone) == ("0 2 * * *", "Asia/Shanghai")
    assert dict(nightly.where) == {"status": "New"}
    assert nightly.operations == frozenset() and follow_up.operations == frozenset()  # never fired by a save


@pytest.mark.parametrize("text, expected", [
    ("3 days", timedelta(days=3)), ("1 week", timedelta(weeks=1)), ("4 hours", timedelta(hours=4)),
    ("30 minutes", timedelta(minutes=30)), ("3 fortnights", None), ("-1 days", None), ("days", None)])
def test_an_offset_is_a_whole_number_and_a_unit(text, expected):
    assert parse_offset(text) == expected


RULE = """      - name: r
        {body}
        actions: [{{type: update_record, set: {{note: "'x'"}}}}]
"""


@pytest.mark.parametrize("body, expected", [
    ('on: [scheduled]\n        schedule: {cron: "61 2 * * *"}',
     ":15:26: '61 2 * * *' is not a cron expression; write five fields"),
    ('on: [scheduled]\n        schedule: {cron: "0 2 * * *", time_zone: Asia/Beijing}',
     ":15:50: 'Asia/Beijing' is not a time zone; give an IANA name such as Asia/Shanghai"),
    ("on: [scheduled]", ":14:13: a rule on [scheduled] needs 'schedule'"),
    ('on: [scheduled, created]\n        schedule: {cron: "@daily"}',
     ":14:13: 'scheduled' is fired by the clock, not by a save; list it alone in 'on'"),
    ("on: [relative]\n        timing: {field: name, after: 3 days}",
     ":15:25: 'name' is a text field; a timing counts from a date or datetime field."),
    ("on: [relative]\n        timing: {field: close_dat, after: 3 days}",
     ":15:25: 'close_dat' is not a field of lead. Did you mean 'close_date'?"),
    ("on: [relative]\n        timing: {field: close_date, after: 3 days, before: 1 day}",
     "a timing needs exactly one of 'before' or 'after'"),
    ("on: [relative]\n        timing: {field: close_date, after: 3 fortnights}",
     "\"3 fortnights\" is not allowed for 'after'"),
    ("on: [relative]\n        timing: {field: close_date, after: 3 days, time_zone: Mars}",
     "'Mars' is not a time zone"),
    ("on: [created]\n        timing: {field: close_date, after: 3 days}",
     ":15:9: 'timing' only applies to a rule on [relative]"),
    ('on: [scheduled]\n        schedule: {cron: "@daily"}\n        where: {stauts: New}',
     ":16:16: the filter names 'stauts', which is not a field of lead. Did you mean 'status'?"),
    ("on: [saved]\n        where: {status: New}", ":15:9: 'where' selects the records of a scheduled rule"),
    ("on: [relative]\n        timing: {field: close_date, after: 1 day}\n        condition: \"changed('status')\"",
     ":16:20: a relative rule fires without a save, so its condition cannot use changed()"),
])
def test_each_mistake_is_a_sentence_at_its_place(write_package, catalog, body, expected):
    found = problems(write_package, catalog, RULE.format(body=body))
    assert any(expected in line for line in found), found
