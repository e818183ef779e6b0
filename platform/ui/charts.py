"""A report's result as the chart data a dashboard widget draws: pure, JSON-ready, in the viewer's language.

    spec = chart_spec(result, widget, Presentation.of("zh"), link=drilldown_address)
    spec["kind"], spec["categories"], spec["series"][0]["values"]

`static/crmkit/charts.js` reads the spec (a `<script type="application/json">` block beside the
chart) and draws it with ECharts; the texts are made here, so every label and figure is in
the viewer's language and locale (report_values.py) and the script only places them.

Shapes (every key always present for its kind):
- "bar", "stacked_bar", "line", "area": `categories` (texts), `series` ([{name, values (floats or
  None), texts, links}]): one series of the plotted value over the first grouping level, or,
  with the widget's `series` (a second grouping level) or a matrix's column groups, one series
  per value of it, stacked for stacked_bar and area.
- "pie", "donut", "funnel": `items` ([{name, value, text, link}]) over the first level; a
  funnel's items also carry `reached` (a count funnel: the stage's count plus the counts of every
  later stage, i.e. the records that reached at least this stage; else the value) and
  `conversion`: the stage's `reached` over the previous stage's as a percentage text, never above
  100% ("" for the first stage, when the previous is zero, or for a funnel of a non-count value,
  whose stages do not add up). The stage order is the result's (a picklist's option order);
  dead-end stages (Closed Lost) belong outside the funnel: its report filters them out
  (docs/reports.md, "Funnels").
- "gauge": `value`, `text`, `target`, `target_label`, `target_text`, `ratio_text` (value over target) and
  `max` (the larger of the target and the value).
- "kpi": `text` (the grand total), `change` (a fraction, or None without a previous period or
  when it was zero), `change_text` ("+12.5%"), `direction` ("up", "down" or "flat"),
  `previous_text`.
- "table": nothing more (the widget shows the report's table).
Every spec has `empty`: True when a chart of groups has none (the widget says so instead of drawing axes).

`link(key, column_key)` gives the drill-down address of a group (its key; a matrix cell's
column key too), or None; the spec's links are None without it.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from babel.numbers import format_percent

from crmkit.engine.fieldtypes.presentation import Presentation
from crmkit.engine.reports.result import ReportResult, ResultColumn, ResultGroup
from crmkit.metadata.reports import WidgetDef
from crmkit.ui.report_values import chart_number, value_text

Link = Callable[[tuple, "tuple | None"], "str | None"]
CATEGORY_CHARTS = ("bar", "stacked_bar", "line", "area")
ITEM_CHARTS = ("pie", "donut", "funnel")
#: Charts that draw several series when the widget names a second level (or the report is a matrix).
SERIES_CHARTS = ("stacked_bar", "line", "area", "bar")


def chart_locale(language: str) -> str:
    """ECharts' locale of a language tag: "ZH" for any Chinese, else "EN"."""
    return "ZH" if language.lower().startswith("zh") else "EN"


def value_column(result: ReportResult, widget: WidgetDef) -> ResultColumn:
    """The aggregate or formula the widget plots: its `value`, else the report's first value column.

    Raises KeyError naming the value when the result has no such column."""
    if widget.value is None:
        if not result.value_columns:
            raise KeyError("(no value column)")
        return result.value_columns[0]
    for column in result.value_columns:
        if column.name == widget.value:
            return column
    raise KeyError(widget.value)


def chart_spec(result: ReportResult, widget: WidgetDef, show: Presentation, *, link: Link | None = None,
               previous: ReportResult | None = None, target_label: str = "Target") -> dict[str, Any]:
    """The data `widget` draws from `result` (see the module docstring for each kind's keys).

    `previous` is the same report over the previous period (a KPI's comparison);
    `target_label` names a gauge's target in the viewer's language. Raises
    KeyError when the widget's `value` is not a column of the result.
    """
    column = value_column(result, widget)
    spec: dict[str, Any] = {"kind": widget.chart, "locale": chart_locale(show.language),
                            "value_label": column.label}
    links: Link = link or (lambda key, column_key=None: None)
    if widget.chart in CATEGORY_CHARTS:
        spec.update(_category_chart(result, widget, column, show, links))
    elif widget.chart in ITEM_CHARTS:
        spec["items"] = _items(result, column, show, links, conversion=widget.chart == "funnel")
    elif widget.chart == "gauge":
        spec.update(_gauge(result, widget, column, show), target_label=target_label)
    elif widget.chart == "kpi":
        spec.update(_kpi(result, column, show, previous))
    spec["empty"] = (widget.chart in CATEGORY_CHARTS and not spec["categories"]) or \
        (widget.chart in ITEM_CHARTS and not spec["items"])
    return spec


def first_level(result: ReportResult) -> list[ResultGroup]:
    """The groups of the first grouping level, in the result's order."""
    return [group for group in result.groups if group.level == 1]


