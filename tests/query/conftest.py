"""A small CRM model and a fresh database per test, on SQLite and on PostgreSQL.

On PostgreSQL every test gets a schema of its own (q_<random>), so parallel runs never collide:
made once with the model's tables and emptied after each test for the next (QuerySchemas).
Without a reachable server the PostgreSQL half is skipped with the reason shown, unless
CRMKIT_REQUIRE_POSTGRES=1 (then it fails).
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Iterator, Mapping

import pytest
from sqlalchemy import Connection, Engine, insert, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.schema import CreateIndex, CreateTable

from crmkit.engine.database import connect
from crmkit.engine.fieldtypes import FieldTypes
from crmkit.engine.fieldtypes.builtin import BUILTIN_TYPES
from crmkit.engine.query.search_index import SearchIndex, add_records, create_index
from crmkit.engine.query import QueryContext, QuerySpec, build_select, compile_filter, fetch_rows
from crmkit.engine.tables import Schema, build_schema
from crmkit.metadata.catalog import Catalog
from crmkit.metadata.model import FieldDef, Label, ObjectDef, PicklistOption, RollupDef, frozen_map
from crmkit.metadata.registry import Registry

POSTGRES_URL = os.environ.get("CRMKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1/test")
CREATED = datetime(2024, 1, 1, tzinfo=timezone.utc)


def make_field(name: str, spec: str | Mapping[str, Any]) -> FieldDef:
    """A FieldDef from a short spec: "currency", or {"type": "picklist", "options": ["A", "B"]}."""
    spec = {"type": spec} if isinstance(spec, str) else dict(spec)
    options = tuple(PicklistOption(value, Label.of(value)) for value in spec.pop("options", ()))
    rollup = spec.pop("rollup", None)
    return FieldDef(name=name, label=Label.of(name), options=options,
                    rollup=RollupDef(**rollup) if rollup else None, **spec)


def make_object(name: str, fields: Mapping[str, Any], **options: Any) -> ObjectDef:
    built = {field_name: make_field(field_name, spec) for field_name, spec in fields.items()}
    return ObjectDef(name=name, label=Label.of(name), plural_label=Label.of(name + "s"), package="test",
                     fields=frozen_map(built), **options)


OBJECTS = [
    make_object("account", {
        "name": {"type": "text", "searchable": True},
        "industry": {"type": "picklist", "options": ["Tech", "Finance", "Retail", "科技"]},
        "rating": "integer",
        "parent": {"type": "lookup", "to": "account"},
        "opportunity_total": {"type": "rollup", "rollup": {"child_object": "opportunity", "via": "account",
                                                           "aggregate": "sum", "field": "amount"}},
        "opportunity_count": {"type": "rollup", "rollup": {"child_object": "opportunity", "via": "account",
                                                           "aggregate": "count"}},
    }, title_field="name"),
    make_object("opportunity", {
        "name": {"type": "text", "searchable": True},
        "description": {"type": "textarea", "searchable": True},
        "stage": {"type": "picklist", "options": ["Prospecting", "Won", "Lost"]},
        "amount": {"type": "currency", "min": Decimal(0)},
        "probability": "percent",
        "quantity": "integer",
        "close_date": "date",
        "closed_at": "datetime",
        "is_won": "boolean",
        "tags": {"type": "multi_picklist", "options": ["Hot", "Cold", "大客户", "50%_off"]},
        "account": {"type": "lookup", "to": "account"},
        "weighted": {"type": "formula", "formula": "amount * probability / 100", "returns": "currency"},
        "email": "email",
    }, title_field="name"),
    make_object("note", {"subject": "text", "body": "textarea"}, title_field="subject", default_sort=("-subject",)),
    make_object("memo", {"code": "integer"}),
]


@dataclass(frozen=True)
class Model:
    registry: Registry
    field_types: FieldTypes
    schema: Schema


@pytest.fixture(scope="session")
def model() -> Model:
    field_types = FieldTypes.collect([BUILTIN_TYPES])
    catalog = Catalog.build([field_type.kind for field_type in BUILTIN_TYPES])
    registry = Registry(packages=frozen_map(), objects=frozen_map({o.name: o for o in OBJECTS}), catalog=catalog)
    return Model(registry, field_types, build_schema(registry, field_types))


@pytest.fixture(scope="session")
def ctx(model: Model) -> QueryContext:
    """A context without a database, for what is decided before any SQL runs (mistakes, SQL text)."""
    return QueryContext(model.registry, model.schema, model.field_types, today=date(2024, 3, 15))


class Db:
    """One test database with the model's tables, and short ways to fill and query it.

    It keeps one connection for the whole test (each call commits), so a test costs few round trips.
    """

    def __init__(self, engine: Engine, model: Model) -> None:
        self.engine = engine
        self.model = model
        self.dialect = engine.dialect.name
        self._connection: Connection | None = None

    def ctx(self, **options: Any) -> QueryContext:
        options.setdefault("today", date(2024, 3, 15))
        return QueryContext(self.model.registry, self.model.schema, self.model.field_types, **options)

    def table(self, object_name: str):
        return self.model.schema.table(object_name)

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            self._connection = self.engine.connect()
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self.engine.dispose()

    def insert(self, object_name: str, *rows: Mapping[str, Any]) -> list[int]:
        """Insert rows (system columns filled in) in one statement; returns their ids in order."""
        table = self.table(object_name)
        keys = {key for row in rows for key in row}
        values = [{"created_at": CREATED, "updated_at": CREATED, "version": 1, **dict.fromkeys(keys), **row}
                  for row in rows]
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        ids = list(self.connection.scalars(statement, values))
        index = SearchIndex.of(self.model.registry, self.model.field_types, object_name)
        if index is not None:  # what the engine's after-write step does for every write
            add_records(self.connection, index, [{**row, "id": record_id} for row, record_id in zip(values, ids)])
        self.connection.commit()
        return ids

    def execute(self, statement: Any, *args: Any) -> list[Any]:
        result = self.connection.execute(statement, *args)
        rows = list(result) if result.returns_rows else []
        self.connection.commit()
        return rows

    def names(self, object_name: str, filter: Any, name_field: str = "name", **ctx_options: Any) -> set[Any]:
        """The `name_field` values of the records `filter` matches."""
        table = self.table(object_name)
        clause = compile_filter(self.ctx(**ctx_options), object_name, filter)
        return {row[0] for row in self.execute(select(table.c[name_field]).where(clause))}

    def page(self, object_name: str, spec: QuerySpec, columns=None, **ctx_options: Any) -> list[Mapping[str, Any]]:
        stmt = build_select(self.ctx(**ctx_options), object_name, spec, columns)
        return [dict(row._mapping) for row in self.execute(stmt)]

    def fetched(self, object_name: str, spec: QuerySpec, columns=None, **ctx_options: Any) -> list[Mapping[str, Any]]:
        """The same page read with fetch_rows, the record service's way."""
        with self.engine.connect() as connection:
            rows = fetch_rows(connection, self.ctx(**ctx_options), object_name, spec, columns)
            return [dict(row._mapping) for row in rows]


