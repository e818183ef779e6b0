"""Reading an import file as rows of cells: CSV in any common encoding, XLSX and XLS.

    table = read_table("contacts.csv")
    table.header                   # ('Last Name', 'Email', ...)
    for number, cells in table.rows(): ...   # number: the row as a spreadsheet shows it (header is 1)

CSV bytes are decoded as strict UTF-8 (with or without a byte order mark) first, then as
strict GB18030 (what Chinese Excel writes as "CSV": GBK is a subset), and only then as
charset-normalizer guesses: a guesser misreads short GBK samples (STACK.md, trap 6), while
strict decoding fails loudly on the wrong encoding. Spreadsheets (.xlsx, .xlsm, .xls, .ods)
are read with python-calamine, the first sheet; numbers Excel holds as floats but that are
whole (a phone number, 13800138000.0) are given as whole numbers.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Callable, Iterator

from crmkit.engine import messages
from crmkit.engine.transfer.sheet_area import used_area
from crmkit.errors import CrmkitError

#: File name endings read as spreadsheets; anything else is read as CSV.
SPREADSHEETS = (".xlsx", ".xlsm", ".xls", ".ods")
#: Excel's binary workbook: refused, its used area cannot be measured before calamine builds it (`_check_area`).
BINARY_WORKBOOK = ".xlsb"
#: The most bytes a zipped spreadsheet (XLSX, XLSM, ODS) may unpack to: a zip bomb is refused before
#: calamine reads it (a 16 MB upload of repeated XML could otherwise unpack to gigabytes).
MAX_UNPACKED = 512 * 1024 * 1024
#: The most columns an import reads: a header wider than this (a CSV's, a sheet's used area) is refused. An object
#: has far fewer fields, and the mapping screen renders a choice of every field for each column.
MAX_COLUMNS = 500
#: The most cells (rows x columns, from A1 to the last cell holding something) of the sheet a spreadsheet import
#: reads: calamine allocates that area at once (32 bytes a cell), so a far cell or an ODS of repeated rows would
#: otherwise ask for gigabytes and abort the process. Counted from the file before calamine opens it.
MAX_CELLS = 10_000_000


class ImportFileError(CrmkitError):
    """The file cannot be read as a table (no header, unknown encoding, a broken spreadsheet)."""

    title = "File cannot be read"
    status = 400


@dataclass(frozen=True)
class Table:
    """A file's header cells and a way to read its data rows again from the start (a resume re-reads)."""

    header: tuple[str, ...]
    rows: Callable[[], Iterator[tuple[int, list[Any]]]]
    encoding: str | None = None


def read_table(path: str | Path) -> Table:
    """The table in the file at `path`: CSV, or a spreadsheet by its name's ending (SPREADSHEETS).

    Rows are (row number as a spreadsheet shows it, cells); wholly empty rows are left out
    but counted. Raises ImportFileError for a file without a header row, in an encoding
    that cannot be told, or a spreadsheet calamine cannot read.
    """
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(messages.IMPORT_NO_FILE(path=str(path)))
    if path.suffix.lower() == BINARY_WORKBOOK:
        raise ImportFileError(messages.IMPORT_BINARY_WORKBOOK(path=path.name))
    if path.suffix.lower() in SPREADSHEETS:
        return _spreadsheet(path)
    text, encoding = decode(path.read_bytes())
    return _csv(text, encoding)


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding name) of CSV bytes, as the module docstring says; ImportFileError if none fits."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise ImportFileError(messages.IMPORT_ENCODING())
    return str(best), best.encoding


