"""Shared fixtures: a fresh database per test, on SQLite and on PostgreSQL.

PostgreSQL tests get a schema of their own, so parallel workers never collide; tests on
`database_url` get one that already holds the system tables, put back afterwards as it was
(PreparedSchemas), and `postgres_url` gives an empty one. Without a
reachable server they are skipped with the reason shown, unless CRMKIT_REQUIRE_POSTGRES=1
(as in CI), which turns the skip into a failure.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import textwrap
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from hypothesis import HealthCheck, settings

# Installed entry-point plugins must not leak into the suite; tests register what they need.
os.environ["CRMKIT_LOAD_ENTRY_POINTS"] = "0"
# Cheap argon2 parameters for the many users tests create (honoured only while pytest runs).
os.environ["CRMKIT_FAST_PASSWORD_HASH"] = "1"

# On a loaded machine a property test must not fail for being slow: no per-example deadline,
# and generating examples may take its time. Tests keep their own max_examples.
settings.register_profile("crmkit", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("crmkit")

POSTGRES_URL = os.environ.get("CRMKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("CRMKIT_REQUIRE_POSTGRES") == "1"
REPOSITORY = Path(__file__).resolve().parent.parent


def _postgres_problem() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[postgres]')"
    try:
        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", connect_timeout=3):
            return None
    except Exception as error:  # any failure to connect means: no server for these tests
        return f"PostgreSQL is not reachable at 127.0.0.1:5432 ({error.__class__.__name__})"


_POSTGRES_PROBLEM: list[str | None] = []

#: The system catalogs every test's CREATE and DROP rewrite rows of. With autovacuum off (as on
#: the CI machine's server: /etc/postgresql/*/main/conf.d/90-ci.conf) their dead rows are never
#: cleared: one suite run left pg_attribute at 167 MB for 19,000 live rows, and every catalogue
#: read (an inspector's table list, a schema's fingerprint) scanned all of it, 40-70 ms each.
CHURNED_CATALOGS = ("pg_attribute", "pg_class", "pg_depend", "pg_index", "pg_type", "pg_constraint", "pg_attrdef",
                    "pg_sequence", "pg_statistic", "pg_namespace", "pg_init_privs", "pg_description")
#: Schemas made or put back by a worker between two plain VACUUMs of CHURNED_CATALOGS.
SCHEMAS_PER_VACUUM = 40


class CatalogUpkeep:
    """Keeps the test server's system catalogs small while the suite churns them (see CHURNED_CATALOGS).

    `compact()` (once per run, before the workers start) rewrites them with VACUUM FULL, which
    returns what earlier runs left; `churned()` (after each schema a worker made, put back or
    dropped) runs a plain VACUUM every SCHEMAS_PER_VACUUM schemas, so dead rows are reused
    instead of growing the files. Both need a superuser (the suite's server trusts postgres);
    a refusal is ignored: the tests only run slower.
    """

    def __init__(self) -> None:
        self.schemas = 0

    @staticmethod
    def _vacuum(full: bool) -> None:
        import psycopg

        tables = ", ".join(f"pg_catalog.{name}" for name in CHURNED_CATALOGS)
        with contextlib.suppress(psycopg.Error), psycopg.connect(
                "host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True, connect_timeout=3) as connection:
            connection.execute("SET lock_timeout = '10s'")
            connection.execute(f"VACUUM {'FULL ' if full else ''}{tables}")

    def compact(self) -> None:
        self._vacuum(full=True)

    def churned(self) -> None:
        self.schemas += 1
        if self.schemas % SCHEMAS_PER_VACUUM == 0:
            self._vacuum(full=False)


CATALOGS = CatalogUpkeep()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Before any test (in the controller when running with xdist): the catalogs compacted, if a server answers."""
    if hasattr(session.config, "workerinput") or _postgres_problem() is not None:
        return
    CATALOGS.compact()


def require_postgres() -> None:
    if not _POSTGRES_PROBLEM:
        _POSTGRES_PROBLEM.append(_postgres_problem())
    problem = _POSTGRES_PROBLEM[0]
    if problem:
        if REQUIRE_POSTGRES:
            pytest.fail(f"{problem}, and CRMKIT_REQUIRE_POSTGRES=1 requires it")
        pytest.skip(problem)


@contextlib.contextmanager
def _postgres_schema() -> Iterator[str]:
    require_postgres()
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        for attempt in range(3):  # a catalog deadlock with another worker's DDL or ANALYZE: PostgreSQL picks one to fail
            try:
                with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True) as connection:
                    connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
                break
            except psycopg.errors.DeadlockDetected:
                if attempt == 2:
                    raise
        CATALOGS.churned()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh, empty schema, dropped afterwards."""
    with _postgres_schema() as url:
        yield url


class PreparedSchemas:
    """PostgreSQL schemas that hold the platform's own tables, handed to one test at a time.

    Creating the nineteen system tables and dropping them again is most of what a test on
    PostgreSQL costs (a second on a loaded machine). After a test its schema is put back as
    `Crm.open` left it: every other table dropped, the system tables emptied and their first
    rows and sequences restored. A schema whose tables, columns, indexes or constraints no
    longer match what they were when it was prepared (a test that altered them) is dropped
    instead of reused, so no test sees another's leftovers.
    """

    def __init__(self) -> None:
        #: (schema, its system tables' first rows, its catalog fingerprint) ready for a test.
        self.free: list[tuple[str, tuple, tuple]] = []
        self.made: list[str] = []
        #: Schemas lent to a test now (prepared_postgres_url), and what to do with one before it is
        #: given back (tests/snapshots.py swaps a built state in for the test, and out again).
        self.lent: set[str] = set()
        self.restorers: dict[str, Callable[[], None]] = {}
        self._connection = None

    @staticmethod
    def url(schema: str) -> str:
        return f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"

    @staticmethod
    def connect():
        import psycopg

        return psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True)

    def take(self) -> tuple[str, tuple, tuple]:
        if self.free:
            return self.free.pop()
        from crmkit.engine import Crm
        from crmkit.engine.tables import system_metadata

        schema = f"t_{uuid.uuid4().hex[:12]}"
        with self.connect() as connection:
            connection.execute(f'CREATE SCHEMA "{schema}"')
        self.made.append(schema)
        Crm.open(self.url(schema)).close()
        with self.connect() as connection:
            rows = []
            for name in sorted(system_metadata().tables):
                cursor = connection.execute(f'SELECT * FROM "{schema}"."{name}"')
                found = cursor.fetchall()
                if found:
                    rows.append((name, tuple(f'"{column.name}"' for column in cursor.description), tuple(found)))
            return schema, tuple(rows), self.fingerprint(connection, schema)

    def _kept_connection(self):
        """One connection for putting schemas back (autocommit, a 5 s lock timeout), made again when lost."""
        if self._connection is None or self._connection.closed or self._connection.broken:
            self._connection = self.connect()
            self._connection.execute("SET lock_timeout = '5s'")
        return self._connection

    def give_back(self, schema: str, rows: tuple, fingerprint: tuple) -> None:
        from psycopg import sql

        from crmkit.engine.query.search_statistics import forget_statistics
        from crmkit.engine.tables import system_metadata

        forget_statistics()  # kept per URL, and the URL is used again
        system = set(system_metadata().tables)
        try:
            connection = self._kept_connection()
            tables = [name for (name,) in connection.execute(
                "SELECT relname FROM pg_class WHERE relnamespace = CAST(%s AS regnamespace) AND relkind IN ('r', 'p')",
                (f'"{schema}"',))]
            dropped = [f'"{schema}"."{name}"' for name in tables if name not in system]
            # One script, so one round trip: the server runs it as one transaction (all or nothing).
            # DELETE and setval, not TRUNCATE: the tables hold a few rows, and TRUNCATE
            # would give each table and index new files (slower than the DDL it replaces).
            script = [f"DROP TABLE {', '.join(dropped)} CASCADE"] if dropped else []
            script += [f'DELETE FROM "{schema}"."{name}"' for name in tables if name in system]
            script.append(sql.SQL("SELECT setval(c.oid, 1, false) FROM pg_class c "
                                  "WHERE c.relnamespace = CAST({} AS regnamespace) AND c.relkind = 'S'").format(
                sql.Literal(f'"{schema}"')).as_string(connection))
            for name, columns, values in rows:
                script += [sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                    sql.Identifier(schema, name), sql.SQL(", ".join(columns)),
                    sql.SQL(", ").join(sql.Literal(value) for value in row)).as_string(connection) for row in values]
            connection.execute("; ".join(script))
            if self.fingerprint(connection, schema) == fingerprint:
                self.free.append((schema, rows, fingerprint))
                return
        except Exception:  # a lock still held, or a table a test changed: this schema is not reused
            pass
        finally:
            CATALOGS.churned()
        self.drop(schema)

    @staticmethod
    def fingerprint(connection, schema: str) -> tuple:
        """Every relation of `schema` with its columns, and every constraint and index definition."""
        columns = connection.execute(
            "SELECT c.relname, c.relkind, a.attname, a.atttypid, a.atttypmod, a.attnotnull "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
            "WHERE n.nspname = %s ORDER BY 1, 3", (schema,)).fetchall()
        definitions = connection.execute(
            "SELECT conname, contype, conkey, confkey, conbin IS NULL FROM pg_constraint k "
            "JOIN pg_namespace n ON n.oid = k.connamespace WHERE n.nspname = %s "
            "UNION ALL SELECT indexname || ' ' || indexdef, 'i', NULL, NULL, true FROM pg_indexes WHERE schemaname = %s "
            "ORDER BY 1", (schema, schema)).fetchall()
        return tuple(columns), tuple(definitions)

    def drop(self, schema: str) -> None:
        with contextlib.suppress(Exception), self.connect() as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    def drop_all(self) -> None:
        for schema in self.made:
            self.drop(schema)
        if self._connection is not None:
            self._connection.close()
            self._connection = None


@pytest.fixture(scope="session")
def prepared_schemas() -> Iterator[PreparedSchemas]:
    schemas = PreparedSchemas()
    yield schemas
    schemas.drop_all()


@pytest.fixture
def prepared_postgres_url(prepared_schemas) -> Iterator[str]:
    """A PostgreSQL URL whose schema holds the system tables `Crm.open` creates, and nothing else."""
    require_postgres()
    schema, rows, fingerprint = prepared_schemas.take()
    prepared_schemas.lent.add(schema)
    try:
        yield prepared_schemas.url(schema)
    finally:
        prepared_schemas.lent.discard(schema)
        restore = prepared_schemas.restorers.pop(schema, None)
        if restore is not None:
            restore()
    prepared_schemas.give_back(schema, rows, fingerprint)


@pytest.fixture(scope="session")
def state_snapshots(tmp_path_factory, prepared_schemas):
    """`state_snapshots.apply(crm, key, build)`: the state `build(crm)` leaves, built once per worker (tests/snapshots.py).

    For fixtures on `crm` (a `database_url` database) that install packages and create records
    many tests start from: each test still gets a database of its own, holding that state.
    """
    from tests.snapshots import StateSnapshots

    return StateSnapshots(tmp_path_factory.mktemp("snapshots"),
                          lambda: _prepared_sqlite_file(tmp_path_factory), prepared_schemas)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_database_url(request, tmp_path_factory) -> Iterator[str]:
    """Like `database_url`, but one database for all the tests of a module (for read-only tests on shared data)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('module') / 'crm.db'}"
        return
    with _postgres_schema() as url:
        yield url


