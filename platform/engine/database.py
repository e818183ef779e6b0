"""Connecting to SQLite or PostgreSQL with the settings the engine relies on.

Every problem a user can cause here is a `DatabaseError` (a CrmkitError) with a sentence:
an unsupported or malformed URL, a database that does not exist yet, a server that cannot
be reached, a database that stays busy (locked by another writer) past the busy timeout,
and a connection the server dropped. Driver errors are translated in one place, the
engine's `handle_error` event.

PostgreSQL connections are pooled without a ping before each checkout (`pool_pre_ping`
cost a round trip per operation): a connection unused for `IDLE_PING_SECONDS` is pinged
when it is next taken, and a connection that turns out dropped on an operation's first
statement is replaced and the operation started again (context.py `UserContext._started`).
They run with `jit=off`: the engine's statements are short index reads, and JIT compiling
a statement whose cost estimate passes `jit_above_cost` took longer than running it.
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError

from crmkit.engine import messages, sqlite_aggregates, sqlite_time
from crmkit.engine.precompiled import run_on_driver
from crmkit.engine.prepared import literal_page_limits
from crmkit.errors import CrmkitError

DATABASE_URL_VARIABLE = "CRMKIT_DATABASE_URL"
DEFAULT_DATABASE_FILE = Path("instance") / "crmkit.db"
WRITE_OPTION = "crmkit_write"
#: Seconds a write waits for another writer's lock (SQLite) before DatabaseBusy is raised.
DEFAULT_BUSY_TIMEOUT = 30.0
SUPPORTED = "crmkit works with SQLite (sqlite:///path/to/crm.db) and PostgreSQL (postgresql://user@host/dbname)"
#: PostgreSQL SQLSTATEs that mean "another transaction is in the way; the same request may succeed later":
#: serialization failure, deadlock, lock not available (PostgreSQL manual, appendix A).
BUSY_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
#: Seconds a pooled PostgreSQL connection may sit unused before its next checkout pings the server.
IDLE_PING_SECONDS = 10.0
#: Settings of every PostgreSQL connection crmkit opens (libpq `options`).
POSTGRES_SETTINGS = "-c jit=off"


class DatabaseError(CrmkitError):
    """The database cannot be used as asked: its URL, its existence, the server, or a lock is in the way."""

    status = 503
    title = "Database unavailable"


class DatabaseURLError(DatabaseError):
    """The database URL names a database crmkit does not support, or is not a URL at all."""

    status = 500
    title = "Invalid database URL"


class NoDatabase(DatabaseError):
    """There is no crmkit database at the URL (and the command only reads, so none was created).

    `install_creates` says whether installing would create it (a SQLite file, an empty PostgreSQL
    database) or whether it must be created by hand first (a PostgreSQL database that does not exist).
    """

    title = "No database"

    def __init__(self, message: str, *, install_creates: bool = True) -> None:
        super().__init__(message)
        self.install_creates = install_creates


class UnstorableText(CrmkitError):
    """A value (in a filter, a search, a name) holds a character no database can store or compare."""

    status = 400
    title = "Invalid text"


class NumberOutOfRange(CrmkitError):
    """A whole number (an id, an offset, a count) beyond the 64-bit range both databases store."""

    status = 400
    title = "Number out of range"


class SumOverflow(NumberOutOfRange):
    """SQLite's built-in SUM failed because its running total passed 64 bits, which depends on the
    order it read the rows in: the caller computes the total again with `columns.ExactSum(exact=True)`."""


class ConnectionLost(DatabaseError):
    """The server dropped the connection in the middle of a request (a restart, a failover, a timeout)."""

    title = "Connection lost"


class DatabaseBusy(DatabaseError):
    """Another writer held the database past the busy timeout; the same request may succeed in a moment."""

    title = "Database busy"


def default_database_url() -> str:
    return os.environ.get(DATABASE_URL_VARIABLE) or f"sqlite:///{DEFAULT_DATABASE_FILE}"


def parse_database_url(url: str) -> URL:
    """`url` as SQLAlchemy URL for a supported database; `postgres://` (Heroku style) means PostgreSQL.

    Raises DatabaseURLError with what to write instead for anything else.
    """
    if "\x00" in url:
        raise DatabaseURLError("the database URL contains a NUL character; no file or database is named like that.")
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseURLError(f"{_shown(url)!r} is not a database URL; {SUPPORTED}.") from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        return parsed
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend in ("postgresql", "postgres"):
        raise DatabaseURLError(f"crmkit talks to PostgreSQL through psycopg 3, not {driver}: write the URL as "
                               f"postgresql://... or postgresql+psycopg://...")
    raise DatabaseURLError(f"{backend!r} databases are not supported; {SUPPORTED}.")


def sqlite_file(parsed: URL) -> Path | None:
    """The file of a SQLite URL; None for an in-memory database or another backend."""
    if not parsed.drivername.startswith("sqlite"):
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _create_private(path: Path) -> None:
    """Creates a new SQLite file readable by its owner alone (mode 0600); an existing file is left as it is.

    The database holds password hashes and session digests. SQLite gives its -wal and -shm
    files the database file's mode, so they are private too.
    """
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass


def connect(url: str, *, create: bool = True, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> Engine:
    """An Engine for `url`; SQLite gets WAL, foreign keys, a busy timeout and transactional DDL.

    With `create=False` a missing SQLite file is NoDatabase instead of a new, empty database.
    `busy_timeout` is how many seconds a SQLite write waits for the write lock before DatabaseBusy.
    """
    parsed = parse_database_url(url)
    if parsed.drivername.startswith("sqlite"):
        path = sqlite_file(parsed)
        if path is not None and not create and not path.exists():
            raise no_database(url)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                _create_private(path)
            except OSError as error:
                raise DatabaseError(f"cannot create the folder {path.parent} for the SQLite database: "
                                    f"{error.strerror or error}.") from None
        engine = create_engine(parsed, connect_args={"timeout": busy_timeout})
        _configure_sqlite(engine, in_memory=path is None, busy_timeout=busy_timeout)
    else:
        try:
            engine = create_engine(parsed, connect_args={"options": _postgres_options(parsed)})
        except ImportError:
            raise DatabaseURLError("PostgreSQL needs the psycopg package: pip install 'crmkit[postgres]'.") from None
        _ping_when_idle(engine)
        _read_after_migrations(engine)
        literal_page_limits(engine)
    _translate_errors(engine, parsed)
    return engine


def _read_after_migrations(engine: Engine) -> None:
    """A transaction of a `read_connection` begins with one message of two statements, `BEGIN ISOLATION LEVEL
    REPEATABLE READ; LOCK TABLE crmkit_metadata_state IN ACCESS SHARE MODE`: one round trip, as psycopg's own
    BEGIN was (psycopg sends none once the server says a transaction is open).

    The lock is the one an operation's first statement takes in any case (generation.py: a migration holds the
    table in ACCESS EXCLUSIVE mode until it commits), taken before that statement: PostgreSQL fixes a REPEATABLE
    READ transaction's snapshot when its first query is parsed, before the query waits for a lock, so an operation
    that waited for a migration would read the database of before it (the old generation, and a rewritten table
    empty: "MVCC Caveats", PostgreSQL docs 13.6). LOCK TABLE takes no snapshot; the first query after it does, once
    the migration has committed. The level is named in the BEGIN, not set on the driver's connection: nothing to
    put back when the pool takes it again (measured: setting and resetting psycopg's level cost 77 us a read).
    """
    from crmkit.engine.tables import METADATA_STATE

    begin = f"BEGIN ISOLATION LEVEL REPEATABLE READ; LOCK TABLE {METADATA_STATE} IN ACCESS SHARE MODE".encode()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        if not connection.get_execution_options().get(READ_MOMENT_OPTION):
            return
        from psycopg import Error, errors, generators, pq

        driver = connection.connection.dbapi_connection
        try:
            driver.pgconn.send_query(begin)
            for result in driver.wait(generators.execute(driver.pgconn)):
                if result.status == pq.ExecStatus.FATAL_ERROR:
                    raise errors.error_from_result(result, encoding=driver.info.encoding)
        except Error as error:
            # As for any statement: the engine's translations (a dropped connection is ConnectionLost, and the
            # operation starts again on a new one: context.UserContext._started), the connection invalidated.
            connection._handle_dbapi_exception(error, begin.decode(), (), None, None)


def _postgres_options(parsed: URL) -> str:
    """The URL's own libpq `options` (a search_path, say) followed by crmkit's settings."""
    given = parsed.query.get("options")
    given = " ".join(given) if isinstance(given, tuple) else given
    return f"{given} {POSTGRES_SETTINGS}" if given else POSTGRES_SETTINGS


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection at checkout only when it sat unused for IDLE_PING_SECONDS or more.

    A dropped one is then replaced before anyone uses it (DisconnectionError makes the pool
    connect again); one dropped while in use recently is found by the operation's first
    statement instead (see the module docstring).
    """
    @event.listens_for(engine, "checkin")
    def on_checkin(dbapi_connection: Any, record: Any) -> None:
        record.info["crmkit_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.pop("crmkit_idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            if engine.dialect.is_disconnect(error, dbapi_connection, None):
                raise DisconnectionError() from error
            raise


def no_database(url: str) -> NoDatabase:
    """NoDatabase for `url`, naming the SQLite file in full, or the URL without its password."""
    try:
        path = sqlite_file(make_url(url))
    except ArgumentError:
        path = None
    where = str(path.resolve()) if path is not None else _shown(url)
    return NoDatabase(f"there is no crmkit database at {where}. Create one with `crmkit setup` (the standard "
                      "CRM with demo data) or `crmkit install PACKAGE`, or point --database / "
                      f"{DATABASE_URL_VARIABLE} at an existing one.")


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url if "@" not in url else "(the URL given)"  # never echo what may hold a password


def _configure_sqlite(engine: Engine, in_memory: bool, busy_timeout: float) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, record) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin, so
        # that DDL runs inside them too and a failed migration rolls back whole.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()
        sqlite_aggregates.register(dbapi_connection)
        sqlite_time.register(dbapi_connection)

    @event.listens_for(engine, "begin")
    def on_begin(connection) -> None:
        # A writer takes the write lock up front (IMMEDIATE), so two writers queue on the
        # busy timeout instead of failing when a read lock cannot be upgraded.
        # On the DBAPI cursor (precompiled.run_on_driver): the execution context exec_driver_sql
        # builds cost more than the BEGIN itself; listeners and error translation still run.
        immediate = connection.get_execution_options().get(WRITE_OPTION, False)
        run_on_driver(connection, "BEGIN IMMEDIATE" if immediate else "BEGIN", beginning=True)


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


#: A connection's execution option: its transactions read one moment (`read_connection`).
READ_MOMENT_OPTION = "crmkit_read_moment"


def read_connection(engine: Engine) -> Connection:
    """A new connection of `engine` whose transactions each read one moment; only reads may run on it. The caller
    closes it.

    On PostgreSQL each transaction begins in REPEATABLE READ, so all its statements see the database as of its
    first one, as a SQLite read transaction (WAL) does; READ COMMITTED, the server's default, gives each statement
    the data committed before it, and a page's rights (read by its first statement) and its records (later ones)
    would be of different moments. A read-only REPEATABLE READ transaction is never refused with a serialization
    failure (PostgreSQL docs, "Transaction Isolation", 13.2.2). Writes keep READ COMMITTED, each in a transaction
    of its own (write_transaction). How the transaction begins: `_read_after_migrations`.
    """
    connection = engine.connect()
    if engine.dialect.name == "postgresql":
        connection.execution_options(**{READ_MOMENT_OPTION: True})
    return connection


def reads_one_moment(connection: Connection) -> bool:
    """Whether every statement of `connection`'s transaction sees the same moment: always on SQLite (a read
    transaction in WAL mode reads one snapshot), on PostgreSQL when it came from `read_connection`. Read from the
    connection's options: no statement."""
    if connection.dialect.name != "postgresql":
        return True
    return bool(connection.get_execution_options().get(READ_MOMENT_OPTION))


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _translate_errors(engine: Engine, parsed: URL) -> None:
    """Driver errors a user can cause become DatabaseError sentences; everything else passes unchanged."""

    @event.listens_for(engine, "handle_error")
    def on_error(context: Any) -> None:
        error = context.original_exception
        translated = (_unstorable(error) or _out_of_range(error) or _busy(error) or _lost(context)
                      or (_unreachable(error, parsed) if context.connection is None else None))
        if translated is not None:
            raise translated from None


def _unstorable(error: BaseException) -> UnstorableText | None:
    """The last line of defence: input paths refuse such text by name (a field error) before any SQL runs."""
    text = str(error)
    if isinstance(error, UnicodeEncodeError) or "cannot contain NUL" in text:
        return UnstorableText(messages.UNSTORABLE_ANYWHERE())
    return None


def _out_of_range(error: BaseException) -> NumberOutOfRange | None:
    """The last line of defence for numbers: ids, offsets and counts are checked before any SQL runs."""
    if isinstance(error, OverflowError) or getattr(error, "sqlstate", None) == "22003":  # numeric_value_out_of_range
        return NumberOutOfRange("a number in the request is too large or too small: whole numbers go from "
                                f"{-(2**63):,} to {2**63 - 1:,}.")
    if str(error) == "integer overflow":  # SQLite's built-in SUM: its running total passed 64 bits
        return SumOverflow("a total passed the whole numbers SQLite adds natively; it is computed again exactly.")
    if "'finalize' method raised error" in str(error):  # sqlite_aggregates: the exact total itself does not fit
        return NumberOutOfRange("a total is beyond what SQLite stores (whole numbers from "
                                f"{-(2**63):,} to {2**63 - 1:,}); PostgreSQL computes it.")
    return None


def _busy(error: BaseException) -> DatabaseBusy | None:
    text = str(error)
    if getattr(error, "sqlite_errorname", "").startswith("SQLITE_BUSY") or "database is locked" in text:
        return DatabaseBusy("the database is busy with another change and did not become free in time; "
                            "nothing was changed. Try again in a moment.")
    if getattr(error, "sqlstate", None) in BUSY_SQLSTATES:
        return DatabaseBusy("the database is busy: another change got in the way of this one, and nothing was "
                            "changed. Try again in a moment.")
    return None


def _lost(context: Any) -> ConnectionLost | None:
    """A connection that was open and is gone; SQLAlchemy discards it (and older pooled ones) all the same."""
    if context.connection is None or not context.is_disconnect:
        return None
    return ConnectionLost("the connection to the database server was lost before this request finished (the server "
                          "may have restarted). Check whether a change you made was saved, then try again.")


def _unreachable(error: BaseException, parsed: URL) -> DatabaseError | None:
    """A failure to connect (no statement ran yet) as a sentence that says what to do."""
    text = str(error)
    if parsed.drivername.startswith("sqlite"):
        if "unable to open database file" in text:
            return DatabaseError(f"cannot open the SQLite database file {parsed.database}: check that the folder "
                                 "exists and may be written to.")
        if "file is not a database" in text:
            return DatabaseError(f"{parsed.database} is not a SQLite database file; point --database at a crmkit "
                                 "database or a new file name.")
        return None
    if type(error).__name__ != "OperationalError":
        return None
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    if f'database "{parsed.database}" does not exist' in text:
        return NoDatabase(f"the PostgreSQL server at {where} has no database named {parsed.database!r}. Create it "
                          f"with `createdb {parsed.database}` (or the SQL `CREATE DATABASE \"{parsed.database}\";`), "
                          "then run `crmkit setup` or `crmkit install PACKAGE`.", install_creates=False)
    if ("role" in text and "does not exist" in text) or "authentication failed" in text:
        return DatabaseError(f"the PostgreSQL server at {where} refused the user {parsed.username or '(none)'!r}: "
                             "check the user name and password in the database URL.")
    return DatabaseError(f"cannot connect to the PostgreSQL server at {where}: {_reason(text)} Check that the server "
                         "is running and that the URL's host and port are right.")


def _reason(text: str) -> str:
    """The driver's reason in plain words, without its prefixes ('connection failed: ... failed: ')."""
    line = text.strip().splitlines()[0] if text.strip() else "no answer"
    reason = line.rsplit("failed: ", 1)[-1].strip().rstrip(".")
    return f"{reason[:1].lower()}{reason[1:]}."
