"""Counting the records of a list without paying for COUNT(*) over millions of rows.

    >>> count_records(connection, ctx, "opportunity", QuerySpec(filter={"stage": "Won"}))
    Count(value=10000, kind='at_least')
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Executable, Select, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement

from crmkit.engine.query.filters import QueryContext
from crmkit.engine.query.inputs import MAX_COUNT_CAP, whole_number
from crmkit.engine.query.querystring import QuerySpec
from crmkit.engine.query.search import where_clause
from crmkit.engine.query.search_pages import counted_search, rare_part_search, walked_count

DEFAULT_CAP = 10_000


@dataclass(frozen=True)
class Count:
    """How many records a list has: "exact", "at_least" (more than `value`) or "estimate" (the planner's guess)."""

    value: int
    kind: str

    @property
    def exact(self) -> bool:
        return self.kind == "exact"


def count_records(
    connection: Connection, ctx: QueryContext, object_name: str, spec: QuerySpec, *,
    cap: int = DEFAULT_CAP, exact: bool = False,
) -> Count:
    """Count the records `spec` selects (its sort and page are ignored); reads at most cap+1 rows unless `exact`.

    `cap` is a whole number from 1 to MAX_COUNT_CAP (1,000,000); QueryError otherwise. Beyond
    the cap PostgreSQL's planner estimate is given only to a caller without a row filter on the
    object: the planner works from statistics of every record, so for a caller who sees some of
    them its figure would tell how many of the others match ("~284" to a rep seeing 12). On
    PostgreSQL a search with a rare part beside a common word ("wonka zo") is counted among
    that part's ids (query/search_pages.py `rare_part_search`), not over a bitmap of the word;
    on SQLite a short prefix ("1") among the caller's newest records when they hold it
    (`walked_count`), not over FTS5's merge of every word starting with it.
    """
    whole_number(cap, "cap", 1, MAX_COUNT_CAP)
    ctx.object(object_name)
    table = ctx.schema.table(object_name)
    rare = rare_part_search(connection, ctx, object_name, spec.search)
    searched = rare if rare is not None else counted_search(connection, ctx, object_name, spec.search)
    where = where_clause(ctx, object_name, spec, searched)
    if exact:
        return Count(connection.scalar(select(func.count()).select_from(table).where(where)) or 0, "exact")
    # A short prefix ("1") or a common word: the caller's newest records, not the index's list of every match.
    counted = walked_count(connection, ctx, object_name, spec, cap) if spec.search and rare is None else None
    if counted is None:
        first_rows = select(literal(1)).select_from(table).where(where).limit(cap + 1).subquery()
        counted = connection.scalar(select(func.count()).select_from(first_rows)) or 0
    if counted <= cap:
        return Count(counted, "exact")
    if connection.dialect.name == "postgresql" and ctx.restriction(object_name) is None:
        estimate = planner_estimate(connection, select(table.c.id).where(where))
        if estimate > cap:
            return Count(estimate, "estimate")
    return Count(cap, "at_least")


class Explain(Executable, ClauseElement):
    """EXPLAIN (FORMAT JSON) of a select, with its parameters bound like the select's own."""

    inherit_cache = False

    def __init__(self, statement: Select) -> None:
        self.statement = statement


@compiles(Explain, "postgresql")
def _explain(element: Explain, compiler, **kw) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


def planner_estimate(connection: Connection, statement: Select) -> int:
    """PostgreSQL's estimate of how many rows `statement` returns (from table statistics; nothing is read)."""
    plan: Any = connection.execute(Explain(statement)).scalar()
    if isinstance(plan, (str, bytes)):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])
