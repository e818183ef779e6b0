"""Build the frozen report and dashboard model (reports.py) from schema-checked documents.

    reports:
      pipeline_by_stage:
        object: opportunity
        kind: summary
        group_by: [{field: stage}]
        aggregates: [{name: total, function: sum, field: amount}]
    dashboards:
      sales:
        widgets: [{report: pipeline_by_stage, chart: funnel}]

Each part remembers where it was written (its SourceLocation), so report_checks.py can
point at the exact key of a mistake. Numbers (range boundaries, gauge targets) become
Decimal, so money stays exact.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping, Sequence

from crmkit.metadata.model import Label, SourceLocation, frozen_map
from crmkit.metadata.reports import Aggregate, DashboardDef, Grouping, ReportDef, SummaryFormula, WidgetDef
from crmkit.metadata.source import SourceDocument

#: The aggregate a summary or matrix report has when it declares none: the number of records.
DEFAULT_AGGREGATE_NAME = "record_count"


def _location(document: SourceDocument, path: tuple, *, at_key: bool = True) -> SourceLocation:
    position = document.position(path, at_key=at_key)
    return SourceLocation(document.file, position.line, position.column, path)


def _humanize(name: str) -> str:
    return name.replace("_", " ").strip().capitalize()


def _number(value: Any) -> Decimal:
    return Decimal(str(value))


def build_reports(document: SourceDocument, package: str) -> dict[str, ReportDef]:
    """The reports of one document's `reports:` mapping, by name."""
    return {name: build_report(document, package, name, spec or {})
            for name, spec in (document.data.get("reports") or {}).items()}


def build_dashboards(document: SourceDocument, package: str) -> dict[str, DashboardDef]:
    """The dashboards of one document's `dashboards:` mapping, by name."""
    return {name: build_dashboard(document, package, name, spec or {})
            for name, spec in (document.data.get("dashboards") or {}).items()}


def build_report(document: SourceDocument, package: str, name: str, spec: Mapping[str, Any]) -> ReportDef:
    base = ("reports", name)
    kind = spec.get("kind", "summary")
    aggregates = tuple(build_aggregate(document, base + ("aggregates", index), item)
                       for index, item in enumerate(spec.get("aggregates") or ()))
    if not aggregates and kind != "tabular":
        aggregates = (Aggregate(DEFAULT_AGGREGATE_NAME, "count", label=Label.of({"en": "Records", "zh": "记录数"}),
                                location=_location(document, base)),)
    return ReportDef(
        name=name,
        label=Label.of(spec.get("label"), _humanize(name)),
        object=spec.get("object", ""),
        kind=kind,
        description=Label.of(spec["description"]) if spec.get("description") else Label(),
        filter=frozen_map(spec["filter"]) if spec.get("filter") else None,
        date_field=spec.get("date_field"),
        page_filters=tuple(spec.get("page_filters") or ()),
        columns=tuple(spec.get("columns") or ()),
        sort=tuple(spec.get("sort") or ()),
        limit=spec.get("limit"),
        group_by=tuple(build_grouping(document, base + ("group_by", index), item)
                       for index, item in enumerate(spec.get("group_by") or ())),
        columns_by=tuple(build_grouping(document, base + ("columns_by", index), item)
                         for index, item in enumerate(spec.get("columns_by") or ())),
        aggregates=aggregates,
        formulas=tuple(build_formula(document, base + ("formulas", index), item)
                       for index, item in enumerate(spec.get("formulas") or ())),
        package=package,
        location=_location(document, base),
    )


def build_grouping(document: SourceDocument, path: tuple, spec: Mapping[str, Any]) -> Grouping:
    return Grouping(
        field=spec["field"],
        bucket=spec.get("bucket"),
        ranges=tuple(_number(value) for value in spec.get("ranges") or ()),
        fiscal_year_start_month=spec.get("fiscal_year_start_month"),
        location=_location(document, path, at_key=False),
    )


def build_aggregate(document: SourceDocument, path: tuple, spec: Mapping[str, Any]) -> Aggregate:
    between = spec.get("days_between")
    return Aggregate(
        name=spec["name"],
        function=spec["function"],
        field=spec.get("field"),
        where=frozen_map(spec["where"]) if spec.get("where") else None,
        days_between=tuple(between) if between else None,
        label=Label.of(spec.get("label"), _humanize(spec["name"])),
        location=_location(document, path, at_key=False),
    )


def build_formula(document: SourceDocument, path: tuple, spec: Mapping[str, Any]) -> SummaryFormula:
    return SummaryFormula(
        name=spec["name"],
        expression=spec["expression"],
        format=spec.get("format", "number"),
        label=Label.of(spec.get("label"), _humanize(spec["name"])),
        location=_location(document, path, at_key=False),
    )


def build_dashboard(document: SourceDocument, package: str, name: str, spec: Mapping[str, Any]) -> DashboardDef:
    base = ("dashboards", name)
    return DashboardDef(
        name=name,
        label=Label.of(spec.get("label"), _humanize(name)),
        widgets=tuple(build_widget(document, base + ("widgets", index), item)
                      for index, item in enumerate(spec.get("widgets") or ())),
        filters=tuple(spec.get("filters") or ()),
        description=Label.of(spec["description"]) if spec.get("description") else Label(),
        package=package,
        location=_location(document, base),
    )


def build_widget(document: SourceDocument, path: tuple, spec: Mapping[str, Any]) -> WidgetDef:
    return WidgetDef(
        report=spec["report"],
        chart=spec["chart"],
        title=Label.of(spec["title"]) if spec.get("title") else Label(),
        value=spec.get("value"),
        series=spec.get("series"),
        target=_target(spec.get("target")),
        compare=spec.get("compare"),
        width=spec.get("width", 6),
        location=_location(document, path, at_key=False),
    )


def _target(value: Any) -> Any:
    """A gauge target: a number (as Decimal), {aggregate: name} (kept as a mapping), or None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Mapping):
        return frozen_map(value)
    return _number(value)


def package_fiscal_start(documents: Sequence[SourceDocument]) -> int | None:
    """The package's `fiscal_year_start_month` (on any of its documents), or None when it sets none."""
    for document in documents:
        value = document.data.get("fiscal_year_start_month")
        if value is not None:
            return int(value)
    return None
