"""A list row's selection box as HTML: one Python call per row instead of a Jinja macro with two `_()`.

    select_cell_html(row)   # Markup('<td class="list-select"><input ... aria-label="Select Acme"></td>')

The markup and texts are list_select.html's `row` macro's, which delegates here (as the macros
of fields/display.html delegate to display_html.py): the box sends `record=<id>:<version>` to
the bulk bar's form and is labelled with the record's title, escaped exactly as the
template's autoescape and newstyle `_()` do it (docs/ui.md, "Speed").
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from jinja2 import Environment
from markupsafe import Markup

from crmkit.ui.i18n import request_translations

if TYPE_CHECKING:
    from crmkit.ui.list_page import Row


def _(text: str) -> Markup:
    """`text` in the request's language, as a format string whose values get escaped (Jinja's newstyle `_()`)."""
    return Markup(request_translations().ugettext(text))


def select_cell_html(row: "Row") -> Markup:
    """The `<td>` with the row's checkbox for the bulk bar, labelled "Select <title>" ("Record 7" without a title)."""
    first = row.cells[0] if row.cells else None
    if first is not None and first.kind not in ("empty", "hidden"):
        title = first.text
    else:
        title = _("Record %(id)s") % {"id": row.id}
    label = _("Select %(title)s") % {"title": title}
    return Markup('<td class="list-select"><input class="form-check-input list-select-row" type="checkbox" '
                  'name="record" form="list-bulk" value="%s:%s" aria-label="%s"></td>') % (row.id, row.version, label)


def install(environment: Environment) -> None:
    """Makes select_cell_html a global of `environment`."""
    environment.globals["select_cell_html"] = select_cell_html
