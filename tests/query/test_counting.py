"""Counting a list: exact when small, capped (or PostgreSQL's estimate) when large."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from crmkit.engine.query import Count, QuerySpec, count_records


@pytest.fixture
def many(db):
    # 30 deals; stage and region are perfectly correlated, which the PostgreSQL planner cannot know.
    db.insert("opportunity", *[
        {"name": f"deal {i}", "stage": "Won" if i % 2 else "Lost", "description": "north" if i % 2 else "south",
         "quantity": i} for i in range(30)
    ])
    if db.dialect == "postgresql":
        db.execute(text("ANALYZE opportunity"))
    return db


def count(db, spec=QuerySpec(), **options) -> Count:
    return count_records(db.connection, db.ctx(), "opportunity", spec, **options)


def test_a_small_list_is_counted_exactly(many):
    assert count(many) == Count(30, "exact")
    assert count(many, QuerySpec(filter={"stage": "Won"})) == Count(15, "exact")
    assert count(many, cap=30) == Count(30, "exact")


def test_search_is_part_of_what_is_counted(many):
    assert count(many, QuerySpec(search="deal 2")) == Count(11, "exact")  # deal 2, 20..29 (words starting with 2)


def test_exact_counts_everything(many):
    assert count(many, cap=5, exact=True) == Count(30, "exact")


def test_sort_and_page_do_not_change_the_count(many):
    assert count(many, QuerySpec(sort=("-quantity",), limit=5, offset=10)) == Count(30, "exact")


def test_an_empty_list(many):
    assert count(many, QuerySpec(filter={"stage": "Nothing"})) == Count(0, "exact")


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_beyond_the_cap_sqlite_says_at_least(many):
    assert count(many, cap=10) == Count(10, "at_least")


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_beyond_the_cap_postgresql_gives_the_planners_estimate(many):
    result = count(many, cap=10)
    assert result.kind == "estimate"
    assert 10 < result.value <= 60  # statistics of a freshly analysed table of 30 rows


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_when_the_estimate_is_not_above_the_cap_postgresql_says_at_least(many):
    # 15 records match; the planner, assuming independent columns, expects about 8.
    spec = QuerySpec(filter={"stage": "Won", "description": "north"})
    assert count(many, spec, cap=12) == Count(12, "at_least")
    assert count(many, spec, cap=15) == Count(15, "exact")


def test_count_exact_flag():
    assert Count(3, "exact").exact and not Count(3, "at_least").exact
