"""Refusing a save whose rollup total (or average) would not fit the rollup's column.

A sum of 18-digit amounts can need 19 digits, and a sum of whole numbers can pass the
64-bit range. Rather than store a wrong value, or fail with a driver error that differs
between databases, the save that would cause it is refused with one record-level
sentence naming the rollup, and nothing is written (the save's transaction rolls back).
"""
from __future__ import annotations

from typing import Any, Sequence

from sqlalchemy import Connection, exists, or_, select

from crmkit.engine.columns import ExactDecimal
from crmkit.engine.database import NumberOutOfRange
from crmkit.engine.records.errors import RECORD_ERRORS, RecordValidationError

#: The range of a whole-number (64-bit) column.
LARGEST_WHOLE = 2 ** 63 - 1
SMALLEST_WHOLE = -(2 ** 63)

_NOUNS = {"sum": "total", "avg": "average"}


class RollupOutOfRange(RecordValidationError):
    """A rollup's value for some parents would not fit its field: `sentence` says which rollup and its limit,
    `parents` the first ids of the parents at fault (none when the database could not say which)."""

    def __init__(self, sentence: str, parents: tuple[int, ...]) -> None:
        super().__init__({RECORD_ERRORS: [sentence]})
        self.sentence = sentence
        self.parents = parents


#: Parents named when a rollup would not fit.
NAMED_PARENTS = 5


class RangeGuard:
    """Checks, before a rollup is stored, that every recomputed value fits its column.

    `subquery` is the rollup's correlated SELECT of one measure per parent row. Only sums
    and averages can leave the range: a minimum, maximum or count is always one the
    column holds.
    """

    def __init__(self, connection: Connection, is_sqlite: bool, rollup_name: str, aggregate: str,
                 parent_table: Any, subquery: Any) -> None:
        self.connection = connection
        self.is_sqlite = is_sqlite
        self.rollup_name = rollup_name
        self.aggregate = aggregate
        self.parent_table = parent_table
        self.subquery = subquery

    def check(self, ids: Sequence[int] | None) -> None:
        """Raise RecordValidationError if the rollup of any parent in `ids` (None: all) would not fit."""
        if self.aggregate not in _NOUNS:
            return
        measure = self.subquery.scalar_subquery()
        column_type = self.parent_table.c[self.rollup_name.split(".")[1]].type
        if isinstance(column_type, ExactDecimal):
            # The measure is typed as an exact decimal: comparing with the limit compares exactly.
            outside = or_(measure >= column_type.limit, measure <= -column_type.limit)
        else:
            outside = or_(measure > LARGEST_WHOLE, measure < SMALLEST_WHOLE)
        query = select(self.parent_table.c.id).where(outside)
        if ids is not None:
            query = query.where(self.parent_table.c.id.in_(ids))
        try:
            found = self.connection.execute(select(exists(query))).scalar()
        except NumberOutOfRange:  # SQLite's SUM past the 64-bit range (database.py): the same refusal
            found = True
        if found:
            raise RollupOutOfRange(self.sentence(column_type), self._parents(query))

    def _parents(self, query: Any) -> tuple[int, ...]:
        """The first NAMED_PARENTS ids `query` finds, in id order; none when the database cannot compute them."""
        try:
            return tuple(self.connection.execute(query.order_by(self.parent_table.c.id).limit(NAMED_PARENTS))
                         .scalars())
        except NumberOutOfRange:
            return ()

    def sentence(self, column_type: Any) -> str:
        noun = _NOUNS[self.aggregate]
        if isinstance(column_type, ExactDecimal):
            whole = column_type.precision - column_type.scale
            limit = f"{whole} digits before the decimal point"
        else:
            limit = f"the largest whole number ({LARGEST_WHOLE:,})"
        return (f"the {noun} of {self.rollup_name} would exceed {limit}; "
                f"nothing was saved. Change the amounts so the {noun} fits.")
