"""Databases in the state a fixture's setup leaves them: built once per worker, handed to each test.

Installing a package and creating a sample company's users and records takes a second or
more per test (most of it DDL on PostgreSQL), and many tests only need that state to start
from. `StateSnapshots.apply(crm, key, build)` runs `build(crm)` on the test's own database the
first time a worker meets `key` on a database kind (most states are built by one test only,
and cost nothing extra); after that it puts the state `build` leaves into the test's
(untouched) database instead of building it again:

- SQLite: the first test's database, copied after build, is copied into the test's file
  through SQLite's backup API.
- PostgreSQL: a schema holding the state (built the second time) is swapped in by name (ALTER SCHEMA RENAME)
  for the test's own; after the test it is put back as it was built (rows and sequences
  restored, checked against a fingerprint of its tables, columns, indexes and constraints,
  or dropped when a test altered them) and swapped out again, so the next test gets it.

The Crm the test holds is pointed at the new state (pool emptied, metadata read again), so the
test sees exactly what `build` left, on either database. When the database is not untouched
(rows already written, packages installed, a clock of its own), `build` simply runs.
"""
from __future__ import annotations

import contextlib
import copy
import os
import shutil
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Hashable


@dataclass(frozen=True)
class PostgresState:
    """What a built schema holds: each table's rows (COPY text), each sequence's position, the fingerprint."""

    tables: tuple[tuple[str, bytes], ...]
    sequences: tuple[tuple[str, int, bool], ...]
    fingerprint: tuple


def _system_row_count(connection) -> int:
    from sqlalchemy import func, select, union_all

    from crmkit.engine.tables import system_metadata

    counts = [select(func.count().label("n")).select_from(table) for table in system_metadata().tables.values()]
    return sum(connection.execute(union_all(*counts)).scalars())


def _untouched(crm, pristine_rows: int) -> bool:
    """Whether `crm`'s database still is as `Crm.open` made it, and the Crm is on the default clock."""
    from crmkit.engine.records.clock import utc_now

    if crm.clock is not utc_now or crm.registry.packages:
        return False
    with crm.engine.connect() as connection:
        return _system_row_count(connection) == pristine_rows


def _move_sources(crm, built_from: str | None, source: str | os.PathLike | None) -> None:
    """Installed packages recorded as read from `built_from` are recorded as read from `source`."""
    from sqlalchemy import update

    from crmkit.engine.tables import system_metadata

    if built_from is None or source is None:
        return
    table = system_metadata().tables["crmkit_package"]
    with crm.engine.begin() as connection:
        connection.execute(update(table).where(table.c.source == built_from).values(source=str(Path(source).resolve())))


def _read_again(crm) -> None:
    """Point `crm` at what its database holds now (new connections, the installed metadata read again)."""
    from crmkit.engine.query.search_statistics import forget_statistics

    forget_statistics()
    crm.engine.dispose()
    with crm.engine.connect() as connection:
        crm._reload(connection)