def _csv(text: str, encoding: str) -> Table:
    sample = text[:64 * 1024]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        header = next(csv.reader(io.StringIO(text), dialect), None)
    except csv.Error as error:
        raise _unreadable(1, error) from None
    if not header or not any(cell.strip() for cell in header):
        raise ImportFileError(messages.IMPORT_NO_HEADER())
    _check_columns(len(header))

    def rows() -> Iterator[tuple[int, list[Any]]]:
        reader = csv.reader(io.StringIO(text), dialect)
        next(reader, None)
        number = 1
        while True:
            number += 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:  # a cell beyond csv.field_size_limit(): refused, not a raw parser error
                raise _unreadable(number, error) from None
            if any(cell.strip() for cell in cells):
                yield number, cells

    return Table(tuple(cell.strip() for cell in header), rows, encoding)


def _unreadable(row: int, error: csv.Error) -> ImportFileError:
    """The refusal of a CSV row the reader cannot parse (a cell larger than its field limit)."""
    return ImportFileError(messages.IMPORT_BAD_CSV(row=row, reason=str(error), limit=f"{csv.field_size_limit():,}"))


def _check_unpacked(path: Path) -> None:
    """ImportFileError when the zip inside a spreadsheet declares more than MAX_UNPACKED bytes in all.

    The sizes are the zip directory's; a member that unpacks beyond its declared size is
    stopped by the zip reader's own check (calamine's and Python's alike raise on a mismatch).
    """
    import zipfile

    if not zipfile.is_zipfile(path):
        return  # an old .xls, or a broken file calamine refuses with its reason
    with zipfile.ZipFile(path) as archive:
        size = sum(member.file_size for member in archive.infolist())
    if size > MAX_UNPACKED:
        raise ImportFileError(messages.IMPORT_SPREADSHEET_TOO_LARGE(
            name=path.name, size=f"{size // (1024 * 1024):,}", limit=f"{MAX_UNPACKED // (1024 * 1024):,}"))


def _check_columns(count: int) -> None:
    """ImportFileError for a header of more than MAX_COLUMNS columns."""
    if count > MAX_COLUMNS:
        raise ImportFileError(messages.IMPORT_TOO_MANY_COLUMNS(count=f"{count:,}", max=f"{MAX_COLUMNS:,}"))


def _check_area(path: Path) -> None:
    """ImportFileError when the first sheet's used area (transfer/sheet_area.py, measured before calamine builds
    it) is wider than MAX_COLUMNS or larger than MAX_CELLS."""
    area = used_area(path)
    if area is None:
        return  # an old .xls (bounded by its format), or a file calamine refuses with its reason
    rows, columns = area
    _check_columns(columns)
    if rows * columns > MAX_CELLS:
        raise ImportFileError(messages.IMPORT_SHEET_TOO_LARGE(
            name=path.name, rows=f"{rows:,}", columns=f"{columns:,}", cells=f"{rows * columns:,}",
            max=f"{MAX_CELLS:,}"))


def _spreadsheet(path: Path) -> Table:
    from python_calamine import CalamineWorkbook

    _check_unpacked(path)
    _check_area(path)

    def sheet():
        try:
            return CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0)
        except Exception as error:  # calamine raises its own error types per format
            raise ImportFileError(messages.IMPORT_BAD_SPREADSHEET(name=path.name, reason=str(error))) from None

    first = next(iter(sheet().iter_rows()), None)
    if not first or not any(cell_text(cell) for cell in first):
        raise ImportFileError(messages.IMPORT_NO_HEADER())
    _check_columns(len(first))
    header = tuple(cell_text(cell) for cell in first)

    def rows() -> Iterator[tuple[int, list[Any]]]:
        iterator = iter(sheet().iter_rows())
        next(iterator, None)
        for number, cells in enumerate(iterator, start=2):
            values = [_cell(cell) for cell in cells]
            if any(value != "" for value in values):
                yield number, values

    return Table(header, rows)


def _cell(value: Any) -> Any:
    """A spreadsheet cell as an input value: whole floats as int, the rest as they are ("" when empty)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def cell_text(value: Any) -> str:
    """A cell as text: empty for None, ISO 8601 for dates, whole floats without ".0"."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (date, datetime, time)):
        return value.isoformat()
    return str(value).strip()
