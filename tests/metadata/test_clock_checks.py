"""Stored formulas and rollups may not depend on the clock; rules and defaults may."""
from __future__ import annotations

from datetime import date

import pytest

from crmkit.engine.query.dates import NAMED, RELATIVE_DATES, resolve_relative_date
from crmkit.metadata import validate_paths
from crmkit.metadata.clock import is_relative_date

from .test_validation import problems_of

PACKAGE = """\
package: example
version: "1.0.0"
objects:
  account:
    title_field: name
    fields:
      name: {{type: text}}
      founded: {{type: date}}
{account}
  deal:
    title_field: name
    fields:
      name: {{type: text}}
      stage: {{type: text}}
      close_date: {{type: date}}
      account: {{type: lookup, to: account}}
{deal}
"""


def package(account: str = "", deal: str = "") -> str:
    return PACKAGE.format(account=account, deal=deal)


@pytest.mark.parametrize("formula", ["days_between(close_date, today())", "now().year", "today() if name else None"])
def test_a_stored_formula_cannot_read_the_clock(write_package, catalog, formula):
    deal = f'      age: {{type: formula, returns: integer, formula: "{formula}"}}\n'
    found = problems_of(write_package, catalog, package(deal=deal))
    assert len(found) == 1, found
    assert "package.yaml:17:55:" in found[0]
    assert "changes with the calendar" in found[0] and "validation rule" in found[0]
    assert "(at objects.deal.fields.age.formula)" in found[0]


@pytest.mark.parametrize("condition", [
    "{close_date: this_month}",
    "{close_date: {gte: last_n_days:30}}",
    "{or: [{stage: Won}, {close_date: {between: [yesterday, '2024-12-31']}}]}",
    "{account.founded: this_year}",
    "{created_at: today}",
])
def test_a_rollup_condition_cannot_use_a_relative_date(write_package, catalog, condition):
    account = ("      recent_deals: {type: rollup, from: deal.account, aggregate: count, "
               f"condition: {condition}}}\n")
    found = problems_of(write_package, catalog, package(account=account))
    assert len(found) == 1, found
    assert "package.yaml:9:" in found[0] and "a date relative to today" in found[0]
    assert "list view or report" in found[0]


def test_fixed_dates_and_words_on_text_fields_are_fine_in_a_rollup_condition(write_package, catalog):
    account = ("      deals: {type: rollup, from: deal.account, aggregate: count, "
               "condition: {stage: today, close_date: {gte: '2024-01-01'}}}\n")
    validate_paths([write_package(package(account=account))], catalog)


def test_rules_and_defaults_may_read_the_clock(write_package, catalog):
    deal = ('      opened: {type: date, default: {expression: "today()"}}\n'
            "    validations:\n"
            "      - name: no_past_close\n"
            '        condition: "close_date is not None and close_date < today()"\n'
            "        message: The close date cannot be in the past.\n")
    validate_paths([write_package(package(deal=deal))], catalog)


def test_the_metadata_knows_the_same_relative_dates_as_the_filter_language():
    samples = [*NAMED, *RELATIVE_DATES, "This_Month", " today ", "last_n_days:30", "next_n_months:2",
               "2024-01-01", "todays", "this month", "last_n_weeks:2", ""]
    for text in samples:
        try:
            engine_reads_it = resolve_relative_date(text, date(2024, 5, 17)) is not None
        except Exception:  # a malformed count such as last_n_days:N is still a relative date
            engine_reads_it = True
        assert is_relative_date(text) == engine_reads_it, text
