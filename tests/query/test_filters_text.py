"""Text fields (text, textarea, picklist, email...): equality, lists, contains, startswith."""
from __future__ import annotations

import pytest

from crmkit.engine.query import QueryError, compile_filter


@pytest.fixture
def deals(db):
    db.insert(
        "opportunity",
        {"name": "Acme renewal", "stage": "Won", "email": "sales@acme.com"},
        {"name": "Globex pilot", "stage": "Lost", "email": "buy@globex.com"},
        {"name": "acme expansion", "stage": "Prospecting"},
        {"name": "上海科技 续约", "stage": None},
        {"name": "100% off_sale", "stage": "Won"},
        {"name": "1000 off sale"},
        {"name": r"back\slash and /slash/"},
    )
    return db


def test_a_plain_value_means_equal(deals):
    assert deals.names("opportunity", {"stage": "Won"}) == {"Acme renewal", "100% off_sale"}
    assert deals.names("opportunity", {"stage": {"eq": "Lost"}}) == {"Globex pilot"}


def test_equality_is_exact_and_case_sensitive(deals):
    assert deals.names("opportunity", {"name": "acme renewal"}) == set()
    assert deals.names("opportunity", {"name": "Acme renewal"}) == {"Acme renewal"}


def test_surrounding_spaces_are_ignored_like_when_saving(deals):
    assert deals.names("opportunity", {"stage": "  Lost "}) == {"Globex pilot"}


def test_ne_also_matches_records_where_the_field_is_empty(deals):
    assert deals.names("opportunity", {"stage": {"ne": "Won"}}) == {
        "Globex pilot", "acme expansion", "上海科技 续约", "1000 off sale", r"back\slash and /slash/"}


def test_equal_to_none_or_blank_means_empty(deals):
    empty = {"上海科技 续约", "1000 off sale", r"back\slash and /slash/"}
    assert deals.names("opportunity", {"stage": None}) == empty
    assert deals.names("opportunity", {"stage": {"eq": None}}) == empty
    assert deals.names("opportunity", {"stage": {"eq": ""}}) == empty
    assert deals.names("opportunity", {"stage": {"ne": None}}) == {
        "Acme renewal", "Globex pilot", "acme expansion", "100% off_sale"}


def test_a_list_means_in(deals):
    assert deals.names("opportunity", {"stage": ["Won", "Lost"]}) == {"Acme renewal", "Globex pilot", "100% off_sale"}
    assert deals.names("opportunity", {"stage": {"in": ["Lost", None]}}) == {
        "Globex pilot", "上海科技 续约", "1000 off sale", r"back\slash and /slash/"}
    assert deals.names("opportunity", {"stage": {"in": []}}) == set()


def test_not_in_matches_empty_values_unless_none_is_listed(deals):
    assert deals.names("opportunity", {"stage": {"not_in": ["Won", "Lost"]}}) == {
        "acme expansion", "上海科技 续约", "1000 off sale", r"back\slash and /slash/"}
    assert deals.names("opportunity", {"stage": {"not_in": ["Won", None]}}) == {"Globex pilot", "acme expansion"}
    assert len(deals.names("opportunity", {"stage": {"not_in": []}})) == 7


def test_is_null(deals):
    assert deals.names("opportunity", {"email": {"is_null": True}}) == {
        "acme expansion", "上海科技 续约", "100% off_sale", "1000 off sale", r"back\slash and /slash/"}
    assert deals.names("opportunity", {"email": {"is_null": "false"}}) == {"Acme renewal", "Globex pilot"}


def test_contains_ignores_case(deals):
    assert deals.names("opportunity", {"name": {"contains": "ACME"}}) == {"Acme renewal", "acme expansion"}
    assert deals.names("opportunity", {"email": {"contains": "@Globex"}}) == {"Globex pilot"}


def test_startswith_ignores_case(deals):
    assert deals.names("opportunity", {"name": {"startswith": "acme"}}) == {"Acme renewal", "acme expansion"}
    assert deals.names("opportunity", {"name": {"startswith": "renewal"}}) == set()


def test_contains_a_list_matches_any_of_its_values(deals):
    assert deals.names("opportunity", {"name": {"contains": ["pilot", "expansion"]}}) == {
        "Globex pilot", "acme expansion"}


@pytest.mark.parametrize("value, expected", [
    ("100%", {"100% off_sale"}),
    ("0%", {"100% off_sale"}),
    ("f_s", {"100% off_sale"}),
    ("_", {"100% off_sale"}),
    ("\\", {r"back\slash and /slash/"}),
    ("/slash/", {r"back\slash and /slash/"}),
    ("%", {"100% off_sale"}),
])
def test_like_wildcards_in_the_value_match_literally(deals, value, expected):
    assert deals.names("opportunity", {"name": {"contains": value}}) == expected


def test_startswith_escapes_wildcards(deals):
    assert deals.names("opportunity", {"name": {"startswith": "10_"}}) == set()
    assert deals.names("opportunity", {"name": {"startswith": "100%"}}) == {"100% off_sale"}


def test_chinese_text(deals):
    assert deals.names("opportunity", {"name": {"contains": "科技"}}) == {"上海科技 续约"}
    assert deals.names("opportunity", {"name": {"startswith": "上海"}}) == {"上海科技 续约"}
    assert deals.names("opportunity", {"name": "上海科技 续约"}) == {"上海科技 续约"}


def test_picklist_values_are_not_checked_against_the_options(deals):
    # Options can be retired while old records keep the value; filtering must still find them.
    assert deals.names("opportunity", {"stage": "Retired stage"}) == set()


def test_text_operators_only(ctx):
    with pytest.raises(QueryError) as error:
        compile_filter(ctx, "opportunity", {"name": {"gt": "A"}})
    assert error.value.message == ("the operator 'gt' cannot be used on name (text); "
                                   "allowed: contains, eq, in, is_null, ne, not_in, startswith.")


@pytest.mark.parametrize("bad", ["", [], {"x": 1}, True])
def test_contains_needs_text(ctx, bad):
    with pytest.raises(QueryError, match="'contains' on name needs some text"):
        compile_filter(ctx, "opportunity", {"name": {"contains": bad}})


def test_a_number_given_for_text_is_compared_as_text(db):
    db.insert("opportunity", {"name": "42"}, {"name": "7"})
    assert db.names("opportunity", {"name": 42}) == {"42"}
    assert db.names("opportunity", {"name": {"contains": 4}}) == {"42"}


def test_text_fields_refuse_structured_values(ctx):
    with pytest.raises(QueryError, match=r"\{'a': 1\} is not a valid value for name: it needs text"):
        compile_filter(ctx, "opportunity", {"name": {"eq": {"a": 1}}})
