"""The report line: a summary report grouped by two fields and a month bucket, against hand-written SQL.

crmkit runs `context.reports.run` on a summary report of `opportunity` grouped by stage,
type and the month of close_date, counting and totalling amount, with every subtotal and
the grand total (the report compiler: query/aggregate.py). The reference is the SQL a
developer would write for the same figures on the same table: `GROUP BY ROLLUP(...)` on
PostgreSQL, and on SQLite (no ROLLUP) the finest groups once in a CTE, each coarser level
summed from them with UNION ALL. Both are measured as an administrator and as a sales rep
under the standard CRM's private sharing: the rep at the bottom of the hierarchy, with
SHARED_WITH_REP opportunities of others shared with them directly and SHARED_WITH_TEAM
with a team of theirs (made once; --keep keeps them). The reference for the rep computes
the same figures with the same visibility rule written by hand, in the same statement:
the rows owned by the rep or by users in roles below theirs (from crmkit_user, the roles
from the metadata), plus the rows shared with the rep or one of their teams that they do
not own (from crmkit_share and crmkit_team_member), as a UNION ALL of the two branches so
that each is read along its own index. The line checks that both sides give the same
grand total.
"""
from __future__ import annotations

from typing import Iterator

from sqlalchemy import Date, Integer, cast, func, literal, not_, null, or_, select, text, union_all

from benchmarks.reads import Bench
from benchmarks.report import Result, Target
from crmkit.engine import Crm
from crmkit.engine.security.users import SystemDirectory
from crmkit.metadata.model import Label
from crmkit.metadata.reports import Aggregate, Grouping, ReportDef

#: Issue 11: within 1.2x of the hand-written query.
WITHIN = Target("<= 1.2x", ratio=1.2)

REPORT = ReportDef(
    name="bench_pipeline", label=Label.of("Pipeline by stage, type and close month"), object="opportunity",
    kind="summary", group_by=(Grouping("stage"), Grouping("type"), Grouping("close_date", bucket="month")),
    aggregates=(Aggregate("deals", "count"), Aggregate("total", "sum", field="amount")))


#: Opportunities of other owners shared with the bench's rep directly, and with a team the rep is in.
SHARED_WITH_REP, SHARED_WITH_TEAM = 150, 50
TEAM = "bench_report_team"


