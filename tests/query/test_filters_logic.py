"""Combining conditions (and, or, not), limits, field checking and safety of values."""
from __future__ import annotations

import random
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from crmkit.engine.query import QueryError, QuerySpec, build_select, compile_filter, page_cursor

ALL = {"a", "b", "c", "d", "e"}


@pytest.fixture
def deals(db):
    db.insert(
        "opportunity",
        {"name": "a", "stage": "Won", "amount": Decimal("10.00"), "tags": ["Hot"]},
        {"name": "b", "stage": "Lost", "amount": Decimal("20.00"), "tags": ["Cold", "大客户"]},
        {"name": "c", "stage": "Won", "amount": None, "tags": ["Hot", "50%_off"]},
        {"name": "d", "stage": None, "amount": Decimal("30.00")},
        {"name": "e", "stage": "Prospecting", "amount": Decimal("20.00"), "tags": ["大客户"]},
    )
    return db


def test_no_filter_matches_everything(deals):
    assert deals.names("opportunity", None) == ALL
    assert deals.names("opportunity", {}) == ALL
    assert deals.names("opportunity", []) == ALL


def test_keys_of_one_dict_and_items_of_a_list_are_anded(deals):
    assert deals.names("opportunity", {"stage": "Won", "amount": {"gt": 5}}) == {"a"}
    assert deals.names("opportunity", [{"stage": "Won"}, {"amount": {"gt": 5}}]) == {"a"}


def test_or(deals):
    assert deals.names("opportunity", {"or": [{"stage": "Lost"}, {"amount": {"gte": 30}}]}) == {"b", "d"}
    assert deals.names("opportunity", {"or": []}) == set()
    assert deals.names("opportunity", {"and": []}) == ALL


def test_nesting(deals):
    condition = {"or": [{"and": [{"stage": "Won"}, {"amount": None}]}, {"not": {"stage": ["Won", "Lost"]}}]}
    assert deals.names("opportunity", condition) == {"c", "d", "e"}


def test_not_matches_exactly_the_records_the_condition_does_not_match_even_with_empty_values(deals):
    # In SQL, NOT (amount > 15) is unknown where amount is empty; in the filter language it is true.
    assert deals.names("opportunity", {"not": {"amount": {"gt": 15}}}) == {"a", "c"}
    assert deals.names("opportunity", {"not": {"not": {"amount": {"gt": 15}}}}) == {"b", "d", "e"}


CONDITIONS = [
    {"stage": "Won"}, {"stage": {"ne": "Won"}}, {"stage": {"in": ["Won", "Lost"]}}, {"stage": {"not_in": ["Lost"]}},
    {"amount": {"gt": 15}}, {"amount": {"between": [10, 20]}}, {"amount": None}, {"name": {"contains": "a"}},
    {"tags": "Hot"}, {"tags": {"is_null": True}}, {"amount": {"lte": 20}},
]


def _random_filter(rng: random.Random, depth: int = 0):
    if depth > 2 or rng.random() < 0.4:
        return rng.choice(CONDITIONS)
    kind = rng.choice(["and", "or", "not"])
    if kind == "not":
        return {"not": _random_filter(rng, depth + 1)}
    return {kind: [_random_filter(rng, depth + 1) for _ in range(rng.randint(1, 3))]}


def test_a_filter_and_its_negation_split_the_records_in_two(deals):
    rng = random.Random(20240315)
    for _ in range(40):
        condition = _random_filter(rng)
        matched = deals.names("opportunity", condition)
        assert matched | deals.names("opportunity", {"not": condition}) == ALL, condition
        assert not matched & deals.names("opportunity", {"not": condition}), condition


def test_multi_picklist_contains_one_value(deals):
    assert deals.names("opportunity", {"tags": {"contains": "Hot"}}) == {"a", "c"}
    assert deals.names("opportunity", {"tags": "大客户"}) == {"b", "e"}


def test_multi_picklist_contains_any_of_several_values(deals):
    assert deals.names("opportunity", {"tags": {"contains": ["Cold", "50%_off"]}}) == {"b", "c"}
    assert deals.names("opportunity", {"tags": ["Cold", "50%_off"]}) == {"b", "c"}


def test_multi_picklist_matches_whole_values_only(deals):
    assert deals.names("opportunity", {"tags": {"contains": "Ho"}}) == set()
    assert deals.names("opportunity", {"tags": {"contains": "50%"}}) == set()
    assert deals.names("opportunity", {"tags": {"contains": "%"}}) == set()


