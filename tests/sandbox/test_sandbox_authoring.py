"""Expressions mean what their author meant, and what can never run is refused before saving."""
from __future__ import annotations

import pytest

from crmkit.sandbox import EMPTY_RECORD, RecordView, check_expression, compile_expression, run_script


def evaluate(source: str, **variables):
    return compile_expression(source).evaluate(variables)


ACME = RecordView({"id": 7, "name": "Acme"})


# -- comparisons with None ------------------------------------------------------------------

@pytest.mark.parametrize(("source", "empty", "linked"), [
    ("account is None", True, False),
    ("account is not None", False, True),
    ("account == None", True, False),
    ("account != None", False, True),
    ("None is account", True, False),
    ("None != account", False, True),
    ("not (account is None)", False, True),
    ("'none' if account is None else account.name", "none", "Acme"),
    ("account.name is None", True, False),
])
def test_an_empty_lookup_is_none_when_compared_with_none(source, empty, linked):
    assert evaluate(source, account=EMPTY_RECORD) == empty
    assert evaluate(source, account=ACME) == linked


@pytest.mark.parametrize(("value", "expected"), [
    (None, True), (0, False), ("", False), ([], False), (False, False), (ACME, False),
])
def test_only_none_and_an_empty_lookup_count_as_none(value, expected):
    assert evaluate("value is None", value=value) is expected
    assert evaluate("value == None", value=value) is expected
    assert evaluate("value is not None", value=value) is not expected


def test_an_empty_lookup_still_reads_its_fields_as_none():
    assert evaluate("account.name", account=EMPTY_RECORD) is None
    assert evaluate("account.industry or 'unknown'", account=EMPTY_RECORD) == "unknown"


def test_blank_helpers_treat_an_empty_lookup_as_empty():
    assert evaluate("is_blank(account)", account=EMPTY_RECORD) is True
    assert evaluate("is_blank(account)", account=ACME) is False
    assert evaluate("coalesce(account, 'nobody')", account=EMPTY_RECORD) == "nobody"
    assert evaluate("blank_value(account, 'nobody')", account=EMPTY_RECORD) == "nobody"


def test_scripts_compare_with_none_the_same_way():
    result = run_script("result = [value is None, value != None, zero is None]", {"value": None, "zero": 0})
    assert result.result == [True, False, False]


def test_the_helper_behind_none_comparisons_cannot_be_named():
    problems = check_expression("_is_empty_(account)")
    assert problems and "names starting with '_' are not allowed" in problems[0].message


# -- constant parts that can never run ---------------------------------------------------------

@pytest.mark.parametrize(("source", "column", "message"), [
    ("10**10**10", 1, "more than 4,096 bits"),
    ("amount + 10**10**10", 10, "more than 4,096 bits"),
    ("'x' * 10**9", 1, "the repeated text would be longer"),
    ("[0] * 10**9 if amount else []", 1, "the repeated list would be longer"),
    ("amount << (1 << 10**9)", 12, "more than 4,096 bits"),
    ("'x'.ljust(10**9)", 1, "ljust"),
    ("f'{1:>999999999}'", 1, "formatting widths above 1,000"),
    ("amount + 1 / (2 - 2)", 10, "division by zero"),
    ("name + ('a' + 1)", 9, "a value has the wrong type"),
    ("name[1:10**10**10]", 6, "more than 4,096 bits"),
])
def test_a_constant_part_that_always_fails_is_refused_at_its_position(source, column, message):
    problems = check_expression(source)
    assert len(problems) == 1, problems
    assert problems[0].column == column
    assert problems[0].message.startswith("this part fails whenever it runs: ")
    assert message in problems[0].message


def test_constant_fields_of_an_f_string_are_checked_with_their_format():
    problems = check_expression("f'{name}{1:>999999999}'")
    assert "formatting widths above 1,000" in problems[0].message
    assert check_expression("f'{name}{1:>5}{2!r}'") == []


def test_positions_count_characters_and_leading_indentation():
    problems = check_expression("  name + 'é' + 'x' * 10**9")
    assert (problems[0].line, problems[0].column) == (1, 16)
    problems = check_expression("(amount +\n  2**100000)")
    assert (problems[0].line, problems[0].column) == (2, 3)


def test_calls_of_built_in_functions_are_checked_when_the_scope_is_known():
    assert check_expression("range(10**12)") == []  # a field might be called range
    problems = check_expression("len(range(10**12))", scope_names=["amount"])
    assert "range() may produce at most 1,000,000 numbers" in problems[0].message
    assert "at most 100 digits" in check_expression("round_to(1, 10**6)", scope_names=[])[0].message
    # A field (or engine function) of that name shadows the built-in: not a constant.
    assert check_expression("range(10**12)", scope_names=["range"]) == []


@pytest.mark.parametrize("source", [
    "amount * 10**10", "2**4000", "'x' * 1000", "len([0] * 1_000_000)", "today() > date(2024, 1, 1)",
    "amount if amount else 0", "True or 10**10**10", "range(10)", "sum(range(1000))", "Decimal('1.5') * 2",
])
def test_constant_parts_that_can_run_are_accepted(source):
    assert check_expression(source, scope_names=["amount"]) == []


def test_a_refused_constant_still_fails_the_same_way_when_run():
    """compile_expression keeps accepting it (for code that compiles without validating)."""
    with pytest.raises(Exception, match="more than 4,096 bits"):
        evaluate("10**10**10")


def test_scripts_refuse_format_strings_before_and_while_running():
    from crmkit.sandbox import ScriptError, check_script

    assert "'.format()' is not allowed" in check_script("result = '{0.__class__}'.format(1)")[0].message
    with pytest.raises(ScriptError, match="'.format\\(\\)' is not allowed"):
        run_script("template = '{0.__class__}'\nresult = template.format(1)", {})
