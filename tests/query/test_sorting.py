"""Sorting (empty values first ascending, last descending; id breaks ties) and pagination."""
from __future__ import annotations

import base64
import json
import random
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from crmkit.engine.query import QueryError, QuerySpec, build_select, page_cursor, sort_keys


@pytest.fixture
def deals(db):
    db.insert(
        "opportunity",
        {"name": "b", "amount": Decimal("20.00")},
        {"name": "a", "amount": None},
        {"name": "c", "amount": Decimal("10.00")},
        {"name": "d", "amount": Decimal("20.00")},
        {"name": "e", "amount": None},
    )
    return db


def names(rows):
    return [row["name"] for row in rows]


def test_ascending_puts_empty_values_first_and_breaks_ties_by_id(deals):
    assert names(deals.page("opportunity", QuerySpec(sort=("amount",)))) == ["a", "e", "c", "b", "d"]


def test_descending_puts_empty_values_last_and_breaks_ties_by_descending_id(deals):
    assert names(deals.page("opportunity", QuerySpec(sort=("-amount",)))) == ["d", "b", "c", "e", "a"]


def test_several_fields(deals):
    assert names(deals.page("opportunity", QuerySpec(sort=("-amount", "name")))) == ["b", "d", "c", "a", "e"]


def test_without_a_sort_records_come_in_id_order(deals):
    assert names(deals.page("opportunity", QuerySpec())) == ["b", "a", "c", "d", "e"]


def test_without_a_sort_the_objects_default_sort_applies(db):
    db.insert("note", {"subject": "x"}, {"subject": "z"}, {"subject": "y"})
    assert [row["subject"] for row in db.page("note", QuerySpec())] == ["z", "y", "x"]


def test_id_is_the_last_key_in_the_first_keys_direction(db):
    ctx = db.ctx()
    assert [key.text for key in sort_keys(ctx, "opportunity", ("-amount", "name"))] == ["-amount", "name", "-id"]
    assert [key.text for key in sort_keys(ctx, "opportunity", ("name", "-amount"))] == ["name", "-amount", "id"]
    assert [key.text for key in sort_keys(ctx, "opportunity", ())] == ["id"]
    assert [key.text for key in sort_keys(ctx, "opportunity", ("-id", "name"))] == ["-id"]


def test_system_fields_sort(db):
    old, new = (datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2024, 2, 1, tzinfo=timezone.utc))
    db.insert("opportunity", {"name": "old", "created_at": old, "updated_at": old},
              {"name": "new", "created_at": new, "updated_at": new})
    assert names(db.page("opportunity", QuerySpec(sort=("-created_at",)))) == ["new", "old"]


@pytest.mark.parametrize("sort, message", [
    (("amout",), "opportunity has no field 'amout'. Did you mean 'amount'?"),
    (("tags",), "opportunity cannot be sorted by tags (multi_picklist); sort by another field."),
    (("-description",), "opportunity cannot be sorted by description (textarea); sort by another field."),
    (("account.name",), "lists sort by their own fields, not by 'account.name' of a linked record."),
    (("name", "-name"), "the sort order names name twice."),
    (("",), "'' is not a sort field"),
    (("name", "stage", "amount", "quantity", "close_date", "closed_at"), "a list can be sorted by at most 5 fields"),
])
def test_bad_sorts(ctx, sort, message):
    with pytest.raises(QueryError) as error:
        build_select(ctx, "opportunity", QuerySpec(sort=sort))
    assert error.value.message.startswith(message)


def test_a_page_has_one_extra_row_to_tell_that_more_follow(deals):
    rows = deals.page("opportunity", QuerySpec(sort=("name",), limit=2))
    assert names(rows) == ["a", "b", "c"]
    assert names(deals.page("opportunity", QuerySpec(sort=("name",), limit=5))) == ["a", "b", "c", "d", "e"]


def test_offset_pages(deals):
    assert names(deals.page("opportunity", QuerySpec(sort=("name",), limit=2, offset=2))) == ["c", "d", "e"]
    assert names(deals.page("opportunity", QuerySpec(sort=("name",), limit=2, offset=4))) == ["e"]


