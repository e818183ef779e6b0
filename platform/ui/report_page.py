"""What a report's page shows from its ReportResult: the table's header, rows, subtotals and totals, with links.

    table = report_table(result, show, link=drilldown_address, record_link=record_address)
    table.header, table.rows, table.total

Every figure is already text in the viewer's locale (report_values.py); a row's or cell's
`link` is the drill-down address of the records behind it (the object's list with
`?filter=<json>`, from the engine's `reports.drilldown`), or a record's page for a tabular
row. Summary groups are shown as a tree: each group's row holds its subtotals and is
followed by its subgroups, one step further in. A matrix has a row per row group and a cell
per column key and value, a "Total" column and a row of column totals.

`result_json(result)` is the `?format=json` answer: the result's shape (engine/reports/result.py)
with exact decimals as strings, dates as ISO text and matrix cells as a list.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable, Sequence
from urllib.parse import urlencode

from crmkit.engine.fieldtypes.presentation import Presentation
from crmkit.engine.fieldtypes.presenter import SYSTEM_LABELS
from crmkit.engine.reports.result import ReportResult, ResultColumn, ResultGroup
from crmkit.ui.report_values import value_text

Link = Callable[[tuple, "tuple | None"], "str | None"]


@dataclass(frozen=True)
class Cell:
    """One figure (or label) of the table: its text, the drill-down address (or None), whether it is a number."""

    text: str
    link: str | None = None
    number: bool = True


@dataclass(frozen=True)
class TableRow:
    """A row: its heading cells (group labels, indented by `level`), its figures, and whether it is a subtotal."""

    level: int
    heading: Cell
    cells: tuple[Cell, ...]
    subtotal: bool = False


@dataclass(frozen=True)
class HeaderCell:
    text: str
    span: int = 1
    number: bool = True


@dataclass(frozen=True)
class ReportTable:
    """The table of a report: header rows, body rows and the grand total row (None when there is none)."""

    header: tuple[tuple[HeaderCell, ...], ...]
    rows: tuple[TableRow, ...]
    total: TableRow | None


def no_link(key: tuple, column_key: tuple | None = None) -> None:
    return None


def report_table(result: ReportResult, show: Presentation, *, link: Link = no_link,
                 record_link: Callable[[int], str | None] = lambda record_id: None,
                 total_label: str = "Total") -> ReportTable:
    """The table of `result` for the viewer (see the module docstring)."""
    if result.kind == "tabular":
        return _tabular(result, show, record_link, total_label)
    if result.kind == "matrix":
        return _matrix(result, show, link, total_label)
    return _summary(result, show, link, total_label)


def column_label(column: ResultColumn, show: Presentation) -> str:
    """A column's heading: its label, or a system field's own label (owner_id: "Owner", "负责人") when the
    result names it by its field name."""
    if column.label == column.name and column.name in SYSTEM_LABELS:
        return SYSTEM_LABELS[column.name].get(show.language)
    return column.label


def figures(values: dict[str, Any], columns: Sequence[ResultColumn], show: Presentation,
            address: str | None = None) -> tuple[Cell, ...]:
    return tuple(Cell(value_text(values.get(column.name), column, show), address) for column in columns)


def ordered_groups(groups: Sequence[ResultGroup]) -> list[ResultGroup]:
    """The groups as a tree walked depth first: each group, then its subgroups, in the result's order."""
    children: dict[tuple, list[ResultGroup]] = {}
    for group in groups:
        children.setdefault(tuple(group.key[:group.level - 1]), []).append(group)
    ordered: list[ResultGroup] = []

    def walk(parent: tuple) -> None:
        for group in children.get(parent, ()):
            if group.level == len(parent) + 1:
                ordered.append(group)
                walk(tuple(group.key))

    walk(())
    return ordered


def _group_label(group: ResultGroup) -> str:
    return group.labels[-1] if group.labels else ""


def _summary(result: ReportResult, show: Presentation, link: Link, total_label: str) -> ReportTable:
    depth = max((group.level for group in result.groups), default=1)
    header = (tuple([HeaderCell(" / ".join(column_label(column, show) for column in result.group_columns),
                                number=False)]
                    + [HeaderCell(column.label) for column in result.value_columns]),)
    rows = []
    for group in ordered_groups(result.groups):
        address = link(tuple(group.key), None)
        rows.append(TableRow(group.level, Cell(_group_label(group), address, number=False),
                             figures(group.values, result.value_columns, show, address),
                             subtotal=group.level < depth))
    total = TableRow(0, Cell(total_label, link((), None), number=False),
                     figures(result.grand_total, result.value_columns, show, link((), None)), subtotal=True) \
        if result.grand_total else None
    return ReportTable(header, tuple(rows), total)


