"""Fields the caller may not see (QueryContext.hidden_fields) do not exist for their queries."""
from __future__ import annotations

from dataclasses import replace

import pytest

from crmkit.engine.query import QueryError, QuerySpec, build_select, compile_filter


def hiding(*pairs: str):
    """hidden_fields for the context: 'object.field' names the caller may not see."""
    return lambda object_name: frozenset(p.split(".")[1] for p in pairs if p.split(".")[0] == object_name)


@pytest.fixture
def secret(ctx):
    return replace(ctx, hidden_fields=hiding("opportunity.amount", "account.rating", "opportunity.description"))


def test_a_hidden_field_is_refused_exactly_like_a_missing_one(secret):
    with pytest.raises(QueryError) as error:
        compile_filter(secret, "opportunity", {"amount": {"gt": 5}})
    assert error.value.message == "opportunity has no field 'amount'. Did you mean 'account'?"


def test_no_suggestion_points_at_a_hidden_field(secret):
    with pytest.raises(QueryError) as error:
        compile_filter(secret, "opportunity", {"amout": 5})
    assert "amount" not in error.value.message.replace("amout", "")


def test_hidden_fields_of_a_linked_record(secret):
    with pytest.raises(QueryError, match="account has no field 'rating'."):
        compile_filter(secret, "opportunity", {"account.rating": 5})
    compile_filter(secret, "opportunity", {"account.name": "Acme"})


@pytest.mark.parametrize("spec, columns", [
    (QuerySpec(sort=("-amount",)), None),
    (QuerySpec(), ["name", "amount"]),
])
def test_hidden_fields_cannot_be_sorted_by_or_selected(secret, spec, columns):
    with pytest.raises(QueryError, match="opportunity has no field 'amount'"):
        build_select(secret, "opportunity", spec, columns)


def test_search_skips_hidden_fields(db):
    db.insert("opportunity", {"name": "Acme", "description": "secret plan"}, {"name": "Globex"})
    hidden = hiding("opportunity.description")
    assert [row["name"] for row in db.page("opportunity", QuerySpec(search="secret"))] == ["Acme"]
    assert db.page("opportunity", QuerySpec(search="secret"), hidden_fields=hidden) == []
    assert [row["name"] for row in db.page("opportunity", QuerySpec(search="acme"), hidden_fields=hidden)] == ["Acme"]
