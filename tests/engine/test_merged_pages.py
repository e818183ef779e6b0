"""A page read branch by branch holds exactly the rows, in exactly the order, the whole row filter gives.

A sales rep's row filter `owner_id = me OR id IN (shared) OR <rule>` is read one branch at a
time, each along its own index, and the branches' first ids are merged into the page
(query/sorting.py `merged_page`). The generic page (`build_select`: the whole filter, sorted)
is the specification: every page, first and following, must be the same rows in the same
order, with ties on the sort field, empty names (the smallest value), a shared record that
sorts first or last, and branches that hold the same record.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterator

import pytest
from sqlalchemy import insert, or_

from crmkit.engine import Crm
from crmkit.engine.query import QueryContext, QuerySpec, fetch_rows, page_cursor
from crmkit.engine.query.sorting import build_select
from tests.conftest import analyze_own_tables

ROWS = 120
MOMENT = datetime(2024, 1, 1, tzinfo=timezone.utc)
#: Few names, so many records tie on the name; None is an empty name.
NAMES = ("Tie", None, "Alpha", "Tie", "Zulu", None, "Mid")
INDUSTRIES = ("Technology", "Finance", "Retail")
REP = 3


@pytest.fixture(scope="module")
def crm(module_database_url) -> Iterator[Crm]:
    """The standard CRM with ROWS accounts: names from NAMES in turn, owners 1 to 5 in turn, industries in turn."""
    instance = Crm.open(module_database_url)
    try:
        instance.install("default_crm")
        rows = [{"created_at": MOMENT, "updated_at": MOMENT, "version": 1, "owner_id": 1 + n % 5,
                 "name": NAMES[n % len(NAMES)], "industry": INDUSTRIES[n % 3]} for n in range(ROWS)]
        with instance.engine.begin() as connection:
            connection.execute(insert(instance.runtime.table("account")), rows)
            if connection.dialect.name == "postgresql":
                analyze_own_tables(connection)
        yield instance
    finally:
        instance.close()


def everything(crm: Crm) -> list[Any]:
    """Every account, as the administrator reads them."""
    runtime = crm.runtime
    context = QueryContext(runtime.registry, runtime.schema, runtime.field_types)
    with crm.engine.connect() as connection:
        return fetch_rows(connection, context, "account", QuerySpec(sort=("id",), limit=1000))


def rep_context(crm: Crm, shared: tuple[int, ...] = (), industry: str | None = None) -> QueryContext:
    """A rep's context: `owner_id = REP`, OR `id IN shared`, OR `industry = <industry>` (a sharing rule's shape)."""
    runtime = crm.runtime
    table = runtime.table("account")

    def row_filter(object_name: str) -> Any:
        if object_name != "account":
            return None
        branches = [table.c.owner_id == REP]
        if shared:
            branches.append(table.c.id.in_(shared))
        if industry:
            branches.append(table.c.industry == industry)
        return or_(*branches) if len(branches) > 1 else branches[0]

    return QueryContext(runtime.registry, runtime.schema, runtime.field_types, row_filter=row_filter)


def pages(crm: Crm, context: QueryContext, sort: tuple[str, ...], limit: int) -> Iterator[tuple[list, list, list]]:
    """Each page of the rep's list: (the page's ids read branch by branch, the generic page's ids, the SQL run)."""
    from sqlalchemy import event

    cursor = None
    while True:
        spec = QuerySpec(sort=sort, limit=limit, after=cursor)
        statements: list[str] = []

        def seen(conn, cursor_, statement, *args, statements=statements) -> None:
            statements.append(statement)

        event.listen(crm.engine, "before_cursor_execute", seen)
        try:
            with crm.engine.connect() as connection:
                fast = fetch_rows(connection, context, "account", spec)
        finally:
            event.remove(crm.engine, "before_cursor_execute", seen)
        with crm.engine.connect() as connection:
            generic = connection.execute(build_select(context, "account", spec)).all()
        yield [row.id for row in fast], [row.id for row in generic], statements
        if len(fast) <= limit:
            return
        cursor = page_cursor(context, "account", sort, fast[limit - 1]._mapping)


