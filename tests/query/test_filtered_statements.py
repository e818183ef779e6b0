"""A filtered list page reuses one statement per filter shape, with each request's values bound.

Same fields, operators and structure, other values: the page statement built for the first
request is executed again with the new values as parameters (query/shapes.py,
query/sorting.py `_filtered_first_page`). The results must be each request's own, and a
statement built under one user's row filter is never run for another user.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterator

import pytest
from sqlalchemy import event, insert

from crmkit.engine import Crm
from crmkit.engine.query import compile_filter
from crmkit.engine.query.shapes import ValueShape
from crmkit.engine.security.users import SystemDirectory

MOMENT = datetime(2024, 1, 1, tzinfo=timezone.utc)
INDUSTRIES = ("Technology", "Finance", "Retail")
ROWS = 120


@pytest.fixture(scope="module")
def crm(module_database_url) -> Iterator[Crm]:
    """The standard CRM with ROWS accounts: industries in turn, owned by two sales reps and the administrator."""
    instance = Crm.open(module_database_url)
    try:
        instance.install("default_crm")
        directory = SystemDirectory(instance)
        reps = [directory.create_user(f"rep{number}", role="sales_rep").id for number in (1, 2)]
        with instance.engine.begin() as connection:
            connection.execute(insert(instance.runtime.table("account")), [
                {"created_at": MOMENT, "updated_at": MOMENT, "version": 1, "owner_id": reps[n % 2] if n % 3 else None,
                 "name": f"Account {n:03d}", "industry": INDUSTRIES[n % 3], "employees": n}
                for n in range(ROWS)])
        instance.reps = reps
        yield instance
    finally:
        instance.close()


class Executed:
    """The statements (SQLAlchemy objects) the engine executes that read accounts."""

    def __init__(self, crm: Crm) -> None:
        self.engine, self.statements = crm.engine, []

    def __enter__(self) -> list[Any]:
        event.listen(self.engine, "before_execute", self.record)
        return self.statements

    def __exit__(self, *exc: Any) -> None:
        event.remove(self.engine, "before_execute", self.record)

    def record(self, connection, clause, multiparams, params, options) -> None:
        if "account" in {table.name for table in getattr(clause, "get_final_froms", lambda: [])()}:
            self.statements.append(clause)


def names(page) -> list[str]:
    return [record["name"] for record in page.records]


def expected(predicate) -> list[str]:
    """The names of the accounts `predicate(n)` selects, in name order."""
    return sorted(f"Account {n:03d}" for n in range(ROWS) if predicate(n))


def _owner(n: int) -> int | None:
    """Which rep (0 or 1, an index into crm.reps) owns account n; None: the administrator (no owner)."""
    return None if n % 3 == 0 else n % 2


def test_two_filters_of_one_shape_share_a_statement_and_each_gets_its_own_rows(crm):
    accounts = crm.as_system().records("account")
    with Executed(crm) as statements:
        finance = accounts.query({"industry": "Finance"}, sort=["name"], limit=200)
        retail = accounts.query({"industry": "Retail"}, sort=["name"], limit=200)
    assert names(finance) == expected(lambda n: INDUSTRIES[n % 3] == "Finance")
    assert names(retail) == expected(lambda n: INDUSTRIES[n % 3] == "Retail")
    assert names(finance) != names(retail)
    assert len(statements) == 2 and statements[0] is statements[1]


def test_in_lists_of_different_lengths_and_ranges_share_a_statement(crm):
    accounts = crm.as_system().records("account")
    with Executed(crm) as statements:
        two = accounts.query({"industry": {"in": ["Finance", "Retail"]}, "employees": {"gte": 10, "lt": 40}},
                             sort=["name"], limit=200)
        one = accounts.query({"industry": {"in": ["Technology"]}, "employees": {"gte": 90, "lt": 100}},
                             sort=["name"], limit=200)
    assert names(two) == expected(lambda n: INDUSTRIES[n % 3] != "Technology" and 10 <= n < 40)
    assert names(one) == expected(lambda n: INDUSTRIES[n % 3] == "Technology" and 90 <= n < 100)
    assert statements[0] is statements[1]


def test_filters_of_other_shapes_get_statements_of_their_own(crm):
    accounts = crm.as_system().records("account")
    with Executed(crm) as statements:
        equal = accounts.query({"industry": "Finance"}, sort=["name"], limit=200)
        other = accounts.query({"industry": {"ne": "Finance"}}, sort=["name"], limit=200)
        both = accounts.query({"industry": "Finance", "employees": {"lt": 50}}, sort=["name"], limit=200)
    assert names(equal) == expected(lambda n: INDUSTRIES[n % 3] == "Finance")
    assert names(other) == expected(lambda n: INDUSTRIES[n % 3] != "Finance")
    assert names(both) == expected(lambda n: INDUSTRIES[n % 3] == "Finance" and n < 50)
    assert len({id(statement) for statement in statements}) == 3


def test_a_statement_built_under_one_reps_row_filter_never_serves_another_rep(crm):
    """Account is private: each rep's row filter (owner_id = them) is part of the statement's key."""
    assert crm.runtime.registry.object("account").sharing == "private"
    first, second = (crm.as_user(rep).records("account") for rep in crm.reps)
    for _ in range(2):  # the second round runs statements remembered in the first
        for number, accounts in enumerate((first, second)):
            page = accounts.query({"industry": "Finance"}, sort=["name"], limit=200)
            assert names(page) == expected(lambda n, rep=number: INDUSTRIES[n % 3] == "Finance" and _owner(n) == rep)
            assert {record["owner_id"] for record in page.records} == {crm.reps[number]}


def test_a_long_in_list_is_a_shape_of_its_own_and_is_read_right(crm):
    """More than 100 values travel as one JSON or array value written while compiling: SQLAlchemy's
    cache key holds the values themselves (query/lists.py), so each list is its own shape."""
    evens = [f"Account {n:03d}" for n in range(0, ROWS, 2)] + [f"Nobody {n}" for n in range(100)]
    odds = [f"Account {n:03d}" for n in range(1, ROWS, 2)] + [f"Nobody {n}" for n in range(100)]
    accounts = crm.as_system().records("account")
    with Executed(crm) as statements:
        even = accounts.query({"name": {"in": evens}}, sort=["name"], limit=200)
        odd = accounts.query({"name": {"in": odds}}, sort=["name"], limit=200)
    assert names(even) == expected(lambda n: n % 2 == 0)
    assert names(odd) == expected(lambda n: n % 2 == 1)
    assert statements[0] is not statements[1]


def test_a_shape_names_a_value_used_twice_once(crm):
    ctx = crm.as_system().records("account").query_context()
    shape = ValueShape.of(compile_filter(ctx, "account", {"industry": "Finance", "employees": {"gte": 3}}))
    assert sorted(shape.values("filter").values(), key=str) == [3, "Finance"]
    assert len(set(shape.names("filter"))) == len(shape.values("filter"))
    same = ValueShape.of(compile_filter(ctx, "account", {"industry": "Retail", "employees": {"gte": 70}}))
    assert same.key == shape.key and sorted(same.values("filter").values(), key=str) == [70, "Retail"]
