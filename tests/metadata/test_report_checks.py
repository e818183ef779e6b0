"""Each mistake in `reports:` and `dashboards:` is one sentence at the line and column where it was written."""
from __future__ import annotations

import pytest

from crmkit.metadata import MetadataError, validate_paths
from crmkit.metadata.report_checks import formula_names

# Lines 1-19; the reports and dashboards under test start at line 20.
HEAD = """\
package: shop
version: "1.0.0"
objects:
  company:
    fields:
      name: {type: text}
      industry: {type: picklist, options: [Retail, Banking]}
  deal:
    fields:
      name: {type: text}
      amount: {type: currency}
      stage: {type: picklist, options: [Open, Won, Lost]}
      close_date: {type: date}
      company: {type: lookup, to: company}
      probability: {type: percent}
      notes: {type: textarea}
      seen_at: {type: datetime}
      deals: {type: integer}
      tags: {type: multi_picklist, options: [A, B]}
"""


def problems(write_package, catalog, body: str) -> list[str]:
    with pytest.raises(MetadataError) as caught:
        validate_paths([write_package(HEAD + body)], catalog)
    return [problem.format() for problem in caught.value.problems]


def summary(lines: str, *, kind: str = "summary") -> str:
    """A report `r` over deal (line 21) with the given lines (4 spaces in) from line 24."""
    return f"reports:\n  r:\n    object: deal\n    kind: {kind}\n{lines}"


REPORT_MISTAKES = [
    ("reports:\n  r:\n    object: dael\n    kind: summary\n",
     "22:13: the report 'r' reads 'dael', which is not an object here. Did you mean 'deal'?"),
    (summary("    group_by: [{field: stag}]\n"),
     "24:24: the report 'r': 'stag' is not a field of deal. Did you mean 'stage'?"),
    (summary("    group_by: [{field: company.industy}]\n"),
     "24:24: the report 'r': 'company.industy': 'industy' is not a field of company. Did you mean 'industry'?"),
    (summary("    group_by: [{field: stage.name}]\n"),
     "24:24: the report 'r': 'stage.name' goes through 'stage', which is not a lookup of deal; "
     "lookups it may go through: company."),
    (summary("    columns: [name, amout]\n", kind="tabular"),
     "24:21: the report 'r': 'amout' is not a field of deal. Did you mean 'amount'?"),
    (summary("    group_by: [{field: stage}]\n    columns_by: [{field: ownr_id}]\n", kind="matrix"),
     "25:26: the report 'r': 'ownr_id' is not a field of deal. Did you mean 'owner_id'?"),
    (summary("    filter: {stge: Won}\n"),
     "24:13: the report 'r': in the filter, 'stge' is not a field of deal. Did you mean 'stage'?"),
    (summary("    page_filters: [stage, colse_date]\n"),
     "24:27: the report 'r': 'colse_date' is not a field of deal. Did you mean 'close_date'?"),
    (summary("    date_field: amount\n"),
     "24:17: the report 'r': date_field 'amount' is a currency field; name a date or date-time field "
     "(close_date, seen_at)."),
    (summary("    group_by: [{field: stage, bucket: month}]\n"),
     "24:39: the report 'r': bucket 'month' groups dates, but 'stage' is a picklist field; remove the bucket or "
     "group a date field (close_date, seen_at)."),
    (summary("    group_by: [{field: name, ranges: [10, 20]}]\n"),
     "24:38: the report 'r': ranges group numbers, but 'name' is a text field; remove the ranges or group a "
     "number field (amount, probability, deals)."),
    (summary("    group_by: [{field: amount, ranges: [5000, 1000]}]\n"),
     "24:40: the report 'r': the ranges [5000, 1000] must be ascending boundaries, each greater than the one before."),
    (summary("    aggregates: [{name: total, function: sum, field: stage}]\n"),
     "24:54: the report 'r': cannot sum 'stage', a picklist field; sum adds numbers (amount, probability, deals), "
     "or use count."),
    (summary("    aggregates: [{name: cycle, function: avg, days_between: [amount, close_date]}]\n"),
     "24:62: the report 'r': days_between counts the days between two dates, but 'amount' is a currency field "
     "(close_date, seen_at)."),
    (summary("    aggregates: [{name: total, function: sum}]\n"),
     "24:42: the report 'r': a sum aggregate needs 'field' (or 'days_between'): what it is taken over."),
    (summary("    aggregates: [{name: won, function: count, where: {stag: Won}}]\n"),
     "24:54: the report 'r': in the filter, 'stag' is not a field of deal. Did you mean 'stage'?"),
    (summary("    aggregates: [{name: won, function: count}]\n    formulas: [{name: rate, expression: won / closed}]\n"),
     "25:41: the report 'r': the formula 'won / closed' uses 'closed', which is not an aggregate of the report. "
     "Its aggregates: won."),
    (summary("    aggregates: [{name: won, function: count}]\n"
             "    formulas: [{name: rate, expression: \"__import__('os')\"}]\n"),
     "25:41: the report 'r': the formula '__import__('os')' uses '__import__('os')'; write aggregate names, "
     "numbers, + - * / and parentheses, such as \"won / closed\"."),
    (summary("    aggregates: [{name: won, function: count}, {name: won, function: count}]\n"),
     "24:55: the report 'r': two aggregates are named 'won'; rename one."),
    (summary("    aggregates: [{name: won, function: count}]\n    formulas: [{name: won, expression: won * 2}]\n"),
     "25:23: the report 'r': 'won' already names an aggregate or formula of this report; rename the formula."),
    (summary("    group_by: [{field: stage}, {field: name}, {field: company}, {field: amount}]\n"),
     "24:15: the report 'r': a summary groups by at most 3 levels, not 4; remove a level or filter instead."),
    (summary("    group_by: [{field: stage}]\n", kind="matrix"),
     "21:3: the report 'r': a matrix needs 'columns_by': its column levels (1-2), such as [{field: owner_id}]; "
     "without them use kind: summary."),
    (summary("    group_by: [{field: stage}, {field: name}, {field: company}]\n    columns_by: [{field: owner_id}]\n",
             kind="matrix"),
     "24:15: the report 'r': a matrix has at most 2 levels in 'group_by', not 3; remove a level."),
    ("reports:\n  r:\n    object: deal\n    kind: tabular\n",
     "21:3: the report 'r': a tabular report needs 'columns': the fields it lists, such as [name, amount]."),
    (summary("    columns: [name]\n    sort: [-amount]\n", kind="tabular"),
     "25:12: the report 'r': sort '-amount' is not one of its columns. It may sort by: name."),
    (summary("    group_by: [{field: stage}]\n    sort: [-stage]\n"),
     "25:12: the report 'r': sort '-stage' is not an aggregate or formula of the report (groups are otherwise in "
     "their natural order). It may sort by: record_count."),
    (summary("    aggregates: [{name: tags, function: count_distinct, field: tags}]\n"),
     "24:64: the report 'r': cannot count_distinct 'tags', a multi_picklist field holding several values; count "
     "records instead (no field)."),
    (summary("    group_by: [{field: seen_at}]\n"),
     "24:24: the report 'r': 'seen_at' is a date-time field: group it by a bucket (day, week, month, quarter, "
     "year, fiscal_quarter or fiscal_year), not by each moment."),
]


