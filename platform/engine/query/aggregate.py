"""The report compiler: groupings and aggregates of one object compiled to ONE grouped SQL statement.

    >>> keys = [group_key(ctx, "opportunity", "stage", dialect=d), group_key(ctx, "opportunity", "close_date",
    ...                                                                       bucket="month", dialect=d)]
    >>> measures = [measure(ctx, "opportunity", "total", "sum", field="amount", dialect=d)]
    >>> grouped_rows(connection, keys, measures, [(0, 1), (0,), ()], table, where_clause(ctx, "opportunity", spec))
    [GroupedRow(set_index=0, keys=('Won', date(2026, 5, 1)), values={'total': Decimal('1200.00')}), ...]

It sits beside the filter compiler and reuses its paths: every field is resolved with
`resolve_field` / `resolve_path` (a hidden field is refused as unknown; a derived field is
the caller's value, `QueryContext.column`), a field through a lookup is read from the
target's row only where the caller may read that row (its row filter), and the rows
grouped are those of `where_clause` (the report's filter AND the caller's row filter). So
every figure, subtotal and total is over rows the user may see.

Shape of the statement: an inner select computes, per record, the grouping keys (a value,
a lookup's id, a date bucket's first day, a numeric range's index) and the inputs of the
aggregates (a conditional aggregate's input is NULL where its condition fails); the outer
select groups it:
- PostgreSQL: one `GROUP BY GROUPING SETS (...)` computes the detail groups, subtotals and
  grand total in one pass; `GROUPING()` tells a subtotal's NULL from a group of no value.
- SQLite (no grouping sets): when every aggregate can be added up from finer groups
  (count, sum, min, max; averages are sums over counts), the finest groups are computed
  once in a CTE and each coarser level sums them (UNION ALL); otherwise (count distinct)
  each level groups the rows itself (UNION ALL).
Date buckets are computed by the database in the caller's time zone: `date_trunc` of
`timezone(zone, ts)` on PostgreSQL, and on SQLite the local date from
`sqlite_time.LOCAL_DATE` (zoneinfo, right across daylight-saving changes) truncated with
date modifiers. Sums are exact (`columns.ExactSum`; SQLite adds again exactly when its
built-in SUM overflows).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from operator import itemgetter
from typing import Any, Callable, NamedTuple, Sequence

from sqlalchemy import (BigInteger, ColumnElement, Connection, Date, DateTime, Integer, and_, case, cast, func, literal,
                        literal_column, null, select, tuple_, type_coerce, union_all)
from sqlalchemy.dialects.postgresql import INTERVAL
from sqlalchemy.sql.util import ClauseAdapter

from crmkit.engine import messages, sqlite_time
from crmkit.engine.columns import ExactDecimal, ExactSum
from crmkit.engine.database import SumOverflow
from crmkit.engine.query.errors import QueryError
from crmkit.engine.query.filters import FieldInfo, QueryContext, compile_filter, resolve_path

#: Value kinds a report may group by (a multi-select's list is no single value).
GROUPABLE_KINDS = frozenset({"text", "integer", "decimal", "date", "datetime", "boolean", "reference"})
NUMBER_KINDS = frozenset({"integer", "decimal"})
DATE_KINDS = frozenset({"date", "datetime"})
USER_LOOKUPS = frozenset({"owner_id", "created_by", "updated_by"})


# ---- field values ---------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldValue:
    """A field path's SQL value for the caller, and what it is: the field, and the lookup it was read through."""

    path: str
    info: FieldInfo
    lookup: FieldInfo | None
    expression: Any


def field_value(ctx: QueryContext, object_name: str, path: str) -> FieldValue:
    """The value of `field` or `lookup.field` for each record, as the caller may see it.

    Through a lookup the value is read from the target's row only if the caller may read that
    row (its row filter), else it is NULL, as the filter compiler's `lookup.field` conditions
    read it. QueryError for an unknown or hidden field, as the filter compiler raises.
    """
    lookup, info = resolve_path(ctx, object_name, path)
    if lookup is None:
        return FieldValue(path, info, None, info.column)
    base = ctx.schema.table(object_name)
    target = ctx.schema.table(info.object_name)
    column, restriction = info.column, ctx.restriction(info.object_name)
    if target is base:  # a lookup to the same object: read the target through an alias of its table
        alias = target.alias()
        adapter = ClauseAdapter(alias)
        column = adapter.traverse(column)
        restriction = adapter.traverse(restriction) if restriction is not None else None
        target = alias
    condition = target.c.id == lookup.column
    if restriction is not None:
        condition = and_(condition, restriction)
    value = select(column).select_from(target).where(condition).correlate(base).scalar_subquery()
    return FieldValue(path, info, lookup, type_coerce(value, info.column.type))


