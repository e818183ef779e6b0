"""Attack on pages of chosen fields (`RecordService.query(fields=...)`, query/sorting.py `_columns`,
security/derived.py `only_fields`): whatever a page of a few columns holds, a page of every field
holds the same for that user, with the same records in the same order, through sorts, filters,
searches and cursors; a hidden field is refused in `fields` whatever was read before and by whom.

The permission matrix's company with its derived fields (test_derived_values.py): east1 sees A1 and
its deal D1 only (A1's deal_count 1 of 2 stored); east2 sees D2 but not its account A1 (the formulas
copying A1 are empty for east2); the ceo sees everything; the director reads credit_limit.
SQLite and PostgreSQL.
"""
from __future__ import annotations

import pytest

from crmkit.engine.query import QueryError

from tests.security import test_derived_values as derived

world, install, matrix_package = derived.world, derived.install, derived.matrix_package
session = derived.session

USERS = ("east1", "east2", "west1", "ceo", "director", "support")


def walk(records, **arguments) -> list:
    """Every record of a query, page after page by cursor (pages of 2)."""
    seen, after = [], None
    for _ in range(50):
        page = records.query(limit=2, after=after, **arguments)
        seen += page.records
        if not page.has_more:
            return seen
        after = page.next_cursor
    raise AssertionError("the cursors never ended")


def assert_same(few: list, full: list, chosen: tuple[str, ...]) -> None:
    """`few` (pages of `chosen`) holds the records of `full` (pages of every field), in order, and every value it
    holds (the chosen fields and the sort's) is the full record's value; no key the full record lacks."""
    assert [record.id for record in few] == [record.id for record in full]
    for small, big in zip(few, full):
        assert set(chosen) <= set(small.values) | ({"formula_errors"} & set(chosen))
        for name, value in small.values.items():
            assert name in big.values, (small.id, name, "held by the page of chosen fields only")
            assert value == big.values[name], (small.id, name, value, big.values[name])


ACCOUNT_SHAPES = [
    dict(),
    dict(sort=["name"]),
    dict(sort=["-deal_count"]),
    dict(sort=["deal_count", "-name"]),
    dict(sort=["-pipeline"]),
    dict(sort=["tier", "name"]),
    dict(filter={"tier": "Silver"}, sort=["-name"]),
    dict(filter={"deal_count": {"gte": 1}}),
    dict(search="A1"),
    dict(search="A1", sort=["-pipeline"]),
]


@pytest.mark.parametrize("user", USERS)
def test_account_pages_of_chosen_fields_hold_what_full_pages_hold(world, user):
    accounts = session(world, user).records("account")
    for chosen in (("name",), ("tier",), ("name", "deal_count"), ("pipeline", "owner_id")):
        for shape in ACCOUNT_SHAPES:
            arguments = {key: value for key, value in shape.items() if key != "filter"}
            few = walk(accounts, filter=shape.get("filter"), fields=chosen, **arguments)
            full = walk(accounts, filter=shape.get("filter"), **arguments)
            assert_same(few, full, chosen)


DEAL_SHAPES = [
    dict(),
    dict(sort=["account_name"]),
    dict(sort=["-account_label", "name"]),
    dict(sort=["-margin"]),
    dict(filter={"account_name": "A1"}),
    dict(filter={"account": None}),
    dict(search="D2"),
    dict(search="A1"),
]


@pytest.mark.parametrize("user", [user for user in USERS if user != "support"])
def test_deal_pages_of_chosen_fields_hold_what_full_pages_hold(world, user):
    """Formulas over a linked account the user may not see (account_name for east2 on D2) are what get shows,
    chosen or only sorted by."""
    deals = session(world, user).records("deal")
    for chosen, shape in [(chosen, shape) for chosen in (("name",), ("name", "account_name"),
                                                         ("account_label", "account_name_declared"), ("amount", "account"))
                          for shape in DEAL_SHAPES]:
        arguments = {key: value for key, value in shape.items() if key != "filter"}
        try:
            full = walk(deals, filter=shape.get("filter"), **arguments)
        except QueryError:
            with pytest.raises(QueryError):
                walk(deals, filter=shape.get("filter"), fields=chosen, **arguments)
            continue
        few = walk(deals, filter=shape.get("filter"), fields=chosen, **arguments)
        assert_same(few, full, chosen)


def test_east2_sorting_by_a_masked_formula_gets_no_value_of_an_account_it_may_not_see(world):
    """D2's account_name is A1's name, which east2 may not read: a page of only `name` sorted by account_name
    holds the masked value (nothing), as get does."""
    deals = session(world, "east2").records("deal")
    d2 = world["deals"]["D2"].id
    assert deals.get(d2).get("account_name") is None
    for sort in (["account_name"], ["-account_name"], ["account_label"]):
        for record in deals.query(sort=sort, fields=("name",)).records:
            if record.id == d2:
                assert record.get("account_name") in (None,) and "A1" not in str(record.values)