#: Wall-clock seconds a sandbox script may take in tests. The product's 5 s also covers
#: starting the child process, which takes that long on a loaded machine; tests that check
#: the wall-clock limit itself pass a small `wall_seconds` with a script that never ends.
TEST_SCRIPT_WALL_SECONDS = 120


@pytest.fixture(autouse=True)
def generous_script_wall_clock(monkeypatch) -> None:
    """Scripts run under TEST_SCRIPT_WALL_SECONDS unless a test gives its own limit."""
    from crmkit.sandbox import script

    monkeypatch.setattr(script, "DEFAULT_WALL_SECONDS", TEST_SCRIPT_WALL_SECONDS)


_PREPARED_SQLITE: list[Path] = []


@pytest.fixture(scope="session")
def prepared_sqlite_file(tmp_path_factory) -> Path:
    """A SQLite database file as `Crm.open` leaves a new one (the system tables), made once."""
    return _prepared_sqlite_file(tmp_path_factory)


def _prepared_sqlite_file(tmp_path_factory) -> Path:
    if _PREPARED_SQLITE:
        return _PREPARED_SQLITE[0]
    import sqlite3

    from crmkit.engine import Crm

    path = tmp_path_factory.mktemp("prepared") / "crm.db"
    Crm.open(f"sqlite:///{path}").close()
    with contextlib.closing(sqlite3.connect(path)) as connection:  # one file, nothing left in a WAL
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    _PREPARED_SQLITE.append(path)
    return path


