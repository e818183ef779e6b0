"""RecordService.group_totals: a kanban board's counts and sums, grouped in SQL with the user's rights."""
from __future__ import annotations

from decimal import Decimal

import pytest

from crmkit.engine.query import QueryError

DEALS = """
package: deals
version: "1.0.0"
roles:
  rep: {}
permission_sets:
  sales:
    roles: [rep]
    objects:
      deal: [create, read, edit]
  finance:
    fields:
      deal.margin: [read, edit]
objects:
  deal:
    sharing: private
    title_field: name
    fields:
      name: {type: text, required: true}
      stage: {type: picklist, options: [Open, Won, Lost]}
      amount: {type: currency}
      margin: {type: currency}
      seats: {type: integer}
      note: {type: text}
"""


@pytest.fixture(scope="module")
def crm(module_database_url, tmp_path_factory):
    """One database per module (the tests only read it) with the deals package installed."""
    from crmkit.engine import Crm

    instance = Crm.open(module_database_url)
    package = tmp_path_factory.mktemp("deals") / "deals.yaml"
    package.write_text(DEALS, encoding="utf-8")
    instance.install(package)
    yield instance
    instance.close()


@pytest.fixture(scope="module")
def deals(crm):
    """Two reps (wang, li) owning deals; reps may not read `margin`. Returns {username: user id}."""
    from crmkit.engine.security.users import SystemDirectory

    directory = SystemDirectory(crm)
    reps = {name: directory.create_user(name, role="rep").id for name in ("wang", "li")}
    rows = {"wang": [("a", "Open", "100.10", 1), ("b", "Open", "0.01", 2), ("c", "Won", "1000", None),
                     ("d", None, None, 4)],
            "li": [("e", "Open", "5000", 7), ("f", "Lost", "3.33", 1)]}
    records = crm.as_system().records("deal")
    for name, deals in rows.items():
        for title, stage, amount, seats in deals:
            records.create({"name": title, "stage": stage, "amount": amount, "margin": "1", "seats": seats,
                            "owner_id": reps[name]})
    return reps


def by_value(grouping) -> dict:
    return {group.value: (group.count, group.total) for group in grouping.groups}


def test_the_administrator_sees_every_records_count_and_exact_total(crm, deals):
    totals = crm.as_system().records("deal").group_totals("stage", sum="amount")
    assert totals.summed == "amount" and totals.of("Lost").count == 1 and totals.of("Nothing").count == 0
    assert by_value(totals) == {"Open": (3, Decimal("5100.11")), "Won": (1, Decimal("1000.00")),
                                "Lost": (1, Decimal("3.33")), None: (1, None)}


def test_a_rep_counts_and_totals_only_their_own_records(crm, deals):
    totals = crm.as_user(deals["wang"]).records("deal").group_totals("stage", sum="amount")
    assert by_value(totals) == {"Open": (2, Decimal("100.11")), "Won": (1, Decimal("1000.00")), None: (1, None)}
    assert by_value(crm.as_user(deals["li"]).records("deal").group_totals("stage", sum="seats")) == \
        {"Open": (1, 7), "Lost": (1, 1)}


def test_the_filter_and_search_of_the_list_apply(crm, deals):
    records = crm.as_system().records("deal")
    assert by_value(records.group_totals("stage", sum="amount", filter={"amount": {"gte": "100"}})) == \
        {"Open": (2, Decimal("5100.10")), "Won": (1, Decimal("1000.00"))}
    assert by_value(records.group_totals("stage", search="e")) == {"Open": (1, None)}


def test_a_sum_field_the_user_may_not_read_gives_no_total(crm, deals):
    totals = crm.as_user(deals["wang"]).records("deal").group_totals("stage", sum="margin")
    assert totals.summed is None
    assert by_value(totals) == {"Open": (2, None), "Won": (1, None), None: (1, None)}
    assert by_value(crm.as_system().records("deal").group_totals("stage", sum="margin"))["Open"] == \
        (3, Decimal("3.00"))


def test_fields_that_cannot_be_grouped_or_totalled_are_refused(crm, deals):
    records = crm.as_system().records("deal")
    with pytest.raises(QueryError, match="grouped by a picklist"):
        records.group_totals("note")
    with pytest.raises(QueryError, match="totals are of numbers"):
        records.group_totals("stage", sum="note")
    with pytest.raises(QueryError, match="deal has no field 'nothing'"):
        records.group_totals("nothing")


def test_a_column_total_that_fits_is_exact_whatever_order_the_records_are_read_in(crm_single):
    """SQLite's built-in SUM stops when its running total passes 64 bits, which depends on the order
    it reads the records in; the total is then computed again exactly, as PostgreSQL computes it."""
    records = crm_single.as_system().records("deal")
    for title, seats in (("a", 2**62), ("b", 2**62), ("c", -(2**62)), ("d", 1)):
        records.create({"name": title, "stage": "Open", "seats": seats})
    assert by_value(records.group_totals("stage", sum="seats")) == {"Open": (4, 2**62 + 1)}


def test_a_column_total_beyond_64_bits_is_a_sentence_on_sqlite_and_exact_on_postgresql(crm_single):
    from crmkit.engine.database import NumberOutOfRange

    records = crm_single.as_system().records("deal")
    for title in ("a", "b"):
        records.create({"name": title, "stage": "Won", "seats": 2**62 + 2**61})
    if crm_single.engine.dialect.name == "sqlite":
        with pytest.raises(NumberOutOfRange, match="beyond what SQLite stores"):
            records.group_totals("stage", sum="seats")
    else:
        assert by_value(records.group_totals("stage", sum="seats")) == {"Won": (2, 2 * (2**62 + 2**61))}


@pytest.fixture
def crm_single(database_url, tmp_path):
    """A database of the test's own with the deals package: these tests write records."""
    from crmkit.engine import Crm

    instance = Crm.open(database_url)
    package = tmp_path / "deals.yaml"
    package.write_text(DEALS, encoding="utf-8")
    instance.install(package)
    yield instance
    instance.close()