# ---- grouping keys --------------------------------------------------------------------------

@dataclass(frozen=True)
class KeySpec:
    """How one grouping level is keyed: the field's value, a date bucket or a numeric range."""

    value: FieldValue
    bucket: str | None = None
    ranges: tuple[Any, ...] = ()
    fiscal_start: int = 1
    expression: Any = None

    @property
    def kind(self) -> str:
        return self.value.info.value_kind


def group_key(ctx: QueryContext, object_name: str, path: str, *, bucket: str | None = None,
              ranges: Sequence[Any] = (), fiscal_start: int = 1, dialect: str) -> KeySpec:
    """The SQL key of a grouping level; QueryError for a field that cannot be grouped as asked."""
    value = field_value(ctx, object_name, path)
    kind = value.info.value_kind
    if kind not in GROUPABLE_KINDS:
        raise QueryError(messages.REPORT_NOT_GROUPABLE(field=path, type=value.info.value_type))
    if bucket is not None:
        if kind not in DATE_KINDS:
            raise QueryError(messages.REPORT_BUCKET_NEEDS_DATE(field=path, type=value.info.value_type))
        expression = bucket_sql(value.expression, kind, bucket, fiscal_start, ctx.timezone, dialect)
    elif ranges:
        if kind not in NUMBER_KINDS:
            raise QueryError(messages.REPORT_RANGES_NEED_NUMBER(field=path, type=value.info.value_type))
        expression = range_sql(value.expression, ranges)
    else:
        expression = value.expression
    return KeySpec(value, bucket, tuple(ranges), fiscal_start, expression)


def range_sql(column: Any, boundaries: Sequence[Any]) -> ColumnElement:
    """The index of the range `column` falls in: 0 below the first boundary, len(boundaries) at or above the last."""
    whens = [(column < boundary, index) for index, boundary in enumerate(boundaries)]
    return case((column.is_(None), None), *whens, else_=len(boundaries))


def bucket_sql(column: Any, kind: str, bucket: str, fiscal_start: int, zone: str, dialect: str) -> ColumnElement:
    """The first day of the bucket holding `column`'s value, as a date (datetimes on the calendar of `zone`).

    Weeks start on Monday; a fiscal quarter or year starting in month `fiscal_start` is the
    calendar quarter or year of the date moved back `fiscal_start - 1` months, moved forward again.
    """
    shift = fiscal_start - 1 if bucket.startswith("fiscal_") else 0
    unit = bucket.removeprefix("fiscal_")
    if dialect == "postgresql":
        # A local timestamp without time zone: date_trunc then works on the viewer's calendar,
        # whatever the session's TimeZone (a date cast to timestamptz would use the session's).
        local = func.timezone(literal(zone), column) if kind == "datetime" else cast(column, DateTime())
        if shift:
            local = local - cast(literal(f"{shift} months"), INTERVAL)
        truncated = func.date_trunc(unit, local)
        if shift:
            truncated = truncated + cast(literal(f"{shift} months"), INTERVAL)
        return cast(truncated, Date)
    # date(value, modifiers...) reads the value as date(value) does, so a stored date or UTC moment is
    # moved by the modifiers in the same call (one function call per row, not two).
    source = getattr(func, sqlite_time.LOCAL_DATE)(column, literal(zone)) if kind == "datetime" and zone != "UTC" \
        else column
    if unit == "day":
        result = func.date(source)
    elif unit == "week":
        result = func.date(source, "-6 days", "weekday 1")
    else:
        month = func.date(source, "start of month", f"-{shift} months") if shift else func.date(source, "start of month")
        forward = (f"+{shift} months",) if shift else ()
        if unit == "month":
            result = month
        elif unit == "year":
            result = func.date(month, "start of year", *forward)
        else:  # quarter: back to the quarter's first month (the month number of `source` itself without a shift)
            back = (cast(func.strftime("%m", month if shift else source), Integer) - 1) % 3
            result = func.date(month, literal("-").concat(cast(back, Integer)).concat(" months"), *forward)
    return type_coerce(result, Date())


