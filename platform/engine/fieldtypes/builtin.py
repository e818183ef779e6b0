"""The built-in field types, registered through the same hook plugins use."""
from __future__ import annotations

from typing import Any

from marshmallow import fields as ma_fields
from marshmallow import validate
from sqlalchemy import BigInteger, Boolean, Date, String, Text

from crmkit.engine.columns import ExactDecimal, JsonList, UtcDateTime
from crmkit.engine import messages
from crmkit.engine.fieldtypes import inputs
from crmkit.engine.fieldtypes.base import FieldType, TypeLookup
from crmkit.metadata.catalog import FieldKind
from crmkit.metadata.model import FieldDef

DEFAULT_TEXT_LENGTH = 255
NUMBER_DEFAULTS = {"decimal": (18, 4), "currency": (18, 2), "percent": (9, 2)}


def _range(fdef: FieldDef) -> list[Any]:
    if fdef.min is None and fdef.max is None:
        return []
    return [validate.Range(min=fdef.min, max=fdef.max)]


def _text_column(length: int):
    return lambda fdef, lookup, registry: String(fdef.max_length or length)


def _text_input(length: int | None, *extra: Any, strip: bool = True, kind: type = inputs.CleanText):
    def build(fdef: FieldDef) -> ma_fields.Field:
        limit = fdef.max_length or length
        validators = ([validate.Length(max=limit)] if limit else []) + list(extra)
        return kind(validate=validators, strip=strip)

    return build


def _number_scale(fdef: FieldDef) -> tuple[int, int]:
    precision, scale = NUMBER_DEFAULTS.get(fdef.value_type, (18, 4))
    return fdef.precision or precision, fdef.scale if fdef.scale is not None else scale


def _decimal_column(fdef: FieldDef, lookup: TypeLookup, registry: Any):
    precision, scale = _number_scale(fdef)
    return ExactDecimal(precision, scale)


def _decimal_input(fdef: FieldDef) -> ma_fields.Field:
    precision, scale = _number_scale(fdef)
    return inputs.ExactNumber(scale=scale, precision=precision, validate=_range(fdef))


def _formula_column(fdef: FieldDef, lookup: TypeLookup, registry: Any):
    return lookup(fdef.returns or "text").column(fdef, lookup, registry)


def _rollup_column(fdef: FieldDef, lookup: TypeLookup, registry: Any):
    rollup = fdef.rollup
    if rollup is None or rollup.aggregate == "count":
        return BigInteger()
    child = registry.object(rollup.child_object).fields[rollup.field]
    if rollup.aggregate == "avg":
        return ExactDecimal(*average_digits(child))
    return lookup(child.value_type).column(child, lookup, registry)


def average_digits(child: FieldDef) -> tuple[int, int]:
    """(precision, scale) of an average rollup over `child`: it holds every average the child allows.

    An average never exceeds its largest input, so it keeps the child's digits before the point
    and adds places (up to 2) where the 18 digits leave room: decimal(10,0) averages as
    decimal(12,2), decimal(18,0) as decimal(18,0). A whole-number child averages as
    decimal(18,2); an average of 10^16 or more there refuses the child's save (see propagation).
    """
    if child.value_type not in NUMBER_DEFAULTS:
        return ExactDecimal.MAX_DIGITS, 2
    precision, scale = _number_scale(child)
    whole = precision - scale
    places = min(max(scale, 2), ExactDecimal.MAX_DIGITS - whole)
    return whole + places, places


def _kind(name: str, value_kind: str, description: str, **kwargs: Any) -> FieldKind:
    return FieldKind(name=name, value_kind=value_kind, description=description, **kwargs)


TEXT_OPTIONS = frozenset({"max_length"})
NUMBER_OPTIONS = frozenset({"min", "max", "precision", "scale"})
#: A dependent picklist also names its controlling field and the values allowed per controlling value.
PICKLIST_OPTIONS = frozenset({"options", "controlling_field", "dependent_values"})

