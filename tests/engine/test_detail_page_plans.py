"""A record's detail page reads each related list along its lookup's index, on SQLite and PostgreSQL.

A related list is `WHERE <lookup> = :id ORDER BY <the list's sort>, id LIMIT n` on the child
table. Its index (tables.lookup_indexes) leads with the lookup and continues with the list's
sort, over the rows whose lookup is set: the list is one range of the index, read in order and
stopped after n rows. Before, the lookup's index held every row (the empty ones too) and no
sort: each list was sorted after reading, and where the lookup was mostly empty (the parent
account of most accounts) SQLite's statistics made it walk the whole name index instead,
about a second per detail page at 200,000 accounts. How plans are read: conftest.PlanReader.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, Iterator

import pytest
from sqlalchemy import insert, inspect, select, update

from crmkit.engine import Crm
from crmkit.engine.query import QueryContext, QuerySpec, fetch_rows
from crmkit.engine.tables import lookup_indexes
from tests.conftest import analyze_own_tables

ROWS = 300
PARENTS = 10
MOMENT = datetime(2024, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def crm(module_database_url) -> Iterator[Crm]:
    """The standard CRM: accounts whose parent is mostly empty, children of the first accounts, statistics taken."""
    instance = Crm.open(module_database_url)
    try:
        instance.install("default_crm")
        _fill(instance)
        yield instance
    finally:
        instance.close()


def _fill(crm: Crm) -> None:
    """ROWS rows in every table: accounts (one in 30 a subsidiary), and half of every other object's rows
    linked through each of its lookups to one of the first PARENTS records."""
    runtime = crm.runtime

    def row(n: int, **values: Any) -> dict[str, Any]:
        return {"created_at": MOMENT, "updated_at": MOMENT, "version": 1, "owner_id": 1 + n % 5, **values}

    def parent(n: int) -> int | None:
        return None if n % 2 else 1 + n % PARENTS

    with crm.engine.begin() as connection:
        connection.execute(insert(runtime.table("account")), [
            row(n, name=f"Account {n:03d}", parent_account=1 + n % PARENTS if n % 30 == 29 else None)
            for n in range(ROWS)])
        connection.execute(insert(runtime.table("contact")), [
            row(n, last_name=f"Li {n % 17}", first_name=f"Wei {n}", account=parent(n)) for n in range(ROWS)])
        connection.execute(insert(runtime.table("opportunity")), [
            row(n, name=f"Deal {n}", close_date=date(2030, 1 + n % 12, 1), account=parent(n)) for n in range(ROWS)])
        connection.execute(insert(runtime.table("activity")), [
            row(n, subject=f"Call {n}", due_date=date(2030, 1 + n % 12, 1), account=parent(n)) for n in range(ROWS)])
        filled = ("account", "contact", "opportunity", "activity")
        for name in runtime.registry.objects:
            if name not in filled:
                connection.execute(insert(runtime.table(name)), [row(n) for n in range(ROWS)])
        for name, obj in runtime.registry.objects.items():  # every other lookup: half the rows linked to a parent
            table = runtime.table(name)
            for via in (f.name for f in obj.fields.values() if f.is_lookup and not f.unique):
                if connection.execute(select(table.c[via]).where(table.c[via].is_not(None)).limit(1)).first() is None \
                        and (name, via) != ("account", "parent_account"):
                    connection.execute(update(table).where(table.c.id % 2 == 0).values({via: 1 + table.c.id % PARENTS}))
        analyze_own_tables(connection)


def rep_context(crm: Crm, owner: int | None) -> QueryContext:
    """An admin's query context (owner None), or a sales rep's whose private objects' rows are `owner_id = owner`."""
    runtime = crm.runtime

    def row_filter(object_name: str) -> Any:
        if owner is None or runtime.registry.object(object_name).sharing != "private":
            return None
        return runtime.table(object_name).c.owner_id == owner

    return QueryContext(runtime.registry, runtime.schema, runtime.field_types, row_filter=row_filter)


def related_lists(crm: Crm) -> list[tuple[str, Any]]:
    """(parent object, related list) of every related list in the standard CRM's layouts."""
    registry = crm.runtime.registry
    return [(name, related) for name in registry.objects for related in registry.layout(name).related or ()]