@pytest.mark.parametrize("hidden", [("credit_limit",), ("name", "account_code"), ("credit_band",), ("total_cost",),
                                    ("busy",)])
def test_a_hidden_field_is_refused_in_fields_after_the_director_read_it_on_every_path(world, hidden):
    director = session(world, "director").records("account")
    readable = set(director.get(world["accounts"]["A1"].id).values)
    for shape in ACCOUNT_SHAPES:
        arguments = {key: value for key, value in shape.items() if key != "filter"}
        if set(hidden) <= readable:
            walk(director, filter=shape.get("filter"), fields=hidden, **arguments)
    for user in ("east1", "east2", "support"):
        accounts = session(world, user).records("account")
        shown = set(accounts.get(world["accounts"]["A1"].id).values) if user != "east2" else set()
        if set(hidden) <= shown:
            continue
        for shape in ACCOUNT_SHAPES:
            arguments = {key: value for key, value in shape.items() if key != "filter"}
            with pytest.raises(QueryError):
                accounts.query(filter=shape.get("filter"), fields=hidden, **arguments)
        first = accounts.query(sort=["name"], limit=1, fields=("name",))
        if first.next_cursor:
            with pytest.raises(QueryError):
                accounts.query(sort=["name"], limit=1, after=first.next_cursor, fields=hidden)


@pytest.mark.parametrize("fields", [("id",), ("version",), (), ("name", "name"), ("owner_id", "id", "version")])
def test_degenerate_field_lists_hold_ids_and_what_they_name_only(world, fields):
    accounts = session(world, "east1").records("account")
    few = walk(accounts, sort=["-deal_count"], fields=fields)
    full = walk(accounts, sort=["-deal_count"])
    assert_same(few, full, tuple(fields))
    for record in few:
        assert set(record.values) <= {"id", "version", "deal_count", *fields}


@pytest.mark.parametrize("bad", [("name; DROP TABLE account",), ("account.name",), ("ID",),
                                 ("deal_count.x",), ("",)])
def test_odd_field_names_are_refused_as_unknown_fields(world, bad):
    accounts = session(world, "east1").records("account")
    with pytest.raises(QueryError):
        accounts.query(fields=bad)


def test_a_cursor_made_on_a_page_of_every_field_by_the_ceo_gives_east1_only_its_own_records(world):
    ceo = session(world, "ceo").records("account")
    east1 = session(world, "east1").records("account")
    first = ceo.query(sort=["name"], limit=1)
    page = east1.query(sort=["name"], after=first.next_cursor, fields=("name", "deal_count"))
    assert {record["name"] for record in page.records} <= {"A1"}
    for record in page.records:
        assert record["deal_count"] == east1.get(record.id)["deal_count"]


def test_a_hidden_column_named_by_its_position_is_not_shown(world):
    """east1 may not read credit_limit: naming its column by position (an int where a name belongs, as a script or
    plugin passing decoded JSON might) shows no value of it (the hidden keys are taken out of every record)."""
    accounts = session(world, "east1").records("account")
    position = list(accounts.table.c.keys()).index("credit_limit")
    try:
        page = accounts.query(fields=(position,))
    except QueryError:
        return
    assert page.records and all("credit_limit" not in record.values for record in page.records)


def test_a_rollup_named_by_its_position_holds_the_users_value_not_the_stored_one(world):
    accounts = session(world, "east1").records("account")
    a1 = world["accounts"]["A1"].id
    assert accounts.get(a1)["deal_count"] == 1
    for name in ("deal_count", "pipeline"):
        position = list(accounts.table.c.keys()).index(name)
        try:
            page = accounts.query(fields=(position,))
        except QueryError:
            continue
        shown = {record.id: record.values.get(name) for record in page.records}
        assert shown[a1] == accounts.get(a1)[name], (name, shown[a1])


@pytest.mark.parametrize("bad", [(None,), (1.5,), (b"name",)])
def test_a_field_name_that_is_not_text_is_a_query_error(world, bad):
    with pytest.raises(QueryError):
        session(world, "east1").records("account").query(fields=bad)


def test_a_masked_formula_named_by_its_position_shows_nothing_of_the_unseen_account(world):
    deals = session(world, "east2").records("deal")
    d2 = world["deals"]["D2"].id
    assert deals.get(d2).get("account_name") is None
    position = list(deals.table.c.keys()).index("account_name")
    try:
        page = deals.query(fields=(position,))
    except QueryError:
        return
    assert all(record.values.get("account_name") is None for record in page.records if record.id == d2), \
        [record.values for record in page.records]
