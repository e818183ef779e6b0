"""A list filter as HTML, from a FieldFilter (crmkit.engine.fieldtypes.list_filters): the one place its markup lives.

    filter_html(field_filter)     # Markup('<fieldset class="mb-3" id="filter-industry-filter">...</fieldset>')
    control_html(control)         # one <select> or <input> of it

The macros of fields/filter.html delegate here, as those of fields/display.html delegate to
display_html.py: a list page draws a filter per column with several controls and, for a
picklist or lookup, an <option> per choice; as macros they cost a few milliseconds a page
(docs/ui.md, "Speed"). Each control's name is a key of the query language's query-string
form; every control is labelled; the field's label is the fieldset's legend. Every text,
attribute name and value is escaped exactly as the templates' autoescape does it.
"""
from __future__ import annotations

from typing import Iterable

from jinja2 import Environment
from markupsafe import Markup

from crmkit.engine.fieldtypes.list_filters import FieldFilter, FilterControl
from crmkit.ui.display_html import escaped


def _attributes(pairs: Iterable[tuple[str, str]]) -> str:
    return "".join(f' {escaped(key)}="{escaped(value)}"' for key, value in pairs)


def control_html(c: FilterControl) -> Markup:
    """A control of a filter: a <select> for choices and lookups (its options), else an <input>."""
    if c.control in ("select", "lookup"):
        multiple = " multiple" if c.multiple else ""
        lookup = f' data-lookup-object="{escaped(c.lookup_object or "")}"' if c.control == "lookup" else ""
        options = "".join(
            f'<option value="{escaped(choice.value)}"{" selected" if choice.selected else ""}>{escaped(choice.label)}</option>'
            for choice in c.choices)
        return Markup(f'<select class="form-select form-select-sm" id="{escaped(c.id)}" name="{escaped(c.param)}"'
                      f'{multiple}{lookup}{_attributes(c.attributes)}>{options}</select>')
    return Markup(f'<input class="form-control form-control-sm" type="{escaped(c.input_type or "text")}" '
                  f'id="{escaped(c.id)}" name="{escaped(c.param)}" value="{escaped(c.value)}"'
                  f'{_attributes(c.attributes)}>')


#: Filters drawn, by the FieldFilter object: a kept filter panel (list_page.page_filters) is the same objects
#: from request to request, so each is drawn once. Emptied when full.
MAX_DRAWN = 1024
_drawn: dict[int, tuple[FieldFilter, Markup]] = {}


def filter_html(f: FieldFilter) -> Markup:
    """The filter of one field: a fieldset with its label as legend and one labelled control per input."""
    drawn = _drawn.get(id(f))
    if drawn is not None and drawn[0] is f:  # the entry holds its filter: the id names no other one
        return drawn[1]
    markup = _filter_html(f)
    if len(_drawn) >= MAX_DRAWN:
        _drawn.clear()
    _drawn[id(f)] = (f, markup)
    return markup


def _filter_html(f: FieldFilter) -> Markup:
    controls = "".join(
        f'\n<div class="col-12{" col-sm-6" if c.operator == "between" else ""}">\n'
        f'<label class="form-label small mb-0" for="{escaped(c.id)}">{escaped(c.label)}</label>\n'
        f'{control_html(c)}\n</div>'
        for c in f.controls)
    return Markup(f'<fieldset class="mb-3" id="{escaped(f.id)}-filter">\n'
                  f'<legend class="form-label fs-6 fw-semibold mb-1">{escaped(f.label)}</legend>\n'
                  f'<div class="row g-2">{controls}\n</div>\n</fieldset>')


def install(environment: Environment) -> None:
    """Makes filter_html and control_html globals of `environment`."""
    environment.globals.update(filter_html=filter_html, filter_control_html=control_html)
