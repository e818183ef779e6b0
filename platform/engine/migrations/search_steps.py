"""Migration steps for the search indexes (query/search_index.py): build, rebuild, drop.

A search index is derived data, so changing it never loses anything. A new object's (empty)
index is created with its table (applier.py); for the others the planner rebuilds
an object's index whenever what it holds could differ from what it should (the table is
missing, its fields changed, a field it holds was renamed, converted or recomputed, the
object was renamed or used again) and drops the indexes of objects no longer in use.
Building reads the records BATCH at a time in id order and reports progress as it goes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

from sqlalchemy import Connection, inspect
from sqlalchemy.engine import Inspector

from crmkit.engine.fieldtypes import FieldTypes
from crmkit.engine.migrations.steps import (
    ChangeColumnType,
    CreateTable,
    PurgeTable,
    Recompute,
    RenameColumn,
    RenameTable,
    RetireTable,
    ReviveColumn,
    ReviveTable,
    Step,
)
from crmkit.engine.query.search_index import SearchIndex, pending_table_name, search_table_name
from crmkit.metadata.registry import Registry


@dataclass(frozen=True)
class BuildSearchIndex(Step):
    """(Re)create the object's search table and index every existing record."""

    fields: tuple[str, ...] = ()

    def describe(self) -> str:
        return (f"build the search index of {self.object} ({', '.join(self.fields)}) "
                "from its existing records")


@dataclass(frozen=True)
class DropSearchIndex(Step):
    def describe(self) -> str:
        return f"drop the search index of {self.object} (its records are kept; only the index goes)"


def search_index_steps(connection: Connection, new: Registry, field_types: FieldTypes,
                       steps: Sequence[Step], inspector: Inspector | None = None) -> Iterator[Step]:
    """The search-index steps that go after `steps` (which they read) to match `new`.

    `inspector`: the planner's, made on `connection` for this plan (no DDL ran since), or a new one.
    """
    candidates = set(new.objects) | {step.object for step in steps if isinstance(step, (RetireTable, PurgeTable))} | {
        step.old_name for step in steps if isinstance(step, RenameTable)}
    stored = stored_search_columns(connection, candidates, inspector)
    touched: dict[str, set[str]] = {}
    rebuilt: set[str] = set()
    dropped: set[str] = set()
    created = {step.object for step in steps if isinstance(step, CreateTable)}  # indexed as they are created
    for step in steps:
        if isinstance(step, (RenameTable, ReviveTable)):
            rebuilt.add(step.object)
        gone = step.old_name if isinstance(step, RenameTable) else step.object if isinstance(
            step, (RetireTable, PurgeTable)) else None
        if gone in stored and gone not in dropped:
            dropped.add(gone)
            yield DropSearchIndex(gone)
        if isinstance(step, (RenameColumn, ChangeColumnType, ReviveColumn)):
            touched.setdefault(step.object, set()).add(step.field)
        if isinstance(step, Recompute):
            touched.setdefault(step.object, set()).update(step.fields)
    for name in new.objects:
        if name in created:
            continue
        index = SearchIndex.of(new, field_types, name)
        if index is None:
            if name in stored:
                yield DropSearchIndex(name)
            continue
        if name in rebuilt or stored.get(name) != index.columns or touched.get(name, set()) & set(index.fields):
            yield BuildSearchIndex(name, fields=index.fields)


def stored_search_columns(connection: Connection, objects: Iterable[str],
                          inspector: Inspector | None = None) -> dict[str, tuple[str, ...]]:
    """object -> token columns of its search table in the database, for those of `objects` that have one.

    `inspector`: the caller's for this operation on `connection` (no DDL ran since), or a new one.
    """
    inspector = inspector or inspect(connection)
    tables = set(inspector.get_table_names())
    names = {name: search_table_name(name) for name in objects if search_table_name(name) in tables}
    if not names:
        return {}
    columns = inspector.get_multi_columns(filter_names=list(names.values()))
    by_table = {key[1]: tuple(info["name"] for info in infos if info["name"] != "id") for key, infos in columns.items()}
    return {name: by_table.get(table, ()) for name, table in names.items()}


def outdated_search_indexes(connection: Connection, registry: Registry, field_types: FieldTypes,
                            inspector: Inspector | None = None) -> list[str]:
    """Phrases naming the objects whose search index is missing or laid out for other fields; [] when current.

    `inspector`: the caller's for this operation on `connection` (no DDL ran since), or a new one.
    """
    inspector = inspector or inspect(connection)
    stored = stored_search_columns(connection, registry.objects, inspector)
    tables = set(inspector.get_table_names()) if connection.dialect.name == "sqlite" else None
    problems = []
    for name in registry.objects:
        index = SearchIndex.of(registry, field_types, name)
        if index is not None and stored.get(name) != index.columns:
            problems.append(f"{name} has no current search index")
        elif index is not None and tables is not None and pending_table_name(index.name) not in tables:
            problems.append(f"{name}'s search index has no pending table")
    return problems