def _category_chart(result: ReportResult, widget: WidgetDef, column: ResultColumn, show: Presentation,
                    link: Link) -> dict[str, Any]:
    if result.kind == "matrix" and widget.chart in SERIES_CHARTS:
        return _matrix_series(result, column, show, link)
    groups = first_level(result)
    categories = [_label(group) for group in groups]
    levels = len(result.group_columns)
    if widget.series and levels >= 2 and widget.chart in SERIES_CHARTS:
        return {"categories": categories, "series": _second_level_series(result, groups, column, show, link)}
    values = [group.values.get(column.name) for group in groups]
    series = {"name": column.label, "values": [chart_number(value) for value in values],
              "texts": [value_text(value, column, show) for value in values],
              "links": [link(group.key, None) for group in groups]}
    return {"categories": categories, "series": [series]}


def _second_level_series(result: ReportResult, groups: Sequence[ResultGroup], column: ResultColumn,
                         show: Presentation, link: Link) -> list[dict[str, Any]]:
    """One series per distinct second-level value (in first-seen order), over the first level's categories."""
    names: dict[Any, str] = {}
    cells: dict[tuple[Any, Any], ResultGroup] = {}
    for group in result.groups:
        if group.level == 2:
            names.setdefault(group.key[1], group.labels[1])
            cells[(group.key[0], group.key[1])] = group
    series = []
    for key, name in names.items():
        found = [cells.get((group.key[0], key)) for group in groups]
        values = [cell.values.get(column.name) if cell is not None else None for cell in found]
        series.append({"name": name, "values": [chart_number(value) for value in values],
                       "texts": [value_text(value, column, show) for value in values],
                       "links": [link(cell.key, None) if cell is not None else None for cell in found]})
    return series


def _matrix_series(result: ReportResult, column: ResultColumn, show: Presentation, link: Link) -> dict[str, Any]:
    """A matrix: its deepest row groups as categories, one series per column key."""
    depth = len(result.group_columns)
    rows = [group for group in result.groups if group.level == depth]
    series = []
    for column_key, column_labels in zip(result.column_keys, result.column_labels):
        values = [result.cells.get((row.key, column_key), {}).get(column.name) for row in rows]
        series.append({"name": " / ".join(column_labels), "values": [chart_number(value) for value in values],
                       "texts": [value_text(value, column, show) for value in values],
                       "links": [link(row.key, column_key) for row in rows]})
    return {"categories": [" / ".join(row.labels) for row in rows], "series": series}


def _items(result: ReportResult, column: ResultColumn, show: Presentation, link: Link,
           conversion: bool) -> list[dict[str, Any]]:
    items = []
    for group in first_level(result):
        value = group.values.get(column.name)
        items.append({"name": _label(group), "value": chart_number(value), "text": value_text(value, column, show),
                      "link": link(group.key, None)})
    if conversion:
        _funnel_conversion(items, counts=column.field_type == "count", show=show)
    return items


def _funnel_conversion(items: list[dict[str, Any]], *, counts: bool, show: Presentation) -> None:
    """Sets each funnel stage's `reached` and `conversion` (see the module docstring).

    A stage's reached count is its own count plus every later stage's (suffix sums over the
    already aggregated groups, a handful of numbers), so conversion is reached(k) / reached(k-1)
    and never exceeds 100%."""
    reached = 0.0
    for item in reversed(items):
        reached += item["value"] or 0.0
        item["reached"] = reached if counts else item["value"]
    before: float | None = None
    for position, item in enumerate(items):
        number = item["reached"]
        item["conversion"] = "" if not counts or position == 0 or not before or number is None else \
            format_percent(number / before, "#,##0.#%", locale=show.locale)
        before = number


def target_value(widget: WidgetDef, result: ReportResult) -> Any:
    """A gauge's target: the widget's number, or the report's grand total of `{aggregate: name}`; None if missing."""
    target = widget.target
    if isinstance(target, Mapping):
        return result.grand_total.get(str(target.get("aggregate")))
    return target


def _gauge(result: ReportResult, widget: WidgetDef, column: ResultColumn, show: Presentation) -> dict[str, Any]:
    value = result.grand_total.get(column.name)
    target = target_value(widget, result)
    number, goal = chart_number(value) or 0.0, chart_number(target)
    ratio = format_percent(number / goal, "#,##0.#%", locale=show.locale) if goal else ""
    return {"value": number, "text": value_text(value, column, show), "target": goal,
            "target_text": value_text(target, column, show) if goal is not None else "",
            "ratio_text": ratio, "max": max(goal or 0.0, number) or 1.0}


def _kpi(result: ReportResult, column: ResultColumn, show: Presentation,
         previous: ReportResult | None) -> dict[str, Any]:
    value = result.grand_total.get(column.name)
    before = previous.grand_total.get(column.name) if previous is not None else None
    number, earlier = chart_number(value), chart_number(before)
    change = (number - earlier) / abs(earlier) if number is not None and earlier else None
    direction = "flat" if not change else ("up" if change > 0 else "down")
    change_text = format_percent(change, "+#,##0.#%;-#,##0.#%", locale=show.locale) if change is not None else ""
    return {"text": value_text(value, column, show), "change": change, "change_text": change_text,
            "direction": direction, "previous_text": value_text(before, column, show) if previous is not None else ""}


def _label(group: ResultGroup) -> str:
    return group.labels[-1] if group.labels else ""