@pytest.mark.parametrize(("body", "expected"), REPORT_MISTAKES,
                         ids=[expected.split(": ", 1)[1][:60] for _, expected in REPORT_MISTAKES])
def test_each_report_mistake_is_a_sentence_at_its_place(write_package, catalog, body, expected):
    found = problems(write_package, catalog, body)
    assert [text.split("package.yaml:", 1)[1].split(" (at ")[0] for text in found] == [expected]


# A valid report r (date_field close_date, grouped by stage then company) at lines 20-27, then undated and listed;
# the dashboard from line 36, its widget on line 40.
GOOD_REPORT = summary("    date_field: close_date\n    group_by: [{field: stage}, {field: company}]\n"
                      "    aggregates: [{name: total, function: sum, field: amount}, {name: deals, function: count}]\n"
                      "    formulas: [{name: average, expression: total / deals}]\n")
UNDATED = "  undated:\n    object: deal\n    kind: summary\n    group_by: [{field: stage}]\n"
LIST = "  listed:\n    object: deal\n    kind: tabular\n    columns: [name]\n"


def board(widget: str, filters: str = "[owner]") -> str:
    return f"dashboards:\n  sales:\n    filters: {filters}\n    widgets:\n      - {widget}\n"


DASHBOARD_MISTAKES = [
    (board("{report: rr, chart: bar}"),
     "40:18: the widget draws the report 'rr', which is not a report of this package or of one it depends on. "
     "Did you mean 'r'?"),
    (board("{report: r, chart: bar, value: totl}"),
     "40:40: 'totl' is not an aggregate or formula of the report 'r'. Did you mean 'total'?"),
    (board("{report: r, chart: gauge}"),
     "40:28: a gauge needs 'target': a number such as 1000000, or {aggregate: name} of the report."),
    (board("{report: r, chart: gauge, target: {aggregate: goal}}"),
     "40:43: 'goal' is not an aggregate or formula of the report 'r'. Did you mean 'total'?"),
    (board("{report: undated, chart: line, series: stage}"),
     "40:48: 'series' draws the report's second grouping level, and 'undated' groups by 1 level(s); add a second "
     "level to its group_by."),
    (board("{report: r, chart: line, series: stage}"),
     "40:42: 'series' is the report's second grouping level, 'company', not 'stage'."),
    (board("{report: undated, chart: bar}", "[date_range]"),
     "40:18: the dashboard filters by date range, but the report 'undated' has no date_field; add date_field: "
     "(the date the range filters, such as close_date) to the report."),
    (board("{report: r, chart: kpi, compare: previous_period}"),
     "40:42: compare: previous_period compares with the period before the dashboard's date range; add date_range "
     "to the dashboard's filters."),
    (board("{report: listed, chart: pie}"),
     "40:33: the report 'listed' is tabular, so it is drawn as chart: table; a pie draws a summary or matrix report."),
]