@pytest.fixture(scope="session")
def default_crm_sqlite_file(tmp_path_factory) -> Path:
    """A SQLite file with apps/default_crm.yaml installed and no records, made once per worker.

    Copy it (`default_crm_copy`); opening it would change it for the tests after.
    """
    import sqlite3

    from crmkit.engine import Crm

    path = tmp_path_factory.mktemp("default_crm") / "crm.db"
    crm = Crm.open(f"sqlite:///{path}")
    try:
        crm.install(REPOSITORY / "apps" / "default_crm.yaml")
    finally:
        crm.close()
    with contextlib.closing(sqlite3.connect(path)) as connection:  # one file, nothing left in a WAL
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture
def default_crm_copy(default_crm_sqlite_file, tmp_path) -> Callable[[str], str]:
    """`default_crm_copy("a")`: the URL of a new copy (tmp_path/a.db) of the installed standard CRM."""
    def copy(name: str = "crm") -> str:
        path = tmp_path / f"{name}.db"
        shutil.copyfile(default_crm_sqlite_file, path)
        return f"sqlite:///{path}"

    return copy


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """Each test using this runs twice: on SQLite and on PostgreSQL, each time in a database of its own.

    The database already holds the system tables, as `Crm.open` creates them: on SQLite a
    copy of a file prepared once, on PostgreSQL a schema of `prepared_postgres_url`.
    """
    if request.param == "sqlite":
        path = tmp_path / "crm.db"
        shutil.copyfile(request.getfixturevalue("prepared_sqlite_file"), path)
        return f"sqlite:///{path}"
    return request.getfixturevalue("prepared_postgres_url")


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'crm.db'}"