def bucket_end(start: date, bucket: str) -> date | None:
    """The first day after the bucket starting on `start`; None when that day is past the last date (9999-12-31)."""
    unit = bucket.removeprefix("fiscal_")
    if unit in ("day", "week"):
        days = 1 if unit == "day" else 7
        return start + timedelta(days=days) if (date.max - start).days >= days else None
    months = {"month": 1, "quarter": 3, "year": 12}[unit]
    index = start.year * 12 + start.month - 1 + months
    return date(index // 12, index % 12 + 1, 1) if index // 12 <= date.max.year else None


# ---- aggregates -----------------------------------------------------------------------------

#: How a partial aggregate of finer groups is added up into a coarser group's.
ROLLUP = {"count_all": "sum", "count": "sum", "sum": "sum", "min": "min", "max": "max"}


@dataclass(frozen=True)
class Partial:
    """One aggregate the database computes: `function` over the inner select's `input` (None: count(*))."""

    function: str  # count_all | count | count_distinct | sum | min | max
    input: Any = None


def partial_sql(partial: Partial, column: Any, exact: bool) -> ColumnElement:
    function = partial.function
    if function == "count_all":
        return func.count()
    if function == "count":
        return func.count(column)
    if function == "count_distinct":
        return func.count(column.distinct())
    if function == "sum":
        return ExactSum(column, exact=exact)
    return getattr(func, function)(column)


def rollup_sql(partial: Partial, column: Any, exact: bool) -> ColumnElement:
    how = ROLLUP[partial.function]
    if how == "sum":
        return ExactSum(column, exact=exact)
    return getattr(func, how)(column)


@dataclass(frozen=True)
class Measure:
    """One aggregate of a report as partials, and how its value is made from them (`finish`)."""

    name: str
    function: str
    partials: tuple[Partial, ...]
    #: "value" (the first partial as it is), "count" (None -> 0), "average" (sum / count), and
    #: for days between two dates the same with the partial in days or seconds.
    finish: str = "value"
    unit: str | None = None  # days_between: "days" or "seconds"
    scale: int = 2
    value_kind: str | None = None


def measure(ctx: QueryContext, object_name: str, name: str, function: str, *, field: str | None = None,
            where: Any = None, days_between: Sequence[str] | None = None, dialect: str) -> Measure:
    """The partials of one aggregate; QueryError for a field that cannot be aggregated so."""
    condition = compile_filter(ctx, object_name, where) if where is not None else None

    def conditional(value: Any) -> Any:
        return value if condition is None else case((condition, value), else_=None)

    if days_between is not None:
        difference, unit = _days_between(ctx, object_name, days_between, dialect)
        difference = conditional(difference)
        if function in ("count", "count_distinct"):
            return Measure(name, function, (Partial(function, difference),), "count", unit)
        if function == "avg":
            return Measure(name, function, (Partial("sum", difference), Partial("count", difference)), "average",
                           unit, 2, "decimal")
        return Measure(name, function, (Partial(function, difference),), "value", unit, 2, "decimal")
    if field is None:
        if function != "count":
            raise QueryError(messages.REPORT_AGGREGATE_NEEDS_FIELD(function=function, name=name))
        if condition is None:
            return Measure(name, function, (Partial("count_all"),), "count")
        return Measure(name, function, (Partial("count", case((condition, 1), else_=None)),), "count")
    value = field_value(ctx, object_name, field)
    kind = value.info.value_kind
    column = conditional(value.expression)
    if function in ("count", "count_distinct"):
        if kind == "list":
            raise QueryError(messages.REPORT_NOT_AGGREGATED(field=field, type=value.info.value_type, function=function,
                                                            needed="a field with one value"))
        return Measure(name, function, (Partial(function, column),), "count")
    if function in ("sum", "avg") and kind not in NUMBER_KINDS:
        raise QueryError(messages.REPORT_NOT_AGGREGATED(field=field, type=value.info.value_type, function=function,
                                                        needed="a number field"))
    if function in ("min", "max") and kind not in NUMBER_KINDS | DATE_KINDS | {"text"}:
        raise QueryError(messages.REPORT_NOT_AGGREGATED(field=field, type=value.info.value_type, function=function,
                                                        needed="a number, date or text field"))
    scale = value.info.column.type.scale if isinstance(value.info.column.type, ExactDecimal) else 0
    if function == "avg":
        return Measure(name, function, (Partial("sum", column), Partial("count", column)), "average", None,
                       max(scale, 2), kind)
    return Measure(name, function, (Partial(function, column),), "value", None, scale, kind)


def _days_between(ctx: QueryContext, object_name: str, fields: Sequence[str], dialect: str) -> tuple[Any, str]:
    """(difference, unit): the whole days from one date to another, or the seconds between two moments."""
    if not isinstance(fields, (list, tuple)) or len(fields) != 2:
        raise QueryError(messages.REPORT_DAYS_BETWEEN())
    start, end = (field_value(ctx, object_name, name) for name in fields)
    for value in (start, end):
        if value.info.value_kind not in DATE_KINDS:
            raise QueryError(messages.REPORT_NOT_AGGREGATED(field=value.path, type=value.info.value_type,
                                                            function="days_between", needed="date fields"))
    if start.info.value_kind == end.info.value_kind == "date":
        if dialect == "postgresql":
            return type_coerce(end.expression - start.expression, Integer()), "days"
        return cast(func.round(func.julianday(end.expression) - func.julianday(start.expression)), Integer), "days"
    if dialect == "postgresql":
        moment = DateTime(timezone=True)
        seconds = func.extract("epoch", cast(end.expression, moment) - cast(start.expression, moment))
        return cast(func.round(seconds), BigInteger), "seconds"
    difference = func.julianday(end.expression) - func.julianday(start.expression)
    return cast(func.round(difference * 86400), Integer), "seconds"


def finish(measure: Measure, values: Sequence[Any]) -> Any:
    """The aggregate's value from its partials' values (exact: Decimal division, rounded half away from zero)."""
    first = values[0]
    if measure.finish == "count":
        return int(first or 0)
    if measure.finish == "average":
        total, count = values
        if not count or total is None:
            return None
        return _in_days(measure, Decimal(total) / Decimal(count)) if measure.unit else \
            (Decimal(total) / Decimal(count)).quantize(Decimal(1).scaleb(-measure.scale), rounding=ROUND_HALF_UP)
    if measure.unit and first is not None:
        return _in_days(measure, Decimal(first))
    return first


def _in_days(measure: Measure, amount: Decimal) -> Decimal:
    days = amount / 86400 if measure.unit == "seconds" else amount
    return days.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


# ---- the grouped statement ------------------------------------------------------------------

class GroupedRow(NamedTuple):
    """One group of one grouping set: the set's index, the keys (None for levels the set leaves out) and the aggregates.

    A named tuple (immutable, made per group of a result, so cheaply: a report over a rep's
    5,000 deals can hold over a thousand groups).
    """

    set_index: int
    keys: tuple[Any, ...]
    values: dict[str, Any]


def grouped_rows(connection: Connection, keys: Sequence[KeySpec], measures: Sequence[Measure],
                 sets: Sequence[tuple[int, ...]], base: Any, where: ColumnElement) -> list[GroupedRow]:
    """Run the grouped statement: one row per group of each grouping set in `sets` (key indexes).

    `sets` must list the finest set first (every key it groups by). The caller's row filter
    must be part of `where` (`where_clause`).
    """
    dialect = connection.dialect.name

    def statement(exact: bool) -> Any:
        return grouped_statement(keys, measures, sets, base, where, dialect, exact)

    return read_grouped(connection, len(keys), measures, statement)


def read_grouped(connection: Connection, count: int, measures: Sequence[Measure],
                 statement: Callable[[bool], Any]) -> list[GroupedRow]:
    """`grouped_rows` with the statement given: `statement(exact)` is `grouped_statement(..., exact)` for the
    same `count` keys and `measures` (a caller may keep the statements it built, reports/compiler.py)."""
    try:
        rows = connection.execute(statement(False)).all()
    except SumOverflow:  # SQLite's running total passed 64 bits: add again exactly (the total may fit)
        rows = connection.execute(statement(True)).all()
    # Each measure's first partial taken as it is, in one call per row; then the counts made whole numbers
    # (a count is one already, but for a NULL) and the other finishes (averages, days) worked out.
    names, firsts, counts, finished, position = [], [], [], [], count + 1
    for m in measures:
        names.append(m.name)
        firsts.append(position)
        if m.finish == "count":
            counts.append(m.name)
        elif not (m.finish == "value" and m.unit is None):
            finished.append((m.name, _reader(m, position, position + len(m.partials))))
        position += len(m.partials)
    take = itemgetter(*firsts) if len(firsts) > 1 else (lambda row: (row[firsts[0]],)) if firsts else (lambda row: ())
    made = []
    for row in rows:
        values = dict(zip(names, take(row)))
        for name in counts:
            if type(values[name]) is not int:
                values[name] = int(values[name] or 0)
        for name, read in finished:
            values[name] = read(row)
        # A key a set leaves out is NULL in its rows (GROUPING SETS, or the NULL of its UNION ALL branch).
        made.append(GroupedRow(row[count], tuple(row[:count]), values))
    return made


def _reader(m: Measure, start: int, end: int) -> Callable[[Sequence[Any]], Any]:
    """How one measure's value is read from a row of the grouped statement (its partials at start:end)."""
    if m.finish == "value" and m.unit is None:
        return itemgetter(start)  # the partial as it is: what `finish` returns, without a slice per row
    if m.finish == "count":
        return lambda row: int(row[start] or 0)
    return lambda row: finish(m, row[start:end])


def grouped_statement(keys: Sequence[KeySpec], measures: Sequence[Measure], sets: Sequence[tuple[int, ...]],
                      base: Any, where: ColumnElement, dialect: str, exact: bool = False) -> Any:
    """The SQL of `grouped_rows` (see the module docstring for its shape)."""
    partials = [partial for m in measures for partial in m.partials]
    inner_columns = [key.expression.label(f"k{i}") for i, key in enumerate(keys)]
    inner_columns += [(partial.input if partial.input is not None else literal(1)).label(f"m{i}")
                      for i, partial in enumerate(partials)]
    if not inner_columns:
        inner_columns = [literal(1).label("m")]
    inner = select(*inner_columns).select_from(base).where(where).subquery("rows")
    key_columns = [inner.c[f"k{i}"] for i in range(len(keys))]

    def aggregates(source: Any, rolled: bool) -> list[Any]:
        made = []
        for i, partial in enumerate(partials):
            column = source.c[f"a{i}" if rolled else f"m{i}"]
            made.append((rollup_sql(partial, column, exact) if rolled else partial_sql(partial, column, exact))
                        .label(f"a{i}"))
        return made

    if dialect == "postgresql":
        return _grouping_sets(inner, key_columns, aggregates(inner, False), sets)
    if len(sets) == 1:
        return _one_level(inner, key_columns, sets[0], 0, aggregates(inner, False))
    if all(partial.function in ROLLUP for partial in partials):
        finest = select(*key_columns, *aggregates(inner, False)).group_by(*key_columns).cte("finest")
        finest_keys = [finest.c[f"k{i}"] for i in range(len(keys))]
        # The finest set is the CTE's rows as they are; each coarser one adds them up.
        every = select(*finest_keys, literal(0, Integer).label("grouping_set"),
                       *(finest.c[f"a{i}"] for i in range(len(partials))))
        return union_all(every, *(_one_level(finest, finest_keys, members, index, aggregates(finest, True))
                                  for index, members in enumerate(sets) if index > 0))
    return union_all(*(_one_level(inner, key_columns, members, index, aggregates(inner, False))
                       for index, members in enumerate(sets)))


def _one_level(source: Any, key_columns: Sequence[Any], members: tuple[int, ...], index: int,
               aggregates: Sequence[Any]) -> Any:
    columns = [column if i in members else null().label(f"k{i}") for i, column in enumerate(key_columns)]
    grouped = [key_columns[i] for i in members]
    statement = select(*columns, literal(index, Integer).label("grouping_set"), *aggregates).select_from(source)
    return statement.group_by(*grouped) if grouped else statement


def _grouping_sets(source: Any, key_columns: Sequence[Any], aggregates: Sequence[Any], sets: Sequence[tuple[int, ...]]) -> Any:
    """PostgreSQL: every grouping set in one pass; the set of a row is told by GROUPING() of every key."""
    if not key_columns:
        return select(literal(0, Integer).label("grouping_set"), *aggregates).select_from(source)
    # GROUPING(k0, ..., kn) has bit (n - i) set when key i is not grouped in the row's set.
    width = len(key_columns)
    masks = {sum(1 << (width - 1 - i) for i in range(width) if i not in members): index
             for index, members in enumerate(sets)}
    grouping = func.grouping(*key_columns)
    which = case(*((grouping == mask, index) for mask, index in masks.items()), else_=-1)
    statement = select(*key_columns, which.label("grouping_set"), *aggregates).select_from(source)
    if len(sets) == 1:
        return statement.group_by(*(key_columns[i] for i in sets[0]))
    rendered = [func.grouping_sets(*(_set_clause([key_columns[i] for i in members]) for members in sets))]
    return statement.group_by(*rendered)


def _set_clause(columns: Sequence[Any]) -> Any:
    return tuple_(*columns) if columns else literal_column("()")
