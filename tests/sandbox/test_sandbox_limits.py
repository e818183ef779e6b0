"""Expressions run in the web process: anything that would build a huge value is refused first.

Each case would allocate gigabytes or run for minutes if it were allowed to start; the
guards refuse it from the sizes of the operands, so these tests are fast.
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from crmkit.sandbox import SandboxError, SandboxLimitError, compile_expression


def evaluate(source: str, **variables):
    return compile_expression(source).evaluate(variables)


@pytest.mark.parametrize("source", [
    "'a' * 10**10",
    "10**10 * 'a'",
    "[0] * 10**9",
    "(1, 2) * 10**9",
    "'ab' * 600_000",
    "10**10**10",
    "2 ** (10**400)",
    "2**100000",
    "(-3)**10000",
    "1 << 10**9",
    "(10**700) * (10**700)",
    "'%0999999999d' % 1",
    "'%.999999999f' % 1.0",
    "'%*d' % (10**9, 1)",
    "'%(a)0999999999d' % {'a': 1}",
    "'x'.ljust(10**9)",
    "'x'.rjust(10**9)",
    "'x'.center(10**9, '-')",
    "'1'.zfill(10**9)",
    "('\\t' * 1000).expandtabs(10**6)",
    "('x' * 1000).replace('x', 'y' * 10_000)",
    "'ab'.replace('', 'y' * 900_000)",
    "','.join(['x' * 100_000] * 100)",
    "range(10**12)",
    "range(0, 10**12, 2)",
    "len(range(-10**7, 0))",
    "f'{name:>999999999}'",
    "f'{name:{width}}'",
    "f'{amount:.999999999f}'",
    "f'{big:f}'",
    "str(['x' * 1_000_000] * 1_000_000)",
    "f'{[name * 100_000] * 100}'",
    "'%s' % ([name * 100_000] * 100,)",
    "f'{control!a}'",
    "f'{control!r}'",
    "int(big)",
    "round(big)",
    "'%d' % big",
    "round(5, -10**7)",
    "round_to(big, 2)",
    "text(big)",
    "sum([[0] * 1_000_000] * 3, [])",
    "[0] * 1_000_000 + [1] * 1_000_000",
    "len(set([name * 500_000, name * 500_000] * 500_000))",
    "sorted([[name * 1000] * 1000] * 1000)",
    "int('9' * 10_000)",
    "date(2024, 1, 1).strftime('%Y' * 1000)",
])
def test_amplification_is_refused_before_it_allocates(source):
    with pytest.raises(SandboxLimitError):
        evaluate(source, name="x", width="999999999", amount=1.5,
                 big=Decimal("1E+999999999"), control="\x00" * 200_000)


def test_repeating_a_list_counts_the_text_its_items_hold():
    """Repetition copies references: two distinct 500,000-character texts repeated 500,000
    times would take minutes to compare in set() or sorted(), so the list counts as huge."""
    with pytest.raises(SandboxLimitError, match="the repeated list"):
        evaluate("[name * 500_000, name * 500_000] * 500_000", name="x")


def test_an_expression_cannot_build_more_than_its_total_budget():
    """Each value is under the per-value limit, but together they would take too much memory."""
    source = "len('x' * 1_000_000) + len('y' * 1_000_000) + len('z' * 1_000_000)"
    with pytest.raises(SandboxLimitError, match="in total"):
        evaluate(source)


def test_the_budget_is_per_evaluation():
    compiled = compile_expression("len('x' * 1_000_000) + len([0] * 900_000)")
    assert compiled.evaluate({}) == 1_900_000
    assert compiled.evaluate({}) == 1_900_000


@pytest.mark.parametrize(("source", "expected"), [
    ("len('ab' * 500_000)", 1_000_000),
    ("len([0] * 1_000_000)", 1_000_000),
    ("len([[0] * 1000] * 1000)", 1000),
    ("len(['ab' * 1000] * 500)", 500),
    ("(2**4000).bit_length()", 4001),
    ("len(str(10**1000))", 1001),
    ("(-1)**(10**18)", 1),
    ("0**(10**18)", 0),
    ("1 << 4000 > 0", True),
    ("'%05.1f|%-6s|%3d' % (2.25, 'ab', 7)", "002.2|ab    |  7"),
    ("f'{amount:>12,.2f}'", "    1,234.50"),
    ("'x'.ljust(5, '.') + '1'.zfill(3) + 'a b'.replace(' ', '_')", "x....001a_b"),
    ("', '.join(['a', 'b'])", "a, b"),
    ("sum(range(1000))", 499500),
    ("sum([[1], [2]], [])", [1, 2]),
    ("round(Decimal('2.5')) + round(7.25, 1)", 2 + 7.2),
    ("int(Decimal('1E+50'))", 10**50),
    ("2.0 ** 0.5 > 1.41", True),
])
def test_normal_values_below_the_limits_still_work(source, expected):
    assert evaluate(source, amount=1234.5) == expected


def test_limit_errors_are_sandbox_errors_with_plain_messages():
    with pytest.raises(SandboxError) as caught:
        evaluate("'a' * 10**10")
    assert caught.value.message == (
        "the repeated text would be longer than the limit of 1,000,000 characters or items")
    with pytest.raises(SandboxLimitError, match="more than 4,096 bits"):
        evaluate("2 ** 5000")
    with pytest.raises(SandboxLimitError, match="range\\(\\) may produce at most 1,000,000 numbers"):
        evaluate("range(10**7)")
