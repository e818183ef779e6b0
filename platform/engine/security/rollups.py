"""Rollups as a user may see them: aggregated over the child records visible to that user.

Stored rollups count every child. When a user cannot see all children of an object, the
values shown to them are recomputed for the page in one grouped query per rollup field.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from crmkit.engine.query import QueryContext, compile_filter
from crmkit.engine.records.propagation import rollup_measure
from crmkit.engine.runtime import Runtime
from crmkit.metadata.model import ObjectDef


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
        measure = rollup_measure(rollup.aggregate, child.c[rollup.field] if rollup.field else None, column_type)
        query = select(via, measure).where(via.in_(ids), restriction).group_by(via)
        if rollup.condition:
            context = QueryContext(runtime.registry, runtime.schema, runtime.field_types)
            query = query.where(compile_filter(context, rollup.child_object, dict(rollup.condition)))
        values = dict(connection.execute(query).all())  # each measure is typed: values come back as stored
        for row in rows:
            row[fdef.name] = values.get(row["id"], 0 if rollup.aggregate == "count" else None)