def _matrix(result: ReportResult, show: Presentation, link: Link, total_label: str) -> ReportTable:
    values = result.value_columns
    span = len(values)
    corner = " / ".join(column_label(column, show) for column in result.group_columns)
    top = [HeaderCell(corner, number=False)] + [HeaderCell(" / ".join(labels), span)
                                                for labels in result.column_labels] + [HeaderCell(total_label, span)]
    header: tuple[tuple[HeaderCell, ...], ...] = (tuple(top),)
    if span > 1:
        header += (tuple([HeaderCell("", number=False)]
                         + [HeaderCell(column.label) for _ in range(len(result.column_keys) + 1) for column in values]),)
    depth = len(result.group_columns)
    rows = []
    for group in ordered_groups(result.groups):
        key = tuple(group.key)
        cells: list[Cell] = []
        for column_key in result.column_keys:
            cells.extend(figures(result.cells.get((key, column_key), {}), values, show, link(key, column_key)))
        cells.extend(figures(group.values, values, show, link(key, None)))
        rows.append(TableRow(group.level, Cell(_group_label(group), link(key, None), number=False), tuple(cells),
                             subtotal=group.level < depth))
    totals: list[Cell] = []
    for column_key in result.column_keys:
        totals.extend(figures(result.column_totals.get(column_key, {}), values, show, link((), column_key)))
    totals.extend(figures(result.grand_total, values, show, link((), None)))
    total = TableRow(0, Cell(total_label, link((), None), number=False), tuple(totals), subtotal=True)
    return ReportTable(header, tuple(rows), total)


def _tabular(result: ReportResult, show: Presentation, record_link: Callable[[int], str | None],
             total_label: str) -> ReportTable:
    columns = result.columns or (result.group_columns + result.value_columns)
    header = (tuple(HeaderCell(column_label(column, show), number=column.format not in ("text", "date", "datetime"))
                    for column in columns),)
    rows = []
    for row in result.rows:
        address = record_link(row.record_id)
        texts = [Cell(value_text(row.values.get(column.name), column, show),
                      number=column.format not in ("text", "date", "datetime")) for column in columns]
        first = texts[0] if texts else Cell("", number=False)
        rows.append(TableRow(1, Cell(first.text, address, number=first.number), tuple(texts[1:])))
    shown = [column for column in columns if column.name in result.grand_total]
    total = None
    if result.grand_total:
        cells = tuple(Cell(value_text(result.grand_total[column.name], column, show)) if column in shown
                      else Cell("", number=False) for column in columns[1:])
        total = TableRow(0, Cell(total_label, number=False), cells, subtotal=True)
    return ReportTable(header, tuple(rows), total)


def json_value(value: Any) -> Any:
    """A figure for JSON: exact decimals as text, dates and moments as ISO text."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, tuple):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    return value


def _column(column: ResultColumn) -> dict[str, Any]:
    return {"name": column.name, "label": column.label, "field_type": column.field_type, "format": column.format,
            "bucket": column.bucket}


def result_json(result: ReportResult) -> dict[str, Any]:
    """`result` as JSON-ready data (see the module docstring)."""
    return {
        "report": result.report, "kind": result.kind, "label": result.label,
        "group_columns": [_column(column) for column in result.group_columns],
        "value_columns": [_column(column) for column in result.value_columns],
        "groups": [{"level": group.level, "key": json_value(group.key), "labels": list(group.labels),
                    "values": json_value(group.values)} for group in result.groups],
        "rows": [{"record_id": row.record_id, "values": json_value(row.values)} for row in result.rows],
        "column_group_columns": [_column(column) for column in result.column_group_columns],
        "column_keys": [json_value(key) for key in result.column_keys],
        "column_labels": [list(labels) for labels in result.column_labels],
        "cells": [{"row": json_value(row), "column": json_value(column), "values": json_value(values)}
                  for (row, column), values in result.cells.items()],
        "column_totals": [{"column": json_value(column), "values": json_value(values)}
                          for column, values in result.column_totals.items()],
        "grand_total": json_value(result.grand_total),
        "computed_at": result.computed_at.isoformat() if result.computed_at else None,
        "truncated": result.truncated,
    }


def list_address(object_name: str, engine_filter: Any) -> str:
    """The object's list view showing the records `engine_filter` selects: `/o/<object>?filter=<json>`."""
    text = json.dumps(engine_filter, default=json_value, ensure_ascii=False, separators=(",", ":"))
    return f"/o/{object_name}?{urlencode({'filter': text})}"
