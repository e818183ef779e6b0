"""Rollups hold every value their inputs allow, or the save that would overflow them is refused."""
from __future__ import annotations

from decimal import Decimal

import pytest

from crmkit.engine.records.errors import RecordValidationError

TOTALS = """
package: totals
version: "1.0.0"
objects:
  account:
    fields:
      name: {type: text}
      pipeline: {type: rollup, from: deal.account, aggregate: sum, field: amount}
      units: {type: rollup, from: deal.account, aggregate: sum, field: count}
      typical: {type: rollup, from: deal.account, aggregate: avg, field: amount}
      typical_small: {type: rollup, from: deal.account, aggregate: avg, field: small}
  region:
    fields:
      name: {type: text}
      typical_count: {type: rollup, from: deal.region, aggregate: avg, field: count}
  deal:
    fields:
      name: {type: text}
      account: {type: lookup, to: account}
      region: {type: lookup, to: region}
      amount: {type: decimal, precision: 18, scale: 0}
      count: {type: integer}
      small: {type: decimal, precision: 10, scale: 0}
"""
LARGEST = Decimal("999999999999999999")


@pytest.fixture
def ledger(crm, write_package, install_once):
    install_once(write_package(TOTALS))
    return crm.as_system()


@pytest.mark.parametrize("amount", ["12345678901234567", "98765432109876543", "-456789012345678901"])
def test_an_average_keeps_every_digit_of_its_input(ledger, amount):
    account = ledger.records("account").create({"name": "A"}).id
    ledger.records("deal").create({"name": "d", "account": account, "amount": amount})
    ledger.records("deal").create({"name": "e", "account": account, "amount": amount})
    assert ledger.records("account").get(account)["typical"] == Decimal(amount)


def test_an_average_rounds_half_away_from_zero_at_any_size(ledger):
    account = ledger.records("account").create({"name": "A"}).id
    half = Decimal("499999999999999999")
    for amount in (half, half + 1):
        ledger.records("deal").create({"name": "d", "account": account, "amount": amount, "small": "9999999999"})
    ledger.records("deal").create({"name": "d", "account": account, "small": "9999999998"})
    record = ledger.records("account").get(account)
    assert record["typical"] == half + 1  # ...999.5 rounds up
    assert record["typical_small"] == Decimal("9999999998.67")  # two places where the digits leave room


@pytest.mark.parametrize("count", [10**15, 10**16 - 1])
def test_an_average_of_whole_numbers_is_exact(ledger, count):
    region = ledger.records("region").create({"name": "R"}).id
    ledger.records("deal").create({"name": "d", "region": region, "count": count})
    ledger.records("deal").create({"name": "e", "region": region, "count": count - 1})
    assert ledger.records("region").get(region)["typical_count"] == Decimal(count) - Decimal("0.5")


@pytest.mark.parametrize("field,value,sentence", [
    ("amount", LARGEST, "the total of account.pipeline would exceed 18 digits before the decimal point"),
    ("amount", -LARGEST, "the total of account.pipeline would exceed 18 digits before the decimal point"),
    ("count", 2**62, "the total of account.units would exceed the largest whole number"),
    ("count", -(2**62) - 1, "the total of account.units would exceed the largest whole number"),
    ("count", 10**16, "the average of region.typical_count would exceed 16 digits"),
])
def test_a_total_beyond_the_rollup_refuses_the_save_and_writes_nothing(ledger, field, value, sentence):
    account = ledger.records("account").create({"name": "A"}).id
    deals = ledger.records("deal")
    if "average" in sentence:
        region = ledger.records("region").create({"name": "R"}).id
        with pytest.raises(RecordValidationError) as refused:
            deals.create({"name": "second", "region": region, field: value})
    else:
        deals.create({"name": "first", "account": account, field: value})
        with pytest.raises(RecordValidationError) as refused:
            deals.create({"name": "second", "account": account, field: value})
        with pytest.raises(RecordValidationError):
            deals.bulk_create([{"name": "third", "account": account, field: value}])
    assert sentence in " ".join(refused.value.errors["_record"])
    assert "second" not in [r["name"] for r in deals.query({}).records]
    assert "third" not in [r["name"] for r in deals.query({}).records]


