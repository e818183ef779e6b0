"""The installed metadata's generation: how a running process notices another one's upgrade.

Every install or migration adds one to `crmkit_metadata_state.generation` inside its own
transaction. Each top-level read or write of a UserContext first reads that one row by
primary key, on the operation's own connection (`operation_state`, which reads the user's
rights version in the same statement: security/rights.py); when it differs from the
generation the Crm loaded, the Crm reloads its metadata, tables and save pipelines before
the operation runs (`Crm.ensure_current`). So a
web worker started before `crmkit migrate` never writes with the old column definitions
(e.g. a decimal scaled by 10**6 into a column now scaled by 10**2).

On PostgreSQL the table is the lock that orders the two. The operation's plain read of
the row takes the table's ACCESS SHARE lock, which every SELECT takes and holds until its
transaction ends; a migration first locks the table ACCESS EXCLUSIVE (`lock_for_migration`),
which waits for every operation holding it and makes every later one wait. An operation
that began first finishes before the migration changes anything; one that begins later
waits for the migration to commit, and then reads the new generation: in READ COMMITTED a
statement takes its snapshot after the locks of its tables are granted (tests:
test_running_upgrades.py). So a read takes no row lock: no transaction id, no MultiXact
under concurrency, no written page, as the FOR KEY SHARE row lock before it did. On
SQLite a writer holds the database's write lock and a reader works on one snapshot,
which gives the same.
"""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Connection, ScalarSelect, Select, Table, insert, select, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import Executable, ClauseElement

from crmkit.engine.precompiled import execute_compiled

#: The id of the single row.
ROW_ID = 1


def read_generation(connection: Connection, table: Table) -> int:
    """The installed metadata's generation (0 before the first install); no migration starts until the transaction ends."""
    return operation_state(connection, table)[0]


def generation_column(table: Table) -> ScalarSelect:
    """The generation as a scalar subquery (NULL without the row), to read alongside another statement's values."""
    return select(table.c.generation).where(table.c.id == ROW_ID).scalar_subquery()


def operation_state(connection: Connection, table: Table, *alongside: ScalarSelect) -> tuple[int, ...]:
    """(generation, *values of `alongside`) in ONE statement: what an operation reads before anything else.

    `alongside` are scalar subqueries of other one-row values every operation needs (the
    rights version), so an operation pays one round trip for all of them. No migration
    starts before `connection`'s transaction ends (the module docstring says how). Without
    the row (a database prepared before it existed) the generation is 0 and the other
    values are still read.
    """
    row = execute_compiled(connection, _state_query(table, alongside), {}).first()
    if row is not None:
        return (row[0] or 0, *row[1:])
    if not alongside:
        return (0,)
    return (0, *connection.execute(select(*alongside)).one())


@lru_cache(maxsize=16)
def _state_query(table: Table, alongside: tuple[ScalarSelect, ...]) -> Select:
    """Built once per table (and companions): it runs before every operation, so it is not rebuilt each time."""
    return select(table.c.generation, *alongside).where(table.c.id == ROW_ID)


def lock_for_migration(connection: Connection, table: Table) -> int:
    """The current generation, with the table locked against every operation until the migration commits.

    On PostgreSQL: waits for the operations under way (each holds the table's ACCESS SHARE
    lock) and for another migration. On SQLite the migration's write transaction already
    excludes other writers, and readers keep their snapshot.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(LockTable(table))
    query = select(table.c.generation).where(table.c.id == ROW_ID)
    current = connection.execute(query).scalar_one_or_none()
    if current is None:
        connection.execute(insert(table).values(id=ROW_ID, generation=0))
        current = connection.execute(query).scalar_one()
    return current


def advance(connection: Connection, table: Table) -> int:
    """Count one more install or migration; returns the new generation."""
    connection.execute(update(table).where(table.c.id == ROW_ID).values(generation=table.c.generation + 1))
    return connection.execute(select(table.c.generation).where(table.c.id == ROW_ID)).scalar_one()


class LockTable(Executable, ClauseElement):
    """PostgreSQL's `LOCK TABLE <table> IN ACCESS EXCLUSIVE MODE`: no other transaction reads it until commit."""

    inherit_cache = False

    def __init__(self, table: Table) -> None:
        self.table = table


@compiles(LockTable, "postgresql")
def _lock_table(element: LockTable, compiler, **kw) -> str:
    return f"LOCK TABLE {compiler.preparer.format_table(element.table)} IN ACCESS EXCLUSIVE MODE"