def _object_tables(model: Model) -> list:
    return [model.schema.table(obj.name) for obj in OBJECTS]


def _create_search_indexes(connection: Connection, model: Model) -> None:
    for obj in OBJECTS:
        index = SearchIndex.of(model.registry, model.field_types, obj.name)
        if index is not None:
            create_index(connection, index)


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine | str]:
    """An engine on the test server, or the reason there is none (checked once per session)."""
    engine = connect(POSTGRES_URL)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        engine.dispose()
        yield f"PostgreSQL is not reachable at {POSTGRES_URL}: {str(error).splitlines()[0]}"
        return
    yield engine
    engine.dispose()


def _require(admin: Engine | str) -> Engine:
    if isinstance(admin, str):
        if os.environ.get("CRMKIT_REQUIRE_POSTGRES") == "1":
            pytest.fail(admin + " (CRMKIT_REQUIRE_POSTGRES=1 requires it)")
        pytest.skip(admin)
    return admin


@pytest.fixture(scope="session")
def postgres_ddl(postgres_admin: Engine | str, model: Model) -> str:
    """The model's CREATE TABLE and CREATE INDEX statements as one script: one round trip per test."""
    if isinstance(postgres_admin, str):
        return ""
    statements = []
    for table in _object_tables(model):
        statements.append(str(CreateTable(table).compile(dialect=postgres_admin.dialect)))
        statements += [str(CreateIndex(index).compile(dialect=postgres_admin.dialect)) for index in table.indexes]
    return ";\n".join(statements)


