"""Records counted (and one field totalled) per value of a field, in one grouped SQL query.

    >>> group_totals(connection, ctx, "opportunity", QuerySpec(filter={"owner_id": 7}), "stage", "amount")
    [GroupTotal(value='Prospecting', count=12, total=Decimal('48000.00')), GroupTotal(value=None, count=1, ...)]

The kanban board's column headers: how many records each column holds and what they add up
to. The records are those `spec` selects (filter, search) within the caller's row filter, the
same `where_clause` as lists and counts, so a rep's board counts only what they may see. The
grouping and summed fields are resolved like any field of a query (`resolve_field`): a hidden
field is refused as unknown, and a derived value (a rollup over the children the caller sees)
is totalled as the caller sees it. The sum runs in SQL, exactly in any read order (`columns.ExactSum`).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from crmkit.engine import messages
from crmkit.engine.columns import ExactSum
from crmkit.engine.database import SumOverflow
from crmkit.engine.query.errors import QueryError
from crmkit.engine.query.filters import QueryContext, resolve_field
from crmkit.engine.query.querystring import QuerySpec
from crmkit.engine.query.search import where_clause

#: Value types a group may be formed by: one stored choice per record.
GROUPABLE = frozenset({"picklist"})
#: Value kinds whose values can be totalled.
SUMMABLE = frozenset({"integer", "decimal"})


@dataclass(frozen=True)
class GroupTotal:
    """One value of the grouping field (None: records with no value), its record count and the sum's total.

    `total` is None when no sum was asked for, or when every record of the group has the summed field empty.
    """

    value: Any
    count: int
    total: Decimal | int | None = None


@dataclass(frozen=True)
class Grouping:
    """The groups of `RecordService.group_totals`; `summed` names the totalled field (None: no totals)."""

    groups: tuple[GroupTotal, ...]
    summed: str | None = None

    def of(self, value: Any) -> GroupTotal:
        """The group of `value` (None: no value); an empty group (count 0) when no record has it."""
        for group in self.groups:
            if group.value == value:
                return group
        return GroupTotal(value, 0, None)


def group_totals(connection: Connection, ctx: QueryContext, object_name: str, spec: QuerySpec, group_by: str,
                 sum_field: str | None = None) -> list[GroupTotal]:
    """Count the records `spec` selects (sort and page ignored) per value of `group_by`, totalling `sum_field`.

    One `SELECT group_by, COUNT(*), SUM(sum_field) ... GROUP BY group_by` over the filtered
    records; groups come in no particular order (the caller orders them, by the picklist's
    options). Raises QueryError for an unknown or hidden field, a `group_by` that is not a
    picklist or a `sum_field` that is not a number.
    """
    group = resolve_field(ctx, object_name, group_by)
    if group.value_type not in GROUPABLE:
        raise QueryError(messages.NOT_GROUPABLE(object=object_name, field=group_by, type=group.value_type))
    columns = [group.column.label("value"), func.count().label("count")]
    if sum_field is not None:
        summed = resolve_field(ctx, object_name, sum_field)
        if summed.value_kind not in SUMMABLE:
            raise QueryError(messages.NOT_SUMMABLE(field=sum_field, type=summed.value_type))
    table = ctx.schema.table(object_name)

    def statement(exact: bool) -> Any:
        totals = [ExactSum(summed.column, exact=exact).label("total")] if sum_field is not None else []
        return select(*columns, *totals).select_from(table).where(where_clause(ctx, object_name, spec)) \
            .group_by(group.column)

    try:
        rows = connection.execute(statement(exact=False)).all()  # the database's own SUM: fastest
    except SumOverflow:  # SQLite's running total passed 64 bits: add again exactly (the total may fit)
        rows = connection.execute(statement(exact=True)).all()
    return [GroupTotal(row.value, row.count, row.total if sum_field is not None else None) for row in rows]
