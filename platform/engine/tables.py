"""SQLAlchemy tables for the Registry's objects, plus the platform's own tables."""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any, Mapping

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
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement, Grouping
from sqlalchemy.sql.visitors import InternalTraversal

from crmkit.engine.automation.tables import define_assignment_tables, define_automation_tables
from crmkit.engine.columns import JsonDocument, RecordId, UtcDateTime
from crmkit.engine.fieldtypes import FieldTypes
from crmkit.engine.security.tables import define_security_tables
from crmkit.engine.transfer.tables import define_transfer_tables
from crmkit.engine.workspace_tables import define_workspace_tables
from crmkit.metadata.model import SYSTEM_FIELDS, FieldDef, ObjectDef
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
    """(name, fields, unique) of every ordered index over all rows the object's metadata asks for.

    Fields marked indexed, unique, and autonumbers; the declared `indexes`; a private object's
    owner_id twins; and one for the default sort (its fields, `id` dropped; shared with an
    index of exactly those fields): a user's first page is never a full sort. Lookups, indexed
    or not, get the partial index of `lookup_indexes` instead (a unique lookup: its unique index).
    """
    wanted: dict[tuple[str, ...], bool] = {}
    for fdef in obj.fields.values():
        if fdef.unique:
            wanted[(fdef.name,)] = True
        elif (fdef.indexed and not fdef.is_lookup) or fdef.type == "autonumber":
            wanted.setdefault((fdef.name,), fdef.type == "autonumber")
    twins: list[tuple[str, ...]] = []
    for index in obj.indexes:
        wanted[index.fields] = wanted.get(index.fields, False) or index.unique
        twins.append(index.fields)
    default = default_sort_fields(obj)
    if default:
        wanted.setdefault(default, False)
        twins.append(default)
    if obj.sharing == "private":
        for fields in twins:
            if fields[0] != "owner_id":
                # A private object's row filter starts with owner_id: a twin index that leads with it
                # serves a rep's filtered, sorted list as directly as the plain index serves an admin's.
                wanted.setdefault(("owner_id", *fields), False)
    return [
        (constraint_name("ux" if unique else "ix", obj.name, columns), columns, unique)
        for columns, unique in wanted.items()
    ]


def default_sort_fields(obj: ObjectDef) -> tuple[str, ...]:
    """The fields of the default sort an index can serve: one direction for all, `id` and what follows dropped.

    () when there is none, or it mixes directions (a b-tree is read in one direction; see docs/query.md).
    """
    return sort_fields(obj.default_sort)


def sort_fields(sort: tuple[str, ...]) -> tuple[str, ...]:
    """The fields of a sort (["-due_date"], [last_name, first_name]) an index can serve in order.

    `id` and what follows dropped; () when it mixes directions.
    """
    names: list[str] = []
    directions = set()
    for item in sort:
        name = item.lstrip("-")
        if name == "id":
            break
        names.append(name)
        directions.add(item.startswith("-"))
    return tuple(names) if len(directions) == 1 else ()


def lookup_indexes(obj: ObjectDef, registry: Registry) -> list[tuple[str, tuple[str, ...]]]:
    """(name, fields) of the index of each lookup of `obj`: the lookup, then its related list's sort.

    The related list of records of `obj` on the detail page of the record a lookup points at
    reads `WHERE lookup = :id ORDER BY <its sort>, id LIMIT n`, so the index leads with the
    lookup and continues with the sort's fields (when one direction; `sort_fields`): the list
    is one range of the index, read in order, however many children the record has.

    Only rows whose lookup is set are indexed (IndexSpec.present): a lookup that is mostly
    empty (the parent account of most accounts) then neither bloats the index nor skews the
    planner's statistics; an index over every row counted all the empty values as one key
    with a hundred thousand rows, and SQLite walked the sort's index instead, reading every
    account to find a parent's few subsidiaries. An equality on the lookup implies it is set,
    so both databases use the partial index for it. A unique lookup keeps its unique index.
    """
    result: list[tuple[str, tuple[str, ...]]] = []
    columns = set(obj.fields) | set(SYSTEM_FIELDS)
    for fdef in obj.fields.values():
        if not fdef.is_lookup or fdef.unique:
            continue
        sort: tuple[str, ...] = ()
        if fdef.to in registry.objects:
            related = next((item for item in registry.layout(fdef.to).related or ()
                            if item.object == obj.name and item.via == fdef.name), None)
            if related is not None:
                sort = sort_fields(tuple(related.sort) or obj.default_sort)
        if not all(name in columns and name != fdef.name and _orderable(obj, name) for name in sort):
            sort = ()  # a list sorted by what no index should hold (long text) is sorted after reading
        fields = (fdef.name, *sort)
        result.append((constraint_name("ix", obj.name, fields), fields))
    return result


