"""Kept data used again: a revived field goes through the same checks and conversion as a type change.

A removed field or object keeps its column or table ("retired", see crmkit_retired). Its
definition at that moment is recorded with it as JSON (`definition_note`), so that when
metadata uses the column again (the same name re-added, an object re-added, or a field
`renamed_from` the kept column) the planner knows what the kept values are:

- same stored type (value type, column type and, for lookups, target object): every value
  is read as that type and checked against the new definition (length, picklist options,
  range, ...); any that fails refuses the migration, naming the records;
- another type, or a definition recorded before notes existed: the column is converted like
  a type change (same conversion rules, same refusal naming the blocking records);
- lookups: every kept id must exist in the (new) target object, else the records are named.
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Callable, Iterator, Mapping

from marshmallow import ValidationError
from sqlalchemy import Connection, column, select, table

from crmkit.engine.fieldtypes import FieldTypes, coerce, error_messages
from crmkit.engine.migrations.conversion import SHOWN, StoredForm, convert_value, declared_form, stored_values
from crmkit.engine.migrations.steps import ReviveColumn
from crmkit.metadata.model import FieldDef, ObjectDef
from crmkit.metadata.registry import Registry

COMPUTED_TYPES = ("formula", "rollup", "autonumber")
#: How many ids one existence query checks.
ID_BATCH = 500

#: (object, field) -> note; field "" is a whole retired object.
KeptNotes = Mapping[tuple[str, str], "str | None"]


def definition_note(fdef: FieldDef, registry: Registry, field_types: FieldTypes, dialect: Any) -> dict[str, Any]:
    """What a retired field's column holds: {type, value_type, ddl, to}."""
    ddl = str(field_types.column_type(fdef, registry).compile(dialect=dialect))
    return {"type": fdef.type, "value_type": field_types.value_type(fdef, registry), "ddl": ddl, "to": fdef.to}


def field_note(fdef: FieldDef, registry: Registry, field_types: FieldTypes, dialect: Any) -> str:
    return json.dumps(definition_note(fdef, registry, field_types, dialect))


def object_note(obj: ObjectDef, registry: Registry, field_types: FieldTypes, dialect: Any) -> str:
    fields = {name: definition_note(fdef, registry, field_types, dialect) for name, fdef in obj.fields.items()}
    return json.dumps({"fields": fields})


def kept_definition(notes: KeptNotes, table_name: str, column_name: str) -> dict[str, Any] | None:
    """The recorded definition of a kept column: its own retirement, else its retired object's."""
    own = _parse(notes.get((table_name, column_name)))
    if own is not None:
        return own
    whole = _parse(notes.get((table_name, "")))
    found = (whole or {}).get("fields", {}).get(column_name)
    return found if isinstance(found, dict) else None


