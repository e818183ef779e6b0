"""The save's fixed statements, compiled once per database and run without SQLAlchemy's per-call compile step.

Every create runs the same few statements with new values: the operation read, the
record's INSERT, its history, search and change-log rows (one statement on PostgreSQL).
`connection.execute(statement, values)` looks the compiled form up in SQLAlchemy's cache
each time, then builds an execution context around it: bind processing through the
compiled parameter map, default handling, result metadata. Measured here on SQLite, that
is about 10 times the time the database takes for a one-row INSERT (tens of µs a
statement, several statements a save). `execute_compiled` keeps the compiled SQL text,
its parameter order and its columns' bind processors for each (statement, database,
parameter names), and runs the text with `Connection.exec_driver_sql`:

- the SQL is SQLAlchemy's own compilation of the Core statement, values travel as bound
  parameters processed by the same type processors (UTC timestamps, exact decimals, JSON);
- the connection's events still run: error translation (`handle_error`), statement
  listeners, PostgreSQL's prepared statements (the same text is prepared after 5 runs);
- on PostgreSQL (psycopg), array parameters (a bulk batch's columns, engine/batch_insert.py)
  are sent in binary format, which psycopg writes several times faster than text (`_binary`).

A statement whose compilation needs per-call work is run as usual by `connection.execute`
instead: Python-side column defaults to compute, IN lists expanded or values rendered at
execution, result columns whose values need processing.

Inside a transaction, even `exec_driver_sql` costs much of a statement: building its
execution context and result object took about 50 µs a statement on SQLite against 1-2 µs
for the sqlite3 cursor's own `execute`, and a create runs five such statements; on
PostgreSQL (psycopg) tens of µs more beside each round trip, for the create's two statements
(measured on the bench machine). There `run_on_driver` runs the kept SQL on the DBAPI cursor
itself and does by hand the parts of `exec_driver_sql` a caller can observe:

- the `before_cursor_execute` / `after_cursor_execute` listeners are called, with the same
  arguments but no execution context (None), so statement counts and plans in tests see
  every statement;
- a driver error, whether the statement, a listener or fetching the rows raised it, goes
  through the connection's own error handling (`handle_error`: the engine's translations
  to DatabaseError sentences, then SQLAlchemy's IntegrityError and the like, which `records/constraints.py` turns into field errors); an error raised while
  binding values (a value sqlite3 cannot bind, such as an integer beyond 64 bits), before
  the statement ran, is raised by running the statement once more the usual way (listeners
  then see that statement twice);
- rows come back as the driver gives them (`DriverResult`), as they would through a
  CursorResult for the plain results run here.

Anything unusual runs the usual way: no transaction begun yet (autobegin), a transaction or
savepoint no longer active, SQL echo on, `do_execute` listeners on the dialect.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from weakref import WeakKeyDictionary

from sqlalchemy import ARRAY, Connection, CursorResult, Integer, String
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.sql.expression import Executable
from sqlalchemy.types import TypeEngine

_REQUIRED = object()

#: The drivers whose cursor `run_on_driver` uses directly (SQLAlchemy's dialect.driver names).
DIRECT_DRIVERS = frozenset({"pysqlite", "psycopg"})


@dataclass(frozen=True)
class Compiled:
    """One statement's SQL for one database and set of parameter names, with how to bind each value.

    `slots` are (parameter name, key in the driver's parameters, processor or None,
    value when the caller gives none); the driver's parameters are a tuple in slot
    order where the database takes positional ones (SQLite's `?`), else a dict.
    """

    sql: str
    slots: tuple[tuple[str, str, Callable[[Any], Any] | None, Any], ...]
    positional: bool
    #: Whether a run inside a transaction may go straight to the DBAPI cursor (`run_on_driver`): sqlite3 and psycopg.
    direct: bool = False

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """The driver's parameters for `values` ({parameter name: value}); KeyError for a required one missing."""
        bound = []
        for name, _, process, default in self.slots:
            value = values.get(name, default)
            if value is _REQUIRED:
                raise KeyError(name)
            bound.append(value if process is None or value is None else process(value))
        if self.positional:
            return tuple(bound)
        return {key: value for (_, key, _, _), value in zip(self.slots, bound)}


#: statement -> {(dialect, parameter names): Compiled, or None where it must run as usual}
_compiled: "WeakKeyDictionary[Executable, dict[tuple[Dialect, tuple[str, ...]], Compiled | None]]" = \
    WeakKeyDictionary()


def execute_compiled(connection: Connection, statement: Executable, values: Mapping[str, Any]
                     ) -> "CursorResult | DriverResult":
    """Run `statement` once with `values` ({parameter or column name: value}), as `connection.execute` would.

    For statements built once and run with the same parameter names again and again (a
    pipeline's INSERT, the history INSERT): the second run on a database uses the kept
    compilation. Results are rows as the driver gives them (only statements whose result
    columns need no processing are run this way: ids, whole numbers, text).
    """
    dialect = connection.dialect
    key = (dialect, tuple(values))
    forms = _compiled.get(statement)
    if forms is None:
        forms = _compiled[statement] = {}
    try:
        compiled = forms[key]
    except KeyError:
        compiled = forms[key] = compile_once(statement, dialect, key[1])
    if compiled is None:
        return connection.execute(statement, dict(values))
    if compiled.direct:
        return run_on_driver(connection, compiled.sql, compiled.parameters(values))
    return connection.exec_driver_sql(compiled.sql, compiled.parameters(values))


def compile_once(statement: Executable, dialect: Dialect, names: tuple[str, ...]) -> Compiled | None:
    """`statement` compiled for `dialect` with the parameter (column) names `names`, or None when a run needs
    more than binding values (module docstring)."""
    compiled = statement.compile(dialect=dialect, column_keys=list(names))
    if (compiled.insert_prefetch or compiled.update_prefetch or compiled.literal_execute_params
            or compiled.post_compile_params):
        return None
    if not all(_plain_result(column.type, dialect) for column in compiled._result_columns):
        return None
    processors = compiled._bind_processors
    escaped = compiled.escaped_bind_names or {}
    order = compiled.positiontup if compiled.positional else list(dict.fromkeys(compiled.bind_names.values()))
    if order is None:
        return None
    slots = []
    sql = compiled.string
    for name in order:
        bind = compiled.binds[name]
        default = _REQUIRED if bind.required else bind.effective_value
        if bind.callable is not None:
            return None
        slots.append((name, escaped.get(name, name), processors.get(name), default))
        if dialect.driver == "psycopg" and isinstance(bind.type, ARRAY):
            sql = _binary(sql, escaped.get(name, name))
    return Compiled(sql, tuple(slots), bool(compiled.positional), direct=dialect.driver in DIRECT_DRIVERS)


def _binary(sql: str, key: str) -> str:
    """psycopg: the parameter `key` sent in binary format (`%(key)b`). An array goes item by item either
    way, but in text psycopg quotes and escapes each item with a Python regular expression (2-4 µs an
    item of text or a timestamp, 0.2 µs in binary): a bulk batch sends thousands of items."""
    return re.sub(rf"(?<!%)%\({re.escape(key)}\)s", lambda _: f"%({key})b", sql)


def _plain_result(column_type: TypeEngine, dialect: Dialect) -> bool:
    """Whether the driver's value of a result column is the value itself: whole numbers and text that
    `dialect` does not process (ids, the metadata generation); anything else is run the usual way."""
    return isinstance(column_type, (Integer, String)) and column_type._cached_result_processor(dialect, None) is None


class DriverResult:
    """The rows of a statement `run_on_driver` ran, as the DBAPI cursor gave them (tuples), all fetched.

    Answers the CursorResult methods its callers use; `rowcount` is the cursor's (rows an
    INSERT, UPDATE or DELETE changed; -1 for a SELECT), and so is `lastrowid` (the rowid of
    the row an INSERT wrote; SQLite; None on psycopg, whose INSERTs return their ids).
    """

    __slots__ = ("rows", "rowcount", "lastrowid")

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int, lastrowid: int | None = None) -> None:
        self.rows, self.rowcount, self.lastrowid = rows, rowcount, lastrowid

    def all(self) -> list[tuple[Any, ...]]:
        return list(self.rows)

    def first(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def one(self) -> tuple[Any, ...]:
        """The one row; NoResultFound without any, MultipleResultsFound with more (as CursorResult.one)."""
        if not self.rows:
            raise NoResultFound("No row was found when one was required")
        if len(self.rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when exactly one was required")
        return self.rows[0]

    def scalar_one(self) -> Any:
        return self.one()[0]


def run_on_driver(connection: Connection, sql: str, parameters: tuple[Any, ...] | dict[str, Any] = (), *,
                  beginning: bool = False) -> "CursorResult | DriverResult":
    """`connection.exec_driver_sql(sql, parameters)` with the work the module docstring describes done by hand.

    Runs `sql` (the driver's paramstyle) once with `parameters` on the connection's DBAPI
    cursor when the connection is in an active transaction, or when `beginning` (the
    connection's `begin` event, which starts that transaction: SQLite's BEGIN); otherwise,
    and in the other cases the module docstring names, through `exec_driver_sql`. Errors:
    what `exec_driver_sql` raises for the same statement (SQLAlchemy's DBAPIError
    subclasses, or the engine's translations of them).
    """
    if not (_plain_connection(connection) and (beginning or _in_transaction(connection))):
        return connection.exec_driver_sql(sql, parameters)
    dispatch = connection.dispatch
    before = after = None
    if connection._has_events or connection.engine._has_events:
        before, after = dispatch.before_cursor_execute, dispatch.after_cursor_execute
    cursor = connection._dbapi_connection.cursor()
    try:
        try:
            if before:
                for listener in before:
                    sql, parameters = listener(connection, cursor, sql, parameters, None, False)
        except BaseException as error:  # a listener's error is handled as exec_driver_sql handles it
            connection._handle_dbapi_exception(error, sql, parameters, cursor, None)
        try:
            cursor.execute(sql, parameters)
        except connection.dialect.loaded_dbapi.Error as error:
            connection._handle_dbapi_exception(error, sql, parameters, cursor, None)
        except Exception:
            # Raised by the driver while binding values (the statement did not run): the usual
            # path raises it, and its translations, as for any other statement.
            cursor.close()
            return connection.exec_driver_sql(sql, parameters)
        except BaseException as error:  # an interruption mid-statement: the connection is dropped, as usual
            connection._handle_dbapi_exception(error, sql, parameters, cursor, None)
        try:  # inside the error handling, as in exec_driver_sql: the listeners, then the rows fetched
            if after:
                after(connection, cursor, sql, parameters, None, False)
            rows = cursor.fetchall() if cursor.description is not None else []
        except BaseException as error:
            connection._handle_dbapi_exception(error, sql, parameters, cursor, None)
        return DriverResult(rows, cursor.rowcount, getattr(cursor, "lastrowid", None))
    finally:
        cursor.close()


def _in_transaction(connection: Connection) -> bool:
    """Whether `connection` is in a transaction (and savepoint) still active, as `exec_driver_sql` requires
    before it runs a statement without beginning one."""
    transaction, nested = connection._transaction, connection._nested_transaction
    context = connection._trans_context_manager
    return (transaction is not None and transaction.is_active and (nested is None or nested.is_active)
            and (context is None or context._transaction_is_active()))


def _plain_connection(connection: Connection) -> bool:
    """Whether `connection` holds its DBAPI connection, echoes no SQL and has no `do_execute` listeners: then
    `exec_driver_sql` does nothing `run_on_driver` leaves out."""
    dispatch = connection.dialect.dispatch
    return (connection._dbapi_connection is not None and not connection._echo
            and not dispatch.do_execute and not dispatch.do_execute_no_params)
