"""Numbers, yes/no, references, formulas and rollups: ordered operators and value coercion."""
from __future__ import annotations

from decimal import Decimal

import pytest

from crmkit.engine.query import QueryError, compile_filter


@pytest.fixture
def deals(db):
    db.insert(
        "opportunity",
        {"name": "small", "amount": Decimal("100.00"), "quantity": 1, "probability": Decimal("10.00"),
         "weighted": Decimal("10.00"), "is_won": False},
        {"name": "medium", "amount": Decimal("1000.50"), "quantity": 5, "probability": Decimal("50.00"),
         "weighted": Decimal("500.25"), "is_won": True},
        {"name": "large", "amount": Decimal("5000.00"), "quantity": 20, "probability": Decimal("90.00"),
         "weighted": Decimal("4500.00"), "is_won": True},
        {"name": "empty"},
    )
    return db


@pytest.mark.parametrize("condition, expected", [
    ({"eq": 1000.5}, {"medium"}),
    ({"ne": "1000.50"}, {"small", "large", "empty"}),
    ({"lt": 1000.5}, {"small"}),
    ({"lte": "1000.5"}, {"small", "medium"}),
    ({"gt": "1,000.50"}, {"large"}),
    ({"gte": 1000}, {"medium", "large"}),
    ({"gte": 100, "lt": 5000}, {"small", "medium"}),
    ({"between": [100, "1000.50"]}, {"small", "medium"}),
    ({"between": [5000, 100]}, set()),
    ({"in": ["100", 5000]}, {"small", "large"}),
    ({"not_in": ["100", 5000]}, {"medium", "empty"}),
    ({"is_null": True}, {"empty"}),
    ({"is_null": False}, {"small", "medium", "large"}),
])
def test_currency_operators(deals, condition, expected):
    assert deals.names("opportunity", {"amount": condition}) == expected


@pytest.mark.parametrize("condition, expected", [
    ({"eq": "5"}, {"medium"}),
    ({"gt": 1}, {"medium", "large"}),
    ({"lte": 5.0}, {"small", "medium"}),
    ({"between": ["1", "5"]}, {"small", "medium"}),
    ({"ne": 5}, {"small", "large", "empty"}),
])
def test_integer_operators(deals, condition, expected):
    assert deals.names("opportunity", {"quantity": condition}) == expected


def test_values_are_compared_as_written_not_rounded_to_the_fields_scale(deals):
    # amount has 2 decimals: 1000.495 must not become 1000.50.
    assert deals.names("opportunity", {"amount": {"gt": "1000.495"}}) == {"medium", "large"}
    assert deals.names("opportunity", {"amount": {"gt": "1000.505"}}) == {"large"}


def test_a_fields_min_and_max_do_not_limit_filter_values(deals):
    # amount has min 0 for saving; a filter may still ask for "more than -1".
    assert deals.names("opportunity", {"amount": {"gt": -1}}) == {"small", "medium", "large"}


@pytest.mark.parametrize("field, value, reason", [
    ("amount", "abc", "Not a valid number."),
    ("quantity", "2.5", "Not a valid whole number."),
    ("quantity", True, "Not a valid whole number."),
    ("is_won", "maybe", "Not a valid boolean."),
    ("close_date", "2024-02-30", "Not a valid date."),
    ("closed_at", "yesterday at noon", "Not a valid datetime."),
    ("account", "acme", "Not a valid whole number."),
])
def test_a_bad_value_names_the_field_and_the_reason(ctx, field, value, reason):
    with pytest.raises(QueryError) as error:
        compile_filter(ctx, "opportunity", {field: {"eq": value}})
    assert error.value.message == f"'{value}' is not a valid value for {field}: {reason}"


def test_query_error_is_a_crmkit_error_with_status_400(ctx):
    from crmkit.errors import CrmkitError

    with pytest.raises(CrmkitError, match="'abc' is not a valid value for amount: Not a valid number.") as caught:
        compile_filter(ctx, "opportunity", {"amount": "abc"})
    assert (caught.value.status, caught.value.title) == (400, "Invalid query")


