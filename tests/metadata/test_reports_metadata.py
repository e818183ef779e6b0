"""`reports:`, `dashboards:` and `fiscal_year_start_month` become the frozen model, merged on the registry."""
from __future__ import annotations

from decimal import Decimal

import pytest

from crmkit.metadata import MetadataError, validate_paths
from crmkit.metadata.reports import Grouping

SHOP = """
package: shop
version: "1.0.0"
fiscal_year_start_month: 4
objects:
  deal:
    fields:
      name: {type: text}
      amount: {type: currency}
      stage: {type: picklist, options: [Open, Won, Lost]}
      close_date: {type: date}
reports:
  by_stage:
    label: {en: By stage, zh: 按阶段}
    object: deal
    kind: summary
    filter: {stage: {ne: Lost}}
    date_field: close_date
    page_filters: [stage]
    group_by:
      - field: stage
      - {field: close_date, bucket: fiscal_quarter, fiscal_year_start_month: 7}
      - {field: amount, ranges: [1000, 5000.5]}
    aggregates:
      - {name: total, function: sum, field: amount, label: {en: Total, zh: 合计}}
      - {name: won, function: count, where: {stage: Won}}
      - {name: deals, function: count}
    formulas:
      - {name: win_rate, expression: "won / deals", format: percent}
  deal_list:
    object: deal
    kind: tabular
    columns: [name, amount]
    sort: [-amount]
    limit: 50
dashboards:
  sales:
    label: {en: Sales, zh: 销售}
    filters: [date_range, owner]
    widgets:
      - {report: by_stage, chart: funnel, value: total, width: 12}
      - {report: by_stage, chart: gauge, target: 250000.25}
      - {report: by_stage, chart: gauge, target: {aggregate: total}}
"""

SHOP_REPORTS = """
package: shop_reports
version: "1.0.0"
depends_on: [shop]
reports:
  deal_count:
    object: deal
    kind: summary
    date_field: close_date
    group_by: [{field: stage}]
dashboards:
  overview:
    filters: [date_range]
    widgets:
      - {report: by_stage, chart: kpi, compare: previous_period}
      - {report: deal_count, chart: pie}
"""


def registry_of(write_package, catalog, *texts: str):
    return validate_paths([write_package(text, f"p{index}.yaml") for index, text in enumerate(texts)], catalog)


def test_reports_and_dashboards_keep_what_was_written(write_package, catalog):
    registry = registry_of(write_package, catalog, SHOP)
    report = registry.reports["by_stage"]
    assert (report.object, report.kind, report.package, report.date_field) == ("deal", "summary", "shop", "close_date")
    assert report.label.get("zh") == "按阶段"
    assert dict(report.filter) == {"stage": {"ne": "Lost"}}
    assert report.page_filters == ("stage",)
    assert report.group_by == (Grouping("stage"), Grouping("close_date", bucket="fiscal_quarter",
                                                          fiscal_year_start_month=7),
                               Grouping("amount", ranges=(Decimal("1000"), Decimal("5000.5"))))
    assert [(a.name, a.function, a.field) for a in report.aggregates] == [
        ("total", "sum", "amount"), ("won", "count", None), ("deals", "count", None)]
    assert dict(report.aggregates[1].where) == {"stage": "Won"}
    assert report.aggregates[0].label.get("zh") == "合计"
    assert (report.formulas[0].expression, report.formulas[0].format) == ("won / deals", "percent")
    tabular = registry.reports["deal_list"]
    assert (tabular.columns, tabular.sort, tabular.limit, tabular.aggregates) == (("name", "amount"), ("-amount",), 50, ())
    board = registry.dashboards["sales"]
    assert board.filters == ("date_range", "owner") and board.label.get("zh") == "销售"
    assert [(w.report, w.chart, w.value, w.width) for w in board.widgets] == [
        ("by_stage", "funnel", "total", 12), ("by_stage", "gauge", None, 6), ("by_stage", "gauge", None, 6)]
    assert board.widgets[1].target == Decimal("250000.25")
    assert dict(board.widgets[2].target) == {"aggregate": "total"}
    assert registry.fiscal_year_start_month == 4
    assert registry.packages["shop"].reports["by_stage"] == report


def test_a_summary_without_aggregates_counts_records(write_package, catalog):
    registry = registry_of(write_package, catalog, SHOP, SHOP_REPORTS)
    (aggregate,) = registry.reports["deal_count"].aggregates
    assert (aggregate.name, aggregate.function, aggregate.field) == ("record_count", "count", None)
    assert (aggregate.label.get("en"), aggregate.label.get("zh")) == ("Records", "记录数")


def test_reports_of_every_package_are_merged_and_the_fiscal_year_defaults_to_january(write_package, catalog):
    registry = registry_of(write_package, catalog, SHOP, SHOP_REPORTS)
    assert set(registry.reports) == {"by_stage", "deal_list", "deal_count"}
    assert set(registry.dashboards) == {"sales", "overview"}
    assert registry.reports["deal_count"].package == "shop_reports"
    without = SHOP.replace("fiscal_year_start_month: 4\n", "")
    assert registry_of(write_package, catalog, without).fiscal_year_start_month == 1


def test_a_report_name_is_given_once_across_packages(write_package, catalog):
    twice = SHOP_REPORTS.replace("deal_count:", "by_stage:").replace("report: deal_count", "report: by_stage")
    with pytest.raises(MetadataError) as caught:
        registry_of(write_package, catalog, SHOP, twice)
    assert "p1.yaml:5:3: a report named 'by_stage' is already defined by the package 'shop'; choose another name." \
        in str(caught.value)


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_package_with_reports_installs_and_is_read_back(crm, install, database_url):
    install(SHOP)
    from crmkit.engine import Crm

    reopened = Crm.open(database_url)
    try:
        assert reopened.registry.reports["by_stage"] == crm.registry.reports["by_stage"]
        assert reopened.registry.dashboards["sales"].widgets == crm.registry.dashboards["sales"].widgets
        assert reopened.registry.fiscal_year_start_month == 4
    finally:
        reopened.close()