@pytest.fixture
def crm(database_url):
    from crmkit.engine import Crm

    instance = Crm.open(database_url)
    yield instance
    instance.close()


@pytest.fixture
def write_package(tmp_path) -> Callable[[str, str], Path]:
    """Write YAML text (dedented) to a file and return its path."""

    def write(text: str, name: str = "package.yaml") -> Path:
        path = tmp_path / "packages" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    return write


@pytest.fixture
def install(write_package, install_once) -> Callable[[str], object]:
    """Install a package given as YAML text into the test's database (`install_once`: the first time in a worker
    the migration runs; a later test starting from the same text gets its state copied in)."""

    def install_text(text: str, name: str = "package.yaml"):
        return install_once(write_package(text, name))

    return install_text


@pytest.fixture
def install_once(request, crm, state_snapshots) -> Callable[[str | os.PathLike], object]:
    """`install_once(path)`: the database as `crm.install(path)` leaves it, the migration run once per worker.

    For fixtures whose tests start from an installed package rather than test installing it:
    a later test on an untouched database gets the installed state copied in (tests/snapshots.py)
    instead of running the migration's DDL again. The key is the file's name and text, so an
    edited package is installed afresh. On a database already holding packages it just installs;
    so does a test that reads query plans (`plan_reader`, or marked `query_plans`): a PostgreSQL
    schema lent by a snapshot keeps the file sizes and statistics earlier tests left, which the
    planner reads.
    """
    afresh = "plan_reader" in request.fixturenames or request.node.get_closest_marker("query_plans") is not None

    def install_path(path: str | os.PathLike):
        path = Path(path)
        if afresh:
            return crm.install(path)
        # The plugins registered now are part of the key: a package may need one's field type.
        plugins = tuple(sorted(str(name) for name, _ in crm.extensions.plugin_manager.list_name_plugin()))
        key = ("installed", path.name, path.read_text(encoding="utf-8"), plugins)
        return state_snapshots.apply(crm, key, lambda crm: crm.install(path), source=path)

    return install_path


