"""A dashboard widget kind: `chart: leaderboard`, the top ten groups of a report ranked by its value.

    dashboards:
      sales_team:
        widgets:
          - {report: won_by_owner, chart: leaderboard, value: total}

The report's first grouping level is ranked by the widget's `value` (default: the report's
first aggregate), largest first, at most ten rows; equal values share a rank (1, 2, 2, 4).
Each row has the group's label, the value as the viewer reads it (their language, locale and
currency), and its share of the report's total. Drawn by leaderboard.js with the vendored
ECharts as horizontal bars, the leader on top.
"""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

from babel.numbers import format_percent

from crmkit.engine.fieldtypes.presentation import Presentation
from crmkit.engine.reports.result import ReportResult
from crmkit.engine.reports.widget_kinds import DashboardWidgetKind
from crmkit.hookspecs import hookimpl
from crmkit.metadata.reports import ReportDef, WidgetDef
from crmkit.ui.charts import value_column
from crmkit.ui.report_values import chart_number, value_text

LIMIT = 10
SCRIPT = Path(__file__).resolve().parent / "leaderboard.js"


def leaderboard(result: ReportResult, widget: WidgetDef, show: Presentation) -> dict[str, Any]:
    """{"rows": [{rank, name, value, text, share}], "more": groups left out, "empty": no group}.

    `value` is a float (None for a group without one, ranked last), `text` the value as the
    viewer reads it, `share` its part of the report's total ("" when the total is not positive).
    Raises KeyError when the widget's `value` is not a column of the result."""
    column = value_column(result, widget)
    groups = [group for group in result.groups if group.level == 1]
    ranked = sorted(groups, key=lambda group: _order(chart_number(group.values.get(column.name))))
    total = result.grand_total.get(column.name) if result.grand_total else None
    rows, rank, previous = [], 0, object()
    for place, group in enumerate(ranked[:LIMIT], start=1):
        raw = group.values.get(column.name)
        number = chart_number(raw)
        if number != previous:
            rank, previous = place, number
        rows.append({"rank": rank, "name": " / ".join(group.labels) or "", "value": number,
                     "text": value_text(raw, column, show), "share": _share(raw, total, show)})
    return {"rows": rows, "more": max(0, len(groups) - LIMIT), "empty": not rows}


def _order(number: float | None) -> tuple[bool, float]:
    return (number is None, -(number or 0.0))


def _share(value: Any, total: Any, show: Presentation) -> str:
    if not isinstance(value, (int, float, Decimal)) or not isinstance(total, (int, float, Decimal)) or total <= 0:
        return ""
    return format_percent(Decimal(str(value)) / Decimal(str(total)), "#,##0.0%", locale=show.locale)


def leaderboard_problems(widget: WidgetDef, report: ReportDef) -> Iterator[tuple[str, str]]:
    """A leaderboard ranks the groups of a summary report."""
    if report.kind == "matrix":
        yield (f"a leaderboard ranks the groups of a summary report, and '{report.name}' is a matrix; "
               "draw it as a bar or stacked_bar chart, or make the report a summary."), "chart"


LEADERBOARD = DashboardWidgetKind.of("leaderboard", leaderboard, script=SCRIPT, check=leaderboard_problems,
                                     description="The top ten groups of a report, ranked by its value.")


@hookimpl
def crmkit_dashboard_widgets() -> list[DashboardWidgetKind]:
    return [LEADERBOARD]