def _parse(note: str | None) -> dict[str, Any] | None:
    if not note:
        return None
    try:
        value = json.loads(note)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class Reviver:
    """Plans the reuse of kept columns of one migration."""

    def __init__(self, connection: Connection, registry: Registry, field_types: FieldTypes, notes: KeptNotes,
                 tables: set[str]) -> None:
        self.connection = connection
        self.registry = registry
        self.field_types = field_types
        self.notes = notes
        self.tables = tables

    def step(self, obj: ObjectDef, fdef: FieldDef, table_name: str, kept_column: str) -> ReviveColumn:
        """The step that brings `table_name.kept_column` back as `fdef`, with its blockers if any."""
        kept = kept_definition(self.notes, table_name, kept_column)
        now = definition_note(fdef, self.registry, self.field_types, self.connection.dialect)
        same = kept is not None and all(kept.get(key) == now[key] for key in ("value_type", "ddl"))
        if same and fdef.is_lookup:
            same = self.same_target(kept.get("to"), fdef)
        # A kept lookup lost its foreign key when retired: it is rebuilt, with the key, like a conversion.
        stored_type = str((kept or {}).get("value_type") or "")
        form = replace(declared_form(self.connection, table_name, kept_column), value_type=stored_type)
        step = ReviveColumn(obj.name, field=fdef.name, kept_column=kept_column, kept_type=_shown_type(kept),
                            new_type=_shown_type(now), convert=not same or fdef.is_lookup, stored_scale=form.scale,
                            stored_type=stored_type)
        if fdef.type in COMPUTED_TYPES:
            return step  # recomputed after the migration; nothing stored is reused
        count, shown = self.rejected(table_name, kept_column, fdef, typed=same, form=form)
        if fdef.is_lookup:  # the kept ids must still (or now) point at existing records
            more, examples = self.missing_targets(table_name, kept_column, fdef, form)
            count, shown = count + more, (shown + examples)[:SHOWN]
        return ReviveColumn(**{**step.__dict__, "blockers": shown, "blocker_count": count})

    def same_target(self, old_target: str | None, fdef: FieldDef) -> bool:
        """Whether a lookup still points to the same object (following a declared object rename)."""
        if old_target == fdef.to:
            return True
        target = self.registry.objects.get(fdef.to or "")
        return target is not None and target.renamed_from == old_target and old_target not in self.registry.objects

    def rejected(self, table_name: str, column_name: str, fdef: FieldDef, *, typed: bool,
                 form: StoredForm = StoredForm()) -> tuple[int, tuple[str, ...]]:
        """Kept values the new definition refuses: read as the new type when it is the same, else raw."""
        field_type = self.field_types[fdef.type]
        if field_type.input_field is None:
            return 0, ()
        if typed:
            input_field = field_type.input_field(fdef)
            column_type = self.field_types.column_type(fdef, self.registry)
            values = stored_values(self.connection, table_name, column_name, column_type)
            return _collect(values, lambda value: coerce(input_field, value))
        values = stored_values(self.connection, table_name, column_name)
        return _collect(values, lambda value: convert_value(field_type, fdef, form.decode(value)))

    def missing_targets(self, table_name: str, column_name: str, fdef: FieldDef,
                        form: StoredForm = StoredForm()) -> tuple[int, tuple[str, ...]]:
        """Stored ids (after conversion to a lookup) with no record in the new target object.

        Checked in Python a batch at a time: the column may still hold text, numbers or
        dates, which SQL cannot compare with ids the same way on every database. Values that
        do not convert to an id at all are the conversion's blockers, not counted here.
        """
        target_table = self.target_table(fdef)
        field_type = self.field_types[fdef.type]
        count = 0
        shown: list[str] = []
        batch: list[tuple[int, int]] = []

        def check() -> None:
            nonlocal count
            found = self._existing_ids(target_table, {target_id for _, target_id in batch})
            for record_id, target_id in batch:
                if target_id not in found:
                    count += 1
                    if len(shown) < SHOWN:
                        shown.append(f"id {record_id} (points to {fdef.to} id {target_id}, which does not exist)")
            batch.clear()

        for record_id, stored in stored_values(self.connection, table_name, column_name):
            try:
                target_id = convert_value(field_type, fdef, form.decode(stored))
            except ValidationError:
                continue
            batch.append((record_id, target_id))
            if len(batch) >= ID_BATCH:
                check()
        if batch:
            check()
        return count, tuple(shown)

    def _existing_ids(self, target_table: str | None, ids: set[int]) -> set[int]:
        if target_table is None:
            return set()
        target = table(target_table, column("id"))
        return set(self.connection.execute(select(target.c.id).where(target.c.id.in_(sorted(ids)))).scalars())

    def target_table(self, fdef: FieldDef) -> str | None:
        """Where the target object's records are now (before this migration renames anything); None: no table yet."""
        if fdef.to in self.tables:
            return fdef.to
        target = self.registry.objects.get(fdef.to or "")
        if target is not None and target.renamed_from in self.tables:
            return target.renamed_from
        return None


def _collect(values: Iterator[tuple[int, Any]], check: Callable[[Any], Any]) -> tuple[int, tuple[str, ...]]:
    count = 0
    shown: list[str] = []
    for record_id, value in values:
        try:
            check(value)
        except ValidationError as error:
            count += 1
            if len(shown) < SHOWN:
                shown.append(f"id {record_id} ({value!r}: {' '.join(error_messages(error.messages))})")
        except (TypeError, ValueError) as error:
            count += 1
            if len(shown) < SHOWN:
                shown.append(f"id {record_id} ({value!r}: {error})")
    return count, tuple(shown)


def _shown_type(definition: Mapping[str, Any] | None) -> str:
    if definition is None:
        return "the type it was stored with (not recorded)"
    text = f"{definition.get('value_type')} ({definition.get('ddl')})"
    return f"{text} to {definition['to']}" if definition.get("to") else text