@pytest.fixture
def system(crm):
    """A system session: no sharing restrictions (security arrives with issue 3)."""
    return crm.as_system()


def add_users(crm, people: list[tuple[str, str | None, list[str]]]) -> dict[str, int]:
    """(username, role, permission sets) -> user id: active users written straight to the tables."""
    from datetime import datetime, timezone

    from sqlalchemy import insert

    users, grants = crm.runtime.system_table("crmkit_user"), crm.runtime.system_table("crmkit_grant")
    now = datetime.now(timezone.utc)
    ids = {}
    with crm.engine.begin() as connection:
        for name, role, sets in people:
            ids[name] = connection.execute(insert(users).values(
                username=name, display_name=name, role=role, active=True, language="en", timezone="UTC",
                created_at=now, updated_at=now).returning(users.c.id)).scalar_one()
            for permission_set in sets:
                connection.execute(insert(grants).values(permission_set=permission_set, user_id=ids[name],
                                                         granted_at=now))
    return ids


@pytest.fixture(scope="session")
def catalog():
    from crmkit.engine.extensions import default_extensions

    return default_extensions().catalog


def stale_derived_values(crm) -> list[str]:
    """Every stored rollup and formula that differs from a fresh recomputation over the database.

    Recomputed from scratch, independently of the engine's propagation: each rollup with
    one grouped query over its children, each formula by evaluating it on the stored row.
    Returns "object id field: stored X, fresh Y" lines (empty when everything is current).
    """
    from decimal import Decimal

    from sqlalchemy import func, select

    from crmkit.engine.query import QueryContext, compile_filter
    from crmkit.engine.records.evaluation import Evaluator, load_related

    runtime = crm.runtime
    context = QueryContext(runtime.registry, runtime.schema, runtime.field_types)
    aggregates = {"sum": func.sum, "min": func.min, "max": func.max, "avg": func.avg}
    problems = []
    with crm.as_system().reading() as connection:
        for obj in runtime.registry.objects.values():
            table = runtime.table(obj.name)
            rows = [dict(row._mapping) for row in connection.execute(select(table).order_by(table.c.id))]
            for fdef in obj.fields.values():
                rollup = fdef.rollup
                if rollup is None:
                    continue
                child = runtime.table(rollup.child_object)
                measure = func.count() if rollup.aggregate == "count" else aggregates[rollup.aggregate](
                    child.c[rollup.field])
                query = select(child.c[rollup.via], measure).group_by(child.c[rollup.via])
                if rollup.condition:
                    query = query.where(compile_filter(context, rollup.child_object, dict(rollup.condition)))
                fresh = dict(connection.execute(query).all())
                for row in rows:
                    expected = fresh.get(row["id"], 0 if rollup.aggregate == "count" else None)
                    if isinstance(row[fdef.name], Decimal) and expected is not None:
                        expected = Decimal(str(expected)).quantize(row[fdef.name])  # an average, to the column's scale
                    if row[fdef.name] != expected:
                        problems.append(f"{obj.name} {row['id']} {fdef.name}: stored {row[fdef.name]!r}, "
                                        f"fresh {expected!r}")
            evaluator = Evaluator(runtime, obj)
            for row in rows:
                values = dict(row)
                results = evaluator.compute_formulas(values, load_related(connection, runtime, obj, values), None)
                for name, expected in results.items():
                    if row[name] != expected:
                        problems.append(f"{obj.name} {row['id']} {name}: stored {row[name]!r}, fresh {expected!r}")
    return problems


@pytest.fixture
def assert_derived_values_fresh():
    """Call with a Crm: fails listing every stored rollup or formula a fresh recomputation disagrees with."""

    def check(crm) -> None:
        problems = stale_derived_values(crm)
        assert problems == [], "stale derived values:\n" + "\n".join(problems)

    return check



def analyze_own_tables(connection) -> None:
    """Take statistics of the tables of `connection`'s database (SQLite) or schema (PostgreSQL), and no others.

    A bare `ANALYZE` on PostgreSQL reads every table of the whole database, other workers'
    schemas too, and inside a transaction holds a lock on each until commit: a worker's DDL
    then waits for it, and one that already holds a lock this ANALYZE wants deadlocks with it
    (PostgreSQL cancels one of the two, failing a fixture or a test of another module).
    """
    if connection.dialect.name != "postgresql":
        connection.exec_driver_sql("ANALYZE")
        return
    from sqlalchemy import text

    tables = connection.execute(text(
        "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = current_schema() "
        "ORDER BY tablename")).scalars().all()
    if tables:
        connection.exec_driver_sql(f"ANALYZE {', '.join(tables)}")