class StateSnapshots:
    def __init__(self, folder: Path, prepared_sqlite_file: Callable[[], Path], prepared_schemas) -> None:
        self.folder = folder
        self.prepared_sqlite_file = prepared_sqlite_file
        self.schemas = prepared_schemas
        self._pristine: list[int] = []
        #: keys whose build raised on a new database: built on the test's own, every time
        self.failing: set[Hashable] = set()
        #: (dialect, key) built once already, on the first test's own database
        self.seen: set[tuple[str, Hashable]] = set()
        #: key -> (built SQLite file, the value build returned, the source it was built from)
        self.sqlite: dict[Hashable, tuple[Path, Any, str | None]] = {}
        #: key -> the value build returned
        self.postgres: dict[Hashable, Any] = {}
        #: key -> schemas holding the built state, ready to swap in: with what they hold, the source built from
        self.free: dict[Hashable, list[tuple[str, PostgresState, str | None]]] = {}

    def pristine_rows(self) -> int:
        """How many rows the system tables of a database as `Crm.open` leaves it hold."""
        if not self._pristine:
            from sqlalchemy import create_engine

            engine = create_engine(f"sqlite:///{self.prepared_sqlite_file()}")
            try:
                with engine.connect() as connection:
                    self._pristine.append(_system_row_count(connection))
            finally:
                engine.dispose()
        return self._pristine[0]

    def apply(self, crm, key: Hashable, build: Callable[[Any], Any], *, source: str | os.PathLike | None = None,
              fresh: Callable[[Any], Any] = copy.deepcopy) -> Any:
        """`build(crm)`'s effect on `crm`'s database, and `fresh(build's value)`.

        `build` gets a Crm on a database as `Crm.open` leaves it; its value must not hold that
        Crm (it is closed afterwards). Keys name a build: the same key, the same state. `source`:
        the package file build installs, as this test wrote it; the state records it as the
        installed package's source, as installing this test's file would have.
        When `crm`'s database is not untouched (or build raises on a new database), build runs on it.
        """
        if key in self.failing or not _untouched(crm, self.pristine_rows()):
            return build(crm)
        if (crm.engine.dialect.name, key) not in self.seen:  # a state one test builds costs nothing extra
            self.seen.add((crm.engine.dialect.name, key))
            value = build(crm)
            if crm.engine.dialect.name == "sqlite":
                self._keep_sqlite(crm, key, fresh(value), source)  # kept apart from what this test may change
            return value
        if crm.engine.dialect.name == "sqlite":
            found = self._apply_sqlite(crm, key, build, source)
        else:
            found = self._apply_postgres(crm, key, build, source)
        if found is None:
            return build(crm)
        value, built_from = found
        _move_sources(crm, built_from, source)
        _read_again(crm)
        return fresh(value)

    # -- SQLite ------------------------------------------------------------------------------

    def _keep_sqlite(self, crm, key, value, source) -> None:
        """What build just left in `crm`'s (SQLite file) database, kept for the next test."""
        database = crm.engine.url.database
        if not database or database == ":memory:" or not Path(database).exists():
            return
        path = self.folder / f"{uuid.uuid4().hex}.db"
        with contextlib.closing(sqlite3.connect(database)) as built, contextlib.closing(sqlite3.connect(path)) as into:
            built.backup(into)
        self.sqlite[key] = (path, value, None if source is None else str(Path(source).resolve()))

    def _apply_sqlite(self, crm, key, build, source):
        from crmkit.engine import Crm

        target = crm.engine.url.database
        if not target or target == ":memory:" or not Path(target).exists():
            return None
        if key not in self.sqlite:
            path = self.folder / f"{uuid.uuid4().hex}.db"
            shutil.copyfile(self.prepared_sqlite_file(), path)
            built = Crm.open(f"sqlite:///{path}")
            try:
                value = build(built)
            except Exception:
                self.failing.add(key)
                return None
            finally:
                built.close()
            with contextlib.closing(sqlite3.connect(path)) as connection:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.sqlite[key] = (path, value, None if source is None else str(Path(source).resolve()))
        path, value, built_from = self.sqlite[key]
        crm.engine.dispose()
        with contextlib.closing(sqlite3.connect(path)) as kept, contextlib.closing(sqlite3.connect(target)) as into:
            kept.backup(into)
        return value, built_from

    # -- PostgreSQL ---------------------------------------------------------------------------

    def _apply_postgres(self, crm, key, build, source):
        from crmkit.engine import Crm

        own = crm.engine.url.query.get("options", "").partition("search_path=")[2]
        if own not in self.schemas.lent or own in self.schemas.restorers:
            return None
        if not self.free.get(key):
            schema, rows, fingerprint = self.schemas.take()
            built = Crm.open(self.schemas.url(schema))
            try:
                value = build(built)
            except Exception:
                built.close()
                self.failing.add(key)
                self.schemas.give_back(schema, rows, fingerprint)
                return None
            built.close()
            with self.schemas.connect() as connection:
                state = self._read_state(connection, schema)
            self.postgres.setdefault(key, value)
            built_from = None if source is None else str(Path(source).resolve())
            self.free.setdefault(key, []).append((schema, state, built_from))
        value = self.postgres[key]
        built_schema, state, built_from = self.free[key].pop()
        crm.engine.dispose()
        with self.schemas.connect() as connection:
            self._swap(connection, own, built_schema)
        self.schemas.restorers[own] = lambda: self._give_back(key, own, built_schema, state, built_from)
        return value, built_from

    @staticmethod
    def _swap(connection, one: str, other: str) -> None:
        spare = f"swap_{uuid.uuid4().hex[:12]}"
        with connection.transaction():
            connection.execute("SET LOCAL lock_timeout = '5s'")
            connection.execute(f'ALTER SCHEMA "{one}" RENAME TO "{spare}"')
            connection.execute(f'ALTER SCHEMA "{other}" RENAME TO "{one}"')
            connection.execute(f'ALTER SCHEMA "{spare}" RENAME TO "{other}"')

    def _give_back(self, key, own: str, built_schema: str, state: PostgresState, built_from: str | None) -> None:
        """After the test: the built state (now named `own`) restored and swapped out, the test's schema back."""
        from crmkit.engine.query.search_statistics import forget_statistics

        forget_statistics()
        with self.schemas.connect() as connection:
            restored = self._restore(connection, own, state)
            if restored:
                self._swap(connection, own, built_schema)
                self.free[key].append((built_schema, state, built_from))
                return
            with connection.transaction():  # a test changed its tables: not reused
                connection.execute(f'DROP SCHEMA "{own}" CASCADE')
                connection.execute(f'ALTER SCHEMA "{built_schema}" RENAME TO "{own}"')

    @classmethod
    def _read_state(cls, connection, schema: str) -> PostgresState:
        tables = []
        with connection.cursor() as cursor:
            for (name,) in connection.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", (schema,)).fetchall():
                data = bytearray()
                with cursor.copy(f'COPY "{schema}"."{name}" TO STDOUT') as copying:
                    for chunk in copying:
                        data += chunk
                tables.append((name, bytes(data)))
        sequences = []
        for (name,) in connection.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind = 'S' ORDER BY 1", (schema,)).fetchall():
            last, called = connection.execute(f'SELECT last_value, is_called FROM "{schema}"."{name}"').fetchone()
            sequences.append((name, last, called))
        return PostgresState(tuple(tables), tuple(sequences), cls.fingerprint(connection, schema))

    @classmethod
    def _restore(cls, connection, schema: str, state: PostgresState) -> bool:
        """Put `schema` back to `state`; False when its tables no longer match (or it is locked)."""
        try:
            with connection.transaction():
                connection.execute("SET LOCAL lock_timeout = '5s'")
                connection.execute("SET LOCAL session_replication_role = replica")  # no foreign key checks
                kept = {name for name, _ in state.tables}
                tables = [name for (name,) in connection.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))]
                dropped = [f'"{schema}"."{name}"' for name in tables if name not in kept]
                if dropped:
                    connection.execute(f"DROP TABLE {', '.join(dropped)} CASCADE")
                connection.execute("; ".join(f'DELETE FROM "{schema}"."{name}"' for name in sorted(kept)))
                with connection.cursor() as cursor:
                    for name, data in state.tables:
                        if data:
                            with cursor.copy(f'COPY "{schema}"."{name}" FROM STDIN') as copying:
                                copying.write(data)
                for name, last, called in state.sequences:
                    connection.execute("SELECT setval(%s, %s, %s)", (f'"{schema}"."{name}"', last, called))
            return cls.fingerprint(connection, schema) == state.fingerprint
        except Exception:  # a lock still held, or a table a test changed
            return False

    @staticmethod
    def fingerprint(connection, schema: str) -> tuple:
        """Every relation of `schema` with its columns, and every constraint and index, whatever the schema's name."""
        columns = connection.execute(
            "SELECT c.relname, c.relkind, a.attname, a.atttypid, a.atttypmod, a.attnotnull "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
            "WHERE n.nspname = %s ORDER BY 1, 3", (schema,)).fetchall()
        definitions = connection.execute(
            "SELECT conname, contype, conkey, confkey, conbin IS NULL FROM pg_constraint k "
            "JOIN pg_namespace n ON n.oid = k.connamespace WHERE n.nspname = %s "
            "UNION ALL SELECT indexname || ' ' || replace(indexdef, ' ON ' || %s || '.', ' ON '), 'i', NULL, NULL, "
            "true FROM pg_indexes WHERE schemaname = %s ORDER BY 1", (schema, schema, schema)).fetchall()
        return tuple(columns), tuple(definitions)
