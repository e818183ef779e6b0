"""Connecting to SQLite or PostgreSQL with the settings the engine relies on."""
from __future__ import annotations

import os
from pathlib import Path

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

DATABASE_URL_VARIABLE = "CRMKIT_DATABASE_URL"
DEFAULT_DATABASE_FILE = Path("instance") / "crmkit.db"
WRITE_OPTION = "crmkit_write"


def default_database_url() -> str:
    return os.environ.get(DATABASE_URL_VARIABLE) or f"sqlite:///{DEFAULT_DATABASE_FILE}"


def connect(url: str) -> Engine:
    """An Engine for `url`; SQLite gets WAL, foreign keys, a busy timeout and transactional DDL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30})
        _configure_sqlite(engine, in_memory=not database or database == ":memory:")
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True)


def _configure_sqlite(engine: Engine, in_memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, record) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin, so
        # that DDL runs inside them too and a failed migration rolls back whole.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 30000")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection) -> None:
        # A writer takes the write lock up front (IMMEDIATE), so two writers queue on the
        # busy timeout instead of failing when a read lock cannot be upgraded.
        immediate = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def writer(engine: Engine) -> Engine:
    """The same engine (and pool) whose transactions take the write lock from the start on SQLite."""
    return engine.execution_options(**{WRITE_OPTION: True})


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: on SQLite it holds the write lock from the start."""
    if not engine.get_execution_options().get(WRITE_OPTION):
        engine = writer(engine)
    with engine.begin() as connection:
        yield connection


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