def share_with_rep(crm: Crm, admin: int, rep: int) -> int:
    """Share opportunities of others with `rep` (SHARED_WITH_REP) and with a team of theirs (SHARED_WITH_TEAM),
    spread over the table, through the engine's sharing API; nothing when done before. Returns the shares made."""
    shares = crm.runtime.system_table("crmkit_share")
    table = crm.runtime.table("opportunity")
    with crm.engine.connect() as connection:
        if connection.scalar(select(func.count()).select_from(shares).where(shares.c.object == "opportunity")):
            return 0
        total = connection.scalar(select(func.count()).select_from(table))
        step = max(1, total // (2 * (SHARED_WITH_REP + SHARED_WITH_TEAM)))
        ids = list(connection.scalars(select(table.c.id).where(table.c.owner_id != rep, table.c.id % step == 0)
                                      .order_by(table.c.id).limit(SHARED_WITH_REP + SHARED_WITH_TEAM)))
    directory = SystemDirectory(crm)
    team = next((found.id for found in directory.teams() if found.name == TEAM), None)
    if team is None:
        team = directory.create_team(TEAM)
        directory.add_to_team(team, rep)
    sharing = crm.as_user(admin).sharing
    for number, record_id in enumerate(ids):
        if number < SHARED_WITH_REP:
            sharing.share("opportunity", record_id, user_id=rep)
        else:
            sharing.share("opportunity", record_id, team_id=team)
    with crm.engine.begin() as connection:
        connection.execute(text("ANALYZE"))  # the planner's statistics of the new shares, as after the fill
    return len(ids)


def visible_to(bench: Bench, rep: int, columns: list) -> object:
    """The rows of opportunity `rep` may read, as a developer writes the private sharing rule by hand.

    Owned by the rep or by a user in a role below theirs, UNION ALL shared with the rep or one
    of their teams and not owned so (a record in both branches counts once).
    """
    crm = bench.crm
    table = crm.runtime.table("opportunity")
    users, shares = crm.runtime.system_table("crmkit_user"), crm.runtime.system_table("crmkit_share")
    members = crm.runtime.system_table("crmkit_team_member")
    with crm.engine.connect() as connection:
        role = connection.scalar(select(users.c.role).where(users.c.id == rep))
    below = sorted(crm.runtime.registry.role_descendants.get(role, frozenset())) if role else []
    owners = select(users.c.id).where(or_(users.c.id == rep, users.c.role.in_(below)) if below else users.c.id == rep)
    owned = table.c.owner_id.in_(owners)
    shared = table.c.id.in_(select(shares.c.record_id).where(
        shares.c.object == "opportunity",
        or_(shares.c.user_id == rep, shares.c.team_id.in_(select(members.c.team_id).where(members.c.user_id == rep)))))
    mine = select(*columns).where(owned)
    others = select(*columns).where(shared, or_(table.c.owner_id.is_(None), not_(owned)))
    return union_all(mine, others).subquery("visible")


def hand_written(bench: Bench, rep: int | None):
    """The reference statement (see the module docstring); `rep` None: the administrator (every row)."""
    table = bench.crm.runtime.table("opportunity")
    if rep is not None:
        table = visible_to(bench, rep, [table.c.stage, table.c.type, table.c.close_date, table.c.amount])
    if bench.postgres:
        month = cast(func.date_trunc("month", table.c.close_date), Date)
        keys = [table.c.stage, table.c.type, month]
        return select(*keys, func.count(), func.sum(table.c.amount)).group_by(func.rollup(*keys))
    month = func.date(table.c.close_date, "start of month")
    finest = (select(table.c.stage.label("stage"), table.c.type.label("type"), month.label("month"),
                     func.count().label("deals"), func.sum(table.c.amount).label("total"))
              .group_by(table.c.stage, table.c.type, month).cte("finest"))
    levels = []
    for depth in (3, 2, 1, 0):
        keys = [finest.c.stage, finest.c.type, finest.c.month][:depth]
        shown = keys + [null()] * (3 - depth)
        level = select(*shown, literal(depth, Integer), func.sum(finest.c.deals), func.sum(finest.c.total))
        levels.append(level.group_by(*keys) if keys else level)
    return union_all(*levels)


def report_lines(bench: Bench, users: dict[str, list[int]], opportunities: int) -> Iterator[Result]:
    """The report line as an administrator, then as a sales rep under private sharing."""
    admin, rep = users["admin"][0], users["sales_rep"][-1]
    share_with_rep(bench.crm, admin, rep)
    for who, user_id, restricted in (("admin", admin, None), ("a sales rep (private)", rep, rep)):
        reports = bench.crm.as_user(user_id).reports
        statement = hand_written(bench, restricted)
        ours = reports.run(REPORT)
        rows = bench.raw(statement)
        # The grand total: PostgreSQL's ROLLUP row without a stage (every deal has one); SQLite's level 0.
        total = next(row for row in rows if (row[0] is None if bench.postgres else row[3] == 0))
        same = (ours.grand_total["deals"], ours.grand_total["total"]) == (total[-2], total[-1])
        note = f"{ours.grand_total['deals']:,} deals seen, {len(ours.groups):,} groups" + \
            ("" if same else "; ROWS DIFFER")
        yield Result(f"summary report grouped by two fields and a month bucket over {opportunities:,} "
                     f"opportunities, {who}",
                     *bench.paired(lambda reports=reports: reports.run(REPORT),
                                   lambda statement=statement: bench.raw(statement)),
                     WITHIN, note)
