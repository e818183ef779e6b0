"""`RecordService.query(fields=...)`: a page reading only the columns it shows (the web UI's list and related lists)
holds the same values for them as a page of every field, with the same rights: the user's derived values, hidden
fields refused on every page (statements are remembered across users), filtered pages and cursors alike.

The permission matrix's company with its derived fields (test_derived_values.py); SQLite and PostgreSQL.
"""
from __future__ import annotations

import pytest

from crmkit.engine.query import QueryError

from tests.security import test_derived_values as derived

world, install, matrix_package = derived.world, derived.install, derived.matrix_package
session = derived.session


def shown(page, names) -> list[dict]:
    return [{name: record[name] for name in names} for record in page.records]


@pytest.mark.parametrize("user", ["east1", "east2", "ceo", "director"])
def test_the_chosen_fields_hold_what_a_page_of_every_field_holds(world, user):
    accounts = session(world, user).records("account")
    chosen = ("name", "deal_count", "pipeline", "owner_id")
    full = accounts.query(sort=["name"])
    few = accounts.query(sort=["name"], fields=chosen)
    assert [record.id for record in few.records] == [record.id for record in full.records]
    assert shown(few, ("id", "version", *chosen)) == shown(full, ("id", "version", *chosen))
    assert all(set(record.values) == {"id", "version", *chosen} for record in few.records)


def test_a_derived_value_read_or_left_out_with_its_field(world):
    """east1 sees A1's deal_count as 1 (of 2 stored) when it is chosen, and no deal_count when it is not."""
    accounts = session(world, "east1").records("account")
    a1 = world["accounts"]["A1"].id
    with_count = {record.id: record for record in accounts.query(fields=("name", "deal_count")).records}
    assert with_count[a1]["deal_count"] == accounts.get(a1)["deal_count"] == 1
    without = {record.id: record for record in accounts.query(fields=("name",)).records}
    assert "deal_count" not in without[a1] and without[a1]["name"] == "A1"


def test_a_hidden_field_is_refused_even_after_a_user_who_may_read_it_read_the_same_columns(world):
    """Statements are remembered by their columns, not by who read them: the check is made on every page."""
    director = session(world, "director").records("account")
    assert director.query(sort=["name"], fields=("name", "credit_limit")).records
    assert director.query({"tier": "gold"}, sort=["name"], fields=("name", "credit_limit")) is not None
    for user in ("east1", "ceo"):
        accounts = session(world, user).records("account")
        with pytest.raises(QueryError, match="credit_limit"):
            accounts.query(sort=["name"], fields=("name", "credit_limit"))
        with pytest.raises(QueryError, match="credit_limit"):
            accounts.query({"tier": "gold"}, sort=["name"], fields=("name", "credit_limit"))


def test_a_field_the_table_does_not_store_is_refused(world):
    with pytest.raises(QueryError, match="no_such_field"):
        session(world, "director").records("account").query(fields=("name", "no_such_field"))


def test_a_related_list_page_with_its_columns_keeps_the_row_filter(world):
    """A filtered first page (a related list's: deals of A1) with chosen columns shows the user's deals only."""
    a1 = world["accounts"]["A1"].id
    for user, expected in (("east1", {"D1"}), ("ceo", {"D1", "D2"})):
        deals = session(world, user).records("deal")
        page = deals.query({"account": a1}, sort=["name"], fields=("name", "amount"))
        assert {record["name"] for record in page.records} == expected
        assert {record["name"] for record in deals.query({"account": a1}, sort=["name"]).records} == expected


def test_pages_of_chosen_fields_follow_their_cursors(world):
    accounts = session(world, "ceo").records("account")
    every = [record.id for record in accounts.query(sort=["-name"]).records]
    seen, after = [], None
    while True:
        page = accounts.query(sort=["-name"], limit=2, after=after, fields=("name",))
        seen += [record.id for record in page.records]
        if not page.has_more:
            break
        after = page.next_cursor
    assert seen == every and len(every) > 2