@pytest.mark.parametrize("spec, message", [
    (QuerySpec(limit=0), "the page size (limit) must be a whole number from 1 to 1,000, not 0."),
    (QuerySpec(limit=1001), "the page size (limit) must be a whole number from 1 to 1,000, not 1001."),
    (QuerySpec(limit=True), "the page size (limit) must be a whole number from 1 to 1,000, not True."),
    (QuerySpec(offset=-1), "the offset must be a whole number from 0 to 9,223,372,036,854,775,807, not -1."),
    (QuerySpec(offset=2, after="x"), "give either a cursor (after) or an offset, not both."),
])
def test_bad_pages(ctx, spec, message):
    with pytest.raises(QueryError) as error:
        build_select(ctx, "opportunity", spec)
    assert error.value.message == message


def test_chosen_columns_always_include_id_and_the_sort_fields(deals):
    rows = deals.page("opportunity", QuerySpec(sort=("-amount",), limit=1), columns=["name"])
    assert list(rows[0]) == ["name", "id", "amount"]
    with pytest.raises(QueryError, match="opportunity has no field 'nam'. Did you mean 'name'?"):
        deals.page("opportunity", QuerySpec(), columns=["nam"])


def test_empty_values_sort_the_same_on_both_databases_with_explicit_nulls_only_on_postgresql(db):
    stmt = build_select(db.ctx(), "opportunity", QuerySpec(sort=("-amount", "name")))
    assert "NULLS LAST" in str(stmt.compile(dialect=postgresql.dialect()))
    assert "NULLS FIRST" in str(stmt.compile(dialect=postgresql.dialect()))
    assert "NULLS" not in str(stmt.compile(dialect=sqlite.dialect()))


# ---- keyset pagination ---------------------------------------------------------------------

def _random_deals(seed: int, count: int) -> list[dict]:
    """Records full of ties and empty values, the hard cases for keyset pagination."""
    rng = random.Random(seed)
    start = datetime(2024, 3, 1, tzinfo=timezone.utc)

    def maybe(*values):
        return rng.choice((None,) + values)

    return [{
        "name": rng.choice(["alpha", "beta", "gamma", "delta"]),
        "stage": maybe("Won", "Lost", "Prospecting"),
        "amount": maybe(Decimal("10.00"), Decimal("20.50"), Decimal("-5.25")),
        "quantity": maybe(1, 2),
        "is_won": maybe(True, False),
        "close_date": maybe(date(2024, 1, 31), date(2024, 2, 29)),
        "closed_at": maybe(start, start + timedelta(hours=5, microseconds=123456)),
    } for _ in range(count)]


SORTS = [
    ("stage",), ("-amount", "name"), ("is_won", "-close_date", "amount"), ("-closed_at",), ("name", "-stage"),
    (), ("-id",), ("-quantity", "-is_won", "stage", "-amount"), ("close_date", "-closed_at"),
]


def _expected_order(rows: list[dict], sort: tuple[str, ...]) -> list[int]:
    """The order worked out in Python: empty values are the smallest; id breaks ties."""
    keys = [(item.lstrip("-"), item.startswith("-")) for item in sort]
    if not keys or keys[-1][0] != "id":
        keys.append(("id", keys[0][1] if keys else False))
    ordered = list(rows)
    for name, descending in reversed(keys):
        ordered.sort(key=lambda row: (row[name] is not None, row[name] if row[name] is not None else 0),
                     reverse=descending)
    return [row["id"] for row in ordered]


def _walk(db, sort: tuple[str, ...], limit: int, read: str = "page") -> list[int]:
    seen, after = [], None
    for _ in range(100):
        rows = getattr(db, read)("opportunity", QuerySpec(sort=sort, limit=limit, after=after))
        seen += [row["id"] for row in rows[:limit]]
        if len(rows) <= limit:
            return seen
        after = page_cursor(db.ctx(), "opportunity", sort, rows[limit - 1])
    raise AssertionError("the walk did not end")


