"""Money and numbers are exact everywhere: storage, filters, sorting, rollups, history and exports."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import text

from crmkit.engine import Crm
from crmkit.engine.records.errors import RecordValidationError
from crmkit.metadata.errors import MetadataError

LEDGER = """
package: ledger
version: "1.0.0"
objects:
  account:
    label: Account
    fields:
      name: {type: text, required: true}
      total: {type: rollup, from: deal.account, aggregate: sum, field: amount}
      smallest: {type: rollup, from: deal.account, aggregate: min, field: amount}
      largest: {type: rollup, from: deal.account, aggregate: max, field: amount}
      average: {type: rollup, from: deal.account, aggregate: avg, field: amount}
      average_units: {type: rollup, from: deal.account, aggregate: avg, field: units}
  deal:
    label: Deal
    track_history: true
    fields:
      name: {type: text, required: true}
      account: {type: lookup, to: account}
      amount: {type: currency}
      rate: {type: decimal}
      units: {type: integer}
"""

BEYOND_FLOATS = Decimal("9007199254740993.00")  # 2**53 + 1: a float reads it back as ...992


@pytest.fixture
def ledger(crm, install):
    install(LEDGER)
    return crm.as_system()


def names(page) -> list[str]:
    return [record["name"] for record in page.records]


def test_values_beyond_float_precision_read_back_exactly(ledger):
    deals = ledger.records("deal")
    values = {
        "big": (BEYOND_FLOATS, Decimal("99999999999999.9999")),
        "largest": (Decimal("9999999999999999.99"), Decimal("0.0001")),
        "negative": (Decimal("-9007199254740993.01"), Decimal("-99999999999999.9999")),
    }
    ids = {name: deals.create({"name": name, "amount": amount, "rate": rate}).id
           for name, (amount, rate) in values.items()}
    for name, (amount, rate) in values.items():
        record = deals.get(ids[name])
        assert (record["amount"], record["rate"]) == (amount, rate)
        assert str(record["amount"]) == str(amount)


def test_sorting_filtering_and_pages_compare_exact_values(ledger):
    deals = ledger.records("deal")
    for name, amount in [("c", "9007199254740993.00"), ("a", "9007199254740992.00"), ("b", "9007199254740992.99"),
                         ("d", "9007199254740993.01")]:
        deals.create({"name": name, "amount": amount})
    assert names(deals.query(sort=["amount"])) == ["a", "b", "c", "d"]
    assert names(deals.query({"amount": BEYOND_FLOATS})) == ["c"]
    assert names(deals.query({"amount": {"gt": BEYOND_FLOATS}})) == ["d"]
    assert names(deals.query({"amount": {"between": ["9007199254740992.01", BEYOND_FLOATS]}}, sort=["amount"])) == ["b", "c"]
    assert names(deals.query({"amount": {"in": ["9007199254740992.99", "9007199254740993.01"]}}, sort=["amount"])) == ["b", "d"]
    seen, after = [], None
    while True:
        page = deals.query(sort=["-amount"], limit=1, after=after)
        seen += names(page)
        after = page.next_cursor
        if after is None:
            break
    assert seen == ["d", "c", "b", "a"]


def test_a_filter_value_with_more_places_than_the_field_is_compared_exactly(ledger):
    deals = ledger.records("deal")
    deals.create({"name": "even", "amount": "9007199254740992.00"})
    deals.create({"name": "and a cent", "amount": "9007199254740992.01"})
    by_amount = ["amount"]
    between = "9007199254740992.005"
    assert names(deals.query({"amount": {"gt": between}})) == ["and a cent"]
    assert names(deals.query({"amount": {"gte": between}})) == ["and a cent"]
    assert names(deals.query({"amount": {"lt": between}})) == ["even"]
    assert names(deals.query({"amount": {"lte": between}})) == ["even"]
    assert names(deals.query({"amount": between})) == []
    assert names(deals.query({"amount": {"ne": between}}, sort=by_amount)) == ["even", "and a cent"]
    assert names(deals.query({"amount": {"between": ["9007199254740992.001", "9007199254740992.009"]}})) == []
    assert names(deals.query({"amount": {"in": [between, "9007199254740992.01"]}})) == ["and a cent"]
    assert names(deals.query({"amount": {"not_in": [between]}}, sort=by_amount)) == ["even", "and a cent"]


def test_rollups_sum_minimum_maximum_and_average_exactly_in_sql(ledger):
    accounts, deals = ledger.records("account"), ledger.records("deal")
    big = accounts.create({"name": "Big"}).id
    cents = accounts.create({"name": "Cents"}).id
    owing = accounts.create({"name": "Owing"}).id
    deals.create({"name": "huge", "account": big, "amount": BEYOND_FLOATS, "units": 1})
    deals.create({"name": "tiny", "account": big, "amount": "0.01", "units": 2})
    deals.create({"name": "one cent", "account": cents, "amount": "0.01", "units": 2})
    deals.create({"name": "two cents", "account": cents, "amount": "0.02", "units": 2})
    deals.create({"name": "owes a cent", "account": owing, "amount": "-0.01", "units": -1})
    deals.create({"name": "owes two", "account": owing, "amount": "-0.02", "units": -2})
    totals = {name: accounts.get(account_id) for name, account_id in [("big", big), ("cents", cents), ("owing", owing)]}
    assert totals["big"]["total"] == Decimal("9007199254740993.01")
    assert (totals["big"]["smallest"], totals["big"]["largest"]) == (Decimal("0.01"), BEYOND_FLOATS)
    assert totals["big"]["average"] == Decimal("4503599627370496.51")  # .505 rounded half away from zero
    assert totals["big"]["average_units"] == Decimal("1.50")
    assert totals["cents"]["average"] == Decimal("0.02")
    assert totals["owing"]["average"] == Decimal("-0.02")
    assert totals["owing"]["average_units"] == Decimal("-1.50")
    assert names(accounts.query({"total": {"gt": BEYOND_FLOATS}})) == ["Big"]
    assert names(ledger.records("deal").query({"account.total": "9007199254740993.01"}, sort=["name"])) == ["huge", "tiny"]


def test_history_exports_and_bulk_creation_keep_exact_values(ledger):
    deals = ledger.records("deal")
    deals.bulk_create([{"name": "bulk", "amount": BEYOND_FLOATS}])
    created = deals.query({"name": "bulk"}).records[0]
    assert created["amount"] == BEYOND_FLOATS
    deals.update(created.id, {"amount": "99999999999999.99"}, version=created["version"])
    changes = [entry for entry in deals.history(created.id) if entry.get("field") == "amount"]
    assert changes[-1]["old_value"] == "9007199254740993.00" and changes[-1]["new_value"] == "99999999999999.99"
    exported = "".join(deals.export(fields=["name", "amount"]))
    assert "bulk,99999999999999.99" in exported


def test_sqlite_keeps_decimals_as_integers_of_the_smallest_unit(sqlite_url, write_package):
    crm = Crm.open(sqlite_url)
    try:
        crm.install(write_package(LEDGER))
        record = crm.as_system().records("deal").create({"name": "a", "amount": BEYOND_FLOATS, "rate": "1.2345"})
        with crm.engine.connect() as connection:
            stored = connection.execute(text("SELECT amount, typeof(amount), rate FROM deal WHERE id = :id"),
                                        {"id": record.id}).one()
        assert tuple(stored) == (900719925474099300, "integer", 12345)
    finally:
        crm.close()


def test_more_than_18_digits_is_refused_with_the_place_to_fix(crm, write_package):
    path = write_package(LEDGER.replace("rate: {type: decimal}", "rate: {type: decimal, precision: 30, scale: 4}"))
    with pytest.raises(MetadataError) as caught:
        crm.install(path)
    line = next(number for number, text in enumerate(path.read_text().splitlines(), 1) if "precision: 30" in text)
    assert f"package.yaml:{line}:" in str(caught.value)
    assert "precision 30" in str(caught.value) and "at most 18" in str(caught.value)


# ---- schema changes ------------------------------------------------------------------------

def ledger_with(rate: str, version: str) -> str:
    return LEDGER.replace("rate: {type: decimal}", f"rate: {rate}").replace('version: "1.0.0"', f'version: "{version}"')


def test_reducing_the_scale_is_refused_when_a_stored_value_would_round(crm, write_package):
    from crmkit.engine.migrations import MigrationError

    crm.install(write_package(ledger_with("{type: decimal, precision: 14, scale: 1}", "1.0.0")))
    deals = crm.as_system().records("deal")
    half = deals.create({"name": "half", "rate": "1234.5"})
    whole = deals.create({"name": "whole", "rate": "10"})
    narrower = write_package(ledger_with("{type: decimal, precision: 14, scale: 0}", "1.1.0"), "v2.yaml")
    with pytest.raises(MigrationError) as caught:
        crm.install(narrower)
    message = str(caught.value)
    assert "nothing was changed" in message and f"id {half.id} (1234.5:" in message
    assert f"id {whole.id}" not in message
    assert crm.as_system().records("deal").get(half.id)["rate"] == Decimal("1234.5")
    assert crm.installed_packages()[0]["version"] == "1.0.0"

    crm.as_system().records("deal").update(half.id, {"rate": "1234"}, version=half["version"])
    crm.install(narrower)
    deals = crm.as_system().records("deal")
    assert [deals.get(half.id)["rate"], deals.get(whole.id)["rate"]] == [Decimal("1234"), Decimal("10")]


def test_reducing_the_precision_is_refused_when_a_stored_value_would_not_fit(crm, write_package):
    from crmkit.engine.migrations import MigrationError

    crm.install(write_package(ledger_with("{type: decimal, precision: 14, scale: 1}", "1.0.0")))
    big = crm.as_system().records("deal").create({"name": "big", "rate": "123456.7"})
    with pytest.raises(MigrationError, match=f"id {big.id} \\(123456.7: The number must have at most 5 digits before the decimal point"):
        crm.install(write_package(ledger_with("{type: decimal, precision: 6, scale: 1}", "1.1.0"), "v2.yaml"))
    assert crm.as_system().records("deal").get(big.id)["rate"] == Decimal("123456.7")


def test_widening_and_changing_the_type_keep_every_value_exactly(crm, write_package):
    crm.install(write_package(ledger_with("{type: decimal, precision: 14, scale: 1}", "1.0.0")))
    deal = crm.as_system().records("deal").create({"name": "a", "rate": "1234567890123.4"})
    crm.install(write_package(ledger_with("{type: decimal, precision: 18, scale: 4}", "1.1.0"), "v2.yaml"))
    assert crm.as_system().records("deal").get(deal.id)["rate"] == Decimal("1234567890123.4000")
    crm.install(write_package(ledger_with("{type: currency, precision: 18, scale: 2}", "1.2.0"), "v3.yaml"))
    assert str(crm.as_system().records("deal").get(deal.id)["rate"]) == "1234567890123.40"


def test_text_becoming_a_number_is_refused_when_it_would_round(crm, write_package):
    from crmkit.engine.migrations import MigrationError

    crm.install(write_package(ledger_with("{type: text}", "1.0.0")))
    deals = crm.as_system().records("deal")
    deals.create({"name": "fine", "rate": "1,234.5"})
    rounded = deals.create({"name": "rounded", "rate": "0.125"})
    with pytest.raises(MigrationError, match=f"id {rounded.id} \\('0.125': it would be stored as 0.13"):
        crm.install(write_package(ledger_with("{type: currency}", "1.1.0"), "v2.yaml"))


def test_an_older_sqlite_database_with_floating_point_numbers_is_rewritten_exactly(sqlite_url, write_package):
    from crmkit.engine.migrations import MigrationError

    crm = Crm.open(sqlite_url)
    crm.install(write_package(LEDGER))
    system = crm.as_system()
    account = system.records("account").create({"name": "Acme"}).id
    ids = [system.records("deal").create({"name": name, "account": account}).id for name in ("a", "b", "c")]
    with crm.engine.begin() as connection:  # the column as crmkit stored it before exact storage
        for table, column in [("deal", "amount"), ("account", "total")]:
            connection.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
            connection.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} NUMERIC")
        for record_id, value in zip(ids, ("1234.5", "0.1 + 0.2", "100.0")):
            connection.exec_driver_sql(f"UPDATE deal SET amount = {value} WHERE id = {record_id}")
        connection.exec_driver_sql("UPDATE account SET total = 1334.8")
    crm.close()

    crm = Crm.open(sqlite_url)
    try:
        with pytest.raises(MigrationError, match="deal.amount.*crmkit migrate"):
            crm.as_system()
        plan = crm.plan().describe()
        assert "rewrite deal.amount" in plan and "exact" in plan
        crm.migrate()
        deals = crm.as_system().records("deal")
        assert [deals.get(i)["amount"] for i in ids] == [Decimal("1234.50"), Decimal("0.30"), Decimal("100.00")]
        assert crm.as_system().records("account").get(account)["total"] == Decimal("1334.80")
        with crm.engine.connect() as connection:
            kinds = connection.exec_driver_sql("SELECT DISTINCT typeof(amount) FROM deal").scalars().all()
        assert kinds == ["integer"]
        assert crm.plan().is_empty
    finally:
        crm.close()


def test_a_filter_value_beyond_what_the_field_holds_compares_without_error(ledger):
    deals = ledger.records("deal")
    deals.create({"name": "largest", "amount": "9999999999999999.99"})
    deals.create({"name": "most negative", "amount": "-9999999999999999.99"})
    huge = "100000000000000000000000000"
    assert names(deals.query({"amount": {"lt": huge}}, sort=["amount"])) == ["most negative", "largest"]
    assert names(deals.query({"amount": {"gt": huge}})) == []
    assert names(deals.query({"amount": {"gt": "-" + huge}}, sort=["amount"])) == ["most negative", "largest"]
    assert names(deals.query({"amount": {"in": [huge, "9999999999999999.99"]}})) == ["largest"]
    assert names(deals.query({"amount": huge})) == []


@pytest.mark.parametrize("huge", [1e30, "1e30", Decimal("1e400"), 10**40, "123456789012345678901234567890123.5"])
def test_a_filter_compares_with_any_finite_number_on_either_side(ledger, huge):
    deals = ledger.records("deal")
    deals.create({"name": "largest", "amount": "9999999999999999.99", "rate": "99999999999999.9999"})
    deals.create({"name": "most negative", "amount": "-9999999999999999.99", "rate": "-99999999999999.9999"})
    deals.create({"name": "empty"})
    negative = f"-{huge}" if isinstance(huge, str) else -huge
    for field in ("amount", "rate"):
        assert names(deals.query({field: {"gt": huge}})) == []
        assert names(deals.query({field: {"lt": negative}})) == []
        assert names(deals.query({field: {"gt": negative}}, sort=[field])) == ["most negative", "largest"]
        assert names(deals.query({field: {"between": [negative, huge]}}, sort=[field])) == ["most negative", "largest"]


def test_a_number_with_underscores_is_refused_and_negative_zero_is_zero(ledger):
    deals = ledger.records("deal")
    with pytest.raises(RecordValidationError, match="amount"):
        deals.create({"name": "x", "amount": "1_000"})
    zero = deals.create({"name": "zero", "amount": "-0", "rate": Decimal("-0.000")})
    assert (str(zero["amount"]), str(zero["rate"])) == ("0.00", "0.0000")
    stored = deals.get(zero.id)
    assert (str(stored["amount"]), str(stored["rate"])) == ("0.00", "0.0000")
    too_large = "The number must have at most 16 digits before the decimal point"
    with pytest.raises(RecordValidationError, match=too_large):
        deals.create({"name": "x", "amount": "-10000000000000000"})
