"""A field type: how one kind of field is stored, validated, filtered and shown."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable, Mapping

from marshmallow import fields as ma_fields
from sqlalchemy.types import TypeEngine

from crmkit.engine.fieldtypes.display import Formatter
from crmkit.engine.fieldtypes.inputs import storable
from crmkit.engine.fieldtypes.list_filters import (
    DEFAULT_BY_VALUE_KIND, DEFAULT_BY_WIDGET, FILTER_OPERATORS, check_filter_operators,
)
from crmkit.engine.fieldtypes.widgets import BUILTIN_WIDGETS, InputAttributes, resolved_widget
from crmkit.metadata.catalog import FieldKind
from crmkit.metadata.model import FieldDef

TEXT_OPERATORS = frozenset({"eq", "ne", "in", "not_in", "contains", "startswith", "is_null"})
ORDERED_OPERATORS = frozenset({"eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "between", "is_null"})
BOOLEAN_OPERATORS = frozenset({"eq", "ne", "is_null"})
LIST_OPERATORS = frozenset({"contains", "is_null"})
REFERENCE_OPERATORS = frozenset({"eq", "ne", "in", "not_in", "is_null"})

OPERATORS_BY_VALUE_KIND = {
    "text": TEXT_OPERATORS,
    "integer": ORDERED_OPERATORS,
    "decimal": ORDERED_OPERATORS,
    "date": ORDERED_OPERATORS,
    "datetime": ORDERED_OPERATORS,
    "boolean": BOOLEAN_OPERATORS,
    "list": LIST_OPERATORS,
    "reference": REFERENCE_OPERATORS,
}

#: Resolves the FieldType of another field's value type (formula `returns`, rollup sources).
TypeLookup = Callable[[str], "FieldType"]


@dataclass(frozen=True)
class FieldType:
    """Behaviour of a field type. Plugins return instances from `crmkit_field_types`.

    `column` builds the SQLAlchemy column type; `input_field` builds the marshmallow field
    that turns user input into a stored value (None for computed types users cannot write).
    How the type is shown and edited (docs/plugins.md, "How a field type is shown"):
    `widget` names its form widget (a built-in name such as "tel", or a name of its own,
    which gets the built-in widget of its value kind); `formatter(fdef, value, presentation)`
    returns the Display (or plain text) of a non-empty value, None for the built-in
    formatting; `input_attributes(fdef)` adds HTML attributes to its input (an allow-list:
    widgets.ALLOWED_ATTRIBUTES and data-*); `filter_operators` names what a list filter
    offers (list_filters.FILTER_OPERATORS), None for the defaults of its widget or value kind.
    """

    kind: FieldKind
    column: Callable[[FieldDef, TypeLookup, Any], TypeEngine]
    input_field: Callable[[FieldDef], ma_fields.Field] | None = None
    widget: str = "text"
    formatter: Formatter | None = None
    input_attributes: InputAttributes | None = None
    filter_operators: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.filter_operators is not None:
            check_filter_operators(self.name, self.kind.value_kind, self.filter_operators, self.operators)

    @property
    def name(self) -> str:
        return self.kind.name

    @property
    def operators(self) -> frozenset[str]:
        return OPERATORS_BY_VALUE_KIND.get(self.kind.value_kind, frozenset({"eq", "ne", "is_null"}))

    @property
    def writable(self) -> bool:
        return self.input_field is not None and not self.kind.computed

    @property
    def form_widget(self) -> str:
        """The built-in widget this type's form input is (a plugin's own widget name maps by value kind)."""
        return resolved_widget(self.widget, self.kind.value_kind)

    @property
    def custom_widget(self) -> bool:
        """Whether `widget` is a name of the type's own, which a UI may render specially."""
        return self.widget not in BUILTIN_WIDGETS

    @property
    def list_filter_operators(self) -> tuple[str, ...]:
        """The operators a list filter offers for a field of this type, in the order they are shown."""
        if self.filter_operators is not None:
            return self.filter_operators
        defaults = DEFAULT_BY_WIDGET.get(self.form_widget) or DEFAULT_BY_VALUE_KIND.get(self.kind.value_kind, ())
        return tuple(name for name in defaults if FILTER_OPERATORS[name][1] <= self.operators)


def coerce(field: ma_fields.Field, value: Any, language: str | None = None) -> Any:
    """Turn a value into what the field stores: the fast path of our fields, else marshmallow.

    `language` is the acting user's language tag ('en', 'zh-CN', 'de'): number text is read
    in its locale. Raises marshmallow's ValidationError with field-level messages; text no
    database can hold (NUL, lone surrogates) is refused here for every field type, plugin
    types included.
    """
    checked = storable(value)
    fast = getattr(field, "coerce", None)
    result = fast(checked, language) if fast is not None else field.deserialize(checked)
    # The value itself given back (text already trimmed, a number as it was) was checked above.
    return result if result is checked else storable(result)


def error_messages(messages: Any) -> list[str]:
    """marshmallow's nested error messages (dicts and lists) as a flat list of sentences."""
    if isinstance(messages, dict):
        return [text for value in messages.values() for text in error_messages(value)]
    if isinstance(messages, list):
        return [text for value in messages for text in error_messages(value)]
    return [str(messages)]


def to_json(value: Any) -> Any:
    """A stored value as JSON (history, recycle bin, API): dates ISO, decimals as text."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    return value


def from_json(column_type: Any, value: Any) -> Any:
    """A value as `to_json` wrote it (history, recycle bin) back into what a column of `column_type` stores."""
    if value is None:
        return None
    try:
        python_type = column_type.python_type
    except NotImplementedError:
        return value
    if python_type is datetime and isinstance(value, str):
        return datetime.fromisoformat(value)
    if python_type is date and isinstance(value, str):
        return date.fromisoformat(value)
    if python_type is Decimal and isinstance(value, (str, int)):
        return Decimal(value)
    return value


def describe_types(types: Mapping[str, FieldType]) -> dict[str, str]:
    return {name: field_type.kind.description for name, field_type in sorted(types.items())}