def test_walking_pages_with_cursors_gives_exactly_the_full_sorted_list(db):
    # One row per page puts a page boundary between every two neighbours (ties and empty
    # values included); 6 leaves a short last page and 20 (all) ends on a full one. The
    # record service's read (fetch_rows) walks the same pages, with one page size.
    data = _random_deals(seed=7, count=20)
    ids = db.insert("opportunity", *data)
    rows = [dict(row, id=record_id) for row, record_id in zip(data, ids)]
    for sort in SORTS:
        expected = _expected_order(rows, sort)
        assert [row["id"] for row in db.page("opportunity", QuerySpec(sort=sort, limit=1000))] == expected, sort
        for limit in (1, 6, 20):
            assert _walk(db, sort, limit) == expected, (sort, limit)
        assert _walk(db, sort, 6, read="fetched") == expected, sort


def test_cursors_page_through_filtered_and_searched_lists(db):
    data = _random_deals(seed=11, count=40)
    db.insert("opportunity", *data)
    spec = QuerySpec(filter={"stage": {"ne": "Won"}}, search="a", sort=("-amount", "name"), limit=1000)
    full = [row["id"] for row in db.page("opportunity", spec)]
    walked, after = [], None
    while True:
        rows = db.page("opportunity", QuerySpec(filter=spec.filter, search="a", sort=spec.sort, limit=4, after=after))
        walked += [row["id"] for row in rows[:4]]
        if len(rows) <= 4:
            break
        after = page_cursor(db.ctx(), "opportunity", spec.sort, rows[3])
    assert walked == full and full


def _cursor(payload) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("cursor", [
    "not a cursor!", "%%%", "eyJz", _cursor([1, 2]), _cursor({"s": ["-amount", "-id"]}),
    _cursor({"s": ["-amount", "-id"], "v": ["10.00"]}), _cursor({"s": ["-amount", "-id"], "v": ["ten", 1]}),
    _cursor({"s": ["-amount", "-id"], "v": ["10.00", "1"]}), _cursor({"s": ["-amount", "-id"], "v": ["10.00", None]}),
    _cursor({"s": ["-amount", "-id"], "v": ["NaN", 1]}), _cursor({"s": ["-amount", "-id"], "v": [True, 1]}),
    base64.urlsafe_b64encode(b"\xff\xfe").decode(), "A" * 5000,
])
def test_a_damaged_cursor_is_a_query_error(ctx, cursor):
    with pytest.raises(QueryError, match="cursor"):
        build_select(ctx, "opportunity", QuerySpec(sort=("-amount",), after=cursor))


@pytest.mark.parametrize("sort, values", [
    (("close_date",), ["2024-02-30", 1]), (("closed_at",), ["2024-03-01T10:00:00", 1]),
    (("is_won",), [1, 1]), (("name",), [5, 1]),
])
def test_cursor_values_must_have_the_sort_fields_type(ctx, sort, values):
    cursor = _cursor({"s": [*sort, "id"], "v": values})
    with pytest.raises(QueryError, match="damaged or out of date"):
        build_select(ctx, "opportunity", QuerySpec(sort=sort, after=cursor))


def test_a_cursor_made_for_another_sort_is_refused(deals):
    rows = deals.page("opportunity", QuerySpec(sort=("-amount",), limit=2))
    cursor = page_cursor(deals.ctx(), "opportunity", ("-amount",), rows[1])
    with pytest.raises(QueryError) as error:
        deals.page("opportunity", QuerySpec(sort=("amount",), after=cursor))
    assert error.value.message == ("this page link (cursor) was made for another sort order (-amount,-id), "
                                   "not amount,id; start again from the first page.")


def test_a_cursor_needs_the_rows_sort_values(ctx):
    with pytest.raises(QueryError, match="the row has no 'amount', which the sort order needs"):
        page_cursor(ctx, "opportunity", ("-amount",), {"id": 1, "name": "x"})


def test_a_cursor_is_url_safe_text(deals):
    row = {"id": 3, "amount": Decimal("20.00"), "name": "上海 & co/?"}
    cursor = page_cursor(deals.ctx(), "opportunity", ("name", "-amount"), row)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