class QuerySchemas:
    """PostgreSQL schemas holding the model's (empty) tables, handed to one test at a time.

    Creating a schema with the model's tables, indexes and search tables, and dropping it
    again, is most of what a query test on PostgreSQL costs. After a test its schema is
    emptied (DELETE, every sequence back to 1) and handed to the next test; a schema whose
    relations are no longer those it was made with is dropped instead of reused.
    """

    def __init__(self, admin: Engine, ddl: str, model: Model) -> None:
        self.admin = admin
        self.ddl = ddl
        self.model = model
        #: (schema, its tables, its sequences, its relations) ready for a test
        self.free: list[tuple[str, tuple[str, ...], tuple[str, ...], tuple]] = []
        self.made: list[str] = []

    @staticmethod
    def _relations(connection: Connection, schema: str) -> tuple:
        return tuple(connection.execute(text(
            "SELECT c.relname, c.relkind, c.relnatts FROM pg_class c WHERE c.relnamespace = CAST(:schema AS regnamespace) "
            "ORDER BY 1"), {"schema": schema}).all())

    def take(self) -> tuple[str, tuple[str, ...], tuple[str, ...], tuple]:
        if self.free:
            return self.free.pop()
        schema = f"q_{secrets.token_hex(6)}"
        with self.admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"; SET LOCAL search_path TO "{schema}"; {self.ddl}')
            _create_search_indexes(connection, self.model)
        self.made.append(schema)
        with self.admin.connect() as connection:
            relations = self._relations(connection, schema)
        tables = tuple(name for name, kind, _ in relations if kind == "r")
        sequences = tuple(name for name, kind, _ in relations if kind == "S")
        return schema, tables, sequences, relations

    def give_back(self, schema: str, tables: tuple[str, ...], sequences: tuple[str, ...], relations: tuple) -> None:
        from crmkit.engine.query.search_statistics import forget_statistics

        forget_statistics()  # kept per URL, and the URL is used again
        try:
            with self.admin.begin() as connection:
                connection.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
                if self._relations(connection, schema) == relations:
                    # DELETE and setval, not TRUNCATE: the tables hold a few rows (see tests/conftest.py).
                    connection.exec_driver_sql("; ".join(
                        [f'DELETE FROM "{schema}"."{name}"' for name in tables] +
                        [f"SELECT setval('\"{schema}\".\"{name}\"', 1, false)" for name in sequences]))
                    self.free.append((schema, tables, sequences, relations))
                    return
        except Exception:  # a lock still held: this schema is not reused
            pass
        self.drop(schema)

    def drop(self, schema: str) -> None:
        try:
            with self.admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        except Exception:
            pass

    def drop_all(self) -> None:
        for schema in self.made:
            self.drop(schema)


@pytest.fixture(scope="session")
def query_schemas(request: pytest.FixtureRequest, model: Model) -> Iterator[QuerySchemas]:
    admin = _require(request.getfixturevalue("postgres_admin"))
    schemas = QuerySchemas(admin, request.getfixturevalue("postgres_ddl"), model)
    yield schemas
    schemas.drop_all()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, model: Model) -> Iterator[Db]:
    if request.param == "sqlite":
        engine = connect("sqlite://")
        model.schema.metadata.create_all(engine, tables=_object_tables(model))
        with engine.begin() as connection:
            _create_search_indexes(connection, model)
        sqlite_db = Db(engine, model)
        yield sqlite_db
        sqlite_db.close()
        return
    schemas = request.getfixturevalue("query_schemas")
    taken = schemas.take()
    postgres_db = Db(connect(f"{POSTGRES_URL}?options=-csearch_path%3D{taken[0]}"), model)
    try:
        yield postgres_db
    finally:
        postgres_db.close()
        schemas.give_back(*taken)
