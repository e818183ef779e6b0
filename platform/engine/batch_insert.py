"""Many rows into one table in one statement: PostgreSQL `unnest` of one array per column.

psycopg's executemany sends one INSERT per row (pipelined, so few network waits, but the
server binds and runs each one). On PostgreSQL a batch is instead written as

    INSERT INTO t (a, b) SELECT u.a, u.b FROM unnest(:a::A[], :b::B[]) AS u(a, b)

with one array parameter per column: one statement for the whole batch, 3-5x cheaper for
the server on 1,000 rows, and its text does not depend on the row count, so SQLAlchemy
compiles it once. Each array item goes through the column type's own bind processing
(UTC timestamps, exact decimals, JSON text), exactly as in a row-by-row INSERT. SQLite runs
executemany in-process (no round trips), which is as fast as it gets there.

A JSON document column (the change log's fields, history values) travels instead as ONE
JSON array of the rows' documents, split by `json_array_elements` and joined to the other
columns by row number: psycopg writes a text array item by item, escaping every quote of a
JSON document through a Python regular expression (about 150 µs a change-log row, more than
the rest of a bulk create's row), while one text parameter goes as it is. Each element is the
document's own text (`json` keeps it byte for byte); a JSON `null` element is SQL NULL, as
the column type never stores the text 'null'.

Several tables' batches can go as ONE statement (`table_part`, `insert_together`): the unnest
INSERTs of all but the first become data-modifying CTEs of the first, their parameters kept
apart by a prefix per table. A bulk create's batch writes its records, history, search and
change-log rows that way (records/bulk.py): one round trip and one statement for the server.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from operator import itemgetter
from typing import Any, Callable, Mapping, Sequence

from sqlalchemy import JSON, Connection, Table, Text, bindparam, cast, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.expression import ColumnElement, TableClause
from sqlalchemy.types import TypeEngine

from crmkit.engine.columns import DOCUMENT_ENCODER, JsonDocument
from crmkit.engine.precompiled import execute_compiled


@dataclass(frozen=True)
class ArrayColumn:
    """One column of an unnest INSERT: its name, the type of its items, an optional SQL expression
    applied to each unnested item (e.g. turning token text into a tsvector), and the name of its
    array parameter (default: the column's name)."""

    name: str
    type: TypeEngine
    wrap: Callable[[ColumnElement], ColumnElement] | None = None
    parameter: str | None = None

    @property
    def key(self) -> str:
        return self.parameter or self.name


def unnest_insert(target: TableClause, columns: Sequence[ArrayColumn]) -> Any:
    """PostgreSQL: `INSERT INTO target (columns) SELECT ... FROM unnest(one array per column)`.

    The statement's parameters are named by `ArrayColumn.key`; give them `array_parameters(rows, keys)`.
    """
    keys = [column.key for column in columns]
    source = func.unnest(*(bindparam(column.key, type_=ARRAY(column.type)) for column in columns)) \
        .table_valued(*keys).render_derived()
    selected = [column.wrap(source.c[column.key]) if column.wrap else source.c[column.key] for column in columns]
    return insert(target).from_select([column.name for column in columns], select(*selected))


def array_parameters(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, list[Any]]:
    """{column: [its value in each row, in row order]}; a row without the column gives None."""
    if rows and len(names) > 1:
        try:  # every row has every column (the usual batch): the rows transposed in C, not a .get per value
            return dict(zip(names, map(list, zip(*map(itemgetter(*names), rows)))))
        except KeyError:
            pass
    return {name: [row.get(name) for row in rows] for name in names}


def row_names(rows: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """Every column any of `rows` names, in order of first appearance (rows of a batch usually share
    one set of names, compared in C, so each row's names are not walked one by one)."""
    if not rows:
        return ()
    first = rows[0].keys()
    names = dict.fromkeys(first)
    for row in rows:
        if row.keys() != first:
            names.update(dict.fromkeys(row))
    return tuple(names)


def can_unnest(table: Table, names: Sequence[str]) -> bool:
    """Whether every column's values can travel as one PostgreSQL array (not when a column is an array itself)."""
    return not any(isinstance(getattr(table.c[name].type, "impl_instance", table.c[name].type), ARRAY)
                   or getattr(table.c[name].type, "_is_array", False) for name in names)


@lru_cache(maxsize=512)
def _row_statement(table: Table) -> Any:
    return insert(table)


def _is_document(table: Table, name: str) -> bool:
    return isinstance(table.c[name].type, JsonDocument)


@lru_cache(maxsize=512)
def _table_statement(table: Table, names: tuple[str, ...], prefix: str = "") -> Any:
    """The unnest INSERT of `names` into `table`, its parameters named `prefix` + column name."""
    documents = [name for name in names if _is_document(table, name)]
    if not documents:
        return unnest_insert(table, [ArrayColumn(name, table.c[name].type, parameter=prefix + name) for name in names])
    plain = [name for name in names if name not in documents]
    sources = []
    if plain:
        sources.append(func.unnest(*(bindparam(prefix + name, type_=ARRAY(table.c[name].type)) for name in plain))
                       .table_valued(*(prefix + name for name in plain), with_ordinality=_ROW).render_derived())
    for name in documents:  # the rows' documents as one JSON array (module docstring)
        sources.append(func.json_array_elements(cast(bindparam(prefix + name, type_=Text), JSON))
                       .table_valued(_ELEMENT, with_ordinality=_ROW).render_derived(name=f"{prefix}{name}_items"))
    base, *others = sources
    joined = base
    for other in others:
        joined = joined.join(other, other.c[_ROW] == base.c[_ROW])
    by_name = {name: base.c[prefix + name] for name in plain}
    by_name.update({name: func.nullif(cast(source.c[_ELEMENT], Text), "null")
                    for name, source in zip(documents, sources[len(sources) - len(documents):])})
    selected = select(*(by_name[name] for name in names)).select_from(joined).order_by(base.c[_ROW])
    return insert(table).from_select(list(names), selected)


#: The row number and element columns of the sources `_table_statement` joins.
_ROW, _ELEMENT = "row_number", "document"


def _document_array(table: Table, name: str, values: Sequence[Any], dialect: Any) -> str:
    """The JSON array text of one document column's values, each as the column type writes it (None: null).

    A plain JsonDocument column is encoded in one call of its encoder over the whole list: the
    same text for each element as one call per value gives (the C encoder writes nested values
    exactly as top-level ones), without a Python call per row.
    """
    column_type = table.c[name].type
    if type(column_type) is JsonDocument:
        return DOCUMENT_ENCODER.encode(list(values))
    process = column_type.process_bind_param
    return "[" + ",".join("null" if value is None else process(value, dialect) for value in values) + "]"


def _always_null(column: Any) -> bool:
    """Whether leaving `column` out of an INSERT stores NULL, as writing NULL does: no default of any kind."""
    return (column.default is None and column.server_default is None and not column.primary_key
            and column.onupdate is None)


def table_arrays(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]
                 ) -> tuple[tuple[str, ...], dict[str, Any]] | None:
    """PostgreSQL, several rows: (the columns written, {column: its values as one array parameter, or a
    document column's JSON array text}) for `_table_statement`; None where the rows cannot go as arrays
    (SQLite, one row, an array column, a list value of a column other than a JSON document).

    A column NULL in every row that stores NULL when left out (`_always_null`) is left out: fewer
    arrays to build and send, and fewer for the server to unnest (a create's history row has no
    field and no values; most records leave some fields empty).
    """
    if len(rows) < 2 or connection.dialect.name != "postgresql":
        return None
    names = row_names(rows)
    if not can_unnest(table, names):
        return None
    arrays = array_parameters(rows, names)
    columns, count = table.c, len(rows)
    written = tuple(name for name in names if arrays[name].count(None) != count or not _always_null(columns[name]))
    if written and len(written) < len(names):
        names, arrays = written, {name: arrays[name] for name in written}
    if any(any(map(isinstance, values, repeat((list, tuple)))) for name, values in arrays.items()
           if not _is_document(table, name)):
        return None  # a list value (multi-picklist) would read as an array dimension
    for name in names:
        if _is_document(table, name):
            arrays[name] = _document_array(table, name, arrays[name], connection.dialect)
    return names, arrays


def insert_rows(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `rows` (dicts keyed by columns of `table`) in one statement on PostgreSQL.

    Every column any row names is written, as NULL in rows without it. One row is a plain
    INSERT; on SQLite, for a column PostgreSQL cannot send as an array, and when a value of a
    column other than a JSON document is a list (a multi-picklist: an array parameter would
    read it as a dimension), an executemany.
    Nothing is returned: callers that need ids give them (PostgreSQL sequences).
    """
    if not rows:
        return
    found = table_arrays(connection, table, rows)
    if found is None:
        names = row_names(rows)
        if any(len(row) != len(names) for row in rows):
            rows = [{name: row.get(name) for name in names} for row in rows]
        if len(rows) == 1:  # a create's row: the statement and its compilation are kept (engine/precompiled.py)
            execute_compiled(connection, _row_statement(table), rows[0])
        else:
            connection.execute(insert(table), list(rows))
        return
    names, arrays = found
    execute_compiled(connection, _table_statement(table, names), arrays)


@dataclass(frozen=True)
class Part:
    """One table's rows in a write of several tables at once (`insert_together`): its unnest INSERT,
    parameters named with a prefix of its own, and those parameters."""

    statement: Any
    parameters: Mapping[str, Any]


def table_part(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]], prefix: str) -> Part | None:
    """`rows` of `table` as a Part whose parameters start with `prefix`; None where `insert_rows` would not
    send them as arrays (see `table_arrays`)."""
    found = table_arrays(connection, table, rows)
    if found is None:
        return None
    names, arrays = found
    return Part(_table_statement(table, names, prefix), {prefix + name: values for name, values in arrays.items()})


def insert_together(connection: Connection, parts: Sequence[Part]) -> None:
    """PostgreSQL: several unnest INSERTs as ONE statement, the others as data-modifying CTEs of the first:

        WITH w1 AS (INSERT INTO crmkit_history ...), w2 AS (INSERT INTO crmkit_change ...)
        INSERT INTO deal (...) SELECT ... FROM unnest(...)

    One round trip and one statement for a bulk create's batch (the records, their history,
    search and change-log rows) instead of one each. Every part runs to completion with the
    statement (PostgreSQL runs data-modifying CTEs whether or not they are read); an error in any
    part fails the statement, and so the transaction, as the separate statements would.
    """
    if not parts:
        return
    parameters: dict[str, Any] = {}
    for part in parts:
        parameters.update(part.parameters)
    execute_compiled(connection, _together(tuple(part.statement for part in parts)), parameters)


@lru_cache(maxsize=256)
def _together(statements: tuple[Any, ...]) -> Any:
    first, *others = statements
    if not others:
        return first
    return first.add_cte(*(statement.cte(f"written_{number}") for number, statement in enumerate(others, 1)))
