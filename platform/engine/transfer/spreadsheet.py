"""Rows written as an XLSX workbook in constant memory, then read back as chunks of bytes.

    chunks = xlsx_chunks(["Name", "Amount"], rows, sheet="Accounts")   # Iterator[bytes], the .xlsx file

XlsxWriter writes with `constant_memory` (each row is flushed to a temporary file as it is
written), `strings_to_formulas`, `strings_to_urls` and `strings_to_numbers` off: text is
always a text cell, so "=HYPERLINK(...)" or "+1-2" in a record is shown, never run, and the
stored text is kept as it is (no "'" in front, unlike CSV, where nothing else protects it).
Numbers (int, Decimal, float) are number cells, dates and date-times date cells (naive, as
given: give local times), booleans boolean cells, lists joined with "; ". The workbook is
finished into a temporary file, which is then read and removed in chunks of 64 KiB, so
memory stays flat however many rows there are (Excel's limit: 1,048,575 rows under the header).
"""
from __future__ import annotations

import os
import tempfile
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Iterable, Iterator, Sequence

#: Bytes handed out at a time.
CHUNK = 64 * 1024
#: Rows a worksheet holds below its header (Excel's limit).
MAX_ROWS = 1_048_575

OPTIONS = {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
           "strings_to_numbers": False}


def xlsx_chunks(header: Sequence[str], rows: Iterable[Sequence[Any]], *, sheet: str = "Export") -> Iterator[bytes]:
    """The workbook's bytes: `header` in bold, then `rows`; rows beyond MAX_ROWS go on further sheets.

    Nothing is written until the first chunk is asked for; the rows are read as the workbook is written.
    """
    import xlsxwriter

    handle, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(handle)
    try:
        workbook = xlsxwriter.Workbook(path, OPTIONS)
        try:
            _write(workbook, header, rows, sheet_name(sheet))
        finally:
            workbook.close()
        with open(path, "rb") as file:
            while chunk := file.read(CHUNK):
                yield chunk
    finally:
        os.unlink(path)


def _write(workbook: Any, header: Sequence[str], rows: Iterable[Sequence[Any]], name: str) -> None:
    bold = workbook.add_format({"bold": True})
    formats = {"date": workbook.add_format({"num_format": "yyyy-mm-dd"}),
               "datetime": workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})}
    sheet, row_number, sheets = None, MAX_ROWS, 0
    for values in rows:
        if row_number >= MAX_ROWS:
            sheets += 1
            sheet = workbook.add_worksheet(name if sheets == 1 else sheet_name(f"{name} {sheets}"))
            for column, text in enumerate(header):
                sheet.write_string(0, column, str(text), bold)
            row_number = 0
        row_number += 1
        for column, value in enumerate(values):
            write_cell(sheet, row_number, column, value, formats)
    if sheet is None:
        sheet = workbook.add_worksheet(name)
        for column, text in enumerate(header):
            sheet.write_string(0, column, str(text), bold)


def write_cell(sheet: Any, row: int, column: int, value: Any, formats: dict[str, Any]) -> None:
    """One value as its kind of cell (the module docstring); None and "" leave the cell empty."""
    if value is None or value == "":
        return
    kind = type(value)
    if kind is str:
        sheet.write_string(row, column, value)
    elif kind is bool:
        sheet.write_boolean(row, column, value)
    elif kind in (int, float, Decimal):
        sheet.write_number(row, column, float(value))
    elif kind is datetime:
        sheet.write_datetime(row, column, value.replace(tzinfo=None), formats["datetime"])
    elif kind is date:
        sheet.write_datetime(row, column, datetime(value.year, value.month, value.day), formats["date"])
    elif isinstance(value, (list, tuple)):
        sheet.write_string(row, column, "; ".join(str(item) for item in value))
    else:
        sheet.write_string(row, column, str(value))


def sheet_name(label: str) -> str:
    """A worksheet name Excel accepts: at most 31 characters, none of []:*?/\\."""
    cleaned = "".join(" " if c in "[]:*?/\\" else c for c in label).strip("' ") or "Export"
    return cleaned[:31]
