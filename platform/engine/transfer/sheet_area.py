"""The used area of a spreadsheet's first sheet, measured from its file before anything builds the sheet.

    used_area(Path("contacts.xlsx"))     # (20001, 12): rows and columns from A1 to the last cell holding something

python-calamine builds a sheet's whole area in memory as soon as it opens it (32 bytes a cell), so one far cell
(`XFD1048576`) or an ODS row repeated 99,000 times asks for gigabytes and aborts the process; files.py refuses
such a sheet from this measure first (MAX_COLUMNS, MAX_CELLS).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator


def used_area(path: Path) -> tuple[int, int] | None:
    """(rows, columns) from A1 to the last cell holding something of the spreadsheet's first sheet, read from its
    zipped XML, streamed; None for a file that is no zip (an old .xls) or that calamine would refuse anyway.

    XLSX and XLSM: the sheet's cells (their `r` references, or their places); ODS: the first table's rows and
    cells with their repeat counts. Only cells that may hold something count (calamine leaves empty ones out),
    so a sheet formatted down to its last row, or LibreOffice's trailing repeated empty rows, measure small.
    """
    import zipfile

    if not zipfile.is_zipfile(path):
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "content.xml" in names:
                with archive.open("content.xml") as stream:
                    return _ods_area(stream)
            member = _first_xlsx_sheet(archive, names)
            if member is None:
                return None
            with archive.open(member) as stream:
                area = _xlsx_area_by_references(stream)
            if area is None:  # a cell without its reference: placed by its order, tag by tag (slower)
                with archive.open(member) as stream:
                    area = _xlsx_area(stream)
            return area
    except (zipfile.BadZipFile, OSError, ValueError, KeyError):
        return None  # a broken zip: calamine refuses it with its reason


_CHUNK = 1024 * 1024
_XLSX_TAG = re.compile(rb"<(/?)(?:[\w.-]+:)?(row|c|sheetData)(?=[\s/>])([^>]*?)(/?)>")
_ODS_TAG = re.compile(rb"<(/?)(?:[\w.-]+:)?(table|table-row|table-cell|covered-table-cell)(?=[\s/>])([^>]*?)(/?)>")
_R_ATTRIBUTE = re.compile(rb"(?:^|\s)r\s*=\s*[\"']\$?([A-Za-z]*)\$?([0-9]*)[\"']")
_ROWS_REPEATED = re.compile(rb"number-rows-repeated\s*=\s*[\"']([0-9]+)[\"']")
_COLUMNS_REPEATED = re.compile(rb"number-columns-repeated\s*=\s*[\"']([0-9]+)[\"']")
_VALUE_TYPE = re.compile(rb"value-type\s*=")


def _chunks(stream: Any) -> Iterator[bytes]:
    """An XML stream a chunk at a time, each cut before a `<` (a tag is never cut in two)."""
    rest = b""
    while True:
        chunk = stream.read(_CHUNK)
        data = rest + chunk
        if not chunk:
            yield data
            return
        cut = data.rfind(b"<")
        cut = len(data) if cut <= 0 else cut
        yield data[:cut]
        rest = data[cut:]


def _tags(stream: Any, pattern: re.Pattern[bytes]) -> Iterator[re.Match[bytes]]:
    """The tags `pattern` matches in an XML stream, read a chunk at a time."""
    for chunk in _chunks(stream):
        yield from pattern.finditer(chunk)


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters.upper()[:8]:
        number = number * 26 + letter - 64
    return number


def _first_xlsx_sheet(archive: Any, names: set[str]) -> str | None:
    """The zip member of an XLSX workbook's first sheet (the workbook's order, as calamine reads it)."""
    import posixpath
    import xml.etree.ElementTree as ElementTree

    if "xl/workbook.xml" not in names:
        return None
    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    relation = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
    try:
        with archive.open("xl/workbook.xml") as stream:
            workbook = ElementTree.parse(stream).getroot()
        first = next(iter(workbook.iter(f"{main}sheet")), None)
        with archive.open("xl/_rels/workbook.xml.rels") as stream:
            relations = ElementTree.parse(stream).getroot()
    except (KeyError, ElementTree.ParseError):
        first = None
    if first is not None:
        for item in relations:
            if item.get("Id") == first.get(relation) and item.get("Target"):
                target = item.get("Target", "")
                member = target.lstrip("/") if target.startswith("/") else posixpath.normpath("xl/" + target)
                if member in names:
                    return member
    # not told plainly: the first of the sheets calamine could take (checking one too many is only stricter)
    sheets = sorted(name for name in names if name.startswith("xl/worksheets/") and name.endswith(".xml"))
    return sheets[0] if sheets else None


_PLAIN_CELL = re.compile(rb'<c r="([A-Z]{1,3})([0-9]{1,7})"[^>/]*(/?)>')
_TAG_ENDS = (b" ", b">", b"/", b"\t", b"\n", b"\r")


def _xlsx_area_by_references(stream: Any) -> tuple[int, int] | None:
    """_xlsx_area of a sheet written as Excel and most writers do (`<c r="B7" ...>`, no prefix), else None.

    A tag by tag Python loop takes seconds for a few million cells; this takes each chunk's
    cells with one regular expression, and gives up (None) as soon as a chunk holds a cell
    tag it does not read (no reference first, a prefix, a `/` in an attribute).
    """
    rows = columns = 0
    for chunk in _chunks(stream):
        cells = _PLAIN_CELL.findall(chunk)
        if len(cells) != sum(chunk.count(b"<c" + end) for end in _TAG_ENDS) or any(
                chunk.count(b":c" + end) for end in _TAG_ENDS):
            return None
        filled = [(letters, number) for letters, number, empty in cells if not empty]
        if filled:
            rows = max(rows, max(map(int, (number for _, number in filled))))
            columns = max(columns, max(map(_column_number, {letters for letters, _ in filled})))
    return rows, columns


def _xlsx_area(stream: Any) -> tuple[int, int]:
    """(rows, columns) from A1 to the last cell of an XLSX sheet holding anything (not a self-closed `<c/>`)."""
    rows = columns = 0
    row = column = 0
    for tag in _tags(stream, _XLSX_TAG):
        closing, name, attributes, empty = tag.groups()
        if closing:
            if name == b"sheetData":
                break
            continue
        if name == b"row":
            found = _R_ATTRIBUTE.search(attributes)
            row = _number(found[2]) if found and found[2] else row + 1
            column = 0
        elif name == b"c":
            found = _R_ATTRIBUTE.search(attributes)
            if found and found[1]:
                column = _column_number(found[1])
                if found[2]:
                    row = _number(found[2])
            else:
                column += 1
            if not empty:
                rows, columns = max(rows, row), max(columns, column)
    return rows, columns


def _ods_area(stream: Any) -> tuple[int, int]:
    """(rows, columns) from A1 to the last cell holding anything of an ODS's first table, repeats counted."""
    rows = columns = 0
    row = 0
    depth = 0
    row_repeat = column = last = 0
    for tag in _tags(stream, _ODS_TAG):
        closing, name, attributes, empty = tag.groups()
        if name == b"table":
            if closing:
                depth -= 1
                if depth == 0:
                    break
            elif not empty:
                depth += 1
            continue
        if depth != 1:
            continue  # a table inside a cell: its cells are the outer cell's content
        if name == b"table-row":
            if closing or empty:
                repeat = row_repeat if closing else _repeat(_ROWS_REPEATED, attributes)
                if last:
                    rows, columns = row + repeat, max(columns, last)
                row += repeat
                row_repeat = column = last = 0
            else:
                row_repeat, column, last = _repeat(_ROWS_REPEATED, attributes), 0, 0
        elif not closing:
            column += _repeat(_COLUMNS_REPEATED, attributes)
            if not empty or _VALUE_TYPE.search(attributes):
                last = column
    return rows, columns


def _repeat(pattern: re.Pattern[bytes], attributes: bytes) -> int:
    found = pattern.search(attributes)
    return max(1, _number(found[1])) if found else 1


def _number(digits: bytes) -> int:
    """The number the digits write, or a trillion for longer ones (more than any sheet takes)."""
    return int(digits) if len(digits) <= 12 else 10 ** 12