class QueryPlan:
    """The plan a database chose for one statement, read alike on SQLite and PostgreSQL.

    SQLite: the detail lines of `EXPLAIN QUERY PLAN`; PostgreSQL: the lines of `EXPLAIN`.
    """

    PG_SORT = re.compile(r"^\s*(->\s+)?(Incremental )?Sort\s+\(")
    PG_INDEX = re.compile(r"(?:Index(?: Only)? Scan(?: Backward)? using|Bitmap Index Scan on) (\S+)")
    SQLITE_INDEX = re.compile(r"USING (?:COVERING )?INDEX (\S+)")

    def __init__(self, dialect: str, lines: list[str]) -> None:
        self.dialect = dialect
        self.lines = lines

    def __str__(self) -> str:
        return "\n".join(self.lines)

    @property
    def sorts(self) -> bool:
        """Whether rows are sorted after they are read (a Sort node; SQLite's temporary b-tree for ORDER BY)."""
        if self.dialect == "sqlite":
            return any("TEMP B-TREE FOR" in line and "ORDER BY" in line for line in self.lines)
        return any(self.PG_SORT.match(line) for line in self.lines)

    @property
    def indexes(self) -> set[str]:
        """The indexes the plan reads."""
        pattern = self.SQLITE_INDEX if self.dialect == "sqlite" else self.PG_INDEX
        return {match.group(1) for line in self.lines for match in pattern.finditer(line)}

    def full_scans(self, table: str) -> list[str]:
        """The lines reading every row of `table` without an index."""
        if self.dialect == "sqlite":
            return [line for line in self.lines if re.match(rf"SCAN {table}\b(?! USING)", line)]
        return [line for line in self.lines if f"Seq Scan on {table} " in line]


class PlanReader:
    """Captures the statements an engine runs, and explains them.

    PostgreSQL plans are explained with `enable_seqscan` and `enable_bitmapscan` off: test
    tables hold a few hundred rows, where reading the whole table (or a bitmap of a few dozen
    rows) and sorting it is truly the cheapest plan, so the planner's choice would say
    nothing about a million rows. Neither returns rows in any order; with both priced out the
    planner still picks the cheapest remaining plan, and a Sort node in it then means that no
    index gives the order asked for, which is what happens at any size.
    """

    def __init__(self, engine) -> None:
        self.engine = engine

    @contextlib.contextmanager
    def reads(self) -> Iterator[list[tuple[str, Any]]]:
        """The (SQL, parameters) of every statement the engine runs inside the block."""
        from sqlalchemy import event

        seen: list[tuple[str, Any]] = []

        def record(connection, cursor, statement, parameters, context, executemany) -> None:
            seen.append((statement, parameters))

        event.listen(self.engine, "before_cursor_execute", record)
        try:
            yield seen
        finally:
            event.remove(self.engine, "before_cursor_execute", record)

    def explain(self, statement: str, parameters: Any = None) -> QueryPlan:
        dialect = self.engine.dialect.name
        with self.engine.connect() as connection:
            if dialect == "sqlite":
                rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters or ())
                return QueryPlan(dialect, [row[-1] for row in rows])
            connection.exec_driver_sql("SET enable_seqscan = off; SET enable_bitmapscan = off")
            rows = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters or {})
            return QueryPlan(dialect, [row[0] for row in rows])

    def plans(self, action: Callable[[], Any]) -> list[QueryPlan]:
        """The plans of the queries `action()` runs, in order (transaction control such as BEGIN left out)."""
        with self.reads() as seen:
            action()
        return [self.explain(statement, parameters) for statement, parameters in seen
                if statement.lstrip().upper().startswith(("SELECT", "WITH", "("))]


@pytest.fixture
def plan_reader() -> Callable[[Any], PlanReader]:
    """Call with an Engine: a PlanReader that captures and explains its statements."""
    return PlanReader