def lookup_index(crm: Crm, child: str, via: str) -> str:
    return dict((fields[0], name) for name, fields in lookup_indexes(crm.runtime.registry.object(child),
                                                                     crm.runtime.registry))[via]


def related_plans(crm: Crm, plan_reader, related: Any, parent_id: int, owner: int | None = None) -> list:
    """The plans of the statements that read one related list the detail page's way."""
    spec = QuerySpec(filter={related.via: parent_id}, sort=related.sort, limit=related.rows)

    def read() -> None:
        with crm.engine.connect() as connection:
            fetch_rows(connection, rep_context(crm, owner), related.object, spec)
    return plan_reader(crm.engine).plans(read)


def assert_lookup_range(plans: list, table: str, index: str) -> None:
    assert plans, "no statement was run"
    for plan in plans:
        assert not plan.sorts, f"the related list is sorted after reading:\n{plan}"
        assert not plan.full_scans(table), f"the related list reads all of {table}:\n{plan}"
        assert index in plan.indexes, f"the related list does not read {index}:\n{plan}"


def test_every_related_list_of_the_standard_crm_is_one_range_of_its_lookups_index(crm, plan_reader):
    lists = related_lists(crm)
    assert {(related.object, related.via) for _, related in lists} >= {
        ("contact", "account"), ("opportunity", "account"), ("activity", "account"), ("account", "parent_account")}
    for _, related in lists:
        assert_lookup_range(related_plans(crm, plan_reader, related, 3), related.object,
                            lookup_index(crm, related.object, related.via))


def test_the_subsidiaries_of_an_account_are_read_along_the_parent_index_not_the_whole_name_index(crm, plan_reader):
    """Most accounts have no parent: the regression measured at 200,000 accounts (a walk of ix_account_name)."""
    related = next(item for name, item in related_lists(crm) if name == "account" and item.via == "parent_account")
    assert related.sort == ("name",)
    plans = related_plans(crm, plan_reader, related, 3)
    assert_lookup_range(plans, "account", "ix_account_parent_account_name")
    assert all("ix_account_name" not in plan.indexes for plan in plans), "\n\n".join(map(str, plans))


@pytest.mark.parametrize("child", ["contact", "opportunity", "activity"])
def test_a_sales_reps_related_list_of_a_private_object_is_still_a_range_of_the_lookup_index(crm, plan_reader, child):
    """The rep's row filter (owner_id = them) is checked on the parent's few children, not the other way round."""
    related = next(item for name, item in related_lists(crm) if name == "account" and item.object == child)
    assert crm.runtime.registry.object(child).sharing == "private" or child == "contact"
    assert_lookup_range(related_plans(crm, plan_reader, related, 3, owner=3), child,
                        lookup_index(crm, child, related.via))


@pytest.mark.parametrize("child,sort", [("contact", ("last_name", "first_name")), ("activity", ("-due_date",))])
def test_a_related_list_holds_the_parents_children_in_the_lists_order(crm, child, sort):
    with crm.engine.connect() as connection:
        rows = fetch_rows(connection, rep_context(crm, None), child, QuerySpec(filter={"account": 3}, sort=sort,
                                                                              limit=1000))
        everything = fetch_rows(connection, rep_context(crm, None), child, QuerySpec(sort=sort, limit=1000))
    assert [row.id for row in rows] == [row.id for row in everything if row.account == 3]
    assert len(rows) == len([n for n in range(ROWS) if n % 2 == 0 and 1 + n % PARENTS == 3]) > 0


def test_a_lookups_index_holds_only_the_rows_whose_lookup_is_set(crm):
    with crm.engine.connect() as connection:
        found = {index["name"]: index for index in inspect(connection).get_indexes("account")}
    condition = found["ix_account_parent_account_name"]["dialect_options"][f"{crm.engine.dialect.name}_where"]
    assert str(condition).strip("()") == "parent_account IS NOT NULL"
    assert found["ix_account_parent_account_name"]["column_names"] == ["parent_account", "name", "id"]
    assert "ix_account_parent_account" not in found


def test_an_empty_lookup_is_still_found_by_a_filter(crm):
    """`is_null` cannot use the partial index, and reads the table: the rows are all there."""
    with crm.engine.connect() as connection:
        rows = fetch_rows(connection, rep_context(crm, None), "account",
                          QuerySpec(filter={"parent_account": {"is_null": True}}, limit=1000))
    assert len(rows) == ROWS - ROWS // 30
