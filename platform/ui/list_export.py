"""A list view's XLSX and JSON exports (`/o/<object>/export.xlsx`, `/o/<object>/export.json`).

    chunks = readable_xlsx(user_context(), records, filter, sort=["name"], search="acme")   # bytes
    chunks = json_lines(records, filter, sort=["name"])                                       # bytes

Both read the engine's export (`records.export`): the `export` permission, the user's row
filter and field-level security, one streamed query, the security log.

- **XLSX** is for people, like the CSV export (csv_export.py): labels in the user's language
  as the header, lookup titles, option labels, date-times in the user's time zone; but
  numbers are number cells, dates date cells and checkboxes boolean cells. Written by
  engine/transfer/spreadsheet.py (constant memory, text never a formula), so a text cell holds
  the stored text exactly (no "'" before formula-like text, as CSV needs; a stored "'" is kept).
- **JSON** is for programs: one array of objects keyed by API name, values as the engine's
  JSON export gives them (lookups as ids, dates ISO 8601, decimals as exact text).
"""
from __future__ import annotations

import json
from datetime import datetime
from itertools import islice
from typing import Any, Callable, Iterator, Sequence

from crmkit.engine.context import UserContext
from crmkit.engine.fieldtypes.display import local_moment
from crmkit.engine.fieldtypes.presenter import FieldPresenter
from crmkit.engine.transfer.spreadsheet import xlsx_chunks
from crmkit.metadata.model import FieldDef
from crmkit.ui.csv_export import BATCH, cell_writer
from crmkit.ui.list_page import lookup_titles

Cell = Callable[[Any, "str | None"], Any]


def readable_xlsx(context: UserContext, records: Any, filter: Any = None, *, sort: Sequence[str] = (),
                  search: str | None = None) -> Iterator[bytes]:
    """The export of `records` as an XLSX workbook's bytes (see the module docstring).

    PermissionDenied and QueryError are raised before anything is returned.
    """
    stream = records.export(filter, sort=sort, search=search, format="values")
    presenter = FieldPresenter.for_context(context)
    fields = [presenter.field(records.obj, name) for name in stream.columns]
    cells = [typed_cell(presenter, fdef) for fdef in fields]
    lookups = [fdef for fdef in fields if fdef.type == "lookup"]

    def rows() -> Iterator[list[Any]]:
        with stream:
            while batch := list(islice(stream, BATCH)):
                titles = lookup_titles(context, lookups, batch)
                for row in batch:
                    yield [cell(row.get(fdef.name), titles.get((fdef.to or "user", row.get(fdef.name)))
                                if fdef.type == "lookup" else None) for cell, fdef in zip(cells, fields)]

    label = records.obj.plural_label.get(context.actor.language) or records.obj.name
    return xlsx_chunks([presenter.label(fdef) for fdef in fields], rows(), sheet=label)


def typed_cell(presenter: FieldPresenter, fdef: FieldDef) -> Cell:
    """(stored value, lookup title) -> the cell's value: numbers, dates and booleans as themselves, the rest as text."""
    field_type, _ = presenter.value_field(fdef)
    kind = field_type.kind.value_kind
    if kind in ("integer", "decimal", "boolean", "date"):
        return lambda value, title: value
    if kind == "datetime":
        show = presenter.show
        return lambda value, title: (local_moment(value, show).replace(tzinfo=None)
                                     if isinstance(value, datetime) else value)
    # The CSV's cell text without its formula neutralising: an XLSX text cell is never run, so it holds the stored text.
    return cell_writer(presenter, fdef, safe=str)


def json_lines(records: Any, filter: Any = None, *, sort: Sequence[str] = (),
               search: str | None = None) -> Iterator[bytes]:
    """The export of `records` as one JSON array, a record per line (UTF-8 bytes)."""
    stream = records.export(filter, sort=sort, search=search, format="json")

    def pieces() -> Iterator[bytes]:
        with stream:
            yield b"["
            first = True
            while batch := list(islice(stream, BATCH)):
                text = ",\n".join(json.dumps(row, ensure_ascii=False) for row in batch)
                yield (("\n" if first else ",\n") + text).encode("utf-8")
                first = False
            yield b"\n]\n"

    return pieces()
