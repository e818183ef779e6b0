"""Carry out a MigrationPlan inside one transaction: it all happens, or nothing does."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable, Mapping, Sequence

from sqlalchemy import (
    Connection,
    Index,
    Table,
    Text,
    and_,
    bindparam,
    column,
    delete,
    inspect,
    insert,
    or_,
    select,
    table,
    type_coerce,
    update,
)
from sqlalchemy.schema import CreateColumn

from crmkit.engine.fieldtypes import FieldTypes
from crmkit.engine.migrations.conversion import StoredForm, convert_value, find_duplicates, stored_values
from crmkit.engine.migrations.planner import MigrationError
from crmkit.engine.migrations.steps import (
    AddColumn,
    AddSystemColumn,
    ChangeColumnType,
    CreateIndex,
    CreateTable,
    DropIndex,
    MigrationPlan,
    PurgeColumn,
    PurgeTable,
    RebuildIndex,
    Recompute,
    RenameColumn,
    RenameTable,
    RetireColumn,
    RetireTable,
    ReviveColumn,
    ReviveTable,
)
from crmkit.engine.migrations.search_steps import BuildSearchIndex, DropSearchIndex
from crmkit.engine.query.search_index import Progress, SearchIndex, create_index, drop_index, rebuild_index
from crmkit.engine.records.rollup_range import RollupOutOfRange
from crmkit.engine.tables import Schema, field_column, index_specs, system_columns, temporary_column
from crmkit.metadata.model import Package
from crmkit.metadata.registry import Registry

#: Called to fill computed fields of existing records: (connection, object name, field names).
Recomputer = Callable[[Connection, str, tuple[str, ...]], None]


class Applier:
    def __init__(self, connection: Connection, registry: Registry, schema: Schema, field_types: FieldTypes,
                 recompute: Recomputer, progress: Progress | None = None) -> None:
        self.connection = connection
        self.registry = registry
        self.schema = schema
        self.field_types = field_types
        self.recompute = recompute
        #: Told how far a long step (building a search index) has come.
        self.progress = progress
        self.quote = connection.dialect.identifier_preparer.quote
        self.sqlite = connection.dialect.name == "sqlite"

    def apply(self, plan: MigrationPlan, packages: Sequence[Package], sources: Mapping[str, str]) -> None:
        if plan.blocked:
            reasons = "\n".join(step.describe() for step in plan.blocked)
            raise MigrationError(f"the migration was refused; nothing was changed:\n{reasons}")
        created = [self.schema.table(step.object) for step in plan.steps if isinstance(step, CreateTable)]
        if created:
            # The planner found none of them, on this connection under the migration lock: no check again.
            self.schema.metadata.create_all(self.connection, tables=created, checkfirst=False)
            for new_table in created:  # with its (empty) search index
                index = SearchIndex.of(self.registry, self.field_types, new_table.name)
                if index is not None:
                    drop_index(self.connection, new_table.name)
                    create_index(self.connection, index)
        for step in plan.steps:
            handler = getattr(self, f"_{type(step).__name__}")
            handler(step)
        self._record(plan, packages, sources)

    def _CreateTable(self, step: CreateTable) -> None:
        """Created together above, so that lookups between new objects resolve in any order."""

    def _RenameTable(self, step: RenameTable) -> None:
        self._execute(f"ALTER TABLE {self.quote(step.old_name)} RENAME TO {self.quote(step.object)}")
        # The platform's own rows name objects too: history, counters, the bin and shares follow the rename.
        for name in ("crmkit_history", "crmkit_counter", "crmkit_recycle_bin", "crmkit_share", "crmkit_retired"):
            table = self.schema.system_table(name)
            self.connection.execute(update(table).where(table.c.object == step.old_name).values(object=step.object))

    def _RetireTable(self, step: RetireTable) -> None:
        self._retire(step.object, "", step.kept)
        for key in inspect(self.connection).get_foreign_keys(step.object):
            for column_name in key["constrained_columns"]:
                self._drop_foreign_key(step.object, column_name)

    def _ReviveTable(self, step: ReviveTable) -> None:
        self._unretire(step.object, "")

    def _ReviveColumn(self, step: ReviveColumn) -> None:
        """Checked by the planner; values of another type are converted exactly like a type change."""
        self._unretire(step.object, step.field)
        self._unretire(step.object, step.kept_column)
        if step.convert:
            self._convert(step.object, step.field, StoredForm(step.stored_scale, value_type=step.stored_type))

    def _AddColumn(self, step: AddColumn) -> None:
        self._add_column(step.object, step.field, step.field)

    def _AddSystemColumn(self, step: AddSystemColumn) -> None:
        """Only nullable system columns are ever added to existing tables: old rows read as NULL."""
        column = next(c for c in system_columns() if c.name == step.column)
        spec = str(CreateColumn(column).compile(dialect=self.connection.dialect))
        self._execute(f"ALTER TABLE {self.quote(step.object)} ADD COLUMN {spec}")

    def _RenameColumn(self, step: RenameColumn) -> None:
        table = self.quote(step.object)
        self._execute(f"ALTER TABLE {table} RENAME COLUMN {self.quote(step.old_name)} TO {self.quote(step.field)}")
        # The platform's own rows name fields too: history and the recycle bin's copies follow the rename,
        # so a restore keeps the value and field-level security applies under the new name.
        history = self.schema.system_table("crmkit_history")
        self.connection.execute(update(history).where(history.c.object == step.object, history.c.field == step.old_name)
                                .values(field=step.field))
        rename_in_recycle_bin(self.connection, self.schema.system_table("crmkit_recycle_bin"), step.object,
                              step.old_name, step.field)

    def _ChangeColumnType(self, step: ChangeColumnType) -> None:
        self._convert(step.object, step.field, StoredForm(step.stored_scale, step.floating, step.stored_type))

    def _convert(self, object_name: str, field_name: str, form: StoredForm) -> None:
        """Convert into a new column, then swap it in: works the same on every database.

        `form` says how the old column holds its values (scaled integers, old floats on SQLite)."""
        obj = self.registry.object(object_name)
        fdef = obj.fields[field_name]
        temporary = temporary_column(field_name)
        self._add_column(object_name, field_name, temporary)
        if fdef.type not in ("formula", "rollup", "autonumber"):
            field_type = self.field_types[fdef.type]
            column_type = self.schema.table(object_name).c[field_name].type
            target = table(object_name, column("id"), column(temporary, column_type))
            statement = update(target).where(target.c.id == bindparam("record_id")).values(
                {temporary: bindparam("value", type_=column_type)})
            batch: list[dict] = []
            for record_id, value in stored_values(self.connection, object_name, field_name):
                batch.append({"record_id": record_id, "value": convert_value(field_type, fdef, form.decode(value))})
                if len(batch) >= 1000:
                    self.connection.execute(statement, batch)
                    batch = []
            if batch:
                self.connection.execute(statement, batch)
        self._drop_column(object_name, field_name)
        self._execute(f"ALTER TABLE {self.quote(object_name)} RENAME COLUMN {self.quote(temporary)} TO {self.quote(field_name)}")
        for spec in index_specs(obj, self.field_types, self.registry):
            if field_name in spec.fields:
                if spec.unique:
                    self._refuse_duplicates(object_name, field_name, spec.fields)
                self._index(object_name, spec.name).create(self.connection, checkfirst=True)

    def _refuse_duplicates(self, object_name: str, field_name: str, columns: tuple[str, ...]) -> None:
        """Converted values can coincide ('1' and '1.0' as numbers): a unique field then refuses the migration."""
        count, shown = find_duplicates(self.connection, object_name, columns)
        if count:
            raise MigrationError(
                f"the migration was refused; nothing was changed:\nafter converting {object_name}.{field_name}, "
                f"{count} value(s) of the unique {', '.join(columns)} would be used more than once: {', '.join(shown)}")

    def _RetireColumn(self, step: RetireColumn) -> None:
        self._retire(step.object, step.field, step.kept)
        keys = inspect(self.connection).get_foreign_keys(step.object)
        if any(step.field in key["constrained_columns"] for key in keys):
            self._drop_foreign_key(step.object, step.field)

    def _drop_foreign_key(self, object_name: str, column_name: str) -> None:
        """A kept lookup column keeps its ids but no longer its constraint, which would block deleting
        the records it points to; a revival checks the ids and adds the constraint again."""
        temporary = temporary_column(column_name)
        self._execute(f"ALTER TABLE {self.quote(object_name)} ADD COLUMN {self.quote(temporary)} BIGINT")
        target = table(object_name, column(column_name), column(temporary))
        self.connection.execute(update(target).values({temporary: target.c[column_name]}))
        self._drop_column(object_name, column_name)
        self._execute(f"ALTER TABLE {self.quote(object_name)} RENAME COLUMN {self.quote(temporary)} TO {self.quote(column_name)}")

    def _CreateIndex(self, step: CreateIndex) -> None:
        # checkfirst: a type change earlier in the plan may already have created it with the new column.
        self._index(step.object, step.name).create(self.connection, checkfirst=True)
        self._analyze_index(step.name)

    def _RebuildIndex(self, step: RebuildIndex) -> None:
        self._execute(f"DROP INDEX IF EXISTS {self.quote(step.name)}")
        self._index(step.object, step.name).create(self.connection)
        self._analyze_index(step.name)

    def _analyze_index(self, name: str) -> None:
        """SQLite, in a database whose tables have statistics (sqlite_stat1, from ANALYZE): the new
        index's statistics too. Without them the planner guesses a new index finds ten rows
        per value and prefers it over analysed ones: a twin (owner_id, industry, name) added
        to a million accounts took a sales rep's list, sorted by name, from the (owner_id,
        name) index to a sort of all their records. PostgreSQL plans from column statistics."""
        if self.connection.dialect.name != "sqlite":
            return
        analysed = self.connection.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'").first()
        if analysed is not None:
            self._execute(f"ANALYZE {self.quote(name)}")

    def _index(self, object_name: str, name: str) -> Index:
        """The index as the new metadata defines it (tables.IndexSpec.build), in the same order on every database."""
        return next(index for index in self.schema.table(object_name).indexes if index.name == name)

    def _DropIndex(self, step: DropIndex) -> None:
        # A type change earlier in the plan may already have dropped it with its column.
        self._execute(f"DROP INDEX IF EXISTS {self.quote(step.name)}")

    def _Recompute(self, step: Recompute) -> None:
        try:
            self.recompute(self.connection, step.object, step.fields)
        except RollupOutOfRange as error:  # the records already stored: a refused migration naming them
            parents = ", ".join(f"id {parent}" for parent in error.parents)
            which = f" (for {step.object} {parents})" if parents else ""
            raise MigrationError(f"{step.object}.{', '.join(step.fields)} cannot be computed for the records already "
                                 f"stored: {error.sentence.split(';')[0]}{which}. Nothing was changed; change the "
                                 "amounts so the values fit (or give the field more digits), then install again."
                                 ) from None

    def _BuildSearchIndex(self, step: BuildSearchIndex) -> None:
        rebuild_index(self.connection, self.schema, SearchIndex(step.object, step.fields), self.progress)

    def _DropSearchIndex(self, step: DropSearchIndex) -> None:
        drop_index(self.connection, step.object)

    def _PurgeColumn(self, step: PurgeColumn) -> None:
        self._drop_column(step.object, step.field)
        self._unretire(step.object, step.field)

    def _PurgeTable(self, step: PurgeTable) -> None:
        self._execute(f"DROP TABLE {self.quote(step.object)}")
        self._unretire(step.object, "")
        for name in ("crmkit_history", "crmkit_recycle_bin"):
            table = self.schema.system_table(name)
            self.connection.execute(delete(table).where(table.c.object == step.object))

    def _add_column(self, object_name: str, field_name: str, column_name: str) -> None:
        fdef = self.registry.object(object_name).fields[field_name]
        column = field_column(fdef, self.field_types, self.registry)
        column.name = column_name
        spec = str(CreateColumn(column).compile(dialect=self.connection.dialect))
        if fdef.is_lookup and fdef.to:
            spec += f" REFERENCES {self.quote(fdef.to)} (id)"
        self._execute(f"ALTER TABLE {self.quote(object_name)} ADD COLUMN {spec}")

    def _drop_column(self, object_name: str, column_name: str) -> None:
        inspector = inspect(self.connection)
        for index in inspector.get_indexes(object_name):
            if column_name in index["column_names"]:
                self._execute(f"DROP INDEX {self.quote(index['name'])}")
        has_foreign_key = any(column_name in fk["constrained_columns"] for fk in inspector.get_foreign_keys(object_name))
        if self.sqlite and has_foreign_key:
            # SQLite cannot drop a column that carries a foreign key; rebuild the table. Alembic is
            # imported here, for this one step: loading it costs every process start ~0.3 s.
            from alembic.migration import MigrationContext
            from alembic.operations import Operations

            operations = Operations(MigrationContext.configure(self.connection))
            with operations.batch_alter_table(object_name, recreate="always") as batch:
                batch.drop_column(column_name)
            self._restore_prefix_indexes(object_name)
            return
        self._execute(f"ALTER TABLE {self.quote(object_name)} DROP COLUMN {self.quote(column_name)}")

    def _restore_prefix_indexes(self, object_name: str) -> None:
        """A rebuilt SQLite table gets its indexes back from reflection, which drops COLLATE NOCASE: build them again."""
        if object_name not in self.registry.objects:
            return
        for spec in index_specs(self.registry.object(object_name), self.field_types, self.registry):
            if spec.kind == "prefix":
                self._execute(f"DROP INDEX IF EXISTS {self.quote(spec.name)}")
                self._index(object_name, spec.name).create(self.connection)

    def _retire(self, object_name: str, field_name: str, note: str = "") -> None:
        """Record a kept table ("" field) or column, with its definition as JSON so a revival can compare."""
        table = self.schema.system_table("crmkit_retired")
        self._unretire(object_name, field_name)
        self.connection.execute(insert(table).values(object=object_name, field=field_name, retired_at=_now(),
                                                     note=note or None))

    def _unretire(self, object_name: str, field_name: str) -> None:
        table = self.schema.system_table("crmkit_retired")
        self.connection.execute(delete(table).where(table.c.object == object_name, table.c.field == field_name))

    def _record(self, plan: MigrationPlan, packages: Sequence[Package], sources: Mapping[str, str]) -> None:
        table = self.schema.system_table("crmkit_package")
        now = _now()
        for package in packages:
            exists = self.connection.execute(select(table.c.name).where(table.c.name == package.name)).first()
            values = {"version": package.version, "documents": list(package.documents), "updated_at": now}
            if package.name in sources:
                values["source"] = sources[package.name]
            if exists:
                self.connection.execute(update(table).where(table.c.name == package.name).values(values))
            else:
                self.connection.execute(insert(table).values(name=package.name, installed_at=now, **values))
        log = self.schema.system_table("crmkit_migration")
        self.connection.execute(insert(log).values(
            applied_at=now,
            packages=[{"name": p.name, "version": p.version} for p in packages],
            steps=[step.as_json() for step in plan.steps],
        ))

    def _execute(self, statement: str) -> None:
        self.connection.exec_driver_sql(statement)


def rename_in_recycle_bin(connection: Connection, bin_table: Table, object_name: str, old: str, new: str,
                          batch_size: int = 500) -> None:
    """Rename field `old` of `object_name` to `new` in the bin's stored copies, a batch of entries at a time.

    Both where it is a key of a deleted record's `data` and where it is the lookup of
    `cleared_links` ({child object: {lookup: [ids]}}) on the entries of the records it pointed to.
    """
    quoted = f'"{old}"'
    candidates = or_(
        and_(bin_table.c.object == object_name, type_coerce(bin_table.c.data, Text).contains(quoted, autoescape=True)),
        type_coerce(bin_table.c.cleared_links, Text).contains(quoted, autoescape=True),
    )
    last = 0
    while True:
        rows = connection.execute(
            select(bin_table.c.id, bin_table.c.object, bin_table.c.data, bin_table.c.cleared_links)
            .where(candidates, bin_table.c.id > last).order_by(bin_table.c.id).limit(batch_size)).all()
        if not rows:
            return
        last = rows[-1].id
        for row in rows:
            changes = {}
            if row.object == object_name and isinstance(row.data, dict) and old in row.data:
                changes["data"] = _renamed_key(row.data, old, new)
            links = (row.cleared_links or {}).get(object_name)
            if isinstance(links, dict) and old in links:
                changes["cleared_links"] = {**row.cleared_links, object_name: _renamed_key(links, old, new)}
            if changes:
                connection.execute(update(bin_table).where(bin_table.c.id == row.id).values(changes))


def _renamed_key(values: Mapping, old: str, new: str) -> dict:
    return {(new if key == old else key): value for key, value in values.items()}


def _now() -> datetime:
    return datetime.now(timezone.utc)
