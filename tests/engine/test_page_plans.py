"""Every list page of the standard CRM is read in index order, on SQLite and on PostgreSQL.

A page sorted by an indexed field must be a walk along an index that stops after `limit`
rows: a separate sort step (SQLite's "USE TEMP B-TREE FOR ORDER BY", a PostgreSQL Sort
node) means every matching row is read and sorted first, which is invisible on a test
table and a whole second on a million rows. How plans are read: conftest.PlanReader.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Iterator

import pytest
from sqlalchemy import insert, or_, select

from crmkit.engine import Crm
from crmkit.engine.query import QueryContext, QuerySpec, fetch_rows, page_cursor
from crmkit.engine.query.prefix_ranges import codepoint_collation
from crmkit.engine.query.sorting import build_select
from tests.conftest import analyze_own_tables

ROWS = 300
MOMENT = datetime(2024, 1, 1, tzinfo=timezone.utc)
INDUSTRIES = ("Technology", "Finance", "Retail")
ADDON = """\
package: order_addon
version: "1.0.0"
depends_on: [default_crm]
extends:
  account:
    indexes:
      - fields: [industry, name]
"""


@pytest.fixture(scope="module")
def crm(module_database_url, tmp_path_factory) -> Iterator[Crm]:
    """The standard CRM (plus an index on account industry, name) with a few hundred rows in every table."""
    addon = tmp_path_factory.mktemp("plans") / "addon.yaml"
    addon.write_text(ADDON, encoding="utf-8")
    instance = Crm.open(module_database_url)
    try:
        instance.install("default_crm", addon)
        _fill(instance)
        yield instance
    finally:
        instance.close()


def _fill(crm: Crm) -> None:
    """ROWS records in every object's table: accounts with names (every tenth empty), others blank."""
    runtime = crm.runtime
    with crm.engine.begin() as connection:
        for name in runtime.registry.objects:
            rows = [{"created_at": MOMENT, "updated_at": MOMENT, "version": 1, "owner_id": 1 + n % 5}
                    for n in range(ROWS)]
            if name == "account":
                for n, row in enumerate(rows):
                    row.update(name=None if n % 10 == 0 else f"Account {n:03d}", industry=INDUSTRIES[n % 3])
            connection.execute(insert(runtime.table(name)), rows)
        if connection.dialect.name == "postgresql":
            analyze_own_tables(connection)


def context(crm: Crm, owner: int | tuple[int, ...] | None = None, shared: tuple[int, ...] = ()) -> QueryContext:
    """An admin's query context, or a sales rep's: a private object's row filter is `owner_id = <them>`,
    OR `id IN <shared>` when records are shared with them (the shape AccessPolicy gives it); a sales
    manager's (`owner` a tuple of his team): `owner_id IN <team>`."""
    runtime = crm.runtime

    def row_filter(object_name: str) -> Any:
        private = runtime.registry.object(object_name).sharing == "private"
        if owner is None or not private:
            return None
        table = runtime.table(object_name)
        owned = table.c.owner_id.in_(owner) if isinstance(owner, tuple) else table.c.owner_id == owner
        return or_(owned, table.c.id.in_(shared)) if shared else owned

    return QueryContext(runtime.registry, runtime.schema, runtime.field_types, row_filter=row_filter)


def page_plans(crm: Crm, plan_reader, object_name: str, spec: QuerySpec, owner: int | None = None,
               shared: tuple[int, ...] = ()) -> list:
    """The plans of the statements that read one page the record service's way (fetch_rows).

    The database's collation (read once per engine, query/prefix_ranges.py) is read first, so
    its statement is not among them."""
    with crm.engine.connect() as connection:
        codepoint_collation(connection)

    def read() -> None:
        with crm.engine.connect() as connection:
            fetch_rows(connection, context(crm, owner, shared), object_name, spec)
    return plan_reader(crm.engine).plans(read)


