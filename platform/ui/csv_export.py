"""A list view's CSV export for people (`/o/<object>/export.csv`): what a user reads, in cells a spreadsheet keeps.

    lines = readable_csv(user_context(), records, filter, sort=["name"], search="acme")   # str, header first

The rows are the engine's export (`records.export(..., format="values")`): the `export`
permission, the user's row filter and field-level security, one streamed query, the
security log. This module only writes what the user would read on the list page, as
cells a spreadsheet (Excel, LibreOffice, Google Sheets, WPS) opens and re-imports intact:

- **Header**: each column's label in the user's language (system fields too: ID, Owner,
  Created, Last modified). Hidden fields are not columns (the engine leaves them out).
- **Lookups** (and owner): the related record's title as the user may read it (a record
  they may not read is "Record 7", as on the list page); users by display name. Titles are
  read per batch of `BATCH` rows, one query per related object, with the user's rights.
- **Picklists**: option labels in the user's language; a multi-select's labels joined with
  "; ".
- **Numbers** (integer, decimal, currency, percent; formulas and rollups returning them):
  the exact stored value, a dot for the decimal point, no grouping, no currency symbol or
  "%" ("1200000.00", "-5", "12.5"): a currency symbol or a locale's grouping would make
  the cell text on re-import, and a rounded value would not be the stored one.
- **Dates**: ISO 8601 ("2026-03-31"); **date-times** in the user's time zone (as the
  pages show them) as "2026-03-31 14:05:00", which spreadsheets read as a date-time.
- **Checkboxes**: TRUE or FALSE, the spreadsheet's own boolean words.
- **Text** cells (labels and titles too) that a spreadsheet would run as a formula (starting
  with =, +, -, @, tab or carriage return, also after leading spaces) get a leading "'"
  (OWASP CSV Injection; engine/records/export.py). Numbers and dates never start so
  except a negative number, which stays a number.
- Lines end in "\n"; a cell holding a comma, quote or line break (a lone carriage return too)
  is quoted (the engine's `LineWriter`), so no text breaks its row.
- The first line starts with a UTF-8 byte order mark, so Excel reads Chinese correctly.

Nothing is held beyond one batch: the response streams as the engine's export does.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from itertools import islice
from typing import Any, Callable, Iterator, Mapping, Sequence

from crmkit.engine.context import UserContext
from crmkit.engine.fieldtypes.display import local_moment
from crmkit.engine.fieldtypes.presenter import FieldPresenter
from crmkit.engine.records.export import LineWriter, neutralise_formula
from crmkit.metadata.model import FieldDef
from crmkit.ui.list_page import lookup_titles

#: Rows whose lookup titles are read together (one query per related object).
BATCH = 500
#: The UTF-8 byte order mark Excel needs to read non-Latin text in a CSV file.
BOM = "\ufeff"

Cell = Callable[[Any, "str | None"], str]


def readable_csv(context: UserContext, records: Any, filter: Any = None, *, sort: Sequence[str] = (),
                 search: str | None = None) -> Iterator[str]:
    """The export of `records` (a RecordService) as CSV text, header first, each piece ending in "\\n".

    Raises PermissionDenied (no read or export permission) and QueryError (a bad filter or
    sort) before anything is yielded; the rows are read as the generator is consumed.
    """
    stream = records.export(filter, sort=sort, search=search, format="values")
    presenter = FieldPresenter.for_context(context)
    fields = [presenter.field(records.obj, name) for name in stream.columns]
    cells = [cell_writer(presenter, fdef) for fdef in fields]
    lookups = [fdef for fdef in fields if fdef.type == "lookup"]
    header = _line([neutralise_formula(presenter.label(fdef)) for fdef in fields])

    def lines() -> Iterator[str]:
        with stream:
            yield BOM + header
            while True:
                batch = list(islice(stream, BATCH))
                if not batch:
                    return
                titles = lookup_titles(context, lookups, batch)
                line = LineWriter()
                yield "".join(line([cell(row.get(fdef.name), _title(titles, fdef, row))
                                    for cell, fdef in zip(cells, fields)]) for row in batch)

    return lines()


def _title(titles: Mapping[tuple[str, int], str], fdef: FieldDef, row: Mapping[str, Any]) -> str | None:
    if fdef.type != "lookup":
        return None
    return titles.get((fdef.to or "user", row.get(fdef.name)))


def _line(cells: Sequence[str]) -> str:
    return LineWriter()(cells)


def cell_writer(presenter: FieldPresenter, fdef: FieldDef, *,
                safe: Callable[[str], str] = neutralise_formula) -> Cell:
    """(stored value, lookup title) -> the cell's text for one field, as the module docstring says.

    `safe` is applied to every text (text, titles, labels): the CSV's formula neutralising by default;
    the XLSX export (list_export.py), whose text cells are never run, passes `str` to keep the text as stored.
    """
    field_type, value_def = presenter.value_field(fdef)
    kind, widget = field_type.kind.value_kind, field_type.form_widget
    show = presenter.show

    def text(value: Any, title: str | None = None) -> str:
        return "" if value is None else safe(str(value))

    if kind == "reference" or widget == "select":
        return lambda value, title: "" if value is None else safe(
            presenter.display_value(fdef, value, title).text)
    if widget == "multiselect":
        def labels(value: Any, title: str | None) -> str:
            shown = presenter.display_value(fdef, value, None) if value not in (None, [], ()) else None
            return safe("; ".join(shown.items or (shown.text,))) if shown else ""
        return labels
    if kind in ("integer", "decimal"):
        return lambda value, title: "" if value is None else _number(value)
    if kind == "boolean":
        return lambda value, title: "" if value is None else ("TRUE" if value else "FALSE")
    if kind == "datetime":
        return lambda value, title: (local_moment(value, show).strftime("%Y-%m-%d %H:%M:%S")
                                     if isinstance(value, datetime) else text(value))
    if kind == "date":
        return lambda value, title: value.isoformat() if isinstance(value, date) else text(value)
    if kind == "list":
        return lambda value, title: safe("; ".join(str(item) for item in value)) if value else ""
    return text


def _number(value: Any) -> str:
    """An exact number with a dot and no exponent: Decimal('1.2E+6') is "1200000", never rounded."""
    return format(value, "f") if isinstance(value, Decimal) else str(value)
