"""Reports and dashboards as declared in metadata (`reports:` and `dashboards:` of a package).

The frozen shapes the report compiler (crmkit.engine.reports) and the UI read; the YAML
forms are in docs/reports.md. Parsing and checks live in their own modules.

    >>> ReportDef(name="pipeline_by_stage", label=Label.of("Pipeline"), object="opportunity", kind="summary",
    ...           group_by=(Grouping(field="stage"),), aggregates=(Aggregate("total", "sum", field="amount"),))
"""
from __future__ import annotations

from dataclasses import dataclass, field as _field
from typing import Any, Mapping

from crmkit.metadata.model import NOWHERE, Label, SourceLocation, frozen_map

REPORT_KINDS = ("tabular", "summary", "matrix")
DATE_BUCKETS = ("day", "week", "month", "quarter", "year", "fiscal_quarter", "fiscal_year")
AGGREGATE_FUNCTIONS = ("count", "count_distinct", "sum", "avg", "min", "max")
FORMULA_FORMATS = ("number", "percent", "money")
CHART_KINDS = ("kpi", "bar", "stacked_bar", "line", "area", "pie", "donut", "funnel", "gauge", "table")
DASHBOARD_FILTERS = ("date_range", "owner", "team")
#: Summary reports group by at most this many levels; a matrix by this many row and column levels.
MAX_GROUP_LEVELS = 3
MAX_MATRIX_LEVELS = 2
DEFAULT_TABULAR_LIMIT = 1000
MAX_TABULAR_LIMIT = 50000


@dataclass(frozen=True)
class Grouping:
    """One grouping level: a field path (lookups allowed, "account.industry"), a date bucket or numeric ranges.

    `ranges` are ascending boundaries: (10000, 50000) makes the groups <10000, 10000-50000, >=50000.
    `fiscal_year_start_month` (1-12) overrides the package's for fiscal buckets; None: the package's.
    """

    field: str
    bucket: str | None = None
    ranges: tuple[Any, ...] = ()
    fiscal_year_start_month: int | None = None
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class Aggregate:
    """One aggregate column: `function` over `field` (None for count), or over the days between two date fields.

    `where` is a condition in the engine's filter language: only rows matching it count
    (a conditional aggregate, "won deals"). `days_between` = (start field, end field).
    """

    name: str
    function: str
    field: str | None = None
    where: Mapping[str, Any] | None = None
    days_between: tuple[str, str] | None = None
    label: Label = _field(default_factory=Label)
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class SummaryFormula:
    """A value computed from the aggregates of the same group: `expression` such as "won / closed"."""

    name: str
    expression: str
    format: str = "number"
    label: Label = _field(default_factory=Label)
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class ReportDef:
    """A report of `object`: tabular (columns), summary (group_by 1-3) or matrix (group_by x columns_by)."""

    name: str
    label: Label
    object: str
    kind: str
    description: Label = _field(default_factory=Label)
    filter: Mapping[str, Any] | None = None
    date_field: str | None = None
    page_filters: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    sort: tuple[str, ...] = ()
    limit: int | None = None
    group_by: tuple[Grouping, ...] = ()
    columns_by: tuple[Grouping, ...] = ()
    aggregates: tuple[Aggregate, ...] = ()
    formulas: tuple[SummaryFormula, ...] = ()
    package: str = ""
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class WidgetDef:
    """One dashboard widget: a report drawn as `chart`; see docs/reports.md for each option."""

    report: str
    chart: str
    title: Label = _field(default_factory=Label)
    value: str | None = None
    series: str | None = None
    target: Any = None
    compare: str | None = None
    width: int = 6
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class DashboardDef:
    """A dashboard: widgets in order, and the dashboard-wide filters every widget obeys."""

    name: str
    label: Label
    widgets: tuple[WidgetDef, ...] = ()
    filters: tuple[str, ...] = ()
    description: Label = _field(default_factory=Label)
    package: str = ""
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)


#: Charts of one figure: without a title they are named by that figure, not by the report.
FIGURE_CHARTS = ("kpi", "gauge")


def widget_title(widget: WidgetDef, report: ReportDef | None) -> Label:
    """The heading a widget shows: its `title`; else, for a KPI or gauge, the label of the figure
    it shows (its `value`'s aggregate or formula, "Won revenue"), since the report's label may
    name other figures too ("Average deal size and sales cycle"); else the report's label, or
    the report's name when the report is missing."""
    if widget.title:
        return widget.title
    if report is None:
        return Label.of(widget.report)
    if widget.chart in FIGURE_CHARTS:
        measures = (*report.aggregates, *report.formulas)
        chosen = next((m for m in measures if m.name == widget.value), None) if widget.value else \
            (measures[0] if measures else None)
        if chosen is not None and chosen.label:
            return chosen.label
    return report.label


@dataclass(frozen=True)
class Analytics:
    """A package's (or a registry's merged) reports and dashboards, by name, and its fiscal year start."""

    reports: Mapping[str, ReportDef] = _field(default_factory=frozen_map)
    dashboards: Mapping[str, DashboardDef] = _field(default_factory=frozen_map)
    fiscal_year_start_month: int = 1
