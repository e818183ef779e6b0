"""What a database written by an older crmkit still needs before records can be used.

Reading or writing records of such a database would fail with a driver error (a system
column it lacks) or give wrong values (decimals still stored as floating point), so the
engine refuses with one sentence that says to run `crmkit migrate`.
"""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import Connection, Table, column, func, inspect, select
from sqlalchemy import table as table_clause
from sqlalchemy.engine import Inspector

from crmkit.engine.migrations.conversion import floating_columns
from crmkit.engine.tables import RETIRED_HISTORY_INDEX, system_columns


def outdated_storage(connection: Connection, tables: Iterable[Table], inspector: Inspector | None = None) -> list[str]:
    """Phrases naming what `tables` (the installed objects' tables) lack or store the old way; [] when current.

    `inspector`: one made on `connection` by the caller for this operation, so the catalogue is
    read once for all its checks (its answers are kept: pass none made before DDL on `connection`).
    """
    tables = list(tables)
    inspector = inspector or inspect(connection)
    present = set(inspector.get_table_names())
    wanted = [c.name for c in system_columns()]
    problems = []
    names = [table.name for table in tables if table.name in present]
    # One catalogue read for every table (PostgreSQL answers it in one query), not one per table.
    columns_of = {key[1]: {info["name"] for info in infos}
                  for key, infos in inspector.get_multi_columns(filter_names=names).items()} if names else {}
    for table in tables:
        if table.name not in present:
            continue
        columns = columns_of.get(table.name, set())
        missing = [name for name in wanted if name not in columns]
        if missing:
            problems.append(f"{table.name} lacks the system column{'s' if len(missing) > 1 else ''} "
                            f"{', '.join(missing)}")
    floating = floating_columns(connection, [t for t in tables if t.name in present], inspector)
    if floating:
        problems.append(f"{', '.join(floating)} still hold inexact floating-point numbers")
    return problems


def upgrade_history_index(connection: Connection, history: Table) -> None:
    """Build the history table's indexes an older crmkit did not, and drop the one they replace.

    Run by every install and `crmkit migrate`: a database written before the timeline had
    its history indexed by (object, record_id, id) only, which cannot give a record's
    history newest first by time without sorting all of it.
    """
    present = index_names(connection, history.name)
    for index in history.indexes:
        if index.name not in present:
            index.create(connection)
    if RETIRED_HISTORY_INDEX in present:
        quote = connection.dialect.identifier_preparer.quote
        connection.exec_driver_sql(f"DROP INDEX {quote(RETIRED_HISTORY_INDEX)}")


_PG_INDEX = table_clause("pg_index", column("indexrelid"), column("indrelid"), schema="pg_catalog")
_PG_CLASS = table_clause("pg_class", column("oid"), column("relname"), schema="pg_catalog")


def index_names(connection: Connection, table_name: str) -> set[str]:
    """Names of every index on `table_name` (its primary key's too); empty when there is no such table.

    One catalogue read: the inspector's get_indexes takes four on PostgreSQL (the table's oid,
    the indexes, their access methods and operator classes) and one more per index on SQLite,
    for details where only names are needed. PostgreSQL finds the table as the inspector does,
    by the search_path (to_regclass); SQLite lists it with PRAGMA index_list.
    """
    quoted = connection.dialect.identifier_preparer.quote(table_name)
    if connection.dialect.name == "sqlite":
        return {row[1] for row in connection.exec_driver_sql(f"PRAGMA index_list({quoted})")}
    regclass = func.to_regclass(quoted)
    query = select(_PG_CLASS.c.relname).select_from(
        _PG_INDEX.join(_PG_CLASS, _PG_CLASS.c.oid == _PG_INDEX.c.indexrelid)).where(_PG_INDEX.c.indrelid == regclass)
    return set(connection.execute(query).scalars())
