"""A report's result becomes the chart data a widget draws: categories, series, texts in the viewer's locale, links."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from crmkit.engine.fieldtypes.presentation import Presentation
from crmkit.engine.reports.result import ReportResult, ResultColumn, ResultGroup
from crmkit.metadata.reports import WidgetDef
from crmkit.ui.charts import chart_spec
from crmkit.ui.report_values import value_text

STAGE = ResultColumn("stage", "Stage", "picklist", "text")
OWNER = ResultColumn("owner_id", "Owner", "lookup", "text")
MONTH = ResultColumn("close_date", "Close month", "date", "date", bucket="month")
DEALS = ResultColumn("deals", "Deals", "count", "number")
TOTAL = ResultColumn("total", "Total", "currency", "money")
WIN_RATE = ResultColumn("win_rate", "Win rate", "formula", "percent")
EN, ZH = Presentation.of("en", "UTC", "USD"), Presentation.of("zh", "Asia/Shanghai", "CNY")


def group(level: int, key: tuple, labels: tuple, **values) -> ResultGroup:
    return ResultGroup(level, key, labels, values)


FUNNEL = ReportResult(
    report="pipeline_by_stage", kind="summary", label="Pipeline", group_columns=(STAGE,),
    value_columns=(DEALS, TOTAL),
    groups=(group(1, ("Prospecting",), ("Prospecting",), deals=10, total=Decimal("50000.00")),
            group(1, ("Proposal",), ("Proposal",), deals=4, total=Decimal("30000.50")),
            group(1, ("Closed Won",), ("Closed Won",), deals=1, total=Decimal("0"))),
    grand_total={"deals": 15, "total": Decimal("80000.50")})

BY_OWNER_AND_STAGE = ReportResult(
    report="by_owner", kind="summary", label="By owner", group_columns=(OWNER, STAGE), value_columns=(TOTAL,),
    groups=(group(1, (7,), ("Wang",), total=Decimal("300")),
            group(2, (7, "Won"), ("Wang", "Won"), total=Decimal("100")),
            group(2, (7, "Lost"), ("Wang", "Lost"), total=Decimal("200")),
            group(1, (8,), ("Li",), total=Decimal("50")),
            group(2, (8, "Lost"), ("Li", "Lost"), total=Decimal("50"))),
    grand_total={"total": Decimal("350")})


def link(key, column_key=None):
    return f"/o/opportunity?key={'-'.join(map(str, key))}" + (f"&col={column_key[0]}" if column_key else "")


def test_a_bar_chart_plots_the_first_level_with_texts_in_the_locale_and_a_link_per_bar():
    spec = chart_spec(FUNNEL, WidgetDef(report="pipeline_by_stage", chart="bar", value="total"), EN, link=link)
    assert spec["kind"] == "bar" and spec["locale"] == "EN"
    assert spec["categories"] == ["Prospecting", "Proposal", "Closed Won"]
    [series] = spec["series"]
    assert series["name"] == "Total"
    assert series["values"] == [50000.0, 30000.5, 0.0]
    assert series["texts"] == ["$50,000.00", "$30,000.50", "$0.00"]
    assert series["links"][0] == "/o/opportunity?key=Prospecting"


def test_a_chart_of_no_groups_is_empty():
    nothing = ReportResult(report="p", kind="summary", label="P", group_columns=(STAGE,), value_columns=(DEALS,))
    assert chart_spec(nothing, WidgetDef(report="p", chart="bar"), EN)["empty"] is True
    assert chart_spec(nothing, WidgetDef(report="p", chart="funnel"), EN)["empty"] is True
    assert chart_spec(FUNNEL, WidgetDef(report="p", chart="funnel"), EN)["empty"] is False


def test_without_a_value_the_first_aggregate_is_plotted_and_an_unknown_value_is_an_error():
    assert chart_spec(FUNNEL, WidgetDef(report="p", chart="bar"), EN)["series"][0]["values"] == [10.0, 4.0, 1.0]
    with pytest.raises(KeyError):
        chart_spec(FUNNEL, WidgetDef(report="p", chart="bar", value="nothing"), EN)


def test_a_funnel_labels_each_stage_with_its_conversion_from_the_stage_before():
    items = chart_spec(FUNNEL, WidgetDef(report="p", chart="funnel", value="deals"), ZH, link=link)["items"]
    assert [item["name"] for item in items] == ["Prospecting", "Proposal", "Closed Won"]
    # Reached at least the stage: Prospecting 10+4+1, Proposal 4+1, Closed Won 1.
    assert [item["reached"] for item in items] == [15.0, 5.0, 1.0]
    assert [item["conversion"] for item in items] == ["", "33.3%", "20%"]
    assert [item["value"] for item in items] == [10.0, 4.0, 1.0]
    assert items[1]["link"] == "/o/opportunity?key=Proposal"


def test_a_funnel_conversion_never_exceeds_100_percent_when_a_later_stage_holds_more_deals():
    more_later = ReportResult(
        report="p", kind="summary", label="P", group_columns=(STAGE,), value_columns=(DEALS, TOTAL),
        groups=(group(1, ("Qualification",), ("Qualification",), deals=10, total=Decimal("1")),
                group(1, ("Needs Analysis",), ("Needs Analysis",), deals=12, total=Decimal("5")),
                group(1, ("Closed Won",), ("Closed Won",), deals=3, total=Decimal("9"))),
        grand_total={"deals": 25, "total": Decimal("15")})
    items = chart_spec(more_later, WidgetDef(report="p", chart="funnel", value="deals"), EN)["items"]
    assert [item["conversion"] for item in items] == ["", "60%", "20%"]
    # A sum does not add up over stages the way deals do: no conversion is claimed for it.
    amounts = chart_spec(more_later, WidgetDef(report="p", chart="funnel", value="total"), EN)["items"]
    assert [item["conversion"] for item in amounts] == ["", "", ""]


def test_a_stacked_bar_with_series_draws_one_series_per_second_level_value():
    spec = chart_spec(BY_OWNER_AND_STAGE, WidgetDef(report="by_owner", chart="stacked_bar", series="stage"), EN,
                      link=link)
    assert spec["categories"] == ["Wang", "Li"]
    assert [(s["name"], s["values"]) for s in spec["series"]] == [("Won", [100.0, None]), ("Lost", [200.0, 50.0])]
    assert spec["series"][1]["links"] == ["/o/opportunity?key=7-Lost", "/o/opportunity?key=8-Lost"]
    assert spec["series"][0]["links"] == ["/o/opportunity?key=7-Won", None]


def test_a_matrix_draws_its_row_groups_by_its_column_keys_with_cell_links():
    matrix = ReportResult(
        report="m", kind="matrix", label="M", group_columns=(STAGE,), value_columns=(DEALS,),
        groups=(group(1, ("A",), ("A",), deals=3), group(1, ("B",), ("B",), deals=1)),
        column_group_columns=(OWNER,), column_keys=((7,), (8,)), column_labels=(("Wang",), ("Li",)),
        cells={(("A",), (7,)): {"deals": 2}, (("A",), (8,)): {"deals": 1}, (("B",), (8,)): {"deals": 1}})
    spec = chart_spec(matrix, WidgetDef(report="m", chart="stacked_bar"), EN, link=link)
    assert spec["categories"] == ["A", "B"]
    assert [(s["name"], s["values"]) for s in spec["series"]] == [("Wang", [2.0, None]), ("Li", [1.0, 1.0])]
    assert spec["series"][1]["links"][0] == "/o/opportunity?key=A&col=8"


def test_a_kpi_compares_with_the_previous_period():
    before = ReportResult(report="p", kind="summary", label="P", group_columns=(), value_columns=(DEALS, TOTAL),
                          grand_total={"deals": 12, "total": Decimal("100000")})
    spec = chart_spec(FUNNEL, WidgetDef(report="p", chart="kpi", value="deals"), EN, previous=before)
    assert (spec["text"], spec["change_text"], spec["direction"], spec["previous_text"]) == ("15", "+25%", "up", "12")
    down = chart_spec(FUNNEL, WidgetDef(report="p", chart="kpi", value="total"), EN, previous=before)
    assert (down["change_text"], down["direction"]) == ("-20%", "down")
    alone = chart_spec(FUNNEL, WidgetDef(report="p", chart="kpi", value="total"), ZH)
    assert (alone["text"], alone["change"], alone["change_text"]) == ("¥80,000.50", None, "")


def test_a_gauge_measures_against_a_number_or_an_aggregate_of_the_report():
    spec = chart_spec(FUNNEL, WidgetDef(report="p", chart="gauge", value="total", target=100000), EN)
    assert (spec["value"], spec["target"], spec["ratio_text"], spec["max"]) == (80000.5, 100000.0, "80%", 100000.0)
    over = chart_spec(FUNNEL, WidgetDef(report="p", chart="gauge", value="total", target={"aggregate": "deals"}), EN)
    assert over["target"] == 15.0 and over["max"] == 80000.5


def test_a_summary_table_is_a_tree_of_groups_with_subtotals_headed_in_the_viewers_language():
    from crmkit.ui.report_page import report_table

    named_by_field = ReportResult(**{**BY_OWNER_AND_STAGE.__dict__,
                                     "group_columns": (ResultColumn("owner_id", "owner_id", "lookup", "text"), STAGE)})
    table = report_table(named_by_field, ZH, link=link)
    assert [cell.text for cell in table.header[0]] == ["负责人 / Stage", "Total"]
    assert [(row.level, row.heading.text, row.subtotal) for row in table.rows] == [
        (1, "Wang", True), (2, "Won", False), (2, "Lost", False), (1, "Li", True), (2, "Lost", False)]
    assert table.rows[2].cells[0].text == "¥200.00" and table.rows[2].heading.link == "/o/opportunity?key=7-Lost"
    assert table.total.cells[0].text == "¥350.00"


def test_values_read_in_the_viewers_locale():
    assert value_text(Decimal("1234.5"), TOTAL, ZH) == "¥1,234.50"
    assert value_text(0.4567, WIN_RATE, EN) == "45.7%"
    assert value_text(None, TOTAL, EN) == ""
    assert value_text(date(2026, 3, 31), MONTH, EN) == "Mar 31, 2026"
    assert value_text(Decimal("12.3456"), ResultColumn("avg", "Avg", "decimal", "number"), EN) == "12.35"
