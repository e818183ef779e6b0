"""Checks against stored data before a schema change: values that will not convert, duplicates."""
from __future__ import annotations

from typing import Any, Iterator

from marshmallow import ValidationError
from sqlalchemy import Connection, column, func, select, table

from crmkit.engine.fieldtypes import FieldType, error_messages
from crmkit.metadata.model import FieldDef, ObjectDef

BATCH = 2000
SHOWN = 10


def stored_values(connection: Connection, table_name: str, column_name: str) -> Iterator[tuple[int, Any]]:
    """(id, value) of every non-empty value, in id order, a batch at a time (never the whole table)."""
    source = table(table_name, column("id"), column(column_name))
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


def convert_value(field_type: FieldType, fdef: FieldDef, value: Any) -> Any:
    """The value as the new type would store it; raises ValidationError when it cannot be."""
    assert field_type.input_field is not None
    return field_type.input_field(fdef).deserialize(value)


def find_unconvertible(
    connection: Connection, obj: ObjectDef, column_name: str, fdef: FieldDef, field_type: FieldType
) -> tuple[int, tuple[str, ...]]:
    """How many stored values the new type rejects, and the first few as `id 7 ('abc': reason)`."""
    if field_type.input_field is None:
        return 0, ()
    count = 0
    shown: list[str] = []
    for record_id, value in stored_values(connection, obj.name, column_name):
        try:
            convert_value(field_type, fdef, value)
        except ValidationError as error:
            count += 1
            if len(shown) < SHOWN:
                reason = " ".join(error_messages(error.messages))
                shown.append(f"id {record_id} ({value!r}: {reason})")
    return count, tuple(shown)


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
    shown = tuple(f"{', '.join(repr(v) for v in row[:-1])} ({row[-1]} records)" for row in rows)
    return total, shown
