"""Admin scripts: statements and loops in a child process with CPU, memory and wall-clock limits.

Child processes are the slow part of the suite, so each test starts as few as it can.
"""
from __future__ import annotations

import time
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from crmkit.sandbox import (
    ExpressionSyntaxError,
    SandboxLimitError,
    ScriptError,
    ScriptResult,
    check_script,
    run_script,
)

REPORT = """
import math
from datetime import timedelta
from statistics import mean

total = Decimal(0)
for line in lines:
    total += line["amount"] * line["quantity"]
due = signed_on + timedelta(days=30)
names = [line["name"].upper() for line in lines if line["quantity"] > 1]
a, (b, c) = 1, (2, 3)
counter = 0
while counter < 3:
    counter += 1
log("total is", total)
print("due", due)
result = {
    "total": total, "due": due, "names": names, "mean": mean([1, 2, 3]),
    "root": math.sqrt(16), "unpacked": a + b + c, "counter": counter, "tags": {"x"},
    "stamp": stamp,
}
"""


def test_a_script_reads_variables_and_returns_its_result_with_its_log():
    variables = {
        "lines": [{"name": "desk", "amount": Decimal("10.50"), "quantity": 2},
                  {"name": "lamp", "amount": Decimal("3.25"), "quantity": 1}],
        "signed_on": date(2024, 1, 15),
        "stamp": datetime(2024, 1, 15, 9, 30, tzinfo=timezone.utc),
    }
    outcome = run_script(REPORT, variables)
    assert isinstance(outcome, ScriptResult)
    assert outcome.result == {
        "total": Decimal("24.25"), "due": date(2024, 2, 14), "names": ["DESK"], "mean": 2,
        "root": 4.0, "unpacked": 6, "counter": 3, "tags": ["x"],
        "stamp": datetime(2024, 1, 15, 9, 30, tzinfo=timezone.utc),
    }
    assert outcome.log == ("total is 24.25", "due 2024-02-14")


STANDARD_LIBRARY = r"""
import datetime, decimal, json, math, re, statistics
from decimal import Decimal
parsed = datetime.datetime.strptime("2024-01-02", "%Y-%m-%d")
match = re.search(r"(\d+)-(\d+)", "order 12-34")
result = [
    parsed.day, datetime.date.today().year > 2000, parsed.strftime("%d.%m.%Y"),
    match.group(1), match[2], re.sub("a", "b", "banana"),
    json.loads(json.dumps({"a": [1]})), math.floor(2.5), statistics.median([3, 1, 2]),
    Decimal("1.25").quantize(Decimal("0.1"), rounding=decimal.ROUND_HALF_UP),
]
"""


def test_scripts_can_use_the_allowed_standard_modules():
    assert run_script(STANDARD_LIBRARY, {}).result == [
        2, True, "02.01.2024", "12", "34", "bbnbnb", {"a": [1]}, 2, 2, Decimal("1.3")]


def test_a_script_without_result_returns_none():
    assert run_script("x = 1", {}) == ScriptResult(None, ())


def test_a_failing_script_reports_a_plain_message_and_its_line():
    with pytest.raises(ScriptError) as caught:
        run_script("total = 0\nfor n in numbers:\n    total += 10 / n\n", {"numbers": [1, 0]})
    assert caught.value.line == 3
    assert caught.value.message == "division by zero: a value used as a divisor is 0"
    assert str(caught.value) == "line 3: division by zero: a value used as a divisor is 0"


def test_a_script_raising_its_own_error_reports_it():
    with pytest.raises(ScriptError, match="line 2: invalid value: amount must be positive"):
        run_script("if amount < 0:\n    raise ValueError('amount must be positive')", {"amount": -1})


def test_size_limits_apply_inside_scripts_too():
    with pytest.raises(SandboxLimitError, match="1,000,000"):
        run_script("result = 'x' * 10**10", {})


def test_a_result_that_is_not_data_is_refused():
    with pytest.raises(ScriptError, match="result cannot be returned"):
        run_script("result = log", {})


def test_a_script_that_does_not_compile_is_refused_before_it_runs():
    assert check_script("result = 1") == []
    problems = check_script("for x in y:\nresult = 1")
    assert problems[0].line == 2 and "could not be read" in problems[0].message
    with pytest.raises(ExpressionSyntaxError) as caught:
        run_script("result = (", {})
    assert caught.value.line == 1


def test_variables_must_be_json_values():
    with pytest.raises(ValueError, match="JSON"):
        run_script("result = 1", {"thing": object()})


def test_a_busy_loop_is_killed_at_the_wall_clock_limit():
    # The loop never ends and uses less processor time than its limit allows before the
    # wall clock runs out, so only the wall-clock limit can stop it; the bound is loose
    # for a loaded machine, and still far below the processor limit's hour.
    started = time.monotonic()
    with pytest.raises(SandboxLimitError, match=r"^the script ran longer than 1 second$"):
        run_script("while True:\n    pass", {}, wall_seconds=1, cpu_seconds=3600)
    assert time.monotonic() - started < 30


def test_the_default_wall_clock_limit_applies_when_none_is_given(monkeypatch):
    from crmkit.sandbox import script

    monkeypatch.setattr(script, "DEFAULT_WALL_SECONDS", 0.5)
    with pytest.raises(SandboxLimitError, match=r"^the script ran longer than 0.5 seconds$"):
        run_script("while True:\n    pass", {}, cpu_seconds=3600)


def test_catching_every_exception_does_not_escape_the_cpu_limit():
    source = ("while True:\n    try:\n        while True:\n            pass\n"
              "    except BaseException:\n        pass")
    with pytest.raises(SandboxLimitError, match="more than 1 second of processor time"):
        run_script(source, {}, cpu_seconds=1)


def test_try_finally_does_not_escape_the_limits():
    source = "try:\n    while True:\n        pass\nfinally:\n    result = 'escaped'\n    log('escaped')"
    with pytest.raises(SandboxLimitError, match="more than 1 second of processor time"):
        run_script(source, {}, cpu_seconds=1)


def test_a_memory_hog_dies_at_the_memory_limit():
    source = "hog = []\nwhile True:\n    hog.append('x' * 500_000)"
    with pytest.raises(SandboxLimitError, match="more than 128 MB of memory"):
        run_script(source, {}, memory_mb=128)


def test_a_memory_hog_that_swallows_memory_errors_still_dies():
    source = ("hog = []\nwhile True:\n    try:\n        hog.append('x' * 500_000)\n"
              "    except BaseException:\n        pass")
    with pytest.raises(SandboxLimitError):
        run_script(source, {}, memory_mb=128, cpu_seconds=1)