def middle_cursor(crm: Crm, object_name: str, sort: tuple[str, ...], owner: int | None = None,
                  shared: tuple[int, ...] = ()) -> str:
    """A cursor after the record in the middle of the list in `sort` order."""
    ctx = context(crm, owner, shared)
    with crm.engine.connect() as connection:
        rows = fetch_rows(connection, ctx, object_name, QuerySpec(sort=sort, limit=1000))
    return page_cursor(ctx, object_name, sort, rows[len(rows) // 2]._mapping)


def assert_index_order(plans: list, table: str, index: str | None = None) -> None:
    assert plans, "no statement was run"
    for plan in plans:
        assert not plan.sorts, f"the page is sorted after reading:\n{plan}"
        assert not plan.full_scans(table), f"the page reads all of {table}:\n{plan}"
        if index is not None:
            assert index in plan.indexes, f"the page does not read {index}:\n{plan}"


@pytest.mark.parametrize("sort", [(), ("name",), ("-name",)], ids=["default", "ascending", "descending"])
def test_an_account_page_is_read_along_the_name_index(crm, plan_reader, sort):
    assert_index_order(page_plans(crm, plan_reader, "account", QuerySpec(sort=sort, limit=20)), "account",
                       "ix_account_name")


@pytest.mark.parametrize("sort", [("name",), ("-name",)], ids=["ascending", "descending"])
def test_a_keyset_page_from_the_middle_is_an_index_range(crm, plan_reader, sort):
    spec = QuerySpec(sort=sort, limit=20, after=middle_cursor(crm, "account", sort))
    assert_index_order(page_plans(crm, plan_reader, "account", spec), "account", "ix_account_name")


def test_the_one_statement_keyset_page_reads_index_ranges(crm, plan_reader):
    """build_select's descending keyset page unions two index-ordered reads; only their 2 x limit rows are merged."""
    spec = QuerySpec(sort=("-name",), limit=20, after=middle_cursor(crm, "account", ("-name",)))
    # LIMIT is rendered as a number when the statement runs (engine/prepared.py): render it here too.
    statement = build_select(context(crm), "account", spec).compile(crm.engine,
                                                                     compile_kwargs={"render_postcompile": True})
    plan = plan_reader(crm.engine).explain(str(statement), _parameters(statement))
    assert not plan.full_scans("account"), str(plan)
    assert "ix_account_name" in plan.indexes, str(plan)


def _parameters(compiled) -> Any:
    if compiled.positiontup is not None:
        return tuple(compiled.params[name] for name in compiled.positiontup)
    return compiled.params


@pytest.mark.parametrize("sort", [("name",), ("-name",)], ids=["ascending", "descending"])
def test_a_filtered_page_uses_the_declared_composite_index(crm, plan_reader, sort):
    spec = QuerySpec(filter={"industry": "Finance"}, sort=sort, limit=20)
    assert_index_order(page_plans(crm, plan_reader, "account", spec), "account", "ix_account_industry_name")


@pytest.mark.parametrize("sort", [(), ("-name",)], ids=["default", "descending"])
def test_a_reps_page_of_a_private_object_uses_the_owner_twin_index(crm, plan_reader, sort):
    assert crm.runtime.registry.object("account").sharing == "private"
    first = page_plans(crm, plan_reader, "account", QuerySpec(sort=sort, limit=20), owner=3)
    assert_index_order(first, "account", "ix_account_owner_id_name")
    spec = QuerySpec(sort=sort, limit=5, after=middle_cursor(crm, "account", sort or ("name",), owner=3)
                     if sort else None)
    assert_index_order(page_plans(crm, plan_reader, "account", spec, owner=3), "account", "ix_account_owner_id_name")


SHARED = (2, 7, 12)  # records of owners other than 3 (owner_id = 1 + n % 5), shared with owner 3


@pytest.mark.parametrize("after", [False, True], ids=["first page", "keyset page"])
def test_a_reps_page_with_shared_records_reads_each_branch_along_an_index(crm, plan_reader, after):
    """owner = me OR id IN (shared) is served by no index in sort order: each branch is read by its own."""
    cursor = middle_cursor(crm, "account", ("name",), owner=3, shared=SHARED) if after else None
    plans = page_plans(crm, plan_reader, "account", QuerySpec(sort=("name",), limit=5, after=cursor), owner=3,
                       shared=SHARED)
    assert plans
    for plan in plans:
        assert "ix_account_owner_id_name" in plan.indexes, str(plan)
        assert not plan.full_scans("account"), str(plan)


@pytest.mark.parametrize("sort", [("name",), ("-name",)], ids=["ascending", "descending"])
def test_a_reps_pages_with_shared_records_hold_every_visible_record_once_in_order(crm, sort):
    ctx = context(crm, owner=3, shared=SHARED)
    with crm.engine.connect() as connection:
        everything = fetch_rows(connection, context(crm), "account", QuerySpec(sort=sort, limit=1000))
        expected = [row.id for row in everything if row.owner_id == 3 or row.id in SHARED]
        seen, cursor = [], None
        while True:
            rows = fetch_rows(connection, ctx, "account", QuerySpec(sort=sort, limit=7, after=cursor))
            seen += [row.id for row in rows[:7]]
            if len(rows) <= 7:
                break
            cursor = page_cursor(ctx, "account", sort, rows[6]._mapping)
    assert seen == expected
    assert len(expected) == ROWS // 5 + len(SHARED)


def test_the_page_query_without_its_limit_still_reads_every_visible_record(crm):
    """An export drops build_select's limit: no branch of the rep's row filter keeps a limit of its own."""
    statement = build_select(context(crm, owner=3, shared=SHARED), "account", QuerySpec(sort=("name",), limit=5))
    with crm.engine.connect() as connection:
        rows = connection.execute(statement.limit(None)).all()
    assert len(rows) == ROWS // 5 + len(SHARED)


def test_the_default_sort_of_every_standard_object_is_served_by_an_index(crm, plan_reader):
    objects = crm.runtime.registry.objects
    assert {"account", "contact", "lead", "opportunity"} <= set(objects)
    for name, obj in objects.items():
        assert obj.default_sort, f"{name} has no default sort"
        assert_index_order(page_plans(crm, plan_reader, name, QuerySpec(limit=20)), name)


@pytest.mark.parametrize("sort", [("-created_at",), ("created_at",)], ids=["newest", "oldest"])
def test_a_not_null_system_column_is_sorted_along_its_index(crm, plan_reader, sort):
    """lead's default sort is -created_at: created_at is NOT NULL, sorted and indexed plainly."""
    assert_index_order(page_plans(crm, plan_reader, "lead", QuerySpec(sort=sort, limit=20)), "lead",
                       "ix_lead_created_at")


def test_a_mixed_direction_sort_is_sorted_after_reading(crm, plan_reader):
    """Documented (docs/query.md): a b-tree is read in one direction, so -industry,name is a full sort."""
    plans = page_plans(crm, plan_reader, "account", QuerySpec(sort=("-industry", "name"), limit=20))
    assert any(plan.sorts for plan in plans), "\n\n".join(map(str, plans))


@pytest.mark.parametrize("prefix", ["account 12", "ACCOUNT 05", "aCcOuNt 299", "zz"])
def test_startswith_reads_a_range_of_the_case_folded_index(crm, plan_reader, prefix):
    """A rare prefix is one range of ip_account_name, in any case (a common one may walk the sort's index)."""
    spec = QuerySpec(filter={"name": {"startswith": prefix}}, limit=20)
    plans = page_plans(crm, plan_reader, "account", spec)
    assert all("ip_account_name" in plan.indexes and not plan.full_scans("account") for plan in plans), \
        "\n\n".join(map(str, plans))
    with crm.engine.connect() as connection:
        rows = fetch_rows(connection, context(crm), "account", QuerySpec(
            filter={"name": {"startswith": prefix}}, limit=1000))
    assert sorted(row.name for row in rows) == sorted(
        f"Account {n:03d}" for n in range(ROWS) if n % 10 and f"account {n:03d}".startswith(prefix.lower()))


def test_a_reps_derived_values_are_read_in_the_page_statement_along_the_owner_twin_index(crm, plan_reader):
    """A sales rep sees account rollups over opportunities recomputed over those they may see
    (security/derived.py): they are read in the page's own statement, whose page is still read
    along the owner twin index; the rollups over one child object are one grouped read of the
    page's children (query/derived_page.py), and no step sorts more than the page's rows."""
    from crmkit.engine.security.users import SystemDirectory

    rep = SystemDirectory(crm).create_user("plans_rep", role="sales_rep")
    accounts = crm.as_user(rep.id).records("account")
    assert "open_opportunity_count" in dict(accounts.session.policy.derived.shown_columns("account"))
    reader = plan_reader(crm.engine)
    with reader.reads() as seen:
        page = accounts.query(limit=20)
    reads = [(sql, parameters) for sql, parameters in seen if re.search(r"\b(FROM|JOIN) account\b", sql)]
    assert len(reads) == 1, "\n\n".join(sql for sql, _ in reads)
    sql = reads[0][0]
    assert sql.count("FROM opportunity") == 1 and sql.count("FROM activity") == 1, sql  # one read per child object
    plan = reader.explain(*reads[0])
    assert "ix_account_owner_id_name" in plan.indexes, str(plan)
    assert not plan.full_scans("account"), str(plan)
    text = "\n".join(plan.lines)
    # Sorted: the page's rows (SQLite's temp b-tree for ORDER BY, PostgreSQL's sort on page.*), and on
    # PostgreSQL the page's children by their account for grouping; never the account table itself.
    assert text.count("TEMP B-TREE FOR ORDER BY") <= 1, str(plan)
    keys = re.findall(r"Sort Key: (.*)", text)
    assert all(key.startswith("page.") or key in ("opportunity.account", "activity.account") for key in keys), str(plan)
    assert page.records and {record.values["owner_id"] for record in page.records} == {rep.id}
    assert {record.values["open_opportunity_count"] for record in page.records} == {0}  # none of theirs: not stored


def test_a_reps_page_with_a_shared_record_merges_its_ids_once_and_reads_rollups_for_them(crm, plan_reader):
    """With a record shared with them, a rep's page is the branches' first ids merged once (the page_ids CTE,
    query/sorting.py `merged_page`), the rows read by primary key for them and the rollups over each child
    object read for the same ids: the owner branch along the owner twin index, nothing of account read whole,
    and no sort of more than the merged ids or the page's rows."""
    from crmkit.engine.security.users import SystemDirectory

    directory = SystemDirectory(crm)
    rep = directory.create_user("plans_shared_rep", role="sales_rep")
    table = crm.runtime.table("account")
    with crm.engine.connect() as connection:  # an account someone else owns
        other = connection.execute(select(table.c.id).where(table.c.owner_id != rep.id)
                                   .order_by(table.c.id).limit(1)).scalar_one()
    crm.as_system().sharing.share("account", other, user_id=rep.id)
    accounts = crm.as_user(rep.id).records("account")
    reader = plan_reader(crm.engine)
    with reader.reads() as seen:
        page = accounts.query(limit=5)
    reads = [(sql, parameters) for sql, parameters in seen if re.search(r"\b(FROM|JOIN) account\b", sql)]
    assert len(reads) == 1, "\n\n".join(sql for sql, _ in reads)
    sql = reads[0][0]
    assert sql.lstrip().startswith("WITH page_ids AS"), sql
    assert sql.count("FROM opportunity") == 1 and sql.count("FROM activity") == 1, sql
    assert sql.count("IN (SELECT page_ids.id") == 2, sql  # each child object's rollups: the merged ids
    assert sql.count("FROM crmkit_share") == 1, sql  # the row filter is not tested again on the merged rows
    plan = reader.explain(*reads[0])
    assert "ix_account_owner_id_name" in plan.indexes, str(plan)
    assert not plan.full_scans("account"), str(plan)
    text = "\n".join(plan.lines)
    keys = re.findall(r"Sort Key: (.*)", text)  # PostgreSQL: the branches' ids, the page's rows, children by account
    assert all(key.startswith(("account", "page_ids.", "opportunity.account", "activity.account")) for key in keys), \
        str(plan)
    assert len(page.records) == 5
    assert other in {record.id for record in accounts.query(limit=ROWS).records}
