"""Admin expressions: what a formula, default or validation condition can do."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmkit.sandbox import (
    EMPTY_RECORD,
    CompiledExpression,
    CompileProblem,
    ExpressionRuntimeError,
    ExpressionSyntaxError,
    RecordView,
    SandboxError,
    check_expression,
    compile_expression,
)


def evaluate(source: str, **variables):
    return compile_expression(source).evaluate(variables)


@pytest.mark.parametrize(("source", "variables", "expected"), [
    ("1 + 2 * 3", {}, 7),
    ("(amount - discount) / 4", {"amount": 10, "discount": 2}, 2.0),
    ("amount // 3, amount % 3", {"amount": 10}, (3, 1)),
    ("2 ** 10", {}, 1024),
    ("-amount", {"amount": 5}, -5),
    ("amount > 100 and stage != 'Lost'", {"amount": 150, "stage": "Won"}, True),
    ("1 < amount <= 10", {"amount": 10}, True),
    ("'big' if amount > 100 else 'small'", {"amount": 3}, "small"),
    ("stage in ('Won', 'Lost')", {"stage": "Won"}, True),
    ("not closed", {"closed": False}, True),
    ("name or 'unnamed'", {"name": ""}, "unnamed"),
    ("tags[0] + '/' + tags[-1]", {"tags": ["a", "b", "c"]}, "a/c"),
    ("name[:3].upper()", {"name": "acme corp"}, "ACM"),
    ("{'a': 1}['a'] + len([1, 2])", {}, 3),
    ("f'{name} ({amount:,.2f} EUR)'", {"name": "Acme", "amount": 1234.5}, "Acme (1,234.50 EUR)"),
    ("f'{closed_on:%d.%m.%Y}'", {"closed_on": date(2024, 3, 9)}, "09.03.2024"),
    ("f'{name!r}'", {"name": "x"}, "'x'"),
    ("'%s: %05.1f' % (name, amount)", {"name": "a", "amount": 2.25}, "a: 002.2"),
    ("max(amounts) - min(amounts)", {"amounts": [3, 9, 4]}, 6),
    ("sum(amounts) / len(amounts)", {"amounts": [1, 2, 3]}, 2.0),
    ("sorted(tags, reverse=True)", {"tags": ["a", "c", "b"]}, ["c", "b", "a"]),
    ("any(flags) and not all(flags)", {"flags": [True, False]}, True),
    ("round(2.5678, 2)", {}, 2.57),
    ("abs(-3) + int('4') + float('0.5')", {}, 7.5),
    ("str(12) + str(None)", {}, "12None"),
    ("isinstance(name, str) and isinstance(amount, (int, float))", {"name": "a", "amount": 1}, True),
    ("list(range(3))", {}, [0, 1, 2]),
    ("None is None", {}, True),
])
def test_plain_python_expressions_work(source, variables, expected):
    assert evaluate(source, **variables) == expected


def test_decimal_arithmetic_stays_exact_and_mixes_with_floats():
    budget = Decimal("1000.10")
    assert evaluate("budget * 0.2", budget=budget) == Decimal("200.020")
    assert evaluate("budget - 0.1 + 1", budget=budget) == Decimal("1001.00")
    assert evaluate("budget / 2", budget=budget) == Decimal("500.05")
    assert evaluate("0.5 * budget", budget=budget) == Decimal("500.050")
    assert evaluate("Decimal('0.1') + Decimal('0.2') == Decimal('0.3')") is True
    assert isinstance(evaluate("budget * 0.2", budget=budget), Decimal)


def test_date_arithmetic_and_helpers():
    created = date(2024, 1, 31)
    assert evaluate("created + timedelta(days=1)", created=created) == date(2024, 2, 1)
    assert evaluate("add_months(created, 1)", created=created) == date(2024, 2, 29)
    assert evaluate("days_between(created, date(2024, 3, 1))", created=created) == 30
    assert evaluate("created.year * 100 + month(created)", created=created) == 202401
    assert evaluate("(closed - created).days", created=created, closed=date(2024, 2, 10)) == 10
    assert evaluate("today() >= created", created=created) is True
    assert evaluate("created.replace(day=1)", created=created) == date(2024, 1, 1)
    assert evaluate("created.strftime('%Y/%m')", created=created) == "2024/01"
    assert evaluate("now().tzinfo is not None") is True


def test_related_records_are_read_through_record_views():
    account = RecordView({"name": "Acme", "industry": "Tech"},
                         related={"owner": RecordView({"name": "Ada", "email": "ada@example.com"})})
    assert evaluate("account.industry == 'Tech'", account=account) is True
    assert evaluate("account.owner.name.upper()", account=account) == "ADA"
    assert evaluate("f'{account} / {account.owner}'", account=account) == "Acme / Ada"
    assert evaluate("bool(account)", account=account) is True


def test_an_empty_lookup_reads_as_none_instead_of_failing():
    assert evaluate("account.industry", account=EMPTY_RECORD) is None
    assert evaluate("account.industry or 'unknown'", account=EMPTY_RECORD) == "unknown"
    assert evaluate("not account", account=EMPTY_RECORD) is True
    assert evaluate("is_blank(account.name)", account=EMPTY_RECORD) is True


def test_record_views_are_read_only_and_name_unknown_fields():
    account = RecordView({"name": "Acme"})
    with pytest.raises(ExpressionRuntimeError, match="the record has no field 'industri'"):
        evaluate("account.industri", account=account)
    with pytest.raises(AttributeError, match="read-only"):
        account.name = "Other"  # type: ignore[misc]


def test_names_and_attribute_paths_are_reported_for_dependency_tracking():
    compiled = compile_expression(
        "budget * 2 if account.industry == 'Tech' and days_between(created, today()) > 3 "
        "else account.owner.name.upper()")
    assert compiled.names == {"budget", "account", "days_between", "created", "today"}
    assert compiled.attribute_paths == {("account", "industry"), ("account", "owner", "name")}
    assert compiled.source.startswith("budget * 2")
    assert compile_expression("f'{account.name}'").attribute_paths == {("account", "name")}
    assert compile_expression("x[0].name").attribute_paths == frozenset()


def test_compiling_is_cached_by_source():
    first = compile_expression("amount * 3")
    assert compile_expression("amount * 3") is first
    assert isinstance(first, CompiledExpression)
    assert first.evaluate({"amount": 2}) == 6 and first.evaluate({"amount": 3}) == 9


def test_variables_shadow_functions_which_shadow_the_builtin_helpers():
    compiled = compile_expression("today()")
    assert compiled.evaluate({}, {"today": lambda: "engine today"}) == "engine today"
    assert compiled.evaluate({"today": lambda: "variable"}, {"today": lambda: "function"}) == "variable"
    assert compile_expression("type == 'Customer'").evaluate({"type": "Customer"}) is True


def test_engine_functions_such_as_previous_and_changed_are_callable():
    values = {"stage": "Won"}
    functions = {"previous": lambda name: "Open", "changed": lambda name: True}
    assert compile_expression("changed('stage') and previous('stage') != stage").evaluate(
        values, functions) is True


def test_an_unknown_name_is_a_plain_runtime_error():
    with pytest.raises(ExpressionRuntimeError) as caught:
        evaluate("amount * rate", amount=2)
    assert caught.value.message == "unknown name 'rate'"


@pytest.mark.parametrize(("source", "variables", "message"), [
    ("amount / 0", {"amount": 1}, "division by zero"),
    ("amount * 2", {"amount": None}, "an empty value (None)"),
    ("name + 1", {"name": "a"}, "a value has the wrong type"),
    ("tags[5]", {"tags": []}, "a position is outside the list"),
    ("{'a': 1}['b']", {}, "there is no key 'b'"),
    ("int('abc')", {}, "invalid value"),
    ("name.nope", {"name": "a"}, "'nope' cannot be used on a text value"),
])
def test_runtime_failures_are_plain_sentences(source, variables, message):
    with pytest.raises(ExpressionRuntimeError) as caught:
        evaluate(source, **variables)
    assert message in caught.value.message
    assert isinstance(caught.value, SandboxError)


@pytest.mark.parametrize(("source", "fragment"), [
    ("[x * 2 for x in items]", "loops are not allowed in expressions"),
    ("{x for x in items}", "loops are not allowed in expressions"),
    ("{x: 1 for x in items}", "loops are not allowed in expressions"),
    ("sum(x for x in items)", "loops are not allowed in expressions"),
    ("lambda: 1", "functions cannot be defined in expressions"),
    ("(y := 3)", "assigning a value (:=) is not allowed"),
    ("max(*items)", "unpacking with * is not allowed"),
    ("dict(**options)", "unpacking with ** is not allowed"),
    ("{**options}", "unpacking with ** is not allowed"),
    ("print(amount)", "print() is not available in expressions"),
    ("amount = 3", "could not be read"),
    ("amount +", "could not be read"),
    ("_secret", "names starting with '_' are not allowed"),
])
def test_policy_rejections_are_plain_sentences_with_positions(source, fragment):
    problems = check_expression(source)
    assert problems and fragment in problems[0].message
    with pytest.raises(ExpressionSyntaxError) as caught:
        compile_expression(source)
    error = caught.value
    assert (error.line, error.column, error.message) == (
        problems[0].line, problems[0].column, problems[0].message)


def test_problem_positions_are_one_based_and_point_at_the_offending_part():
    assert check_expression("amount + x.__class__") == [CompileProblem(
        1, 12, "attributes starting with '_' are not allowed ('__class__'); "
               "use the field names of the record")]
    second_line = check_expression("(1 +\n [x for x in y])")[0]
    assert (second_line.line, second_line.column) == (2, 2)
    assert check_expression("   [x for x in y]")[0].column == 4


def test_valid_expressions_have_no_problems_and_indentation_is_fine():
    assert check_expression("amount * 2") == []
    assert check_expression("\n   amount * 2\n") == []
    assert compile_expression("  (amount\n   * 2)").evaluate({"amount": 2}) == 4


@pytest.mark.parametrize("source", [None, 42, b"1 + 1", "", "   ", "\x00", "(" * 300 + ")" * 300,
                                    "-" * 9_999 + "1", "x" * 10_001, "f'{'", "'unterminated"])
def test_check_expression_never_raises_for_bad_input(source):
    problems = check_expression(source)
    assert problems and all(isinstance(problem, CompileProblem) for problem in problems)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_check_expression_never_raises_for_any_text(source):
    assert isinstance(check_expression(source), list)


def test_mutating_methods_are_not_available_in_expressions():
    with pytest.raises(ExpressionRuntimeError, match="'append' cannot be used on a list"):
        evaluate("tags.append('x')", tags=["a"])


def test_now_is_timezone_aware_utc():
    value = evaluate("now()")
    assert isinstance(value, datetime) and value.tzinfo == timezone.utc
    assert abs(value - datetime.now(timezone.utc)) < timedelta(seconds=5)


def test_a_name_only_called_is_the_function_not_a_value_of_that_name():
    compiled = compile_expression("phone_country(mobile)")
    assert compiled.called_only == frozenset({"phone_country"})
    assert compiled.value_names == frozenset({"mobile"})
    functions = {"phone_country": lambda phone: "CN"}
    assert compiled.evaluate({"mobile": "+86", "phone_country": None}, functions) == "CN"
    assert compile_expression("len(len)").called_only == frozenset()  # also read as a value: the variable
    assert compile_expression("text(1)").evaluate({"text": "a field"}) == "1"  # a built-in helper too
