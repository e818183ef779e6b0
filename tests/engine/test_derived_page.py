"""A list page shows a sales rep's recomputed rollups exactly as `get` does, on SQLite and PostgreSQL.

The standard CRM's account rollups over opportunities and activities (counts, sums and a
maximum, each with a condition) are recomputed for a rep over the children they may see
(security/derived.py). `get` reads them one correlated subquery per field; a page reads the
rollups over one child object in one grouped read (query/derived_page.py). Both must give
the same values: the children the condition leaves out count for nothing, children of
other owners are not seen, and an account with no child the rep sees shows 0 for a count
and nothing for a sum or a date.
"""
from __future__ import annotations

import re

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from crmkit.engine.security.users import SystemDirectory

DEFAULT_CRM = Path(__file__).resolve().parents[2] / "apps" / "default_crm.yaml"

ROLLUPS = ("open_opportunity_count", "pipeline_amount", "won_amount", "last_won_date",
           "completed_activity_count", "last_activity_date")


@pytest.fixture
def reps(crm, install_once):
    """Two sales reps; rep "me" owns accounts A, B, C; the other rep owns opportunities and activities on them too."""
    install_once(DEFAULT_CRM)
    directory = SystemDirectory(crm)
    me, other = (directory.create_user(name, role="sales_rep").id for name in ("rep_me", "rep_other"))
    system = crm.as_system()
    accounts = {name: system.records("account").create({"name": name, "owner_id": me}).id for name in "ABC"}
    deals = system.records("opportunity")
    for account, stage, amount, closed, owner in [
        ("A", "Prospecting", "100.25", date(2026, 1, 5), me), ("A", "Negotiation", "50", date(2026, 2, 1), me),
        ("A", "Closed Won", "70.10", date(2025, 6, 1), me), ("A", "Closed Won", "900", date(2026, 9, 9), other),
        ("A", "Closed Lost", "40", date(2025, 1, 1), me),
        ("B", "Closed Won", "5", date(2024, 3, 3), me), ("B", "Prospecting", "1000", date(2026, 1, 1), other),
        ("C", "Closed Lost", "8", date(2024, 1, 1), me),
    ]:
        lost = {"loss_reason": "Price"} if stage == "Closed Lost" else {}
        deals.create({"name": f"{account} {stage}", "account": accounts[account], "stage": stage,
                      "amount": Decimal(amount), "close_date": closed, "owner_id": owner, **lost})
    activities = system.records("activity")
    for account, status, due, owner in [("A", "Completed", date(2025, 5, 5), me), ("A", "Not Started", date(2027, 1, 1), me),
                                        ("B", "Completed", date(2026, 6, 6), other), ("C", "Completed", date(2024, 2, 2), me)]:
        activities.create({"subject": f"{account} {status}", "type": "Call", "status": status, "due_date": due,
                           "account": accounts[account], "owner_id": owner})
    return crm.as_user(me).records("account"), accounts


def test_a_reps_page_shows_the_rollups_over_the_children_they_see(reps):
    records, accounts = reps
    page = {record.values["name"]: {name: record.values[name] for name in ROLLUPS}
            for record in records.query(sort=("name",), limit=10).records}
    assert page == {
        "A": {"open_opportunity_count": 2, "pipeline_amount": Decimal("150.25"), "won_amount": Decimal("70.10"),
              "last_won_date": date(2025, 6, 1), "completed_activity_count": 1, "last_activity_date": date(2025, 5, 5)},
        "B": {"open_opportunity_count": 0, "pipeline_amount": None, "won_amount": Decimal("5"),
              "last_won_date": date(2024, 3, 3), "completed_activity_count": 0, "last_activity_date": None},
        "C": {"open_opportunity_count": 0, "pipeline_amount": None, "won_amount": None,
              "last_won_date": None, "completed_activity_count": 1, "last_activity_date": date(2024, 2, 2)},
    }
    for name, record_id in accounts.items():
        shown = records.get(record_id)
        assert {field: shown[field] for field in ROLLUPS} == page[name], name
    # A search's page (read through the search index first) shows the same values.
    found = records.query(search="A", limit=10).records
    assert [record.values["name"] for record in found] == ["A"]
    assert {name: found[0].values[name] for name in ROLLUPS} == page["A"]


def test_a_reps_pages_filtered_and_sorted_by_a_rollup_agree_with_the_page_values(reps):
    """Filters and sorts read the correlated expression; the page the grouped read: the same numbers."""
    records, _ = reps
    ordered = records.query(sort=("-pipeline_amount",), limit=2)
    rest = records.query(sort=("-pipeline_amount",), limit=2, after=ordered.next_cursor)
    # Empty sorts last descending; B and C tie on it, and id follows the sort's direction (C was created after B).
    assert [record.values["name"] for record in [*ordered.records, *rest.records]] == ["A", "C", "B"]
    assert {record.values["name"] for record in records.query({"open_opportunity_count": 0}).records} == {"B", "C"}
    assert {record.values["name"] for record in records.query({"won_amount": {"gt": 6}}).records} == {"A"}