def test_ordered_operators_need_a_value(ctx):
    with pytest.raises(QueryError, match="'gt' on amount needs a value"):
        compile_filter(ctx, "opportunity", {"amount": {"gt": None}})


@pytest.mark.parametrize("bad", [[1], [1, 2, 3], "1,2", None])
def test_between_takes_two_values(ctx, bad):
    with pytest.raises(QueryError, match=r"'between' on amount takes two values \[low, high\]"):
        compile_filter(ctx, "opportunity", {"amount": {"between": bad}})


def test_boolean(deals):
    assert deals.names("opportunity", {"is_won": True}) == {"medium", "large"}
    assert deals.names("opportunity", {"is_won": "no"}) == {"small"}
    assert deals.names("opportunity", {"is_won": {"ne": True}}) == {"small", "empty"}
    assert deals.names("opportunity", {"is_won": {"is_null": True}}) == {"empty"}
    with pytest.raises(QueryError, match="allowed: eq, is_null, ne"):
        deals.names("opportunity", {"is_won": {"gt": False}})


def test_formula_values_are_coerced_as_the_type_they_return(deals):
    assert deals.names("opportunity", {"weighted": {"gte": "500.25"}}) == {"medium", "large"}
    with pytest.raises(QueryError, match="'lots' is not a valid value for weighted: Not a valid number."):
        deals.names("opportunity", {"weighted": {"gt": "lots"}})


def test_rollups_filter_like_the_field_they_aggregate(db):
    db.insert("account", {"name": "A", "opportunity_total": Decimal("1500.00"), "opportunity_count": 3},
              {"name": "B", "opportunity_total": Decimal("0.00"), "opportunity_count": 0})
    assert db.names("account", {"opportunity_total": {"gt": "1000.5"}}) == {"A"}
    assert db.names("account", {"opportunity_count": {"between": [1, 10]}}) == {"A"}
    with pytest.raises(QueryError, match="for opportunity_count: Not a valid whole number"):
        db.names("account", {"opportunity_count": {"gt": "1.5"}})


def test_references_compare_record_ids(db):
    first, second = db.insert("account", {"name": "A"}, {"name": "B"})
    db.insert("opportunity", {"name": "x", "account": first}, {"name": "y", "account": second}, {"name": "z"})
    assert db.names("opportunity", {"account": first}) == {"x"}
    assert db.names("opportunity", {"account": {"in": [str(first), second]}}) == {"x", "y"}
    assert db.names("opportunity", {"account": {"ne": first}}) == {"y", "z"}
    with pytest.raises(QueryError, match="allowed: eq, in, is_null, ne, not_in"):
        db.names("opportunity", {"account": {"gt": 1}})


def test_system_fields_can_be_filtered(deals):
    ids = {row.id for row in deals.execute(deals.table("opportunity").select())}
    assert deals.names("opportunity", {"id": {"gte": min(ids) + 2}}) == {"large", "empty"}
    assert deals.names("opportunity", {"version": 1}) == {"small", "medium", "large", "empty"}
    assert deals.names("opportunity", {"owner_id": {"is_null": True}}) == {"small", "medium", "large", "empty"}
    assert deals.names("opportunity", {"created_at": {"lt": "2024-01-02"}}) == {"small", "medium", "large", "empty"}


def test_each_long_in_list_selects_by_its_own_values_one_query_after_another(deals):
    """A list longer than INLINE_VALUES travels as one parameter; the statement cache must not
    hand the second query the first query's values (it did: both read the first list's rows)."""
    everything = deals.names("opportunity", {"quantity": {"in": list(range(1000))}})
    assert deals.names("opportunity", {"quantity": {"in": list(range(5000, 6000))}}) == set()
    assert deals.names("opportunity", {"quantity": {"not_in": list(range(5000, 6000))}}) >= everything
    assert deals.names("opportunity", {"quantity": {"in": list(range(1000))}}) == everything


def test_in_is_limited_to_a_thousand_values(deals):
    assert deals.names("opportunity", {"quantity": {"in": list(range(1000))}}) == {"small", "medium", "large"}
    with pytest.raises(QueryError, match="'in' on quantity got 1,001 values; at most 1,000 are allowed."):
        deals.names("opportunity", {"quantity": {"in": list(range(1001))}})
