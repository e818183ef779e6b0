"""Form widgets: which input a form shows for a field, with its value, and how a submitted form is read back.

The templates in `crmkit/ui/templates/fields/input.html` render a `Widget` as it is; they
decide nothing. `submitted_value` is the other direction: what a browser sends for a widget,
turned into the value the save pipeline expects (a `datetime-local` is in the user's time
zone, a number input sends plain digits whatever the locale).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable, Mapping, Sequence

from crmkit.engine.fieldtypes.display import Display, local_moment
from crmkit.engine.fieldtypes.inputs import PLAIN_NUMBER
from crmkit.engine.fieldtypes.presentation import Presentation
from crmkit.metadata.model import FieldDef

#: What a template renders for each kind of control.
CONTROLS = ("input", "textarea", "select", "checkbox", "lookup", "readonly")
#: HTML attributes a widget may carry besides those the template writes itself; plugins too.
ALLOWED_ATTRIBUTES = frozenset({
    "step", "min", "max", "maxlength", "minlength", "inputmode", "pattern", "placeholder", "autocomplete",
    "rows", "spellcheck", "autocapitalize", "dir", "lang", "size",
})
DATA_ATTRIBUTE = re.compile(r"data-[a-z][a-z0-9-]*")

#: Widget names of the built-in types -> (control, HTML input type).
BUILTIN_WIDGETS: Mapping[str, tuple[str, str]] = {
    "text": ("input", "text"),
    "textarea": ("textarea", ""),
    "number": ("input", "number"),
    "currency": ("input", "number"),
    "percent": ("input", "number"),
    "checkbox": ("checkbox", "checkbox"),
    "date": ("input", "date"),
    "datetime": ("input", "datetime-local"),
    "email": ("input", "email"),
    "tel": ("input", "tel"),
    "url": ("input", "url"),
    "select": ("select", ""),
    "multiselect": ("select", ""),
    "lookup": ("lookup", ""),
    "readonly": ("readonly", ""),
}
#: The widget a plugin type with a widget name of its own gets, by the kind of value it stores.
WIDGET_BY_VALUE_KIND = {
    "text": "text", "integer": "number", "decimal": "number", "boolean": "checkbox", "date": "date",
    "datetime": "datetime", "list": "text", "reference": "lookup",
}
#: Longest text of built-in types without `max_length` (their column sizes).
DEFAULT_MAX_LENGTH = {"text": 255, "email": 254, "tel": 40, "url": 2048}

#: A plugin's extra input attributes: field definition -> {attribute: value}.
InputAttributes = Callable[[FieldDef], Mapping[str, str]]


@dataclass(frozen=True)
class Choice:
    """One option of a select: the submitted value, its label in the user's language, whether it is chosen."""

    value: str
    label: str
    selected: bool = False


@dataclass(frozen=True)
class Widget:
    """One field of a form as the user sees it.

    `name` is the form key (the field's name), `id` the HTML id (the template derives
    `{id}-help` and `{id}-errors` from it). `control` is one of CONTROLS; `input_type` the
    HTML type of an `input` control. `value` is the text the input holds (the value typed
    before an error, else the stored one, in the user's time zone); `checked` for a checkbox;
    `choices` for a select or lookup (a lookup holds only its current record: the browser
    loads others from `lookup_object`'s suggestions). `display` is what a read-only control shows.
    """

    name: str
    id: str
    label: str
    control: str
    widget: str
    input_type: str = ""
    value: str = ""
    checked: bool = False
    choices: tuple[Choice, ...] = ()
    multiple: bool = False
    required: bool = False
    help: str = ""
    hint: str = ""
    prefix: str = ""
    suffix: str = ""
    attributes: tuple[tuple[str, str], ...] = ()
    lookup_object: str | None = None
    blank_label: str = ""
    display: Display | None = None

    def __post_init__(self) -> None:
        if self.control not in CONTROLS:
            raise ValueError(f"'{self.control}' is not a widget control; use one of {', '.join(CONTROLS)}.")
        for key, _ in self.attributes:
            if key not in ALLOWED_ATTRIBUTES and not DATA_ATTRIBUTE.fullmatch(key):
                raise ValueError(f"'{key}' is not an attribute a widget may set; allowed: "
                                 f"{', '.join(sorted(ALLOWED_ATTRIBUTES))} and data-*.")

    @property
    def read_only(self) -> bool:
        return self.control == "readonly"



