"""SQLAlchemy tables for the Registry's objects, plus the platform's own tables."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Mapping

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from crmkit.engine.columns import JsonDocument, RecordId, UtcDateTime
from crmkit.engine.fieldtypes import FieldTypes
from crmkit.engine.security.tables import define_security_tables
from crmkit.metadata.model import FieldDef, ObjectDef
from crmkit.metadata.registry import Registry

#: PostgreSQL's identifier limit in bytes (NAMEDATALEN - 1); longer names are silently cut there.
MAX_NAME = 63
#: Hex digits of the SHA-1 that keep shortened names apart.
HASH_LENGTH = 8


def fit_name(name: str) -> str:
    """`name` when it fits in 63 bytes; otherwise its first 54 bytes + '_' + 8 hex of sha1(name).

    Every identifier the engine derives (index, foreign key, temporary column) goes through
    here, so it is deterministic, stays unique, and is never cut by PostgreSQL, whose limit
    applies to every name metadata validation accepts (objects and fields up to 63 characters).
    """
    encoded = name.encode()
    if len(encoded) <= MAX_NAME:
        return name
    digest = hashlib.sha1(encoded).hexdigest()[:HASH_LENGTH]
    head = encoded[:MAX_NAME - HASH_LENGTH - 1].decode(errors="ignore")
    return f"{head}_{digest}"


def constraint_name(prefix: str, table: str, columns: tuple[str, ...]) -> str:
    """`{prefix}_{table}_{columns}` (ix, ux, fk), shortened by `fit_name` when too long."""
    return fit_name(f"{prefix}_{table}_{'_'.join(columns)}")


def temporary_column(field: str) -> str:
    """The column a type change converts `field` into before swapping it in."""
    return fit_name(f"{field}__new")


def system_columns() -> list[Column]:
    return [
        Column("id", RecordId, primary_key=True, autoincrement=True),
        Column("created_at", UtcDateTime(), nullable=False, index=False),
        Column("created_by", BigInteger(), nullable=True),
        Column("updated_at", UtcDateTime(), nullable=False),
        Column("updated_by", BigInteger(), nullable=True),
        Column("owner_id", BigInteger(), nullable=True),
        Column("version", Integer(), nullable=False, default=1),
        formula_errors_column(),
    ]


def formula_errors_column() -> Column:
    """Why the record's stored formulas failed, as JSON {field: reason}; NULL when none did."""
    return Column("formula_errors", JsonDocument(), nullable=True)


def field_column(fdef: FieldDef, field_types: FieldTypes, registry: Registry) -> Column:
    """The column of one field; always nullable, since `required` is the engine's to enforce."""
    column_type = field_types.column_type(fdef, registry)
    if fdef.is_lookup and fdef.to:
        return Column(fdef.name, column_type, ForeignKey(f"{fdef.to}.id", name=constraint_name("fk", fdef.to, (fdef.name,))), nullable=True)
    return Column(fdef.name, column_type, nullable=True)


def field_indexes(obj: ObjectDef) -> list[tuple[str, tuple[str, ...], bool]]:
    """(name, columns, unique) of every index the object's metadata asks for."""
    wanted: dict[tuple[str, ...], bool] = {}
    for fdef in obj.fields.values():
        if fdef.unique:
            wanted[(fdef.name,)] = True
        elif fdef.indexed or fdef.is_lookup or fdef.type == "autonumber":
            wanted.setdefault((fdef.name,), fdef.type == "autonumber")
    for index in obj.indexes:
        wanted[index.fields] = wanted.get(index.fields, False) or index.unique
        if obj.sharing == "private" and index.fields[0] != "owner_id":
            # A private object's row filter starts with owner_id: a twin index that leads with it
            # serves a rep's filtered, sorted list as directly as the plain index serves an admin's.
            wanted.setdefault(("owner_id", *index.fields), False)
    return [
        (constraint_name("ux" if unique else "ix", obj.name, columns), columns, unique)
        for columns, unique in wanted.items()
    ]