@pytest.mark.parametrize(("body", "expected"), DASHBOARD_MISTAKES,
                         ids=[expected.split(": ", 1)[1][:60] for _, expected in DASHBOARD_MISTAKES])
def test_each_widget_mistake_is_a_sentence_at_its_place(write_package, catalog, body, expected):
    found = problems(write_package, catalog, GOOD_REPORT + UNDATED + LIST + body)
    assert [text.split("package.yaml:", 1)[1].split(" (at ")[0] for text in found] == [expected]


def test_a_dashboard_name_is_given_once_across_packages(write_package, catalog):
    first = write_package(HEAD + GOOD_REPORT + board("{report: r, chart: bar}"), "shop.yaml")
    second = write_package('package: more\nversion: "1.0.0"\ndepends_on: [shop]\n'
                           + board("{report: r, chart: pie}"), "more.yaml")
    with pytest.raises(MetadataError) as caught:
        validate_paths([first, second], catalog)
    assert "more.yaml:5:3: a dashboard named 'sales' is already defined by the package 'shop'; choose another name." \
        in str(caught.value)


def test_a_report_reads_only_objects_of_its_package_and_its_dependencies(write_package, catalog):
    first = write_package(HEAD, "shop.yaml")
    second = write_package('package: more\nversion: "1.0.0"\n' + summary(""), "more.yaml")
    with pytest.raises(MetadataError) as caught:
        validate_paths([first, second], catalog)
    assert ("more.yaml:5:13: the report 'r' reads 'deal', which is defined by the package 'shop'; "
            "add it to depends_on of 'more'.") in str(caught.value)


def test_the_fiscal_year_is_one_setting_for_packages_that_do_not_depend_on_each_other(write_package, catalog):
    first = write_package(HEAD + "fiscal_year_start_month: 4\n", "shop.yaml")
    second = write_package('package: more\nversion: "1.0.0"\nfiscal_year_start_month: 7\n', "more.yaml")
    with pytest.raises(MetadataError) as caught:
        validate_paths([first, second], catalog)
    assert ("the package 'more' starts the fiscal year in month 7, but the package 'shop' starts it in month 4"
            in str(caught.value))
    dependent = write_package('package: more\nversion: "1.0.0"\ndepends_on: [shop]\nfiscal_year_start_month: 7\n',
                              "more.yaml")
    assert validate_paths([first, dependent], catalog).fiscal_year_start_month == 7


@pytest.mark.parametrize(("expression", "names", "problem"), [
    ("won / (won + lost) * 100", {"won", "lost"}, None),
    ("-cost + 2.5", {"cost"}, None),
    ("won.__class__", set(), "uses 'won.__class__'"),
    ("f(won)", set(), "uses 'f(won)'"),
    ("won ** 2", set(), "uses 'Pow'"),
    ("'a' + won", set(), "uses 'a', which is not a number"),
    ("won /", set(), "does not parse"),
])
def test_formulas_are_parsed_never_run(expression, names, problem):
    assert formula_names(expression) == (names, problem)


def test_a_report_is_declared_once_in_a_folder_package(write_package, catalog):
    write_package(HEAD + summary(""), "shop/package.yaml")
    part = write_package(summary(""), "shop/more.yaml")
    with pytest.raises(MetadataError) as caught:
        validate_paths([part.parent], catalog)
    assert ("shop/package.yaml:21:3: the report 'r' is declared in more than one file of the package 'shop'; keep one, "
            "or rename the other.") in str(caught.value)
