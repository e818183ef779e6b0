"""Which of an object's indexes must be created, rebuilt or dropped to match its metadata.

An index is compared by what it is, not only by name: crmkit before 0.x built PostgreSQL
indexes in the database's default order (ASC NULLS LAST, without `id`), which no page the
engine reads can use, so such an index is rebuilt by `crmkit migrate` (tables.IndexSpec).
"""
from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

from sqlalchemy import Connection, Table

from crmkit.engine.migrations.steps import CreateIndex, DropIndex, RebuildIndex, Step
from crmkit.engine.tables import IndexSpec, constraint_name, owner_index_name
from crmkit.metadata.model import SYSTEM_FIELDS, ObjectDef

#: The prefixes of the names the engine gives its indexes (tables.IndexSpec).
PREFIXES = ("ix", "ux", "ip")
#: The condition of a partial index over the rows where a column is set, as reflected:
#: `account IS NOT NULL` (SQLite, as written), `(account IS NOT NULL)` (PostgreSQL).
NOT_NULL = re.compile(r'^\(*"?([^"()\s]+)"? IS NOT NULL\)*$', re.IGNORECASE)
#: The column of a reflected PostgreSQL expression index `lower(name::text)` (the COLLATE is not reflected).
LOWERED = re.compile(r'^lower\(\(?"?([^"():]+)"?\)?(?:::[a-z ]+)?\)$')


def reflect_indexes(connection: Connection, inspector: Any, table_name: str) -> dict[str, dict[str, Any]]:
    """The table's indexes by name, as SQLAlchemy's inspector gives them.

    On SQLite, whose reflection leaves out DESC and COLLATE, `column_sorting` and
    `collations` are read from PRAGMA index_xinfo (https://www.sqlite.org/pragma.html#pragma_index_xinfo).
    """
    found = {index["name"]: dict(index) for index in inspector.get_indexes(table_name)}
    if connection.dialect.name == "sqlite":
        quote = connection.dialect.identifier_preparer.quote
        for name, index in found.items():
            keys = [row for row in connection.exec_driver_sql(f"PRAGMA index_xinfo({quote(name)})") if row[5]]
            index["column_sorting"] = {row[2]: ("desc",) for row in keys if row[3]}
            index["collations"] = {row[2]: row[4].upper() for row in keys if row[4].upper() != "BINARY"}
    return found


def stale_reason(spec: IndexSpec, reflected: Mapping[str, Any], table: Table, dialect: str) -> str | None:
    """Why the index in the database (`reflected`, as SQLAlchemy's inspector gives it) is not `spec`; None if it is."""
    columns = tuple(reflected.get("column_names") or ())
    if spec.kind == "prefix":
        if dialect == "postgresql":
            return None if columns == (None,) and _lowered(reflected) == spec.fields[0] else "not case-folded"
        folded = (reflected.get("collations") or {}).get(spec.fields[0]) == "NOCASE"
        return None if columns == spec.fields and folded else "not case-folded"
    if bool(reflected.get("unique")) != spec.unique:
        return "unique" if reflected.get("unique") else "not unique"
    present = _present(reflected, dialect)
    if present != spec.present:
        return f"rows without {spec.present}" if present is None else f"only rows with {present}"
    wanted = spec.columns
    if dialect == "sqlite" and columns == spec.fields:
        wanted = spec.fields  # SQLite appends the rowid (id) to every index itself: the same order
    if columns != wanted:
        return f"columns ({', '.join(map(str, columns))})"
    sorting = reflected.get("column_sorting") or {}
    for name in wanted:
        expected = ("nulls_first",) if dialect == "postgresql" and table.c[name].nullable else ()
        if tuple(sorting.get(name, ())) != expected:
            found = " ".join(sorting.get(name, ())) or ("ascending, empty values last" if dialect == "postgresql"
                                                        else "ascending")
            return f"{name} sorted {found}"
    return None


def _present(reflected: Mapping[str, Any], dialect: str) -> str | None:
    """The column of a partial index `WHERE <column> IS NOT NULL` (IndexSpec.present); None for a full index.

    Another condition (not one the engine writes) is returned as its text, so it never matches a spec.
    """
    condition = (reflected.get("dialect_options") or {}).get(f"{dialect}_where")
    if condition is None:
        return None
    match = NOT_NULL.match(str(condition).strip())
    return match.group(1) if match else str(condition)


def _lowered(reflected: Mapping[str, Any]) -> str | None:
    expressions = reflected.get("expressions") or ()
    match = LOWERED.match(expressions[0]) if len(expressions) == 1 and expressions[0] else None
    return match.group(1) if match else None


def index_steps(obj: ObjectDef, table_name: str, table: Table, specs: list[IndexSpec],
                existing: Mapping[str, Mapping[str, Any]], dialect: str) -> Iterator[Step]:
    """CreateIndex for missing indexes, RebuildIndex for stale ones, DropIndex for ours no field asks for.

    Indexes over kept (retired) columns stay, as their columns do. CreateIndex of a unique
    index comes without its duplicate check, which the planner adds.
    """
    desired = {spec.name: spec for spec in specs}
    for spec in specs:
        reflected = existing.get(spec.name)
        if reflected is None:
            yield CreateIndex(obj.name, name=spec.name, columns=spec.fields, unique=spec.unique, kind=spec.kind)
            continue
        reason = stale_reason(spec, reflected, table, dialect)
        if reason is not None:
            yield RebuildIndex(obj.name, name=spec.name, columns=spec.columns, was=reason)
    active = set(obj.fields) | set(SYSTEM_FIELDS)
    for name, reflected in existing.items():
        if name in desired or name == owner_index_name(obj.name):
            continue
        columns = tuple(_lowered(reflected) if column is None else column for column in reflected["column_names"])
        if is_derived_index(name, columns, (table_name, obj.name)) and set(columns) <= active:
            yield DropIndex(obj.name, name=name)


def is_derived_index(name: str, columns: tuple[str, ...], tables: tuple[str, ...]) -> bool:
    """Whether the engine named this index: by its prefix, or (for shortened names) by recomputing it."""
    if any(name.startswith(tuple(f"{prefix}_{table}_" for prefix in PREFIXES)) for table in tables):
        return True
    return any(name == constraint_name(prefix, table, columns) or name == constraint_name(prefix, table, columns[:-1])
               for prefix in PREFIXES for table in tables)
