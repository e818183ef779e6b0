"""The installed metadata's generation: how a running process notices another one's upgrade.

Every install or migration adds one to `crmkit_metadata_state.generation` inside its own
transaction. Each top-level read or write of a UserContext first reads that one row by
primary key, on the operation's own connection (`operation_state`, which reads the user's
rights version in the same statement: security/rights.py); when it differs from the
generation the Crm loaded, the Crm reloads its metadata, tables and save pipelines before
the operation runs (`Crm.ensure_current`). So a
web worker started before `crmkit migrate` never writes with the old column definitions
(e.g. a decimal scaled by 10**6 into a column now scaled by 10**2).

On PostgreSQL the row is the lock that orders the two: an operation holds it FOR KEY
SHARE until it ends, a migration takes it FOR UPDATE before changing anything. An
operation that began first finishes before the migration starts; one that begins later
waits for the migration to commit and then reads the new generation. On SQLite a writer
holds the database's write lock and a reader works on one snapshot, which gives the same.
"""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Connection, ScalarSelect, Select, Table, insert, select, update

#: The id of the single row.
ROW_ID = 1


def read_generation(connection: Connection, table: Table) -> int:
    """The installed metadata's generation (0 before the first install); locks the row FOR KEY SHARE on PostgreSQL."""
    return operation_state(connection, table)[0]


def operation_state(connection: Connection, table: Table, *alongside: ScalarSelect) -> tuple[int, ...]:
    """(generation, *values of `alongside`) in ONE statement: what an operation reads before anything else.

    `alongside` are scalar subqueries of other one-row values every operation needs (the
    rights version), so an operation pays one round trip for all of them. The generation
    row is locked FOR KEY SHARE on PostgreSQL as by `read_generation` (only the row of the
    FROM table is locked, not what the subqueries read). Without the row (a database
    prepared before it existed) the generation is 0 and the other values are still read.
    """
    row = connection.execute(_state_query(table, alongside)).first()
    if row is not None:
        return (row[0] or 0, *row[1:])
    if not alongside:
        return (0,)
    return (0, *connection.execute(select(*alongside)).one())


@lru_cache(maxsize=16)
def _state_query(table: Table, alongside: tuple[ScalarSelect, ...]) -> Select:
    """Built once per table (and companions): it runs before every operation, so it is not rebuilt each time."""
    return (select(table.c.generation, *alongside).where(table.c.id == ROW_ID)
            .with_for_update(read=True, key_share=True))


def lock_for_migration(connection: Connection, table: Table) -> int:
    """The current generation, with the row locked against every operation until the migration commits."""
    query = select(table.c.generation).where(table.c.id == ROW_ID).with_for_update()
    current = connection.execute(query).scalar_one_or_none()
    if current is None:
        connection.execute(insert(table).values(id=ROW_ID, generation=0))
        current = connection.execute(query).scalar_one()
    return current


def advance(connection: Connection, table: Table) -> int:
    """Count one more install or migration; returns the new generation."""
    connection.execute(update(table).where(table.c.id == ROW_ID).values(generation=table.c.generation + 1))
    return connection.execute(select(table.c.generation).where(table.c.id == ROW_ID)).scalar_one()
