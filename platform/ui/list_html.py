"""Parts of the list page repeated per row or per field, as HTML: one Python call each instead of Jinja.

    rows_html(page.rows, "account", record_url, selectable=True)   # the table's <tr>s (list_results.html)
    select_cell_html(row)            # Markup('<td class="list-select"><input ... aria-label="Select Acme"></td>')
    column_choices_html(choices)     # the column chooser's <li>s (list_columns.html)

A list page has fifty rows and its column chooser every readable field; as Jinja each
costs a macro call or a loop turn with one or two `_()` (docs/ui.md, "Speed"). The markup
and texts are the templates' own (list_select.html's `row` macro delegates here, as the
macros of fields/display.html delegate to display_html.py); every value is escaped exactly
as the templates' autoescape and newstyle `_()` escape it.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from jinja2 import Environment
from markupsafe import Markup

from crmkit.ui.display_html import RecordUrl, cell_html, escaped
from crmkit.ui.i18n import request_translations

if TYPE_CHECKING:
    from crmkit.ui.list_page import Row


def _(text: str) -> str:
    """`text` in the request's language: a format string whose values the caller escapes (Jinja's newstyle `_()` does so)."""
    return request_translations().ugettext(text)


def select_cell_html(row: "Row") -> Markup:
    """The `<td>` with the row's checkbox for the bulk bar, labelled "Select <title>" ("Record 7" without a title)."""
    return Markup(_select_cell(row, _("Record %(id)s"), _("Select %(title)s")))


def _select_cell(row: "Row", untitled: str, select: str) -> str:
    """select_cell_html with the two texts already translated (`untitled`: "Record %(id)s", `select`: "Select %(title)s")."""
    first = row.cells[0] if row.cells else None
    if first is not None and first.kind not in ("empty", "hidden"):
        title = escaped(first.text)
    else:
        title = untitled % {"id": escaped(row.id)}
    label = select % {"title": title}
    return (f'<td class="list-select"><input class="form-check-input list-select-row" type="checkbox" '
            f'name="record" form="list-bulk" value="{escaped(row.id)}:{escaped(row.version)}" '
            f'aria-label="{label}"></td>')


def rows_html(rows: Sequence["Row"], object_name: str, record_url: RecordUrl, selectable: bool) -> Markup:
    """The list table's rows: the selection box (when `selectable`), the first cell as the record's link, the cells.

    The first cell is a `<th scope="row">` linking the record (its title, or "Record 7" when it
    has none the user may see); a first cell that is itself a link (a lookup, a web address)
    stays a cell of its own.
    """
    untitled, select_text = _("Record %(id)s"), _("Select %(title)s")  # looked up once a page, not per row
    parts = []
    drawn: dict[int, str] = {}  # a Display shared by many cells (a picklist's value, an owner) is drawn once
    for row in rows:
        # A row's markup depends on these only; its cells compare equal (the same shared Displays, list_page.page_rows,
        # or equal ones) exactly when they would be drawn the same.
        key = (object_name, row.id, row.version, selectable, untitled, select_text, record_url)
        with _kept_lock:
            kept = _kept_rows.get(key)
        if kept is not None and kept[0] == row.cells:
            parts.append(kept[1])
            continue
        first = row.cells[0] if row.cells else None
        if first is None:
            head = ""
        elif first.kind not in ("lookup", "link"):
            text = untitled % {"id": escaped(row.id)} if first.kind in ("empty", "hidden") else escaped(first.text)
            head = (f'\n      <th scope="row" class="fw-normal"><a href="{escaped(record_url(object_name, row.id))}">'
                    f'{text}</a></th>')
        else:
            head = f"\n      {cell_html(first, record_url)}"
        select = _select_cell(row, untitled, select_text) if selectable else ""
        cells = []
        for cell in row.cells[1:]:
            if cell.kind == "text":  # most cells: `_cell`'s markup of plain text, inline
                cells.append(f"<td>{escaped(cell.text)}</td>")
                continue
            html = drawn.get(id(cell))
            if html is None:
                html = drawn[id(cell)] = cell_html(cell, record_url)
            cells.append(html)
        html = f"\n    <tr>{select}{head}\n      {''.join(cells)}\n    </tr>"
        parts.append(html)
        with _kept_lock:
            _kept_rows[key] = (row.cells, html)
            while len(_kept_rows) > KEPT_ROWS:
                _kept_rows.popitem(last=False)
    return Markup("".join(parts))


#: Rows' markup kept across requests (the same first page is asked for again and again), least recently drawn
#: out first; each entry holds the cells it was drawn from and is used only for equal cells.
KEPT_ROWS = 2048
_kept_rows: "OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], str]]" = OrderedDict()
_kept_lock = threading.Lock()


def column_choices_html(choices: Iterable[tuple[str, str, bool]]) -> Markup:
    """The column chooser's items for (field name, label, shown): a box to show it, Move up and Move down buttons.

    Kept across requests (a bounded table, emptied when full) under the choices and the two translated texts,
    which are all the markup depends on: the same list is opened again and again with the same columns.
    """
    up, down = _("Move %(column)s up"), _("Move %(column)s down")
    choices = tuple(choices)
    key = (choices, up, down)
    kept = _kept_choices.get(key)
    if kept is not None:
        return kept
    items = []
    for name, label, shown in choices:
        name, label = escaped(name), escaped(label)
        checked = " checked" if shown else ""
        items.append(
            f'\n        <li class="d-flex align-items-center gap-1 py-1" data-column="{name}">\n'
            f'          <input class="form-check-input mt-0" type="checkbox" name="columns" value="{name}" '
            f'id="column-{name}"{checked}>\n'
            f'          <label class="form-check-label me-auto" for="column-{name}">{label}</label>\n'
            f'          <button type="button" class="btn btn-sm btn-link py-0" data-move="up" '
            f'aria-label="{up % {"column": label}}">↑</button>\n'
            f'          <button type="button" class="btn btn-sm btn-link py-0" data-move="down" '
            f'aria-label="{down % {"column": label}}">↓</button>\n'
            f'        </li>')
    html = Markup("".join(items))
    with _kept_lock:
        if len(_kept_choices) >= KEPT_CHOICES:
            _kept_choices.clear()
        _kept_choices[key] = html
    return html


#: Column choosers' markup kept (objects x languages x column choices); emptied when full.
KEPT_CHOICES = 256
_kept_choices: dict[tuple[Any, ...], Markup] = {}


def install(environment: Environment) -> None:
    """Makes rows_html, select_cell_html and column_choices_html globals of `environment`."""
    environment.globals.update(rows_html=rows_html, select_cell_html=select_cell_html,
                               column_choices_html=column_choices_html)
