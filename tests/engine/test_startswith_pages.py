"""A `startswith` held by many records, sorted by the same field, is read as a few ranges of that field's index.

The oracle is the same filter read the way every other filter is (wrapped in an `or` of one
condition, which the range reading does not take): every page, in both directions, through
every cursor, for an administrator and for sales reps, must hold exactly the same records.
query/prefix_ranges.py says why the ranges hold every spelling the case folding makes alike.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterator

import pytest
from sqlalchemy import insert, select

from crmkit.engine import Crm
from crmkit.engine.query import QuerySpec, fetch_rows, page_cursor
from crmkit.engine.query.prefix_ranges import codepoint_collation, prefix_ranges, spellings, startswith_ranges
from crmkit.engine.query import prefix_ranges as prefix_ranges_module
from crmkit.engine.query.prefix_ranges import FEW_PREFIXED
from tests.conftest import analyze_own_tables
from tests.engine.test_page_plans import context

MOMENT = datetime(2024, 1, 1, tzinfo=timezone.utc)
#: Each spelled many times: the prefix "wonka" in every case, the Kelvin sign (PostgreSQL's lower() makes it "k"),
#: names that share the first letters only, the dotted capital I, Chinese, and names without the prefix.
STEMS = ("Wonka", "WONKA", "wonka", "wOnKa", "Won\u212aa", "Wonder", "Wonz", "WoNKb", "Won", "İstanbul",
         "istanbul", "ISTANBUL", "北京科技", "Acme", "acme", "a%b", "Zeta")
COPIES = 2 * FEW_PREFIXED // 4 + 7


@pytest.fixture(scope="module")
def crm(module_database_url) -> Iterator[Crm]:
    instance = Crm.open(module_database_url)
    try:
        instance.install("default_crm")
        rows = [{"created_at": MOMENT, "updated_at": MOMENT, "version": 1, "owner_id": 1 + n % 5,
                 "name": None if n % 50 == 0 else f"{STEMS[n % len(STEMS)]} {n // len(STEMS) % 97:02d}"}
                for n in range(len(STEMS) * COPIES)]
        with instance.engine.begin() as connection:
            connection.execute(insert(instance.runtime.table("account")), rows)
            if connection.dialect.name == "postgresql":
                analyze_own_tables(connection)
        yield instance
    finally:
        instance.close()


def every_page(crm: Crm, spec: QuerySpec, **users: Any) -> list[tuple[int, str]]:
    """(id, name) of every record, page after page through the cursors."""
    ctx = context(crm, **users)
    found: list[tuple[int, str]] = []
    with crm.engine.connect() as connection:
        while True:
            rows = fetch_rows(connection, ctx, "account", spec)
            found += [(row.id, row.name) for row in rows[:spec.limit]]
            if len(rows) <= spec.limit:
                return found
            spec = QuerySpec(filter=spec.filter, sort=spec.sort, limit=spec.limit,
                             after=page_cursor(ctx, "account", spec.sort, rows[spec.limit - 1]._mapping))


def the_usual_way(crm: Crm, prefix: str, sort: tuple[str, ...], **users: Any) -> list[tuple[int, str]]:
    return every_page(crm, QuerySpec(filter={"or": [{"name": {"startswith": prefix}}]}, sort=sort, limit=1000),
                      **users)


@pytest.mark.parametrize("prefix", ["wonka", "Won", "i", "İ", "a%", "北京"])
@pytest.mark.parametrize("sort", [("name",), ("-name",)], ids=["ascending", "descending"])
@pytest.mark.parametrize("users", [{}, {"owner": 3}, {"owner": 2, "shared": (5, 17, 400)}, {"owner": (1, 3, 4)},
                                   {"owner": (2, 5), "shared": (6, 30)}],
                         ids=["admin", "rep", "rep-with-shares", "manager", "manager-with-shares"])
def test_every_page_holds_what_the_filter_read_the_usual_way_holds(crm, prefix, sort, users):
    expected = the_usual_way(crm, prefix, sort, **users)
    assert every_page(crm, QuerySpec(filter={"name": {"startswith": prefix}}, sort=sort, limit=23), **users) \
        == expected
    assert every_page(crm, QuerySpec(filter={"and": [{"industry": None}, {"name": {"startswith": [prefix]}}]},
                                     sort=sort, limit=40), **users) == expected


def test_a_common_prefix_is_read_along_the_name_index_without_sorting_its_matches(crm, plan_reader):
    with crm.engine.connect() as connection:
        if not codepoint_collation(connection):
            pytest.skip("this PostgreSQL database does not order text by code point: the ranges are not read")
    assert len(the_usual_way(crm, "wonka", ("name",))) > FEW_PREFIXED

    def read() -> None:
        with crm.engine.connect() as connection:
            fetch_rows(connection, context(crm), "account", QuerySpec(filter={"name": {"startswith": "wonka"}},
                                                                      sort=("name",), limit=20))
    plans = plan_reader(crm.engine).plans(read)
    page = plans[-1]
    assert "ix_account_name" in page.indexes and not page.full_scans("account"), str(page)


def test_a_managers_common_prefix_is_read_owner_by_owner_along_the_owner_index(crm, plan_reader):
    """PostgreSQL: a row filter `owner_id IN (<team>)` is read as each range of each owner along (owner_id, name)."""
    if crm.engine.dialect.name != "postgresql":
        pytest.skip("SQLite reads the ranges of the name index and tests the owner: its planner walks them in order")
    with crm.engine.connect() as connection:
        if not codepoint_collation(connection):
            pytest.skip("this PostgreSQL database does not order text by code point: the ranges are not read")

    def read() -> None:
        with crm.engine.connect() as connection:
            fetch_rows(connection, context(crm, owner=(1, 3, 4)), "account",
                       QuerySpec(filter={"name": {"startswith": "wonka"}}, sort=("name",), limit=20))
    page = plan_reader(crm.engine).plans(read)[-1]
    assert "ix_account_owner_id_name" in page.indexes and not page.full_scans("account"), str(page)
    assert "team.owner" in str(page), str(page)  # each owner its own index range, not the team as one list


def test_a_managers_rare_prefix_is_read_among_the_few_ids_starting_with_it(crm, plan_reader):
    """SQLite: a page of a prefix few records start with, for a user with a row filter, is read among their ids,
    not along the whole name index in order (a sales manager's page at 1,000,000 accounts: 210 ms)."""
    if crm.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL reads it along the folded index")
    assert len(the_usual_way(crm, "北京", ("name",), owner=(1, 3, 4))) < FEW_PREFIXED

    def read() -> None:
        with crm.engine.connect() as connection:
            fetch_rows(connection, context(crm, owner=(1, 3, 4)), "account",
                       QuerySpec(filter={"name": {"startswith": "北京"}}, sort=("name",), limit=20))
    page = plan_reader(crm.engine).plans(read)[-1]
    assert "json_each" in str(page) and not page.full_scans("account"), str(page)  # among the ids (lists.one_of_ids)


@pytest.mark.parametrize("prefix, some_empty", [("wonka", True), ("won", True), ("i", False)])
def test_only_the_ranges_holding_names_are_read(crm, prefix, some_empty, monkeypatch):
    monkeypatch.setattr(prefix_ranges_module, "_DECISIONS", {})  # PostgreSQL: no choice kept from another test
    with crm.engine.connect() as connection:
        if not codepoint_collation(connection):
            pytest.skip("this PostgreSQL database does not order text by code point: the ranges are not read")
        names = [name for (name,) in connection.execute(select(crm.runtime.table("account").c.name))
                 if name is not None]
        read = startswith_ranges(connection, context(crm), "account", {"name": {"startswith": prefix}}, "name")
    every = prefix_ranges(connection.dialect.name, [prefix])
    holding = [(low, high) for low, high in every if any(low <= name < high for name in names)]
    assert read == holding and (len(holding) < len(every)) == some_empty


def test_a_spelling_written_after_the_prefix_was_read_is_on_the_next_page_read(crm):
    # PostgreSQL keeps the choice to read a prefix as ranges for a while (prefix_ranges.DECISION_SECONDS): it
    # must then read every range, not only those that held names when it chose.
    the_usual_way(crm, "wonka", ("name",))
    assert every_page(crm, QuerySpec(filter={"name": {"startswith": "wonka"}}, sort=("name",), limit=50)) \
        == the_usual_way(crm, "wonka", ("name",))
    table = crm.runtime.table("account")
    with crm.engine.begin() as connection:
        added = connection.execute(insert(table).returning(table.c.id), [
            {"created_at": MOMENT, "updated_at": MOMENT, "version": 1, "owner_id": 1, "name": f"wONKa later {n}"}
            for n in range(3)]).scalars().all()
    try:
        found = every_page(crm, QuerySpec(filter={"name": {"startswith": "wonka"}}, sort=("name",), limit=50))
        assert found == the_usual_way(crm, "wonka", ("name",)) and set(added) <= {record_id for record_id, _ in found}
    finally:
        with crm.engine.begin() as connection:
            connection.execute(table.delete().where(table.c.id.in_(added)))


def test_the_lookup_autocomplete_lists_the_first_titles_starting_with_a_common_word(crm):
    titles = [name for _, name in the_usual_way(crm, "wonka", ("name",))][:10]
    assert [title for _, title in crm.as_system().records("account").suggest("wonka")] == titles


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
@pytest.mark.parametrize("prefix", ["wonka", "Wonka Industries 12", "ik", "a1 b", "张伟", "i"])
def test_every_spelling_of_a_prefix_lies_in_one_of_its_ranges(dialect, prefix):
    ranges = prefix_ranges(dialect, [prefix])
    assert ranges and len(ranges) <= 16
    choices = [spellings(dialect, character) for character in prefix]
    assert all(choices)
    spelled = [""]
    for choice in choices:  # every spelling, up to a few thousand
        spelled = [head + character for head in spelled for character in choice][:5000]
    for text in spelled:
        for tail in ("", " ", "zz", "\U0010ffff"):
            assert sum(low <= text + tail < high for low, high in ranges) == 1, (text + tail, ranges)


@pytest.mark.parametrize("prefix", ["école", "σοφια", "ｗｏｎｋａ", "\u212a", ""])
def test_a_prefix_whose_spellings_are_not_surely_known_gets_no_ranges(prefix):
    assert prefix_ranges("postgresql", [prefix]) is None and prefix_ranges("sqlite", [prefix]) is None


def test_sqlite_folds_a_to_z_only_and_postgresql_also_the_kelvin_sign_and_the_dotted_capital_i():
    assert spellings("sqlite", "k") == ("K", "k") and spellings("sqlite", "1") == ("1",)
    assert set(spellings("postgresql", "k")) == {"K", "k", "\u212a"}
    assert set(spellings("postgresql", "I")) == {"I", "i", "\u0130"}
