"""Column types that behave the same on SQLite and PostgreSQL."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, DateTime, Integer, Numeric, Text, and_, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeDecorator, UserDefinedType

from crmkit.engine import sqlite_aggregates
from crmkit.metadata.semantic import MAX_NUMBER_PRECISION

#: A 64-bit key on PostgreSQL; on SQLite an INTEGER so it is the rowid (AUTOINCREMENT never reuses ids).
RecordId = BigInteger().with_variant(Integer(), "sqlite")


#: The most digits a decimal, currency or percent field holds: Salesforce's limit for Number
#: fields, and what a 64-bit integer (SQLite's exact storage) holds at any scale.
MAX_PRECISION = MAX_NUMBER_PRECISION


class ScaledInteger(UserDefinedType):
    """SQLite's storage of a decimal: an INTEGER counting units of 10^-scale (123.45 at scale 2 is 12345).

    The declared type, e.g. `DECIMAL_18_2_AS_INTEGER`, has SQLite's INTEGER affinity and
    names the precision and scale for anyone reading the schema.
    """

    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        self.precision = precision
        self.scale = scale

    def get_col_spec(self, **kw: Any) -> str:
        return f"DECIMAL_{self.precision}_{self.scale}_AS_INTEGER"


def holds_scaled_integers(declared_type: str) -> bool:
    """Whether a SQLite column of this declared type stores exact scaled integers (INTEGER affinity).

    Databases made before exact storage declared decimals NUMERIC and held floating-point
    values; the migration planner rewrites those columns.
    """
    return "INT" in declared_type.upper()


def _exact_operand(value: Any) -> Decimal | None:
    """A plain number being compared with a decimal column, as a Decimal (None: not a plain number)."""
    if isinstance(value, BindParameter) and value.callable is None:
        value = value.value
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    return number if number.is_finite() else None


class ExactDecimal(TypeDecorator):
    """A fixed-point number, exact on both databases: NUMERIC(p, s) on PostgreSQL, a ScaledInteger on SQLite.

    Values come back as Decimal with `scale` places. Writing a value with more places rounds it
    half away from zero (as PostgreSQL's NUMERIC does). Comparing with a value that has more
    places than the column compares exactly: `amount > 10.005` is `amount >= 10.01`, and
    `amount = 10.005` matches nothing. Sums, minimums and maximums run in SQL on either
    storage; averages need `exact_average`.
    """

    impl = Numeric
    cache_ok = True
    #: The most digits any exact decimal holds (SQLite keeps them in a 64-bit integer).
    MAX_DIGITS = MAX_PRECISION

    class Comparator(TypeDecorator.Comparator):
        def operate(self, op, *other, **kwargs):
            column_type = self.type
            if op in _BOUNDS and len(other) == 1:
                number = _exact_operand(other[0])
                if number is not None and number.copy_abs() >= column_type.limit:  # copy_abs: no context, no Overflow
                    # Beyond every value the column can hold: compare with its bound, which the storage can hold.
                    return super().operate(op, column_type.limit.copy_sign(number), **kwargs)
                if number is not None and number != round_to_scale(number, column_type.scale):
                    return _compare_between_steps(self.expr, op, number, column_type.scale)
            if op is operators.between_op and len(other) == 2:
                return and_(self.operate(operators.ge, other[0]), self.operate(operators.le, other[1]))
            if op in (operators.in_op, operators.not_in_op) and len(other) == 1 and isinstance(other[0], (list, tuple)):
                kept = [value for value in other[0] if column_type.could_hold(_exact_operand(value))]
                return super().operate(op, kept, **kwargs)
            return super().operate(op, *other, **kwargs)

    comparator_factory = Comparator

    def __init__(self, precision: int = MAX_PRECISION, scale: int = 2) -> None:
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.precision = precision
        self.scale = scale
        self._quantum = Decimal(1).scaleb(-scale)
        #: Every stored value is smaller than this in magnitude.
        self.limit = Decimal(10) ** (precision - scale)

    def could_hold(self, number: Decimal | None) -> bool:
        """Whether a stored value could equal `number` (None: not a plain number, so assume it could)."""
        return number is None or (number.copy_abs() < self.limit and number == round_to_scale(number, self.scale))

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(ScaledInteger(self.precision, self.scale))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect) -> Any:
        if value is None:
            return None
        number = round_to_scale(Decimal(repr(value)) if isinstance(value, float) else Decimal(value), self.scale)
        if dialect.name == "sqlite":
            return int(number.scaleb(self.scale))
        return number

    def bind_processor(self, dialect):
        """`process_bind_param` in one function on SQLite, whose storage type processes nothing more (every
        create binds its decimals with it: half the time of the generic chain); the generic chain elsewhere."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        scale, quantum = self.scale, self._quantum

        def process(value: Any) -> int | None:
            if value is None:
                return None
            if type(value) is not Decimal:
                value = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
            return int(value.quantize(quantum, rounding=ROUND_HALF_UP).scaleb(scale))
        return process

    def result_processor(self, dialect, coltype):
        """`process_result_value` with a fast path for what the drivers return (a report reads thousands of sums).

        SQLite's scaled integer below 10^18 becomes its Decimal by moving the point (already
        `scale` places: no rounding to do); PostgreSQL's Decimal is rounded to the scale as it is
        (no round trip through text). Anything else takes `process_result_value`. Same values.
        """
        inner = self.impl_instance.result_processor(dialect, coltype)
        scale, quantum, slow = self.scale, self._quantum, self.process_result_value
        if dialect.name == "sqlite":
            def process(value: Any) -> Decimal | None:
                if inner is not None:
                    value = inner(value)
                if type(value) is int and -_SCALED_EXACTLY < value < _SCALED_EXACTLY:
                    return Decimal(value).scaleb(-scale)
                return slow(value, dialect)
        else:
            def process(value: Any) -> Decimal | None:
                if inner is not None:
                    value = inner(value)
                if type(value) is Decimal:
                    return value.quantize(quantum, rounding=ROUND_HALF_UP)
                return slow(value, dialect)
        return process

    def process_result_value(self, value: Any, dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            number = Decimal(repr(value) if isinstance(value, float) else value).scaleb(-self.scale)
        else:
            number = Decimal(repr(value) if isinstance(value, float) else str(value))
        return number.quantize(self._quantum, rounding=ROUND_HALF_UP)

    @property
    def python_type(self) -> type:
        return Decimal


#: Integers smaller than this in magnitude have fewer digits than Decimal's default precision (28):
#: moved by any scale, they are exact.
_SCALED_EXACTLY = 10 ** 18


def round_to_scale(number: Decimal, scale: int) -> Decimal:
    """`number` rounded half away from zero to `scale` places (PostgreSQL's NUMERIC rounding)."""
    return number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)


_BOUNDS = (operators.eq, operators.ne, operators.lt, operators.le, operators.gt, operators.ge)


def _compare_between_steps(expr: Any, op: Any, number: Decimal, scale: int) -> ColumnElement:
    """`expr op number` for a number between two steps of the column's scale, exactly and NULL-preserving."""
    below = number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_FLOOR)
    above = number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_CEILING)
    comparator = TypeDecorator.Comparator.operate
    low = lambda o: comparator(expr.comparator, o, below)  # noqa: E731
    high = lambda o: comparator(expr.comparator, o, above)  # noqa: E731
    if op is operators.eq:
        return and_(low(operators.eq), high(operators.eq))
    if op is operators.ne:
        return or_(low(operators.ne), high(operators.ne))
    if op in (operators.lt, operators.le):
        return low(operators.le)
    return high(operators.ge)