#: Field types no lookup index continues with: long text (a b-tree entry has a size limit on
#: PostgreSQL) and multi-valued fields; lists are not sorted by them (query/sorting.py).
UNORDERED_TYPES = frozenset({"textarea", "multi_picklist"})


def _orderable(obj: ObjectDef, name: str) -> bool:
    fdef = obj.fields.get(name)
    return fdef is None or fdef.type not in UNORDERED_TYPES


@dataclass(frozen=True)
class IndexSpec:
    """One index the engine builds on an object's table.

    `kind` "order": a b-tree over `columns` in the order lists are read (`id` last, so the
    order is total like every ORDER BY the engine emits; see `OrderKey`). `kind` "prefix":
    the case-folded text of one field, read as a range by `startswith` (see `PrefixKey`).
    `present`: the column a row must have set to be in the index (a partial index
    `WHERE <present> IS NOT NULL`; a lookup's index, `lookup_indexes`), or None for every row.
    """

    name: str
    fields: tuple[str, ...]
    unique: bool = False
    kind: str = "order"
    present: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """The indexed columns in order: the fields, then `id` unless unique or already last."""
        if self.kind == "prefix" or self.unique or self.fields[-1] == "id":
            return self.fields
        return (*self.fields, "id")

    def build(self, table: Table) -> Index:
        """The SQLAlchemy Index over `table`: the same definition on every database, compiled for each."""
        if self.kind == "prefix":
            return Index(self.name, PrefixKey(table.c[self.fields[0]]))
        where = {}
        if self.present is not None:
            condition = table.c[self.present].is_not(None)
            where = {"sqlite_where": condition, "postgresql_where": condition}
        return Index(self.name, *(OrderKey(table.c[name]) for name in self.columns), unique=self.unique, **where)


def prefix_fields(obj: ObjectDef, field_types: FieldTypes, registry: Registry) -> list[str]:
    """The indexed fields `startswith` can read as a range: those with an ordered index and the operator.

    Picklists are left out: their values are a short list of options, filtered with eq and in.
    """
    indexed = {fields[0] for _, fields, _ in field_indexes(obj) if len(fields) == 1}
    return [
        fdef.name for fdef in obj.fields.values()
        if fdef.name in indexed and "startswith" in field_types.operators(fdef, registry)
        and field_types.value_type(fdef, registry) != "picklist"
    ]


def index_specs(obj: ObjectDef, field_types: FieldTypes, registry: Registry) -> list[IndexSpec]:
    """Every index the engine builds on the object's table, in creation order."""
    specs = [IndexSpec(name, fields, unique) for name, fields, unique in field_indexes(obj)]
    taken = {spec.name for spec in specs}
    specs += [IndexSpec(name, fields, present=fields[0]) for name, fields in lookup_indexes(obj, registry)
              if name not in taken]  # an index over every row of exactly these fields serves the list too
    specs.append(IndexSpec(owner_index_name(obj.name), ("owner_id",)))
    specs += [IndexSpec(constraint_name("ip", obj.name, (name,)), (name,), kind="prefix")
              for name in prefix_fields(obj, field_types, registry)]
    return specs


def owner_index_name(object_name: str) -> str:
    return constraint_name("ix", object_name, ("owner_id",))


class OrderKey(ColumnElement):
    """An index column in the order the engine sorts: empty values smallest (first ascending).

    PostgreSQL builds b-tree columns ASC NULLS LAST by default, which no ORDER BY the engine
    emits could use; a nullable column is indexed NULLS FIRST there (read backwards, it is
    DESC NULLS LAST, the descending order). A NOT NULL column (id, created_at) is indexed and
    sorted plainly. SQLite's indexes already put NULL first, and take no NULLS clause.
    """

    __visit_name__ = "crmkit_order_key"
    inherit_cache = True
    _traverse_internals = [("element", InternalTraversal.dp_clauseelement)]

    def __init__(self, element: Any) -> None:
        self.element = element
        self.type = element.type


@compiles(OrderKey)
def _plain_key(key: OrderKey, compiler, **kw) -> str:
    return compiler.process(key.element, **kw)


@compiles(OrderKey, "postgresql")
def _nulls_first_key(key: OrderKey, compiler, **kw) -> str:
    text = compiler.process(key.element, **kw)
    return text if not getattr(key.element, "nullable", True) else f"{text} NULLS FIRST"