@pytest.mark.parametrize("field,big", [("count", 2**62), ("amount", Decimal("600000000000000000"))])
def test_a_total_that_fits_is_stored_whatever_order_the_children_are_read_in(ledger, field, big):
    """The database reads the deals along the lookup's index (account, then name): the two large
    ones before the one that cancels them. A running total past the column's range on the way is
    no reason to refuse a save whose total fits (SQLite's built-in SUM would stop at 64 bits)."""
    accounts, deals = ledger.records("account"), ledger.records("deal")
    account = accounts.create({"name": "A"}).id
    deals.create({"name": "c cancels", "account": account, field: -big})
    deals.create({"name": "a large", "account": account, field: big})
    deals.create({"name": "b large", "account": account, field: big})
    rollup = "units" if field == "count" else "pipeline"
    assert accounts.get(account)[rollup] == big


def test_an_average_of_children_whose_total_passes_64_bits_is_exact(ledger):
    region = ledger.records("region").create({"name": "R"}).id
    largest = 10**16 - 1  # the most the average (16 digits before the point) holds
    ledger.records("deal").bulk_create([{"name": f"d{n}", "region": region, "count": largest} for n in range(1000)])
    # Each count, and their average, fits; their total (about 1e19) is beyond 64 bits.
    assert ledger.records("region").get(region)["typical_count"] == Decimal(largest)


def test_an_update_or_a_move_that_would_overflow_is_refused_too(ledger):
    accounts, deals = ledger.records("account"), ledger.records("deal")
    first, second = accounts.create({"name": "A"}).id, accounts.create({"name": "B"}).id
    deals.create({"name": "a", "account": first, "amount": LARGEST})
    moving = deals.create({"name": "b", "account": second, "amount": LARGEST})
    with pytest.raises(RecordValidationError, match="account.pipeline"):
        deals.update(moving.id, {"account": first}, version=moving.version)
    assert deals.get(moving.id)["account"] == second
    assert accounts.get(first)["pipeline"] == LARGEST


SHARED = """
package: shared
version: "1.0.0"
roles:
  rep: {}
permission_sets:
  sales:
    roles: [rep]
    objects:
      account: [create, read, edit]
      deal: [create, read, edit]
objects:
  account:
    sharing: public_read_write
    fields:
      name: {type: text}
      units: {type: rollup, from: deal.account, aggregate: sum, field: count}
      pipeline: {type: rollup, from: deal.account, aggregate: sum, field: amount}
      typical: {type: rollup, from: deal.account, aggregate: avg, field: amount}
  deal:
    sharing: private
    fields:
      name: {type: text}
      account: {type: lookup, to: account}
      count: {type: integer}
      amount: {type: decimal, precision: 18, scale: 0}
"""


def test_a_rollup_over_the_children_a_user_sees_is_exact_beyond_the_stored_range(crm, install):
    """The stored total fits, but the user's share of it (without the cancelling child) does not."""
    from crmkit.engine.security.users import SystemDirectory

    install(SHARED)
    rep = SystemDirectory(crm).create_user("rep", role="rep")
    account = crm.as_system().records("account").create({"name": "A"}).id
    mine = crm.as_user(rep.id).records("deal")
    # SQLite's SUM adds the deals in the order it reads them, along the lookup's index (account,
    # then the related list's sort: name), and refuses a running total past 64 bits even when
    # the final one fits: the cancelling deal is named to be read between the two others.
    mine.create({"name": "a", "account": account, "count": 2**62, "amount": LARGEST})
    crm.as_system().records("deal").create({"name": "a hidden", "account": account, "count": -(2**62),
                                            "amount": -LARGEST})
    mine.create({"name": "b", "account": account, "count": 2**62 + 1, "amount": LARGEST})
    if crm.engine.dialect.name == "sqlite":  # SQLite stores no total past 64 bits: a sentence, never a raw error
        from crmkit.engine.database import NumberOutOfRange

        with pytest.raises(NumberOutOfRange, match="beyond what SQLite stores"):
            crm.as_user(rep.id).records("account").get(account)
        return
    seen = crm.as_user(rep.id).records("account").get(account)
    assert (seen["units"], seen["pipeline"]) == (2**63 + 1, 2 * LARGEST)
    assert seen["typical"] == LARGEST
