"""Long `in` lists bound as one parameter, so a filter's size is not limited by the database's parameter count.

    >>> one_of(table.c.stage, ["Won", "Lost", ...])     # stage IN (...) / = ANY(...) / IN json_each(...)

SQLAlchemy binds each value of `column.in_(values)` as a parameter of its own; SQLite
allows 32,766 parameters per statement (SQLITE_MAX_VARIABLE_NUMBER since 3.32) and
PostgreSQL's wire protocol 65,535, so 500 lists of 1,000 values would fail. A list
longer than `INLINE_VALUES` is sent as one value instead: a PostgreSQL array
(`column = ANY(:values)`, https://www.postgresql.org/docs/current/functions-comparisons.html)
or, on SQLite, JSON text read with the json_each table-valued function
(`column IN (SELECT value FROM json_each(:values))`, https://www.sqlite.org/json1.html#jeach).
Each value is first converted the way the column binds it (decimals to scaled integers,
moments to UTC text on SQLite), so the comparison is the same as with a short list.
"""
from __future__ import annotations

import json
from typing import Any, Sequence

from sqlalchemy import ColumnElement, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import Boolean

from crmkit.engine.columns import ExactDecimal, _exact_operand

#: Lists up to this long are bound value by value (the plain `IN (...)` SQLAlchemy writes).
INLINE_VALUES = 100


def one_of(column: Any, values: Sequence[Any]) -> ColumnElement:
    """`column IN values`, bound as one parameter when the list is long; values already of the column's type."""
    column_type = column.type
    if isinstance(column_type, ExactDecimal):
        # As the column's comparator does: a value no stored number can equal matches nothing.
        values = [value for value in values if column_type.could_hold(_exact_operand(value))]
    if len(values) <= INLINE_VALUES:
        return column.in_(list(values))
    return ValueList(column, list(values))


def batch_keys(column: Any, values: Sequence[Any], dialect: str) -> ColumnElement:
    """`column IN values` for a batch's keys (an import's emails, names, upsert values, lookup texts), `dialect` the
    connection's dialect name. PostgreSQL: always one array (`ValueList`). A list of N parameters gives the
    same statement text for every batch of N keys, which psycopg prepares once it has run five times (its
    `prepare_threshold`); PostgreSQL may then plan it once for any values (a generic plan), and for a long list
    that is a sequential scan testing each row against the parameters one by one (measured: 0.5 to 2 s a query
    over 40,000 to 80,000 contacts with 1,000 emails; `= ANY(array)`, generic too, reads the index in 7 ms).
    SQLite: `IN (...)` value by value, which it answers through the index."""
    if dialect == "postgresql":
        return ValueList(column, list(values))
    return column.in_(list(values))


class ValueList(ColumnElement):
    """`column` is one of `values`, which travel as a single bound parameter (see the module docstring)."""

    __visit_name__ = "crmkit_value_list"
    inherit_cache = False
    type = Boolean()
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]
    #: The statement cache key holds the values themselves: the compiled statement binds them
    #: (a parameter made while compiling), so a statement cached for one list must never be
    #: reused for another (it was, before: the second list's query read the first list's rows).
    _cache_key_traversal = [("column", InternalTraversal.dp_clauseelement),
                            ("key_values", InternalTraversal.dp_plain_obj)]

    def __init__(self, column: Any, values: list[Any]) -> None:
        self.column = column
        self.values = values
        self.key_values = tuple(values)


@compiles(ValueList, "postgresql")
def _any_array(element: ValueList, compiler, **kw: Any) -> str:
    values = bindparam(None, element.values, type_=ARRAY(element.column.type))
    return f"{compiler.process(element.column, **kw)} = ANY ({compiler.process(values, **kw)})"


@compiles(ValueList)
def _json_each(element: ValueList, compiler, **kw: Any) -> str:
    convert = element.column.type.bind_processor(compiler.dialect)
    stored = [convert(value) if convert is not None else value for value in element.values]
    values = bindparam(None, json.dumps(stored, ensure_ascii=False, default=str))
    return f"{compiler.process(element.column, **kw)} IN (SELECT value FROM json_each({compiler.process(values, **kw)}))"


def one_of_ids(column: Any, ids: Sequence[int]) -> ColumnElement:
    """`column IN ids` for whole-number ids read from the database (a search's matches): up to INLINE_VALUES
    bound one by one, more as one text parameter `"1,2,3"` (`IdList`), cheap to send and cached by shape."""
    if len(ids) <= INLINE_VALUES:
        return column.in_(list(ids))
    return IdList(column, ids)


class IdList(ColumnElement):
    """`column` is one of `ids`, sent as one bound text of comma-separated whole numbers.

    PostgreSQL reads it as `column = ANY (string_to_array(:ids, ',')::bigint[])`, SQLite as
    `column IN (SELECT value FROM json_each('[' || :ids || ']'))`. Unlike `ValueList` the
    parameter is made here, with the element, so the statement cache extracts its value: one
    compilation per statement shape, whatever the ids (and a driver converts one string, not
    thousands of numbers).
    """

    __visit_name__ = "crmkit_id_list"
    inherit_cache = True
    type = Boolean()
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement),
                           ("ids", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: Any, ids: Sequence[int]) -> None:
        self.column = column
        self.ids = bindparam(None, ",".join(str(int(value)) for value in ids), unique=True)


@compiles(IdList, "postgresql")
def _id_array(element: IdList, compiler, **kw: Any) -> str:
    return (f"{compiler.process(element.column, **kw)} = ANY (CAST(string_to_array({compiler.process(element.ids, **kw)}, ',') "
            "AS BIGINT[]))")


@compiles(IdList)
def _id_json(element: IdList, compiler, **kw: Any) -> str:
    return (f"{compiler.process(element.column, **kw)} IN (SELECT value FROM json_each('[' || "
            f"{compiler.process(element.ids, **kw)} || ']'))")
