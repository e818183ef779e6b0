"""The documented helper functions, called directly and from expressions."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from crmkit.sandbox import BUILTIN_FUNCTIONS, ExpressionRuntimeError, RecordView, compile_expression

f = BUILTIN_FUNCTIONS


def test_today_and_now_are_utc():
    assert f["today"]() == datetime.now(timezone.utc).date()
    assert f["now"]().tzinfo == timezone.utc


def test_days_between_counts_calendar_days_and_tolerates_empty_values():
    assert f["days_between"](date(2024, 1, 1), date(2024, 1, 31)) == 30
    assert f["days_between"](date(2024, 1, 31), date(2024, 1, 1)) == -30
    late_evening = datetime(2024, 1, 1, 23, 0, tzinfo=timezone.utc)
    assert f["days_between"](late_evening, datetime(2024, 1, 2, 1, 0)) == 1
    assert f["days_between"](None, date(2024, 1, 1)) is None
    assert f["days_between"](date(2024, 1, 1), None) is None


def test_add_days_and_add_months():
    assert f["add_days"](date(2024, 2, 28), 2) == date(2024, 3, 1)
    assert f["add_days"](date(2024, 2, 28), Decimal("-28")) == date(2024, 1, 31)
    assert f["add_days"](None, 3) is None
    assert f["add_months"](date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert f["add_months"](date(2023, 1, 31), 1) == date(2023, 2, 28)
    assert f["add_months"](date(2024, 11, 15), 3) == date(2025, 2, 15)
    assert f["add_months"](date(2024, 3, 31), -1) == date(2024, 2, 29)
    assert f["add_months"](datetime(2024, 1, 31, 9, 30), 1) == datetime(2024, 2, 29, 9, 30)
    assert f["add_months"](None, 1) is None
    with pytest.raises(ValueError, match=r"add_days\(\) needs a whole number, not 1\.5"):
        f["add_days"](date(2024, 1, 1), 1.5)
    with pytest.raises(TypeError, match="needs a whole number, not a text value"):
        f["add_months"](date(2024, 1, 1), "2")


def test_date_parts():
    day = date(2024, 7, 14)
    assert (f["year"](day), f["month"](day), f["day"](day), f["weekday"](day)) == (2024, 7, 14, 7)
    assert f["year"](None) is None
    assert f["start_of_month"](day) == date(2024, 7, 1)
    assert f["end_of_month"](date(2024, 2, 10)) == date(2024, 2, 29)
    with pytest.raises(TypeError, match="year\\(\\) needs a date, not a text value"):
        f["year"]("2024-01-01")


@pytest.mark.parametrize(("value", "blank"), [
    (None, True), ("", True), ("  \t", True), ([], True), ({}, True),
    ("x", False), (0, False), (False, False), (["a"], False),
])
def test_is_blank(value, blank):
    assert f["is_blank"](value) is blank


def test_blank_value_and_coalesce():
    assert f["blank_value"]("  ", "n/a") == "n/a"
    assert f["blank_value"]("x", "n/a") == "x"
    assert f["coalesce"](None, "", "x") == ""
    assert f["coalesce"](None, None) is None


def test_text_helpers():
    assert f["text"](None) == ""
    assert f["text"](Decimal("1E+2")) == "100"
    assert f["text"](["a", 1, None]) == "a, 1, "
    assert f["text"](date(2024, 1, 2)) == "2024-01-02"
    assert f["text"](RecordView({"name": "Acme"})) == "Acme"
    assert f["upper"]("abc") == "ABC" and f["upper"](None) is None
    assert f["lower"]("ABC") == "abc"
    assert f["trim"]("  a b  ") == "a b"


def test_contains():
    assert f["contains"]("Acme Corp", "Corp") is True
    assert f["contains"](["gold", "silver"], "gold") is True
    assert f["contains"](None, "x") is False
    assert f["contains"]("abc", None) is False
    assert f["contains"]("room 12", 12) is True


def test_round_to_is_commercial_rounding_and_keeps_decimals():
    assert f["round_to"](Decimal("2.675"), 2) == Decimal("2.68")
    assert isinstance(f["round_to"](Decimal("2.675"), 2), Decimal)
    assert f["round_to"](2.675, 2) == 2.68
    assert f["round_to"](2.5) == 3 and f["round_to"](-2.5) == -3
    assert f["round_to"](1234, -2) == 1200
    assert f["round_to"](None, 2) is None


def test_percent_of():
    assert f["percent_of"](25, 200) == 12.5
    assert f["percent_of"](Decimal("1"), 3) == Decimal(1) / Decimal(3) * 100
    assert f["percent_of"](5, 0) is None
    assert f["percent_of"](None, 10) is None


def test_helpers_are_available_in_expressions():
    compiled = compile_expression("round_to(percent_of(won, total), 1)")
    assert compiled.evaluate({"won": 1, "total": 3}) == 33.3


def test_a_helper_error_is_a_plain_runtime_error():
    with pytest.raises(ExpressionRuntimeError, match="needs a date"):
        compile_expression("days_between('2024-01-01', today())").evaluate({})