def test_lists_in_a_grouped_rollup_read_are_bound_value_by_value():
    """An `IN` list is one expanding parameter that SQLAlchemy spells out again at every execution;
    a grouped read binds its fixed lists value by value, so its text is rendered once (query/derived_page.py)."""
    from sqlalchemy import String, column, select, table
    from sqlalchemy.dialects import postgresql, sqlite

    from crmkit.engine.query.derived_page import one_by_one

    deals = table("opportunity", column("stage", String))
    condition = deals.c.stage.not_in(["Closed Won", "Closed Lost"]) | deals.c.stage.in_([])
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        assert select(deals).where(condition).compile(dialect=dialect).post_compile_params  # expanding before
        compiled = select(deals).where(one_by_one(condition)).compile(dialect=dialect)
        assert [parameter.value for parameter in compiled.post_compile_params] == [[]]  # the empty list is kept
        assert sorted(value for value in compiled.params.values() if value) == ["Closed Lost", "Closed Won"]


def test_a_page_that_is_not_one_select_of_the_table_gets_the_same_values_wrapped(reps):
    """A UNION of two reads cannot take joins itself: it is wrapped as a CTE, and shows the same values."""
    from sqlalchemy import select, union_all

    from crmkit.engine.query.derived_page import derived_page

    records, accounts = reps
    table = records.runtime.table("account")
    derived = records.session.policy.derived.page_columns("account")
    assert derived.grouped
    mine = select(table).where(table.c.owner_id == records.session.actor.user_id)
    page = union_all(mine.where(table.c.name < "B"), mine.where(table.c.name >= "B"))
    statement = derived_page(table, page, derived, lambda wrapped: [wrapped.c.name, wrapped.c.id])
    assert "WITH page AS" in str(statement)
    with records.runtime.engine.connect() as connection:
        rows = connection.execute(statement).mappings().all()
    assert [row["name"] for row in rows] == ["A", "B", "C"]
    for row in rows:
        shown = records.get(accounts[row["name"]])
        assert {field: row[field] for field in ROLLUPS} == {field: shown[field] for field in ROLLUPS}, row["name"]


def test_the_page_statements_from_list_is_the_one_sqlalchemy_renders(reps, monkeypatch):
    """derived_page reads a page statement's FROM list from its compile state (no compilation of the whole
    statement): for every page a rep reads (a list, a sorted list, a keyset page, searches on each path) it is
    exactly what `Select.get_final_froms()` gives."""
    from crmkit.engine.query import derived_page as module

    records, _ = reps
    checked = []
    quick = module.final_froms

    def compared(statement):
        froms = quick(statement)
        assert froms == list(statement.get_final_froms())
        checked.append(froms)
        return froms

    monkeypatch.setattr(module, "final_froms", compared)
    first = records.query(sort=("name",), limit=2)
    records.query(sort=("name",), limit=2, after=first.next_cursor)
    records.query(limit=2)
    for text in ("A", "B", "zzz"):
        records.query(search=text, limit=2)
        records.query(search=text, sort=("name",), limit=2)
    assert len(checked) >= 7


@pytest.mark.parametrize("walked", [False, True])
def test_a_reps_search_page_reads_the_search_index_once_for_the_page_and_its_rollups(reps, monkeypatch, walked,
                                                                                     plan_reader):
    """The rollups of a rep's search page read the page's ids, not the search again for each child object
    (opportunity and activity here): SQLite's FTS5 walk is a CTE of the page's ids that the page and the
    grouped reads share; PostgreSQL's walk (walked=True: as for a common word) is the page CTE they share."""
    from crmkit.engine.query import search_pages
    from crmkit.engine.query.search_index import search_table_name

    if walked:
        monkeypatch.setattr(search_pages, "COMMON_SHARE", -1.0)
    records, accounts = reps
    target = search_table_name("account")
    with plan_reader(records.runtime.engine).reads() as seen:
        page = records.query(search="A", limit=10).records
    assert [record.id for record in page] == [accounts["A"]]
    reads = [statement for statement, _ in seen if f"FROM {target}" in statement]
    assert reads, seen
    # Each of the index's tables (FTS5, its content table, SQLite's pending rows) read at most once a statement.
    named = [re.findall(rf"FROM ({target}\w*)", statement) for statement in reads]
    assert all(len(names) == len(set(names)) for names in named), reads


def test_a_reps_search_page_filters_the_matching_ids_once_for_the_page_and_its_rollups(reps, plan_reader):
    """PostgreSQL, few matches (query/search_pages.py): the rep's row filter keeps some of the ids the index gave
    (张伟 at a million accounts: some 30 of 5,000); those are worked out once, as the page's ids (a CTE the page
    and each child object's rollups read), not once for the page and again for each child object."""
    records, accounts = reps
    engine = records.runtime.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite reads the page's ids from FTS5 (the test above)")
    with plan_reader(engine).reads() as seen:
        page = records.query(search="B", limit=10).records
    assert [record.id for record in page] == [accounts["B"]]
    pages = [statement for statement, _ in seen if "rollups_0" in statement]
    assert len(pages) == 1 and pages[0].count("account.id IN (") == 1 and "page_ids" in pages[0], pages
