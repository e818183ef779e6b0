"""Which databases `make bench` runs on, and where on each its data lives.

SQLite: a file `bench.db` in a temporary folder, or in the `--keep` folder (reused). PostgreSQL:
a database of its own on the server the URL names (`crmkit_bench` by default), so the bench
never touches the tests' `test` database; created if missing, dropped at the end unless
--keep. Where the user may not create databases, a schema of that name in the URL's
database is used instead.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import quote

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import URL

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_KEEP_FOLDER = Path("instance/bench")


@dataclass(frozen=True)
class BenchDatabase:
    """A database the bench fills and measures: its label, where it is, its URL and how to clean it up."""

    label: str
    location: str
    url: str
    cleanup: Callable[[], None]

    @property
    def dialect(self) -> str:
        return make_url(self.url).get_backend_name()


def sqlite_database(keep: Path | None) -> BenchDatabase:
    """bench.db in `keep` (kept) or in a temporary folder removed by cleanup()."""
    folder = keep or Path(tempfile.mkdtemp(prefix="crmkit-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder.resolve() / "bench.db"
    cleanup = (lambda: None) if keep else (lambda: shutil.rmtree(folder, ignore_errors=True))
    return BenchDatabase("SQLite", str(path), f"sqlite:///{path}", cleanup)


def postgres_problem(url: str) -> str | None:
    """Why the server at `url` cannot be used (a sentence), or None when it answers."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[postgres]')"
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return None
    except Exception as error:  # any failure to connect means: skip this database, saying why
        reason = str(error).strip().splitlines()[0] if str(error).strip() else error.__class__.__name__
        return f"PostgreSQL at {make_url(url).render_as_string(hide_password=True)} is not reachable ({reason})"
    finally:
        engine.dispose()


def postgres_database(url: str, name: str, keep: bool) -> BenchDatabase:
    """The database `name` on the server of `url` (created if missing; a schema where that is refused).

    Without `keep` it is emptied first and dropped by cleanup(), so each run starts from nothing.
    """
    server = make_url(url)
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                        {"name": name}).first() is not None
            if exists and not keep:
                connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
                exists = False
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # no right to create databases: a schema in the given one
        reason = str(error).strip().splitlines()[0]
        print(f"PostgreSQL: cannot use database {name!r} ({reason}); using schema {name!r} in "
              f"{server.database!r} instead.")
        return _postgres_schema(server, name, keep)
    finally:
        admin.dispose()
    bench_url = server.set(database=name)

    def drop() -> None:
        if not keep:
            _autocommit(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return BenchDatabase("PostgreSQL", f"database {name}", _render(bench_url), drop)


def _autocommit(server: URL, statement: str) -> None:
    """Run one statement that cannot run in a transaction (CREATE/DROP DATABASE, SCHEMA) on `server`."""
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def _postgres_schema(server: URL, name: str, keep: bool) -> BenchDatabase:
    if not keep:
        _autocommit(server, f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    _autocommit(server, f'CREATE SCHEMA IF NOT EXISTS "{name}"')

    def drop() -> None:
        if not keep:
            _autocommit(server, f'DROP SCHEMA IF EXISTS "{name}" CASCADE')

    url = _render(server) + ("&" if server.query else "?") + f"options={quote(f'-csearch_path={name}')}"
    return BenchDatabase("PostgreSQL", f"schema {name} in database {server.database}", url, drop)


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)
