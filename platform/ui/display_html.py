"""A field's value as HTML, from a Display (crmkit.engine.fieldtypes.display): the one place its markup lives.

    display_html(Display("number", "$1,200.00"))            # Markup('<span class="text-nowrap">$1,200.00</span>')
    cell_html(display, record_url)                           # the same inside a list's <td>

Templates call these as globals (`{{ display_html(d, record_url) }}`, `{{ cell_html(d, record_url) }}`,
and the macros of fields/display.html, which delegate here). A list page has hundreds of
cells: one Python call per cell costs a few microseconds where a Jinja macro per cell cost
tens (docs/ui.md, "Speed").

Every text, attribute value and address is escaped exactly as markupsafe's `escape` (the
templates' autoescape) does it; only `href`s the engine checked (http, https, mailto, tel) and
`record_url`'s addresses become links. No inline script or style.
"""
from __future__ import annotations

import re
from typing import Callable, Sequence

from jinja2 import Environment
from markupsafe import Markup, escape

from crmkit.engine.fieldtypes.display import Display

#: record_url(object name, record id) -> the record's address, or None (a user has no record page).
RecordUrl = Callable[[str, int], "str | None"]

#: The characters markupsafe's escape replaces; most values have none and are used as they are.
_SPECIAL = re.compile(r"[&<>\"']")


def escaped(value: object) -> str:
    """`value` as text escaped exactly as markupsafe's `escape` (and so autoescape) does it."""
    text = value if isinstance(value, str) else str(value)
    return text if _SPECIAL.search(text) is None else str(escape(text))


_BLANK = '<span class="text-body-secondary" aria-hidden="true">&mdash;</span><span class="visually-hidden">'


def _value(d: Display, record_url: RecordUrl | None) -> str:
    """The inner HTML of `d` as a plain str (every piece escaped), for display_html and cell_html."""
    kind = d.kind
    if kind == "text":
        return escaped(d.text)
    if kind == "number":
        return f'<span class="text-nowrap">{escaped(d.text)}</span>'
    if kind == "empty":
        return f"{_BLANK}{escaped(d.text)}</span>"
    if kind == "hidden":
        return f'<span class="text-body-secondary fst-italic">{escaped(d.text)}</span>'
    if kind in ("date", "datetime"):
        return f'<time datetime="{escaped(d.iso)}">{escaped(d.text)}</time>'
    if kind == "link" and d.href:
        blank = ' target="_blank"' if d.href.startswith("http") else ""
        nowrap = ' class="text-nowrap"' if d.href.startswith("tel:") else ""  # a phone number never splits
        return f'<a href="{escaped(d.href)}" rel="noopener noreferrer nofollow"{blank}{nowrap}>{escaped(d.text)}</a>'
    if kind == "lookup" and record_url is not None and d.target and d.record_id is not None:
        return f'<a href="{escaped(record_url(d.target, d.record_id))}">{escaped(d.text)}</a>'
    if kind == "lines":
        return "<br>".join(escaped(line) for line in d.lines)
    if kind == "list":
        items = "".join(f'<li class="list-inline-item"><span class="badge text-bg-light border">{escaped(item)}</span></li>'
                        for item in d.items)
        return f'<ul class="list-inline mb-0">{items}</ul>'
    return escaped(d.text)


def display_html(d: Display, record_url: RecordUrl | None = None) -> Markup:
    """A value as a user reads it: `<time>` for dates, links for safe addresses and lookups (with `record_url`),
    lines with `<br>`, several values as badges, an empty value as a dash with its text for screen readers."""
    return Markup(_value(d, record_url))


def _cell(d: Display, record_url: RecordUrl | None) -> str:
    if d.kind == "number":
        return f'<td class="text-end">{_value(d, record_url)}</td>'
    return f"<td>{_value(d, record_url)}</td>"


def cell_html(d: Display, record_url: RecordUrl | None = None) -> Markup:
    """One `<td>` of a list table; numbers align to the end."""
    return Markup(_cell(d, record_url))


def cells_html(cells: Sequence[Display], record_url: RecordUrl | None = None) -> Markup:
    """Several `<td>`s of one list row, in order (one call per row instead of one per cell)."""
    return Markup("".join([_cell(d, record_url) for d in cells]))


def install(environment: Environment) -> None:
    """Makes display_html, cell_html and cells_html globals of `environment` (the app's, or a test's)."""
    environment.globals.update(display_html=display_html, cell_html=cell_html, cells_html=cells_html)
