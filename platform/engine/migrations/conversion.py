"""Checks against stored data before a schema change: values that will not convert or would change, duplicates."""
from __future__ import annotations

import re

from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any, Iterable, Iterator

from marshmallow import ValidationError
from sqlalchemy import Connection, Inspector, Table, column, func, inspect, select, table
from sqlalchemy.types import Integer, TypeEngine

from crmkit.engine.columns import ExactDecimal, holds_scaled_integers
from crmkit.engine.fieldtypes import FieldType, error_messages
from crmkit.engine.fieldtypes.inputs import number_text
from crmkit.metadata.model import FieldDef, ObjectDef

BATCH = 2000
SHOWN = 10


def stored_values(connection: Connection, table_name: str, column_name: str,
                  column_type: Any = None) -> Iterator[tuple[int, Any]]:
    """(id, value) of every non-empty value, in id order, a batch at a time (never the whole table).

    Values are read raw, or as `column_type` when one is given."""
    source = table(table_name, column("id"), column(column_name, column_type))
    last_id = 0
    while True:
        rows = connection.execute(
            select(source.c.id, source.c[column_name])
            .where(source.c.id > last_id, source.c[column_name].is_not(None))
            .order_by(source.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1][0]


@dataclass(frozen=True)
class StoredForm:
    """How a column holds its values now, so they are read as users saw them.

    `scale` is set for decimals on SQLite: the column holds integers counting 10^-scale, or,
    when `floating`, the floating-point numbers of databases made before exact storage
    (read as their shortest text rounded to the scale, as those versions showed them).
    """

    scale: int | None = None
    floating: bool = False
    #: The old value type ("boolean", "date", "datetime", ...; "" when unknown): booleans, dates
    #: and moments are read as Python values on both databases (SQLite stores 0/1 and text).
    value_type: str = ""

    def decode(self, value: Any) -> Any:
        if self.value_type in TYPED_READS:
            return TYPED_READS[self.value_type](value)
        if self.scale is None or isinstance(value, (str, bytes)):
            return value
        if self.floating:
            number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
            return number.quantize(Decimal(1).scaleb(-self.scale)) if number.is_finite() else number
        return Decimal(value).scaleb(-self.scale)


def _as_boolean(value: Any) -> Any:
    return bool(value) if isinstance(value, (bool, int)) else value


def _as_date(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return value
    return value


def _as_moment(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return value


#: Readers giving one Python value per old value type, whichever database stored it.
TYPED_READS = {"boolean": _as_boolean, "date": _as_date, "datetime": _as_moment}
NUMBER_TYPES = frozenset({"integer", "decimal", "currency", "percent"})
TEXT_TYPES = frozenset({"text", "textarea"})


def as_input(value: Any, new_type: str) -> Any:
    """A stored yes/no, date or moment as input for a field of `new_type`; raises ValidationError if it has none.

    Yes/no becomes 1/0 for numbers and "true"/"false" for text; a date becomes its ISO text
    for text and midnight UTC for a moment; a moment becomes ISO 8601 text, or a date only
    when it is exactly midnight UTC (a time of day is never dropped silently). Any other
    pair is refused, the same on every database.
    """
    if isinstance(value, bool):
        if new_type in NUMBER_TYPES:
            return int(value)
        if new_type in TEXT_TYPES:
            return "true" if value else "false"
        if new_type == "boolean":
            return value
        raise ValidationError(f"a yes/no value does not become a {new_type}.")
    if isinstance(value, datetime):
        if new_type in TEXT_TYPES or new_type == "datetime":
            return value.isoformat()
        if new_type == "date":
            if value.time() != time(0):
                raise ValidationError("it has a time of day, which a date cannot keep.")
            return value.date().isoformat()
        raise ValidationError(f"a date and time does not become a {new_type}.")
    if isinstance(value, date):
        if new_type in TEXT_TYPES or new_type == "date":
            return value.isoformat()
        if new_type == "datetime":
            return datetime(value.year, value.month, value.day, tzinfo=timezone.utc).isoformat()
        raise ValidationError(f"a date does not become a {new_type}.")
    return value


def stored_form(connection: Connection, table_name: str, column_name: str, column_type: TypeEngine,
                inspector: Inspector | None = None) -> StoredForm:
    """The StoredForm of a column whose metadata gives it `column_type` (its type before the change)."""
    if connection.dialect.name != "sqlite" or not isinstance(column_type, ExactDecimal):
        return StoredForm()
    inspector = inspector or inspect(connection)
    columns = inspector.get_columns(table_name) if inspector.has_table(table_name) else []
    declared = {info["name"]: info["type"] for info in columns}.get(column_name)
    scaled = declared is None or isinstance(declared, Integer) or holds_scaled_integers(str(declared))
    return StoredForm(column_type.scale, floating=not scaled)


def declared_form(connection: Connection, table_name: str, column_name: str) -> StoredForm:
    """The StoredForm of a kept (retired) column, read from the type SQLite declares for it.

    A kept decimal holds integers counting 10^-scale (`DECIMAL_18_2_AS_INTEGER`); any other
    column holds its values as they are.
    """
    if connection.dialect.name != "sqlite":
        return StoredForm()
    quoted = connection.dialect.identifier_preparer.quote(table_name)
    declared = {row[1]: str(row[2]) for row in connection.exec_driver_sql(f"PRAGMA table_info({quoted})")}
    match = re.fullmatch(r"DECIMAL_(\d+)_(\d+)_AS_INTEGER", declared.get(column_name, "").upper())
    return StoredForm(int(match.group(2))) if match else StoredForm()


def floating_columns(connection: Connection, tables: Iterable[Table], inspector: Inspector | None = None) -> list[str]:
    """`object.field` of every decimal column a SQLite database still holds as floating point.

    `inspector`: the caller's for this operation on `connection` (read no DDL since), or a new one.
    """
    if connection.dialect.name != "sqlite":
        return []
    found = []
    inspector = inspector or inspect(connection)
    for source in tables:
        decimals = [c for c in source.c if isinstance(c.type, ExactDecimal)]
        if not decimals or not inspector.has_table(source.name):
            continue
        for name in (c.name for c in decimals):
            if stored_form(connection, source.name, name, source.c[name].type, inspector).floating:
                found.append(f"{source.name}.{name}")
    return found


def convert_value(field_type: FieldType, fdef: FieldDef, value: Any) -> Any:
    """The value as the new type would store it; raises ValidationError when it cannot be, or it would change.

    A number must come through exactly: a smaller scale that would round 1234.5 to 1235, or
    text like '1234.5' into a whole-number currency, is refused rather than rounded.
    """
    assert field_type.input_field is not None
    value = as_input(value, fdef.type)
    converted = field_type.input_field(fdef).deserialize(value)
    exact = _as_number(value)
    if exact is not None and isinstance(converted, (int, Decimal)) and not isinstance(converted, bool):
        if Decimal(converted) != exact:
            raise ValidationError(f"it would be stored as {converted}, changing its value.")
    return converted


def _as_number(value: Any) -> Decimal | None:
    """A stored value (number or number text) as an exact Decimal; None if it is not one."""
    if isinstance(value, bool):
        return None
    try:
        number = number_text(value)
    except ValidationError:
        return None
    if isinstance(number, float):
        number = Decimal(repr(number))
    return number if isinstance(number, (int, Decimal)) and Decimal(number).is_finite() else None


def find_unconvertible(
    connection: Connection, obj: ObjectDef, column_name: str, fdef: FieldDef, field_type: FieldType,
    form: StoredForm = StoredForm(),
) -> tuple[int, tuple[str, ...]]:
    """How many stored values the new type rejects or would change, and the first few as `id 7 ('abc': reason)`."""
    if field_type.input_field is None:
        return 0, ()
    count = 0
    shown: list[str] = []
    for record_id, stored in stored_values(connection, obj.name, column_name):
        value = form.decode(stored)
        try:
            convert_value(field_type, fdef, value)
        except ValidationError as error:
            count += 1
            if len(shown) < SHOWN:
                reason = " ".join(error_messages(error.messages))
                shown.append(f"id {record_id} ({shown_value(value)}: {reason})")
    return count, tuple(shown)


def shown_value(value: Any) -> str:
    """A stored value in a refusal's sentence as people write it: text quoted, numbers as written, dates and moments in
    ISO 8601 (not Python's repr: `datetime.datetime(2024, 1, 1, 10, 0, tzinfo=...)`)."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return repr(value)


def find_duplicates(connection: Connection, table_name: str, columns: tuple[str, ...]) -> tuple[int, tuple[str, ...]]:
    """Values that occur more than once, so a unique index cannot be created."""
    source = table(table_name, *(column(name) for name in columns))
    keys = [source.c[name] for name in columns]
    query = (
        select(*keys, func.count().label("n"))
        .where(*(key.is_not(None) for key in keys))
        .group_by(*keys)
        .having(func.count() > 1)
    )
    rows = connection.execute(query.limit(SHOWN)).all()
    if not rows:
        return 0, ()
    total = connection.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    shown = tuple(f"{', '.join(shown_value(v) for v in row[:-1])} ({row[-1]} records)" for row in rows)
    return total, shown