@dataclass(frozen=True)
class Schema:
    """The tables of one Registry, in one SQLAlchemy MetaData."""

    metadata: MetaData
    tables: Mapping[str, Table]

    def table(self, name: str) -> Table:
        return self.tables[name]


def build_schema(registry: Registry, field_types: FieldTypes) -> Schema:
    metadata = MetaData()
    define_system_tables(metadata)
    tables: dict[str, Table] = {}
    for obj in registry.objects.values():
        columns = system_columns() + [field_column(f, field_types, registry) for f in obj.fields.values()]
        table = Table(obj.name, metadata, *columns, sqlite_autoincrement=True)
        for name, index_columns, unique in field_indexes(obj):
            Index(name, *(table.c[c] for c in index_columns), unique=unique)
        Index(constraint_name("ix", obj.name, ("owner_id",)), table.c.owner_id)
        tables[obj.name] = table
    return Schema(metadata, tables)


#: The system table holding the installed metadata's generation.
METADATA_STATE = "crmkit_metadata_state"


def define_system_tables(metadata: MetaData) -> None:
    """The platform's own tables: installed packages, counters, history, recycle bin, security."""
    define_security_tables(metadata)
    Table(
        "crmkit_package", metadata,
        Column("name", String(63), primary_key=True),
        Column("version", String(64), nullable=False),
        Column("documents", JsonDocument(), nullable=False),
        Column("source", Text(), nullable=True),
        Column("installed_at", UtcDateTime(), nullable=False),
        Column("updated_at", UtcDateTime(), nullable=False),
    )
    Table(
        # One row (id 1): `generation` grows by one with every install or migration, so a
        # process that loaded the metadata earlier notices and reloads it (Crm.ensure_current).
        METADATA_STATE, metadata,
        Column("id", Integer(), primary_key=True, autoincrement=False),
        Column("generation", BigInteger(), nullable=False),
    )
    Table(
        "crmkit_migration", metadata,
        Column("id", RecordId, primary_key=True, autoincrement=True),
        Column("applied_at", UtcDateTime(), nullable=False),
        Column("packages", JsonDocument(), nullable=False),
        Column("steps", JsonDocument(), nullable=False),
        sqlite_autoincrement=True,
    )
    Table(
        "crmkit_retired", metadata,
        Column("object", String(63), primary_key=True),
        Column("field", String(63), primary_key=True, default=""),
        Column("retired_at", UtcDateTime(), nullable=False),
        Column("note", Text(), nullable=True),
    )
    Table(
        "crmkit_counter", metadata,
        Column("object", String(63), primary_key=True),
        Column("field", String(63), primary_key=True),
        Column("value", BigInteger(), nullable=False),
    )
    history = Table(
        "crmkit_history", metadata,
        Column("id", RecordId, primary_key=True, autoincrement=True),
        Column("object", String(63), nullable=False),
        Column("record_id", BigInteger(), nullable=False),
        Column("operation", String(16), nullable=False),
        Column("field", String(63), nullable=True),
        Column("old_value", JsonDocument(), nullable=True),
        Column("new_value", JsonDocument(), nullable=True),
        Column("changed_at", UtcDateTime(), nullable=False),
        Column("changed_by", BigInteger(), nullable=True),
        sqlite_autoincrement=True,
    )
    Index("ix_crmkit_history_record", history.c.object, history.c.record_id, history.c.id)
    bin_table = Table(
        "crmkit_recycle_bin", metadata,
        Column("id", RecordId, primary_key=True, autoincrement=True),
        Column("batch", String(36), nullable=False),
        Column("object", String(63), nullable=False),
        Column("record_id", BigInteger(), nullable=False),
        Column("title", Text(), nullable=True),
        Column("data", JsonDocument(), nullable=False),
        Column("cleared_links", JsonDocument(), nullable=True),
        Column("is_root", Integer(), nullable=False, default=1),
        Column("deleted_at", UtcDateTime(), nullable=False),
        Column("deleted_by", BigInteger(), nullable=True),
        UniqueConstraint("object", "record_id", name="ux_crmkit_recycle_bin_record"),
        sqlite_autoincrement=True,
    )
    Index("ix_crmkit_recycle_bin_batch", bin_table.c.batch)
