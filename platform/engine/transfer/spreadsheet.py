"""Rows written as an XLSX workbook in constant memory, then read back as chunks of bytes.

    chunks = xlsx_chunks(["Name", "Amount"], rows, sheet="Accounts")   # Iterator[bytes], the .xlsx file

XlsxWriter writes with `constant_memory` (each row is flushed to a temporary file as it is
written), `strings_to_formulas`, `strings_to_urls` and `strings_to_numbers` off: text is
always a text cell, so "=HYPERLINK(...)" or "+1-2" in a record is shown, never run, and the
stored text is kept as it is (no "'" in front, unlike CSV, where nothing else protects it).
Numbers (int, Decimal, float) are number cells, unless a double would not hold the value exactly
(more than 15 significant digits, `exact_float`): such a value is a text cell of its exact digits,
never silently rounded. Dates and date-times are date cells (naive, as
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
#: The significant digits a number cell keeps exactly (a double holds every 15-digit decimal; Excel shows 15).
NUMBER_DIGITS = 15
_LIMIT = 10 ** NUMBER_DIGITS

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
        write_number(sheet, row, column, value)
    elif kind is datetime:
        sheet.write_datetime(row, column, value.replace(tzinfo=None), formats["datetime"])
    elif kind is date:
        sheet.write_datetime(row, column, datetime(value.year, value.month, value.day), formats["date"])
    elif isinstance(value, (list, tuple)):
        sheet.write_string(row, column, "; ".join(str(item) for item in value))
    else:
        sheet.write_string(row, column, str(value))


def write_number(sheet: Any, row: int, column: int, value: int | float | Decimal, style: Any = None) -> None:
    """A number cell holding `value` when a float holds it exactly (`exact_float`), else a text cell of its exact digits."""
    number = exact_float(value)
    if number is None:
        sheet.write_string(row, column, format(value, "f") if isinstance(value, Decimal) else str(value), style)
    else:
        sheet.write_number(row, column, number, style)


def exact_float(value: int | float | Decimal) -> float | None:
    """`value` as the float a spreadsheet's number cell holds, or None when that float would not be `value`.

    A number cell is a double, and Excel shows and keeps 15 significant digits: a value of at most
    NUMBER_DIGITS significant digits (within a double's range) is a number; a longer one (a currency
    amount of 16 digits before the point and 2 after, 1234567890123456.78) would be rounded without
    a word, so it is written as text holding its exact digits, as the CSV and JSON exports give it.
    """
    if type(value) is float:
        return value
    if isinstance(value, int):
        return float(value) if -_LIMIT < value < _LIMIT or _digits(str(abs(value))) <= NUMBER_DIGITS else None
    if not value.is_finite():
        return None
    digits = value.as_tuple().digits
    if len(digits) > NUMBER_DIGITS and _digits("".join(map(str, digits))) > NUMBER_DIGITS:
        return None
    return float(value) if value.is_zero() or -300 < value.adjusted() < 300 else None


def _digits(text: str) -> int:
    """The significant digits of a string of digits (no leading or trailing zeros)."""
    return len(text.strip("0"))


def sheet_name(label: str) -> str:
    """A worksheet name Excel accepts: at most 31 characters, none of []:*?/\\."""
    cleaned = "".join(" " if c in "[]:*?/\\" else c for c in label).strip("' ") or "Export"
    return cleaned[:31]
