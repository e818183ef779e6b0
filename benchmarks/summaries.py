"""The report line: a summary report grouped by two fields and a month bucket, against hand-written SQL.

crmkit runs `context.reports.run` on a summary report of `opportunity` grouped by stage,
type and the month of close_date, counting and totalling amount, with every subtotal and
the grand total (the report compiler: query/aggregate.py). The reference is the SQL a
developer would write for the same figures on the same table: `GROUP BY ROLLUP(...)` on
PostgreSQL, and on SQLite (no ROLLUP) the finest groups once in a CTE, each coarser level
summed from them with UNION ALL. Both are measured as an administrator and as a sales rep
under the standard CRM's private sharing (the reference adds `owner_id = :rep`, the rep's
row filter in the bench's data: a rep at the bottom of the hierarchy, nothing shared). The
line checks that both sides give the same grand total.
"""
from __future__ import annotations

from typing import Iterator

from sqlalchemy import Date, Integer, cast, func, literal, null, select, union_all

from benchmarks.reads import Bench
from benchmarks.report import Result, Target
from crmkit.metadata.model import Label
from crmkit.metadata.reports import Aggregate, Grouping, ReportDef

#: Issue 11: within 1.2x of the hand-written query.
WITHIN = Target("<= 1.2x", ratio=1.2)

REPORT = ReportDef(
    name="bench_pipeline", label=Label.of("Pipeline by stage, type and close month"), object="opportunity",
    kind="summary", group_by=(Grouping("stage"), Grouping("type"), Grouping("close_date", bucket="month")),
    aggregates=(Aggregate("deals", "count"), Aggregate("total", "sum", field="amount")))


def hand_written(bench: Bench, owner: int | None):
    """The reference statement (see the module docstring)."""
    table = bench.crm.runtime.table("opportunity")
    where = [table.c.owner_id == owner] if owner is not None else []
    if bench.postgres:
        month = cast(func.date_trunc("month", table.c.close_date), Date)
        keys = [table.c.stage, table.c.type, month]
        return select(*keys, func.count(), func.sum(table.c.amount)).where(*where).group_by(func.rollup(*keys))
    month = func.date(table.c.close_date, "start of month")
    finest = (select(table.c.stage.label("stage"), table.c.type.label("type"), month.label("month"),
                     func.count().label("deals"), func.sum(table.c.amount).label("total"))
              .where(*where).group_by(table.c.stage, table.c.type, month).cte("finest"))
    levels = []
    for depth in (3, 2, 1, 0):
        keys = [finest.c.stage, finest.c.type, finest.c.month][:depth]
        shown = keys + [null()] * (3 - depth)
        level = select(*shown, literal(depth, Integer), func.sum(finest.c.deals), func.sum(finest.c.total))
        levels.append(level.group_by(*keys) if keys else level)
    return union_all(*levels)


def report_lines(bench: Bench, users: dict[str, list[int]], opportunities: int) -> Iterator[Result]:
    """The report line as an administrator, then as a sales rep under private sharing."""
    for who, user_id, owner in (("admin", users["admin"][0], None),
                                ("a sales rep (private)", users["sales_rep"][-1], users["sales_rep"][-1])):
        reports = bench.crm.as_user(user_id).reports
        statement = hand_written(bench, owner)
        ours = reports.run(REPORT)
        rows = bench.raw(statement)
        # The grand total: PostgreSQL's ROLLUP row without a stage (every deal has one); SQLite's level 0.
        total = next(row for row in rows if (row[0] is None if bench.postgres else row[3] == 0))
        same = (ours.grand_total["deals"], ours.grand_total["total"]) == (total[-2], total[-1])
        note = f"{ours.grand_total['deals']:,} deals seen, {len(ours.groups):,} groups" + \
            ("" if same else "; ROWS DIFFER")
        yield Result(f"summary report grouped by two fields and a month bucket over {opportunities:,} "
                     f"opportunities, {who}",
                     bench.median(lambda reports=reports: reports.run(REPORT)),
                     bench.median(lambda statement=statement: bench.raw(statement)),
                     WITHIN, note)