def resolved_widget(widget: str, value_kind: str) -> str:
    """The built-in widget a type's widget name stands for: its own if built in, else its value kind's."""
    return widget if widget in BUILTIN_WIDGETS else WIDGET_BY_VALUE_KIND.get(value_kind, "text")


def plain_number(value: Any) -> str:
    """A stored number as a number input holds it: digits and '.', every decimal kept ('1234567.89')."""
    if isinstance(value, Decimal):
        return format(value.copy_abs() if value.is_zero() else value, "f")
    return str(value)


def input_text(widget: str, value: Any, show: Presentation) -> str:
    """A stored value as the text of an `input` or `textarea` (dates ISO, moments local to the user)."""
    if value is None:
        return ""
    if widget == "datetime" and isinstance(value, datetime):
        return local_moment(value, show).replace(tzinfo=None).isoformat(timespec="seconds")
    if widget in ("date", "datetime") and isinstance(value, date):
        return (value.date() if isinstance(value, datetime) else value).isoformat()
    if isinstance(value, (Decimal, int)) and not isinstance(value, bool):
        return plain_number(value)
    return str(value)


def number_attributes(fdef: FieldDef, widget: str, value_kind: str) -> dict[str, str]:
    """step, min and max of a number input from the field's scale and range (built-in defaults for scale)."""
    from crmkit.engine.fieldtypes.builtin import NUMBER_DEFAULTS

    attributes = {"inputmode": "numeric" if value_kind == "integer" else "decimal"}
    if value_kind == "integer":
        attributes["step"] = "1"
    else:
        scale = fdef.scale if fdef.scale is not None else NUMBER_DEFAULTS.get(fdef.type, (18, 4))[1]
        attributes["step"] = plain_number(Decimal(1).scaleb(-scale)) if scale else "1"
    if fdef.min is not None:
        attributes["min"] = plain_number(Decimal(fdef.min))
    if fdef.max is not None:
        attributes["max"] = plain_number(Decimal(fdef.max))
    return attributes


def text_attributes(fdef: FieldDef, widget: str, builtin: bool = True) -> dict[str, str]:
    """maxlength (the field's, else a built-in type's column size), rows of a textarea, no spellcheck in addresses."""
    limit = fdef.max_length or (DEFAULT_MAX_LENGTH.get(widget) if builtin else None)
    attributes = {"maxlength": str(limit)} if limit else {}
    if widget == "textarea":
        attributes["rows"] = "4"
    if widget in ("email", "url"):
        attributes["spellcheck"] = "false"
        attributes["autocomplete"] = "off"
    return attributes


def option_choices(fdef: FieldDef, selected: Sequence[str], show: Presentation) -> tuple[Choice, ...]:
    """The options a user may choose (labels in their language), plus any chosen value no longer offered."""
    chosen = set(selected)
    choices = [Choice(option.value, show.label(option.label) or option.value, option.value in chosen)
               for option in fdef.options if not option.inactive or option.value in chosen]
    offered = {option.value for option in fdef.options}
    choices += [Choice(value, show.text("retired_option", label=value), True) for value in selected
                if value not in offered]
    return tuple(choices)


def submitted_value(widget: str, values: Sequence[str], show: Presentation) -> Any:
    """What a browser sent for one widget (every value of its form key), as input for the save pipeline.

    A checkbox and a multiple select send a blank marker first (the template writes it) so an
    unticked box reads False and an emptied select None. A number input's plain digits become
    a Decimal (so '1.234' is never re-read in a locale where '.' groups digits); a
    `datetime-local` value is a moment in the user's time zone. Anything else is passed on as
    text for the pipeline to check, so its errors name the field as usual.
    """
    chosen = [value for value in values if value != ""]
    if widget == "checkbox":
        return bool(chosen) and chosen[-1].lower() in ("true", "on", "1", "yes")
    if widget == "multiselect":
        return chosen or None
    text = values[-1] if values else ""
    if widget in ("number", "currency", "percent") and PLAIN_NUMBER.fullmatch(text.strip()):
        return Decimal(text.strip())
    if widget == "datetime" and text.strip():
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            return text
        return moment if moment.tzinfo else moment.replace(tzinfo=show.zone)
    return text