class PrefixKey(ColumnElement):
    """A text value folded the way `startswith` ignores case, in an order where a prefix is one range.

    PostgreSQL: `lower(value) COLLATE "C"`: lower() as the filter folds (every alphabet), then
    compared byte-wise, so the range does not depend on the database's collation (en_US
    sorts 'a-b' between 'ab' and 'ac'). SQLite: `value COLLATE NOCASE`, which folds A-Z only,
    as SQLite's lower() and LIKE do. Used both in the index and in the filter, so they match.
    """

    __visit_name__ = "crmkit_prefix_key"
    inherit_cache = True
    _traverse_internals = [("element", InternalTraversal.dp_clauseelement)]

    def __init__(self, element: Any) -> None:
        self.element = element
        self.type = Text()

    def self_group(self, against: Any = None) -> ColumnElement:
        return Grouping(self)


@compiles(PrefixKey)
def _nocase_key(key: PrefixKey, compiler, **kw) -> str:
    return f"{compiler.process(key.element, **kw)} COLLATE NOCASE"


@compiles(PrefixKey, "postgresql")
def _lower_c_key(key: PrefixKey, compiler, **kw) -> str:
    return f'lower({compiler.process(key.element, **kw)}) COLLATE "C"'


@dataclass(frozen=True)
class Schema:
    """The tables of one Registry (`metadata`: the objects' tables) beside the platform's own tables.

    The system tables are the same for every registry, so they live in one MetaData shared by
    the whole process (`system_metadata()`); object tables never reference them.
    """

    metadata: MetaData
    tables: Mapping[str, Table]

    def table(self, name: str) -> Table:
        """The table of object `name`; KeyError for an unknown object."""
        return self.tables[name]

    def system_table(self, name: str) -> Table:
        """The platform's table `name` (crmkit_user, crmkit_history, ...); KeyError for an unknown one."""
        return system_metadata().tables[name]


_system_metadata: list[MetaData] = []
_system_metadata_lock = threading.Lock()


def system_metadata() -> MetaData:
    """The platform's own tables, defined once per process; read it, never add tables to it."""
    if not _system_metadata:
        with _system_metadata_lock:
            if not _system_metadata:
                metadata = MetaData()
                define_system_tables(metadata)
                _system_metadata.append(metadata)
    return _system_metadata[0]


def build_schema(registry: Registry, field_types: FieldTypes) -> Schema:
    """The objects' tables of `registry`, in a MetaData of their own (lookups reference each other)."""
    metadata = MetaData()
    tables: dict[str, Table] = {}
    for obj in registry.objects.values():
        columns = system_columns() + [field_column(f, field_types, registry) for f in obj.fields.values()]
        table = Table(obj.name, metadata, *columns, sqlite_autoincrement=True)
        for spec in index_specs(obj, field_types, registry):
            spec.build(table)
        tables[obj.name] = table
    return Schema(metadata, tables)


#: The index a record's history is read by: (object, record_id, changed_at, id).
HISTORY_INDEX = "ix_crmkit_history_time"
#: The history index crmkit built before HISTORY_INDEX (object, record_id, id): `crmkit migrate` replaces it.
RETIRED_HISTORY_INDEX = "ix_crmkit_history_record"
#: The system table holding the installed metadata's generation.
METADATA_STATE = "crmkit_metadata_state"


def define_system_tables(metadata: MetaData) -> None:
    """The platform's own tables: installed packages, counters, history, recycle bin, security, saved views and recent items."""
    define_security_tables(metadata)
    define_workspace_tables(metadata)
    define_automation_tables(metadata)
    define_assignment_tables(metadata)
    define_transfer_tables(metadata)
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
    # A record's history newest first, a page at a time (records/timeline.py), and oldest first (history()).
    Index(HISTORY_INDEX, history.c.object, history.c.record_id, history.c.changed_at, history.c.id)
    # The change log: one row per record written, by every write path, in the write's transaction
    # (records/changes.py); the API's change feed reads it in id order (GET /api/v1/changes).
    Table(
        "crmkit_change", metadata,
        Column("id", RecordId, primary_key=True, autoincrement=True),
        Column("object", String(63), nullable=False),
        Column("record_id", BigInteger(), nullable=False),
        Column("operation", String(16), nullable=False),
        Column("fields", JsonDocument(), nullable=False),
        Column("changed_at", UtcDateTime(), nullable=False),
        Column("changed_by", BigInteger(), nullable=True),
        sqlite_autoincrement=True,
    )
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