class ExactSum(FunctionElement):
    """SUM(column), exact in whatever order the rows are read, typed as the column.

    PostgreSQL sums bigint and NUMERIC exactly. On SQLite, `exact=True` uses
    `sqlite_aggregates.EXACT_SUM` (unbounded while adding; refused only when the total does
    not fit 64 bits); `exact=False` is the built-in SUM, about 8x faster, which raises
    `database.SumOverflow` when its running total passes 64 bits: the caller then asks again
    with `exact=True` (as `query.grouping.group_totals` does).
    """

    inherit_cache = True
    _traverse_internals = [*FunctionElement._traverse_internals, ("exact", InternalTraversal.dp_boolean)]

    def __init__(self, column: Any, exact: bool = True) -> None:
        self.type = getattr(column, "type", None) or Integer()
        self.exact = exact
        super().__init__(column)


@compiles(ExactSum)
def _sum_default(element: ExactSum, compiler, **kw: Any) -> str:
    return f"sum({compiler.process(element.clauses, **kw)})"


@compiles(ExactSum, "sqlite")
def _sum_sqlite(element: ExactSum, compiler, **kw: Any) -> str:
    name = sqlite_aggregates.EXACT_SUM if element.exact else "sum"
    return f"{name}({compiler.process(element.clauses, **kw)})"


