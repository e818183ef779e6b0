"""Autonumbers: a counter row per field, advanced atomically, so numbers never repeat."""
from __future__ import annotations

from sqlalchemy import Connection, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from crmkit.engine.runtime import Runtime
from crmkit.metadata.model import FieldDef


def allocate_numbers(connection: Connection, runtime: Runtime, object_name: str, fdef: FieldDef, count: int = 1) -> list[str]:
    """`count` formatted numbers, e.g. ['ACC-00041', 'ACC-00042'], reserved inside this transaction.

    The counter row is locked by the UPDATE until the transaction ends (PostgreSQL row lock,
    SQLite write lock), so concurrent savers queue and each gets distinct numbers; a rolled
    back transaction gives its numbers back.
    """
    counters = runtime.system_table("crmkit_counter")
    insert = sqlite_insert if runtime.is_sqlite else pg_insert
    connection.execute(
        insert(counters)
        .values(object=object_name, field=fdef.name, value=fdef.start - 1)
        .on_conflict_do_nothing(index_elements=["object", "field"])
    )
    last = connection.execute(
        update(counters)
        .where(counters.c.object == object_name, counters.c.field == fdef.name)
        .values(value=counters.c.value + count)
        .returning(counters.c.value)
    ).scalar_one()
    template = fdef.format or "{0}"
    return [template.format(number) for number in range(last - count + 1, last + 1)]