def in_list_order(rows: list[Any], sort: tuple[str, ...]) -> list[int]:
    """The ids of `rows` in `sort` order (name ascending or descending, empty first ascending, then id)."""
    ordered = sorted(rows, key=lambda row: (row.name is not None, row.name or "", row.id))
    return [row.id for row in (reversed(ordered) if sort == ("-name",) else ordered)]


def first_of(rows: list[Any], name: str | None, owner_other_than: int = REP, last: bool = False) -> int:
    """The id of the first (or last) record named `name` whose owner is not `owner_other_than`."""
    ids = [row.id for row in rows if row.name == name and row.owner_id != owner_other_than]
    return ids[-1] if last else ids[0]


def shares(crm: Crm) -> dict[str, tuple[int, ...]]:
    """Shared sets to try: a record that sorts first (the smallest empty name), last (the last Zulu), ties."""
    rows = everything(crm)
    first, last = first_of(rows, None), first_of(rows, "Zulu", last=True)
    ties = tuple(row.id for row in rows if row.name == "Tie" and row.owner_id != REP)[:3]
    return {"sorts first": (first,), "sorts last": (last,), "ties on name": ties,
            "first, last and ties": (first, last, *ties)}


SHARED = ("sorts first", "sorts last", "ties on name", "first, last and ties")


@pytest.mark.parametrize("sort", [("name",), ("-name",), ()], ids=["ascending", "descending", "default"])
@pytest.mark.parametrize("shared", SHARED)
def test_every_page_is_the_generic_pages_rows_in_its_order(crm, shared, sort):
    context = rep_context(crm, shares(crm)[shared])
    seen = []
    for number, (fast, generic, statements) in enumerate(pages(crm, context, sort, limit=4)):
        assert fast == generic, f"page {number + 1}"
        if number == 0 or sort != ("-name",):  # a descending keyset page is read as two ranges instead
            assert any("page_ids" in statement for statement in statements), statements
        seen += fast[:4]
    rows = everything(crm)
    visible = [row for row in rows if row.owner_id == REP or row.id in shares(crm)[shared]]
    assert seen == in_list_order(visible, sort)
    assert len(seen) == len(set(seen))


def test_a_shared_record_sorting_first_leads_the_first_page_and_not_the_second(crm):
    shared = shares(crm)["sorts first"]
    first, second = [fast for fast, _, _ in pages(crm, rep_context(crm, shared), ("name",), limit=4)][:2]
    assert first[0] == shared[0]
    assert shared[0] not in second


def test_a_shared_record_sorting_last_ends_the_last_page(crm):
    shared = shares(crm)["sorts last"]
    read = [fast for fast, _, _ in pages(crm, rep_context(crm, shared), ("name",), limit=4)]
    assert read[-1][-1] == shared[0]
    assert all(shared[0] not in page[:4] for page in read[:-1])


@pytest.mark.parametrize("sort", [("name",), ("-name",)], ids=["ascending", "descending"])
def test_branches_holding_the_same_records_give_each_record_once(crm, sort):
    """The rep owns some Finance accounts, which a rule on industry = Finance also reaches."""
    context = rep_context(crm, shares(crm)["ties on name"], industry="Finance")
    seen = []
    for number, (fast, generic, _) in enumerate(pages(crm, context, sort, limit=5)):
        assert fast == generic, f"page {number + 1}"
        seen += fast[:5]
    ties = shares(crm)["ties on name"]
    visible = [row for row in everything(crm) if row.owner_id == REP or row.id in ties or row.industry == "Finance"]
    assert any(row.owner_id == REP and row.industry == "Finance" for row in visible)
    assert seen == in_list_order(visible, sort)


def test_the_second_page_starts_inside_a_tie(crm):
    """A page that ends among records of one name continues with the next id of that name, from any branch."""
    ties = shares(crm)["ties on name"]
    context = rep_context(crm, ties)
    rows = everything(crm)
    visible = in_list_order([row for row in rows if row.owner_id == REP or row.id in ties], ("name",))
    named = {row.id: row.name for row in rows}
    tie_positions = [index for index, record_id in enumerate(visible) if named[record_id] == "Tie"]
    limit = tie_positions[1] + 1  # the first page ends on the second "Tie"
    first, second = [fast for fast, _, _ in pages(crm, context, ("name",), limit=limit)][:2]
    assert first[:limit] == visible[:limit]
    assert second[:limit] == visible[limit:2 * limit]
    assert named[second[0]] == "Tie"
