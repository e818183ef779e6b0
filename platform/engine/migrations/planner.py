"""The migration planner: what must change in the database to match new metadata.

It compares the installed metadata with the new one and the live database, and never
plans anything destructive on its own: removed fields and objects are retired (their
data stays), renames happen only when declared with `renamed_from`, type changes are
checked against every stored value first, and only an explicit purge drops data.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

from sqlalchemy import Connection, inspect

from crmkit.engine.fieldtypes import FieldTypes
from crmkit.engine.migrations.conversion import find_duplicates, find_unconvertible, stored_form
from crmkit.engine.migrations.steps import (
    AddColumn,
    ChangeColumnType,
    CreateIndex,
    CreateTable,
    DropIndex,
    MigrationPlan,
    PurgeColumn,
    PurgeTable,
    Recompute,
    RenameColumn,
    RenameTable,
    RetireColumn,
    RetireTable,
    Step,
)
from crmkit.engine.tables import constraint_name, field_indexes
from crmkit.metadata.model import FieldDef, ObjectDef
from crmkit.metadata.registry import Registry


class MigrationError(Exception):
    """The plan cannot be made or applied; the message says why and what to do."""


COMPUTED_TYPES = ("formula", "rollup", "autonumber")


@dataclass(frozen=True)
class PlanContext:
    connection: Connection
    old: Registry | None
    new: Registry
    field_types: FieldTypes
    retired: frozenset[tuple[str, str]]

    def ddl(self, fdef: FieldDef, registry: Registry) -> str:
        column_type = self.field_types.column_type(fdef, registry)
        return column_type.compile(dialect=self.connection.dialect)


def plan_migration(
    connection: Connection,
    old: Registry | None,
    new: Registry,
    field_types: FieldTypes,
    retired: Iterable[tuple[str, str]] = (),
    purge: Sequence[str] = (),
) -> MigrationPlan:
    context = PlanContext(connection, old, new, field_types, frozenset(retired))
    inspector = inspect(connection)
    existing_tables = set(inspector.get_table_names())
    steps: list[Step] = []
    handled_old: set[str] = set()
    for obj in new.objects.values():
        old_name = _old_table_name(obj, context, existing_tables)
        if old_name is None:
            steps.append(CreateTable(obj.name))
            continue
        handled_old.add(old_name)
        if old_name != obj.name:
            steps.append(RenameTable(obj.name, old_name=old_name))
        columns = {column["name"] for column in inspector.get_columns(old_name)}
        old_obj = context.old.objects.get(old_name) if context.old else None
        steps.extend(_field_steps(context, obj, old_obj, columns))
        steps.extend(_index_steps(context, obj, old_name, inspector))
    if context.old:
        for name in context.old.objects:
            if name not in handled_old and name not in new.objects:
                steps.append(RetireTable(name))
    # Computed values are filled last, from columns that every earlier step has already converted.
    steps = [s for s in steps if not isinstance(s, Recompute)] + [s for s in steps if isinstance(s, Recompute)]
    steps.extend(_purge_steps(context, steps, purge, existing_tables))
    notes = tuple(_notes(steps))
    return MigrationPlan(tuple(steps), notes)


def _old_table_name(obj: ObjectDef, context: PlanContext, existing: set[str]) -> str | None:
    if obj.name in existing:
        return obj.name
    if obj.renamed_from and obj.renamed_from in existing and obj.renamed_from not in context.new.objects:
        return obj.renamed_from
    return None


def _field_steps(context: PlanContext, obj: ObjectDef, old_obj: ObjectDef | None, columns: set[str]) -> Iterator[Step]:
    old_fields = dict(old_obj.fields) if old_obj else {}
    renamed_away: set[str] = set()
    recompute: list[str] = []
    for fdef in obj.fields.values():
        source = _previous_definition(fdef, old_fields, obj, columns)
        if source is None:
            if fdef.name in columns:
                yield AddColumn(obj.name, field=fdef.name, revive=True)
            else:
                yield AddColumn(obj.name, field=fdef.name)
            if fdef.type in COMPUTED_TYPES:
                recompute.append(fdef.name)
            continue
        old_name, old_def = source
        if old_name != fdef.name:
            renamed_away.add(old_name)
            yield RenameColumn(obj.name, field=fdef.name, old_name=old_name)
        if old_def is not None:
            changes = list(_type_steps(context, obj, fdef, old_def, old_name))
            yield from changes
            if fdef.type in COMPUTED_TYPES and (changes or _computation_changed(fdef, old_def)):
                recompute.append(fdef.name)
    for name in old_fields:
        if name not in obj.fields and name not in renamed_away:
            yield RetireColumn(obj.name, field=name)
    if recompute:
        yield Recompute(obj.name, fields=tuple(recompute))


def _previous_definition(fdef: FieldDef, old_fields: dict[str, FieldDef], obj: ObjectDef, columns: set[str]):
    """(column name in the database, its old definition or None) for a field that already has a column."""
    if fdef.name in old_fields:
        return fdef.name, old_fields[fdef.name]
    renamed = fdef.renamed_from
    if renamed and renamed not in obj.fields and renamed in columns:
        return renamed, old_fields.get(renamed)
    return None


def _computation_changed(new: FieldDef, old: FieldDef) -> bool:
    return (new.type, new.formula, new.returns, new.rollup, new.format) != (
        old.type, old.formula, old.returns, old.rollup, old.format)


def _type_steps(context: PlanContext, obj: ObjectDef, fdef: FieldDef, old_def: FieldDef, column: str) -> Iterator[Step]:
    assert context.old is not None
    old_type = context.field_types.value_type(old_def, context.old)
    new_type = context.field_types.value_type(fdef, context.new)
    old_ddl, new_ddl = context.ddl(old_def, context.old), context.ddl(fdef, context.new)
    form = stored_form(context.connection, obj.name, column, context.field_types.column_type(old_def, context.old))
    if old_ddl == new_ddl and old_type == new_type and not form.floating:
        return
    if form.floating and (old_ddl, old_type) != (new_ddl, new_type):
        old_ddl = "floating point"
    if fdef.type in COMPUTED_TYPES:
        yield ChangeColumnType(obj.name, field=fdef.name, old_type=old_ddl, new_type=new_ddl, floating=form.floating)
        return
    field_type = context.field_types[fdef.type]
    count, shown = find_unconvertible(context.connection, obj, column, fdef, field_type, form)
    yield ChangeColumnType(
        obj.name, field=fdef.name, old_type=f"{old_type} ({old_ddl})", new_type=f"{new_type} ({new_ddl})",
        blockers=shown, blocker_count=count, stored_scale=form.scale, floating=form.floating,
    )


def _index_steps(context: PlanContext, obj: ObjectDef, table_name: str, inspector) -> Iterator[Step]:
    existing = {index["name"]: index for index in inspector.get_indexes(table_name)}
    desired = {name: (columns, unique) for name, columns, unique in field_indexes(obj)}
    owner_index = constraint_name("ix", obj.name, ("owner_id",))
    for name, (columns, unique) in desired.items():
        if name in existing:
            continue
        blockers: tuple[str, ...] = ()
        count = 0
        if unique and table_name == obj.name and all(c in existing_columns(inspector, table_name) for c in columns):
            count, blockers = find_duplicates(context.connection, table_name, columns)
        yield CreateIndex(obj.name, name=name, columns=columns, unique=unique, blockers=blockers, blocker_count=count)
    active = set(obj.fields)
    for name, index in existing.items():
        ours = name.startswith((f"ix_{table_name}_", f"ux_{table_name}_"))
        if ours and name not in desired and name != owner_index and set(index["column_names"]) <= active:
            yield DropIndex(obj.name, name=name)


def existing_columns(inspector, table_name: str) -> set[str]:
    return {column["name"] for column in inspector.get_columns(table_name)}


def _purge_steps(context: PlanContext, steps: list[Step], purge: Sequence[str], tables: set[str]) -> Iterator[Step]:
    retiring = {(s.object, getattr(s, "field", "")) for s in steps if isinstance(s, (RetireColumn, RetireTable))}
    retired = set(context.retired) | retiring
    for target in purge:
        obj_name, _, field_name = target.partition(".")
        if (obj_name, field_name) not in retired:
            obj = context.new.objects.get(obj_name)
            active = obj is not None and (not field_name or field_name in obj.fields)
            reason = "it is still in use; remove it from the metadata first" if active else "nothing by that name is kept"
            raise MigrationError(f"cannot purge '{target}': {reason}.")
        if field_name:
            yield PurgeColumn(obj_name, field=field_name)
        elif obj_name in tables:
            yield PurgeTable(obj_name)


def _notes(steps: Sequence[Step]) -> Iterator[str]:
    for step in steps:
        if isinstance(step, (RetireColumn, RetireTable)):
            yield "retired fields and objects keep their data; nothing is deleted without --purge."
            return