BUILTIN_TYPES: tuple[FieldType, ...] = (
    FieldType(
        _kind("text", "text", "One line of text (default up to 255 characters).", options=TEXT_OPTIONS,
              formula_result=True, searchable=True),
        _text_column(DEFAULT_TEXT_LENGTH), _text_input(DEFAULT_TEXT_LENGTH),
    ),
    FieldType(
        _kind("textarea", "text", "Several lines of text.", options=TEXT_OPTIONS, indexable=False, searchable=True),
        lambda fdef, lookup, registry: Text(), _text_input(None, strip=False), widget="textarea",
    ),
    FieldType(
        _kind("integer", "integer", "A whole number.", options=frozenset({"min", "max"}), formula_result=True),
        lambda fdef, lookup, registry: BigInteger(),
        lambda fdef: inputs.WholeNumber(validate=_range(fdef)), widget="number",
    ),
    FieldType(
        _kind("decimal", "decimal", "A number with decimals (default 18 digits, 4 after the point).",
              options=NUMBER_OPTIONS, formula_result=True),
        _decimal_column, _decimal_input, widget="number",
    ),
    FieldType(
        _kind("currency", "decimal", "An amount of money (default 2 decimals).", options=NUMBER_OPTIONS,
              formula_result=True),
        _decimal_column, _decimal_input, widget="currency",
    ),
    FieldType(
        _kind("percent", "decimal", "A percentage, stored as the number shown (12.5 means 12.5%).",
              options=NUMBER_OPTIONS, formula_result=True),
        _decimal_column, _decimal_input, widget="percent",
    ),
    FieldType(
        _kind("boolean", "boolean", "Yes or no.", formula_result=True, indexable=True),
        lambda fdef, lookup, registry: Boolean(), lambda fdef: inputs.YesNo(), widget="checkbox",
    ),
    FieldType(
        _kind("date", "date", "A calendar date.", formula_result=True),
        lambda fdef, lookup, registry: Date(), lambda fdef: inputs.CalendarDate(), widget="date",
    ),
    FieldType(
        _kind("datetime", "datetime", "A moment in time, stored in UTC.", formula_result=True),
        lambda fdef, lookup, registry: UtcDateTime(), lambda fdef: inputs.UtcTimestamp(), widget="datetime",
    ),
    FieldType(
        _kind("email", "text", "An email address.", searchable=True),
        _text_column(254), _text_input(254, validate.Email(error=messages.NOT_EMAIL())), widget="email",
    ),
    FieldType(
        _kind("phone", "text", "A phone number, such as +86 10 8888 8888.", searchable=True),
        _text_column(40),
        _text_input(40, validate.Regexp(inputs.PHONE, error=messages.NOT_PHONE()), kind=inputs.PhoneText),
        widget="tel",
    ),
    FieldType(
        _kind("url", "text", "An http or https web address; https:// is put in front when no scheme is given."),
        _text_column(2048), lambda fdef: inputs.WebAddress(),
        widget="url",
    ),
    FieldType(
        _kind("picklist", "text", "One value from a list of options.", options=PICKLIST_OPTIONS,
              required_options=frozenset({"options"}), searchable=True),
        _text_column(DEFAULT_TEXT_LENGTH),
        lambda fdef: inputs.CleanText(validate=validate.OneOf(fdef.option_values)), widget="select",
    ),
    FieldType(
        _kind("multi_picklist", "list", "Several values from a list of options.", options=PICKLIST_OPTIONS,
              required_options=frozenset({"options"}), indexable=False),
        lambda fdef, lookup, registry: JsonList(), lambda fdef: inputs.MultiChoice(fdef.option_values),
        widget="multiselect",
    ),
    FieldType(
        _kind("lookup", "reference", "A link to a record of another object.", options=frozenset({"to", "on_delete"}),
              required_options=frozenset({"to"})),
        lambda fdef, lookup, registry: BigInteger(), lambda fdef: inputs.WholeNumber(), widget="lookup",
    ),
    FieldType(
        _kind("formula", "computed", "A value computed from other fields by an expression, stored and kept current.",
              options=frozenset({"formula", "returns", "system_visible"}), required_options=frozenset({"formula", "returns"}),
              computed=True),
        _formula_column, None, widget="readonly",
    ),
    FieldType(
        _kind("rollup", "computed", "A count, sum, minimum, maximum or average over related child records.",
              options=frozenset({"from", "aggregate", "field", "condition", "system_visible"}),
              required_options=frozenset({"from", "aggregate"}), computed=True),
        _rollup_column, None, widget="readonly",
    ),
    FieldType(
        _kind("autonumber", "text", "A number given once per record, formatted like ACC-{0:05d}.",
              options=frozenset({"format", "start"}), required_options=frozenset({"format"}), computed=True,
              searchable=True),
        _text_column(64), None, widget="readonly",
    ),
)
