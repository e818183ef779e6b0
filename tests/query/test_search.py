"""Quick search: every word must start a word (or be Chinese text) somewhere in the record's searchable fields."""
from __future__ import annotations

import pytest

from crmkit.engine.query import QueryError, QuerySpec, build_select


@pytest.fixture
def deals(db):
    db.insert(
        "opportunity",
        {"name": "Acme renewal", "description": "Three year contract", "stage": "Won"},
        {"name": "Globex pilot", "description": "acme referral", "stage": "Lost"},
        {"name": "上海科技 续约", "description": "年度合同"},
        {"name": "50% discount_deal", "description": None},
        {"name": "Initech", "description": "nothing", "email": "acme@initech.com"},
    )
    return db


def found(db, text, object_name="opportunity", **spec):
    key = "name" if object_name == "opportunity" else "subject"
    return {row[key] for row in db.page(object_name, QuerySpec(search=text, **spec))}


def test_one_word_in_any_searchable_field_ignoring_case(deals):
    assert found(deals, "ACME") == {"Acme renewal", "Globex pilot"}


def test_every_word_must_match_but_each_may_match_a_different_field(deals):
    assert found(deals, "acme referral") == {"Globex pilot"}
    assert found(deals, "globex  ACME") == {"Globex pilot"}
    assert found(deals, "acme nowhere") == set()


def test_only_searchable_fields_are_searched(deals):
    # email is not marked searchable: Initech is not found by its address.
    assert found(deals, "initech.com") == set()
    assert found(deals, "won") == set()


def test_chinese(deals):
    assert found(deals, "科技") == {"上海科技 续约"}
    assert found(deals, "上海 合同") == {"上海科技 续约"}


def test_punctuation_separates_words_and_is_not_searched_for(deals):
    assert found(deals, "50%") == {"50% discount_deal"}
    assert found(deals, "discount_deal") == {"50% discount_deal"}
    assert found(deals, "u_v") == set()  # words that start with u and with v: none do (nor does pinyin)
    assert found(deals, "%") == set()  # nothing to look for, so nothing is found


def test_blank_search_finds_everything(deals):
    assert len(found(deals, "   ")) == 5
    assert len(found(deals, None)) == 5


def test_search_and_filter_combine(deals):
    assert found(deals, "acme", filter={"stage": "Lost"}) == {"Globex pilot"}


def test_without_searchable_fields_the_title_field_is_searched(db):
    db.insert("note", {"subject": "Call Acme", "body": "about acme"}, {"subject": "Lunch", "body": "acme"})
    assert found(db, "acme", object_name="note") == {"Call Acme"}


def test_an_object_with_nothing_to_search(ctx):
    with pytest.raises(QueryError, match="memo has no searchable fields"):
        build_select(ctx, "memo", QuerySpec(search="x"))


def test_the_number_of_words_is_bounded(deals):
    assert found(deals, " ".join(["a"] * 10)) == {"Acme renewal", "Globex pilot"}
    with pytest.raises(QueryError, match="the search has 11 words; use at most 10."):
        found(deals, " ".join(["a"] * 11))
