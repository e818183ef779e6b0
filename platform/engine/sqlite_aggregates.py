"""Exact SUM and AVG for SQLite, registered on every connection.

SQLite's built-in SUM keeps a 64-bit running total and fails with "integer overflow" as soon
as the total passes 2^63 - 1, even when later rows bring it back into range: whether
`[2^62, 2^62, -2^62]` adds up depends on the order SQLite reads the rows in (an index, a
plan change). PostgreSQL sums bigint and NUMERIC exactly (as NUMERIC). These aggregates add
in Python's unbounded integers, so a total is refused only when the total itself does not
fit, on whatever order.

Both work on what SQLite stores for crmkit's numbers: INTEGER for whole numbers and the
scaled INTEGER of an exact decimal (`columns.ScaledInteger`). A total or average beyond the
64-bit range raises `ResultOutOfRange` from `finalize`; the sqlite3 module reports it as
an OperationalError that `database._out_of_range` turns into `NumberOutOfRange`.

They cost a Python call per row (about 8x the built-in SUM on a million rows), so the engine
uses them where exactness decides a save (rollups) and falls back to them elsewhere only
when the built-in SUM overflowed (`columns.ExactSum`).
"""
from __future__ import annotations

from typing import Any

#: Function names as SQL sees them.
EXACT_SUM = "crmkit_exact_sum"
EXACT_AVERAGE = "crmkit_exact_average"

_LARGEST = 2 ** 63 - 1
_SMALLEST = -(2 ** 63)


class ResultOutOfRange(ValueError):
    """A total or average beyond the 64-bit integers SQLite stores (not an OverflowError: the sqlite3
    module would report that as "string or blob too big")."""


def _fits(value: int) -> int:
    if not _SMALLEST <= value <= _LARGEST:
        raise ResultOutOfRange(value)
    return value


class ExactSum:
    """SUM(value): None over no non-NULL value, like SQL's SUM; an int otherwise."""

    __slots__ = ("total", "seen")

    def __init__(self) -> None:
        self.total = 0
        self.seen = False

    def step(self, value: Any) -> None:
        if value is not None:
            self.total += int(value)
            self.seen = True

    def finalize(self) -> int | None:
        return _fits(self.total) if self.seen else None


class ExactAverage:
    """AVG(value) * factor, rounded half away from zero to an integer: the scaled integer of an
    exact decimal average. `factor` is 10 ** (target scale - source scale), the same on every row.
    """

    __slots__ = ("total", "count", "factor")

    def __init__(self) -> None:
        self.total = 0
        self.count = 0
        self.factor = 1

    def step(self, value: Any, factor: int) -> None:
        if value is not None:
            self.total += int(value)
            self.count += 1
            self.factor = int(factor)

    def finalize(self) -> int | None:
        if not self.count:
            return None
        scaled = self.total * self.factor
        quotient, remainder = divmod(abs(scaled), self.count)
        if 2 * remainder >= self.count:  # half away from zero, as storing into NUMERIC(p, s) rounds
            quotient += 1
        return _fits(quotient if scaled >= 0 else -quotient)


def register(dbapi_connection: Any) -> None:
    """Adds the aggregates to one sqlite3 connection (SQLAlchemy's "connect" event)."""
    dbapi_connection.create_aggregate(EXACT_SUM, 1, ExactSum)
    dbapi_connection.create_aggregate(EXACT_AVERAGE, 2, ExactAverage)
