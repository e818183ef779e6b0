"""The migration planner: what must change in the database to match new metadata.

It compares the installed metadata with the new one and the live database, and never
plans anything destructive on its own: removed fields and objects are retired (their
data stays), renames happen only when declared with `renamed_from`, type changes are
checked against every stored value first, and only an explicit purge drops data.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Iterable, Iterator, Mapping, Sequence

from sqlalchemy import Connection, inspect

from crmkit.engine.fieldtypes import FieldTypes
from crmkit.engine.migrations.conversion import find_duplicates, find_unconvertible, stored_form
from crmkit.engine.migrations.indexes import index_steps, reflect_indexes
from crmkit.engine.migrations.search_steps import search_index_steps
from crmkit.engine.migrations.revival import Reviver, field_note, kept_definition, object_note
from crmkit.engine.migrations.steps import (
    AddColumn,
    AddSystemColumn,
    ChangeColumnType,
    CreateIndex,
    CreateTable,
    MigrationPlan,
    PurgeColumn,
    PurgeTable,
    Recompute,
    RenameColumn,
    RenameTable,
    RetireColumn,
    RetireTable,
    ReviveTable,
    Step,
)
from crmkit.errors import CrmkitError
from crmkit.engine.tables import Schema, build_schema, index_specs, system_columns
from crmkit.metadata.model import SYSTEM_FIELDS, FieldDef, ObjectDef
from crmkit.metadata.registry import Registry


class MigrationError(CrmkitError):
    """The plan cannot be made or applied; the message says why and what to do."""

    status = 409
    title = "Migration refused"


COMPUTED_TYPES = ("formula", "rollup", "autonumber")


@dataclass(frozen=True)
class PlanContext:
    connection: Connection
    old: Registry | None
    new: Registry
    field_types: FieldTypes
    retired: frozenset[tuple[str, str]]
    reviver: Reviver
    #: The new metadata's tables, for the nullability of indexed columns.
    schema: Schema

    def ddl(self, fdef: FieldDef, registry: Registry) -> str:
        column_type = self.field_types.column_type(fdef, registry)
        return column_type.compile(dialect=self.connection.dialect)


def plan_migration(
    connection: Connection,
    old: Registry | None,
    new: Registry,
    field_types: FieldTypes,
    retired: Iterable[tuple[str, str]] | Mapping[tuple[str, str], str | None] = (),
    purge: Sequence[str] = (),
) -> MigrationPlan:
    """The steps from `old` to `new`; `retired` maps kept (object, field) to its recorded definition (note)."""
    notes = dict(retired) if isinstance(retired, Mapping) else dict.fromkeys(retired)
    inspector = inspect(connection)
    existing_tables = set(inspector.get_table_names())
    reviver = Reviver(connection, new, field_types, notes, existing_tables)
    context = PlanContext(connection, old, new, field_types, frozenset(notes), reviver, build_schema(new, field_types))
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
        steps.extend(AddSystemColumn(obj.name, column=c.name) for c in system_columns() if c.name not in columns)
        old_obj = context.old.objects.get(old_name) if context.old else None
        if old_obj is None:
            steps.append(ReviveTable(obj.name))
        steps.extend(_field_steps(context, obj, old_obj, columns, old_name))
        steps.extend(_index_steps(context, obj, old_name, inspector))
    if context.old:
        for name in context.old.objects:
            if name not in handled_old and name not in new.objects:
                kept = object_note(context.old.objects[name], context.old, field_types, connection.dialect)
                steps.append(RetireTable(name, kept=kept))
    # Computed values are filled last, from columns that every earlier step has already converted.
    steps = [s for s in steps if not isinstance(s, Recompute)] + [s for s in steps if isinstance(s, Recompute)]
    steps.extend(_purge_steps(context, steps, purge, existing_tables))
    # Last: they read what came before. Planning runs no DDL, so the one inspector's answers hold throughout.
    steps.extend(search_index_steps(connection, new, field_types, steps, inspector))
    notes = tuple(_notes(steps))
    return MigrationPlan(tuple(steps), notes)


def _old_table_name(obj: ObjectDef, context: PlanContext, existing: set[str]) -> str | None:
    if obj.name in existing:
        renamed = obj.renamed_from
        if renamed and renamed in existing and context.old and renamed in context.old.objects \
                and obj.name not in context.old.objects and renamed not in context.new.objects:
            raise MigrationError(
                f"{obj.name} is declared renamed from {renamed}, but a kept table {obj.name} (retired earlier, "
                f"with its records) is in the way; purge it first with `crmkit migrate --purge {obj.name}`, "
                "or choose another name.")
        return obj.name
    if obj.renamed_from and obj.renamed_from in existing and obj.renamed_from not in context.new.objects:
        return obj.renamed_from
    return None


def _field_steps(context: PlanContext, obj: ObjectDef, old_obj: ObjectDef | None, columns: set[str],
                 table_name: str) -> Iterator[Step]:
    old_fields = dict(old_obj.fields) if old_obj else {}
    renamed_away: set[str] = set()
    recompute: list[str] = []
    for fdef in obj.fields.values():
        source = _previous_definition(fdef, old_fields, obj, columns)
        if source is None:
            if fdef.name in columns:  # a kept (retired) column used again: checked like a type change
                yield context.reviver.step(obj, fdef, table_name, fdef.name)
            else:
                yield AddColumn(obj.name, field=fdef.name)
            if fdef.type in COMPUTED_TYPES:
                recompute.append(fdef.name)
            continue
        old_name, old_def = source
        if old_name != fdef.name:
            if fdef.name in columns:
                raise MigrationError(
                    f"{obj.name}.{fdef.name} is declared renamed from {old_name}, but a kept column {fdef.name} "
                    f"(retired earlier, with its values) is in the way; purge it first with "
                    f"`crmkit migrate --purge {obj.name}.{fdef.name}`, or choose another name.")
            renamed_away.add(old_name)
            yield RenameColumn(obj.name, field=fdef.name, old_name=old_name)
        if old_def is not None:
            changes = list(_type_steps(context, obj, fdef, old_def, old_name, table_name))
            yield from changes
            if fdef.type in COMPUTED_TYPES and (changes or _computation_changed(fdef, old_def)):
                recompute.append(fdef.name)
        else:  # renamed from a kept (retired) column
            yield context.reviver.step(obj, fdef, table_name, old_name)
            if fdef.type in COMPUTED_TYPES:
                recompute.append(fdef.name)
    yield from _retire_steps(context, obj, old_obj, columns, renamed_away, table_name)
    if recompute:
        yield Recompute(obj.name, fields=tuple(recompute))


def _retire_steps(context: PlanContext, obj: ObjectDef, old_obj: ObjectDef | None, columns: set[str],
                  renamed_away: set[str], table_name: str) -> Iterator[Step]:
    """Removed fields keep their column; so do the unused columns of an object used again."""
    if old_obj is not None:
        assert context.old is not None
        for name, old_def in old_obj.fields.items():
            if name not in obj.fields and name not in renamed_away:
                kept = field_note(old_def, context.old, context.field_types, context.connection.dialect)
                yield RetireColumn(obj.name, field=name, kept=kept)
        return
    for name in sorted(columns - set(SYSTEM_FIELDS) - set(obj.fields) - renamed_away):
        if (table_name, name) not in context.retired:
            kept = kept_definition(context.reviver.notes, table_name, name)
            yield RetireColumn(obj.name, field=name, kept=json.dumps(kept) if kept else "")


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


def _type_steps(context: PlanContext, obj: ObjectDef, fdef: FieldDef, old_def: FieldDef, column: str,
                table_name: str) -> Iterator[Step]:
    assert context.old is not None
    old_type = context.field_types.value_type(old_def, context.old)
    new_type = context.field_types.value_type(fdef, context.new)
    old_ddl, new_ddl = context.ddl(old_def, context.old), context.ddl(fdef, context.new)
    retarget = fdef.is_lookup and not (old_def.is_lookup and context.reviver.same_target(old_def.to, fdef))
    form = stored_form(context.connection, table_name, column, context.field_types.column_type(old_def, context.old))
    form = replace(form, value_type=old_type)
    if old_ddl == new_ddl and old_type == new_type and not retarget and not form.floating:
        return
    if form.floating and (old_ddl, old_type) != (new_ddl, new_type):
        old_ddl = "floating point"
    if fdef.type in COMPUTED_TYPES:
        yield ChangeColumnType(obj.name, field=fdef.name, old_type=old_ddl, new_type=new_ddl, floating=form.floating)
        return
    field_type = context.field_types[fdef.type]
    count, shown = find_unconvertible(context.connection, replace(obj, name=table_name), column, fdef, field_type,
                                      form)
    if retarget:  # a lookup now pointing elsewhere: every stored id must exist there
        missing, examples = context.reviver.missing_targets(table_name, column, fdef, form)
        count, shown = count + missing, (shown + examples)[:10]
        old_type = f"{old_type} to {old_def.to}" if old_def.is_lookup else old_type  # a text field points nowhere
        new_type = f"{new_type} to {fdef.to}"
    yield ChangeColumnType(
        obj.name, field=fdef.name, old_type=f"{old_type} ({old_ddl})", new_type=f"{new_type} ({new_ddl})",
        blockers=shown, blocker_count=count, stored_scale=form.scale, floating=form.floating, stored_type=form.value_type,
    )


def _index_steps(context: PlanContext, obj: ObjectDef, table_name: str, inspector) -> Iterator[Step]:
    existing = reflect_indexes(context.connection, inspector, table_name)
    specs = index_specs(obj, context.field_types, context.new)
    table = context.schema.table(obj.name)
    for step in index_steps(obj, table_name, table, specs, existing, context.connection.dialect.name):
        if isinstance(step, CreateIndex) and step.unique and table_name == obj.name \
                and all(c in existing_columns(inspector, table_name) for c in step.columns):
            count, blockers = find_duplicates(context.connection, table_name, step.columns)
            step = replace(step, blockers=blockers, blocker_count=count)
        yield step


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