def test_multi_picklist_empty(deals):
    assert deals.names("opportunity", {"tags": None}) == {"d"}
    assert deals.names("opportunity", {"tags": {"is_null": False}}) == {"a", "b", "c", "e"}
    with pytest.raises(QueryError, match="allowed: contains, is_null"):
        deals.names("opportunity", {"tags": {"eq": "Hot"}})


def test_unknown_field_suggests_a_close_name(ctx):
    with pytest.raises(QueryError) as error:
        compile_filter(ctx, "opportunity", {"amout": 5})
    assert error.value.message == "opportunity has no field 'amout'. Did you mean 'amount'?"


def test_unknown_operator_lists_the_operators(ctx):
    with pytest.raises(QueryError) as error:
        compile_filter(ctx, "opportunity", {"amount": {"greater": 5}})
    assert error.value.message == ("'greater' is not an operator (in the condition on amount); operators: between, "
                                   "contains, eq, gt, gte, in, is_null, lt, lte, ne, not_in, startswith.")


@pytest.mark.parametrize("bad, message", [
    ({"or": {"stage": "Won"}}, "'or' takes a list of conditions"),
    ({"amount": {}}, "the condition on amount names no operator"),
    ("stage = 'Won'", "a filter must be a dictionary of conditions"),
    ({"and": [1]}, "a filter must be a dictionary of conditions"),
    ({"is_null": {"amount": True}}, "opportunity has no field 'is_null'"),
])
def test_malformed_filters(ctx, bad, message):
    with pytest.raises(QueryError, match=message):
        compile_filter(ctx, "opportunity", bad)


def test_nesting_depth_is_bounded(deals):
    deep = {"stage": "Won"}
    for _ in range(20):
        deep = {"not": deep}
    assert deals.names("opportunity", deep) == {"a", "c"}
    with pytest.raises(QueryError, match="more than 20 levels deep"):
        deals.names("opportunity", {"not": deep})


def test_number_of_conditions_is_bounded(deals):
    assert deals.names("opportunity", {"or": [{"amount": i} for i in range(500)]}) == {"a", "b", "e", "d"}
    with pytest.raises(QueryError, match="more than 500 conditions"):
        deals.names("opportunity", {"or": [{"amount": i} for i in range(501)]})


def test_unknown_object(ctx):
    with pytest.raises(QueryError, match="there is no object named 'oportunity'. Did you mean 'opportunity'?"):
        compile_filter(ctx, "oportunity", {})


HOSTILE = "x'; DROP TABLE opportunity; --"


def test_values_travel_as_bound_parameters_never_inside_the_sql(db):
    db.insert("opportunity", {"name": HOSTILE}, {"name": "plain"})
    for condition in [HOSTILE, {"contains": HOSTILE}, {"startswith": "x'"}, {"in": [HOSTILE, "y"]}, {"ne": HOSTILE}]:
        clause = compile_filter(db.ctx(), "opportunity", {"name": condition})
        for dialect in (sqlite.dialect(), postgresql.dialect()):
            assert "DROP" not in str(clause.compile(dialect=dialect))
    assert db.names("opportunity", {"name": HOSTILE}) == {HOSTILE}
    assert db.names("opportunity", {"name": {"contains": "'; drop"}}) == {HOSTILE}
    assert db.execute(select(func.count()).select_from(db.table("opportunity")))[0][0] == 2


def test_search_words_and_cursor_values_are_bound_parameters_too(db):
    db.insert("opportunity", {"name": HOSTILE}, {"name": "plain"})
    cursor = page_cursor(db.ctx(), "opportunity", ("name",), {"name": HOSTILE, "id": 1})
    spec = QuerySpec(search="'; DROP", sort=("name",), after=cursor)
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        assert "DROP" not in str(build_select(db.ctx(), "opportunity", spec).compile(dialect=dialect))
    assert [row["name"] for row in db.page("opportunity", QuerySpec(search="'; DROP"))] == [HOSTILE]
    assert [row["name"] for row in db.page("opportunity", QuerySpec(sort=("name",), after=cursor))] == []


def test_hostile_field_names_are_refused_not_quoted(ctx):
    with pytest.raises(QueryError, match="has no field"):
        compile_filter(ctx, "opportunity", {"name; DROP TABLE opportunity": "x"})
