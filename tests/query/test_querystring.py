"""The query-string form: `?stage=Won&amount__gte=100&q=acme&sort=-amount,name&limit=20`."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from crmkit.engine.query import QueryError, QuerySpec, parse_query_string


def test_the_full_example():
    spec = parse_query_string({
        "stage": "Won", "amount__gte": "100", "account.industry__in": "Tech,Finance", "q": "acme",
        "sort": "-amount,name", "limit": "50", "after": "abc",
    })
    assert spec == QuerySpec(
        filter={"stage": "Won", "amount": {"gte": "100"}, "account.industry": {"in": ["Tech", "Finance"]}},
        sort=("-amount", "name"), search="acme", limit=50, after="abc",
    )


def test_nothing_given():
    assert parse_query_string({}) == QuerySpec()


def test_several_operators_on_one_field():
    spec = parse_query_string({"amount__gte": "100", "amount__lt": "500", "amount__ne": "250"})
    assert spec.filter == {"amount": {"gte": "100", "lt": "500", "ne": "250"}}


def test_between_and_is_null():
    spec = parse_query_string({"amount__between": "10, 20", "email__is_null": "true", "stage__is_null": "No"})
    assert spec.filter == {"amount": {"between": ["10", "20"]}, "email": {"is_null": True},
                           "stage": {"is_null": False}}


def test_repeated_keys_from_multi_selects_mean_any_of():
    spec = parse_query_string({"stage": ["Won", "Lost"], "tags__contains": ["Hot", "Cold"],
                               "industry__in": ["Tech,Retail", "Finance"]})
    assert spec.filter == {"stage": {"in": ["Won", "Lost"]}, "tags": {"contains": ["Hot", "Cold"]},
                           "industry": {"in": ["Tech", "Retail", "Finance"]}}


def test_flasks_request_args_keep_repeated_keys():
    args = MultiDict([("stage", "Won"), ("stage", "Lost"), ("sort", "name")])
    assert parse_query_string(args) == QuerySpec(filter={"stage": {"in": ["Won", "Lost"]}}, sort=("name",))


def test_blank_values_from_html_forms_are_ignored():
    spec = parse_query_string({"stage": "", "amount__gte": "  ", "q": "", "sort": "", "after": "", "name": "x"})
    assert spec == QuerySpec(filter={"name": "x"})


def test_a_field_name_with_double_underscores_or_a_reserved_name():
    spec = parse_query_string({"legacy__code": "7", "q__eq": "field named q", "sort__in": "a,b"})
    assert spec.filter == {"legacy__code": "7", "q": "field named q", "sort": {"in": ["a", "b"]}}
    assert spec.search is None and spec.sort == ()


def test_a_json_filter_for_or_and_not():
    spec = parse_query_string({"filter": json.dumps({"or": [{"stage": "Won"}, {"amount": {"gt": 5}}]}),
                               "name__contains": "acme"})
    assert spec.filter == {"and": [{"or": [{"stage": "Won"}, {"amount": {"gt": 5}}]},
                                   {"name": {"contains": "acme"}}]}
    assert parse_query_string({"filter": '[{"stage": "Won"}]'}).filter == {"and": [{"stage": "Won"}]}


def test_limit_and_offset():
    assert parse_query_string({"limit": "1000", "offset": "40"}) == QuerySpec(limit=1000, offset=40)


@pytest.mark.parametrize("args, message", [
    ({"limit": "0"}, "'limit' must be a whole number from 1 to 1,000, not '0'."),
    ({"limit": "1001"}, "'limit' must be a whole number from 1 to 1,000, not '1001'."),
    ({"limit": "ten"}, "'limit' must be a whole number from 1 to 1,000, not 'ten'."),
    ({"offset": "-1"}, "'offset' must be a whole number from 0 or more, not '-1'."),
    ({"offset": "١٢"}, "'offset' must be a whole number from 0 or more, not '١٢'."),
    ({"amount__between": "10"}, "'amount__between' takes two values separated by a comma, e.g. amount__between=10,20."),
    ({"amount__between": "1,2,3"}, "'amount__between' takes two values separated by a comma"),
    ({"email__is_null": "maybe"}, "'email__is_null' takes true or false, not 'maybe'."),
    ({"amount__gt": ["1", "2"]}, "'amount__gt' is given 2 times; an operator like 'gt' takes one value."),
    ({"sort": ["name", "amount"]}, "'sort' is given 2 times; give it once."),
    ({"sort": "-amount,,name"}, "'-amount,,name' is not a sort order"),
    ({"sort": "-"}, "'-' is not a sort order"),
    ({"__gte": "1"}, "'__gte' names an operator but no field; write field__gte=value."),
    ({"filter": "{not json"}, "'filter' is not valid JSON"),
    ({"filter": "5"}, "'filter' must be a JSON object of conditions"),
    ({"filter": "[" * 100_000}, "'filter' nests too deeply"),
    ({"stage": 5}, "query-string arguments must be text"),
])
def test_bad_input_is_a_query_error(args, message):
    with pytest.raises(QueryError) as error:
        parse_query_string(args)
    assert error.value.message.startswith(message)


def test_a_filter_that_is_no_json_is_told_by_its_place_not_in_pythons_english():
    with pytest.raises(QueryError) as error:
        parse_query_string({"filter": '{"stage": "Won",\n "amount" 5}'})
    assert error.value.message.startswith("'filter' is not valid JSON (line 2, column 11)")
    assert "Expecting" not in error.value.message  # json's own English was put inside the Chinese sentence too


KEYS = st.text(alphabet="abcdefgh_.-", min_size=1, max_size=12)
VALUES = st.one_of(st.text(max_size=20), st.lists(st.text(max_size=10), max_size=3))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.one_of(KEYS, st.sampled_from(["q", "sort", "limit", "offset", "after", "filter"])),
                       VALUES, max_size=6))
def test_any_input_gives_a_spec_or_a_query_error(args):
    try:
        spec = parse_query_string(args)
    except QueryError as error:
        assert error.message
    else:
        assert isinstance(spec, QuerySpec)


def test_the_parsed_filter_runs(db):
    db.insert("opportunity", {"name": "a", "stage": "Won", "amount": Decimal("150.00"), "tags": ["Hot"]},
              {"name": "b", "stage": "Won", "amount": Decimal("50.00")},
              {"name": "c", "stage": "Lost", "amount": Decimal("500.00"), "tags": ["Cold"]})
    args = {"stage": ["Won", "Lost"], "amount__gte": "100", "tags__contains": ["Hot", "Cold"], "sort": "-amount"}
    rows = db.page("opportunity", parse_query_string(args))
    assert [row["name"] for row in rows] == ["c", "a"]


@pytest.fixture(scope="module")
def legacy_ctx():
    """The test model plus an object with a field whose own name holds "__" (metadata/names.py allows it)."""
    from datetime import date

    from crmkit.engine.fieldtypes import FieldTypes
    from crmkit.engine.fieldtypes.builtin import BUILTIN_TYPES
    from crmkit.engine.query import QueryContext
    from crmkit.engine.tables import build_schema
    from crmkit.metadata.catalog import Catalog
    from crmkit.metadata.model import frozen_map
    from crmkit.metadata.registry import Registry
    from tests.query.conftest import OBJECTS, make_object

    legacy = make_object("legacy", {"legacy__code": "text", "email": "email",
                                    "account": {"type": "lookup", "to": "account"}})
    field_types = FieldTypes.collect([BUILTIN_TYPES])
    catalog = Catalog.build([field_type.kind for field_type in BUILTIN_TYPES])
    registry = Registry(packages=frozen_map(), objects=frozen_map({o.name: o for o in [*OBJECTS, legacy]}),
                        catalog=catalog)
    return QueryContext(registry, build_schema(registry, field_types), field_types, today=date(2024, 3, 15))


@pytest.mark.parametrize("args, shown", [
    ({"email__endswith": "x"}, "'endswith' is not an operator (in the condition on email); operators: "),
    ({"legacy__code__endswith": "x"}, "'endswith' is not an operator (in the condition on legacy__code); "),
    ({"account.name__endswith": "x"}, "'endswith' is not an operator (in the condition on account.name); "),
    ({"email__zz__gte": "x"}, "'zz' is not an operator (in the condition on email); "),
    ({"nothing__endswith": "x"}, "legacy has no field 'nothing__endswith'."),
    ({"legacy__nothing": "x"}, "legacy has no field 'legacy__nothing'."),
])
def test_an_operator_the_query_language_lacks_is_named_as_an_operator(legacy_ctx, args, shown):
    from crmkit.engine.query import compile_filter

    with pytest.raises(QueryError) as error:
        compile_filter(legacy_ctx, "legacy", parse_query_string(args).filter)
    assert error.value.message.startswith(shown), error.value.message
    assert "startswith" in error.value.message or "no field" in shown


def test_a_field_whose_name_holds_double_underscores_is_found_first(legacy_ctx):
    from crmkit.engine.query import compile_filter

    for args in ({"legacy__code": "7"}, {"legacy__code__startswith": "7"}, {"account.name__startswith": "a"}):
        compile_filter(legacy_ctx, "legacy", parse_query_string(args).filter)
