"""Rollups as a user may see them: aggregated over the child records visible to that user.

Stored rollups count every child. When a user cannot see all children of an object, the
values shown to them are recomputed for the page in one grouped query per rollup field.
A sum over some of the children can exceed what the stored total may hold (the others
cancelled it out); such a value is shown exactly, never refused or rounded.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

from sqlalchemy import BigInteger, Connection, func, literal, select, type_coerce

from crmkit.engine.columns import ExactDecimal
from crmkit.engine.query import QueryContext, compile_filter
from crmkit.engine.records.propagation import rollup_measure
from crmkit.engine.runtime import Runtime
from crmkit.metadata.model import ObjectDef

#: SQLite sums 64-bit integers and fails beyond; summing the high and low 32 bits apart never does.
SPLIT = 2 ** 32
_WIDE = Context(prec=80)


def visible_rollups(connection: Connection, runtime: Runtime, policy: Any, obj: ObjectDef,
                    rows: list[dict[str, Any]]) -> None:
    """Replace, in `rows`, each rollup whose children the user cannot all see."""
    ids = [row["id"] for row in rows]
    for fdef in obj.fields.values():
        rollup = fdef.rollup
        if rollup is None:
            continue
        restriction = policy.row_filter(rollup.child_object)
        if restriction is None:
            continue
        child = runtime.table(rollup.child_object)
        via = child.c[rollup.via]
        column_type = runtime.table(obj.name).c[fdef.name].type
        split = runtime.is_sqlite and rollup.aggregate in ("sum", "avg")
        if split:
            measures = _split_sums(child.c[rollup.field])
        else:
            measures = [rollup_measure(rollup.aggregate, child.c[rollup.field] if rollup.field else None, column_type)]
        query = select(via, *measures).where(via.in_(ids), restriction).group_by(via)
        if rollup.condition:
            context = QueryContext(runtime.registry, runtime.schema, runtime.field_types)
            query = query.where(compile_filter(context, rollup.child_object, dict(rollup.condition)))
        if split:
            source = child.c[rollup.field].type
            values = {row[0]: _combined(rollup.aggregate, row[1:], source, column_type)
                      for row in connection.execute(query).all()}
        else:
            values = dict(connection.execute(query).all())  # each measure is typed: values come back as stored
        for row in rows:
            row[fdef.name] = values.get(row["id"], 0 if rollup.aggregate == "count" else None)


def _split_sums(column: Any) -> list[Any]:
    """SUM of the high parts, SUM of the low parts and COUNT of a SQLite integer column (scaled decimals too)."""
    stored = type_coerce(column, BigInteger())
    part = literal(SPLIT, BigInteger())
    # op("/"): SQLite's own integer division (truncating); Python's `/` would compile to a float division.
    high = stored.op("/", return_type=BigInteger())(part)
    return [func.sum(high, type_=BigInteger()), func.sum(stored % part, type_=BigInteger()),
            func.count(column)]


def _combined(aggregate: str, parts: Any, source: Any, target: Any) -> Any:
    """The exact sum or average (half away from zero at the target's scale) from `_split_sums`."""
    high, low, count = parts
    if not count:
        return None
    total = Decimal(high * SPLIT + low)
    if isinstance(source, ExactDecimal):
        total = total.scaleb(-source.scale)
    if aggregate == "sum":
        return total if isinstance(source, ExactDecimal) else int(total)
    quantum = Decimal(1).scaleb(-target.scale) if isinstance(target, ExactDecimal) else Decimal(1)
    return _WIDE.divide(total, Decimal(count)).quantize(quantum, rounding=ROUND_HALF_UP, context=_WIDE)