class ExactAverage(FunctionElement):
    """AVG(column) as the target's exact decimal, rounded half away from zero to its scale.

    PostgreSQL averages NUMERIC exactly. On SQLite AVG would return a float, so the average
    is computed from the scaled integers by `sqlite_aggregates.EXACT_AVERAGE`, in unbounded
    integers (a total past 64 bits is no problem; an average past them is refused).
    """

    inherit_cache = True
    #: The target type is part of the statement cache key: its scale changes the SQL on SQLite.
    _traverse_internals = [*FunctionElement._traverse_internals, ("type", InternalTraversal.dp_type)]

    def __init__(self, column: Any, target: ExactDecimal) -> None:
        self.type = target
        super().__init__(column)


def exact_average(column: Any, target: ExactDecimal) -> ExactAverage:
    return ExactAverage(column, target)


@compiles(ExactAverage)
def _average_default(element: ExactAverage, compiler, **kw: Any) -> str:
    # round() on NUMERIC rounds half away from zero, as storing into NUMERIC(p, s) does; rounding
    # here lets a range check compare the value that would be stored.
    return f"round(avg({compiler.process(element.clauses, **kw)}), {int(element.type.scale)})"


@compiles(ExactAverage, "sqlite")
def _average_sqlite(element: ExactAverage, compiler, **kw: Any) -> str:
    argument = list(element.clauses)[0]
    source_type = getattr(argument, "type", None)
    source_scale = source_type.scale if isinstance(source_type, ExactDecimal) else 0
    factor = 10 ** max(element.type.scale - source_scale, 0)
    return f"{sqlite_aggregates.EXACT_AVERAGE}({compiler.process(argument, **kw)}, {factor})"


class UtcDateTime(TypeDecorator):
    """Timestamps are stored in UTC and always come back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(DateTime(timezone=False))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect):
        """On SQLite, `process_bind_param` and SQLAlchemy's text of the UTC time in one function: the same text
        (`YYYY-MM-DD HH:MM:SS.ffffff`, SQLAlchemy's storage format for SQLite, which `isoformat` writes alike for
        years 1 to 9999) in about half the time; every write binds two to four timestamps. Anything but a
        datetime takes the generic chain, as elsewhere."""
        generic = super().bind_processor(dialect)
        if dialect.name != "sqlite":
            return generic
        utc = timezone.utc

        def process(value: Any) -> str | None:
            if type(value) is not datetime:
                return generic(value) if generic is not None else value
            if value.tzinfo is None:
                value = value.replace(tzinfo=utc)
            return value.astimezone(utc).replace(tzinfo=None).isoformat(" ", "microseconds")
        return process

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    @property
    def python_type(self) -> type:
        return datetime


class JsonList(TypeDecorator):
    """A list of strings (multi-select values) stored as JSON text, searchable with LIKE."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect) -> str | None:
        if value is None:
            return None
        return json.dumps(list(value), ensure_ascii=False)

    def process_result_value(self, value: str | None, dialect) -> list[str] | None:
        if value is None:
            return None
        return json.loads(value)

    @property
    def python_type(self) -> type:
        return list


#: `json.dumps(value, ensure_ascii=False, default=str)` made once: dumps builds an encoder per call when given options.
DOCUMENT_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)


class JsonDocument(TypeDecorator):
    """Any JSON document, as text on both databases (history values, recycle bin rows)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect) -> str | None:
        return None if value is None else DOCUMENT_ENCODER.encode(value)

    def process_result_value(self, value: str | None, dialect) -> Any:
        return None if value is None else json.loads(value)

    @property
    def python_type(self) -> type:
        return dict
