"""A report result as a table of cells, written as CSV, XLSX or JSON chunks of bytes.

The table is what the report page shows: tabular reports their columns; summary reports
one line per group (the group's labels down to its level, then its aggregates and
formulas) and a total line; matrix reports one line per row group, with each column key's
values, the row's total, and a total line of column totals. It is built from the result
(groups, not records: a tabular report holds at most its limit of 50,000 rows).

CSV cells are neutralised as record exports are (records/export.py `spreadsheet_cell`:
text a spreadsheet would run as a formula gets a leading "'"). XLSX is written by
XlsxWriter with `constant_memory` (rows flushed as they are written) and
`strings_to_formulas=False`, text always through `write_string`: no cell is ever a formula.
Numbers are number cells unless a double would round them (more than 15 significant digits:
transfer/spreadsheet.py `write_number`), which are text cells of their exact digits.
JSON is for programs: the same table, values as the API gives them (decimals as strings,
dates and times ISO 8601), nothing neutralised (no spreadsheet reads it).
"""
from __future__ import annotations

import io
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Iterator

from crmkit.engine.fieldtypes import to_json
from crmkit.engine.records.export import _csv_line, spreadsheet_cell
from crmkit.engine.reports.result import ReportResult
from crmkit.engine.transfer.spreadsheet import write_number
from crmkit.metadata.model import Label

TOTAL = Label.of({"en": "Total", "zh": "合计"})
CHUNK = 64 * 1024


def table(result: ReportResult, language: str) -> Iterator[list[Any]]:
    """The header, then one list of cell values per line (see the module docstring)."""
    values = result.value_columns
    if result.kind == "tabular":
        names = [c.name for c in result.columns]
        yield [c.label for c in result.columns]
        for row in result.rows:
            yield [row.values.get(name) for name in names]
        return
    depth = len(result.group_columns)
    total = TOTAL.get(language)
    if result.kind == "summary":
        yield [c.label for c in result.group_columns] + [c.label for c in values]
        for group in result.groups:
            yield list(group.labels) + [""] * (depth - group.level) + [group.values.get(c.name) for c in values]
        yield [total] + [""] * (depth - 1) + [result.grand_total.get(c.name) for c in values]
        return
    header = [c.label for c in result.group_columns]
    for labels in result.column_labels:
        header += [f"{' / '.join(labels)} · {c.label}" for c in values]
    header += [f"{total} · {c.label}" for c in values]
    yield header
    for group in result.groups:
        line = list(group.labels) + [""] * (depth - group.level)
        for column_key in result.column_keys:
            cell = result.cells.get((group.key, column_key), {})
            line += [cell.get(c.name) for c in values]
        line += [group.values.get(c.name) for c in values]
        yield line
    line = [total] + [""] * (depth - 1)
    for column_key in result.column_keys:
        line += [result.column_totals.get(column_key, {}).get(c.name) for c in values]
    yield line + [result.grand_total.get(c.name) for c in values]


def csv_chunks(result: ReportResult, language: str, bom: bool = True) -> Iterator[bytes]:
    """The table as CSV, UTF-8 (a byte order mark first unless bom=False), in chunks of about 64 KiB."""
    buffer: list[str] = ["\ufeff"] if bom else []
    size = 0
    for cells in table(result, language):
        line = _csv_line([spreadsheet_cell(cell) for cell in cells])
        buffer.append(line)
        size += len(line)
        if size >= CHUNK:
            yield "".join(buffer).encode("utf-8")
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer).encode("utf-8")


def json_chunks(result: ReportResult, language: str) -> Iterator[bytes]:
    """The table as one JSON object, UTF-8, in chunks of about 64 KiB:
    `{"report": name, "kind": "tabular"|"summary"|"matrix", "label": text, "truncated": bool,
    "columns": [header text, ...], "rows": [[value, ...], ...]}` (a summary's and a matrix's
    last row is the total line, as in CSV)."""
    lines = table(result, language)
    header = next(lines)
    head = {"report": result.report, "kind": result.kind, "label": result.label, "truncated": result.truncated,
            "columns": [str(cell) for cell in header]}
    buffer = [json.dumps(head, ensure_ascii=False)[:-1] + ', "rows": [']
    size, first = 0, True
    for cells in lines:
        text = json.dumps([to_json(cell) for cell in cells], ensure_ascii=False, default=str)
        buffer.append(text if first else "," + text)
        first = False
        size += len(text)
        if size >= CHUNK:
            yield "".join(buffer).encode("utf-8")
            buffer, size = [], 0
    buffer.append("]}")
    yield "".join(buffer).encode("utf-8")


def xlsx_chunks(result: ReportResult, language: str) -> Iterator[bytes]:
    """The table as one XLSX worksheet named after the report, in chunks of 64 KiB."""
    import xlsxwriter

    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(output, {"constant_memory": True, "strings_to_formulas": False,
                                            "strings_to_urls": False, "strings_to_numbers": False})
    try:
        sheet = workbook.add_worksheet(_sheet_name(result.label or result.report))
        bold = workbook.add_format({"bold": True})
        day = workbook.add_format({"num_format": "yyyy-mm-dd"})
        moment = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        for row, cells in enumerate(table(result, language)):
            for column, value in enumerate(cells):
                _write(sheet, row, column, value, bold if row == 0 else None, day, moment)
    finally:
        workbook.close()
    data = output.getvalue()
    for start in range(0, len(data), CHUNK):
        yield data[start:start + CHUNK]


def _write(sheet: Any, row: int, column: int, value: Any, style: Any, day: Any, moment: Any) -> None:
    if value is None or value == "":
        return
    if isinstance(value, bool):
        sheet.write_boolean(row, column, value, style)
    elif isinstance(value, (int, float, Decimal)):
        write_number(sheet, row, column, value, style)  # a value a double cannot hold exactly: its exact text
    elif isinstance(value, datetime):
        sheet.write_datetime(row, column, value.replace(tzinfo=None), moment)
    elif isinstance(value, date):
        sheet.write_datetime(row, column, datetime(value.year, value.month, value.day), day)
    else:
        sheet.write_string(row, column, str(value), style)


def _sheet_name(label: str) -> str:
    """A worksheet name Excel accepts: at most 31 characters, none of []:*?/\\."""
    cleaned = "".join(" " if c in "[]:*?/\\" else c for c in label).strip("' ") or "Report"
    return cleaned[:31]
