"""Attack on the one-function bind processors (engine/columns.py: UtcDateTime and ExactDecimal on SQLite) through
the engine: values at the edges (negative zero, rounding to the field's scale at its precision's limit, floats,
time zone aware and naive moments, daylight saving folds and gaps, microseconds, years 1 and 9999) are stored,
read back and found by an equality filter exactly alike on SQLite and PostgreSQL.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from crmkit.engine import RecordValidationError

PACKAGE = """
package: attack5values
version: "1.0.0"
objects:
  deal:
    title_field: name
    fields:
      name: {type: text}
      amount: {type: currency}
      rate: {type: decimal, precision: 18, scale: 4}
      at: {type: datetime}
"""

NEW_YORK, SHANGHAI = ZoneInfo("America/New_York"), ZoneInfo("Asia/Shanghai")

#: (given, what reads back) for `amount` (scale 2) and `rate` (scale 4); a class: refused as invalid.
AMOUNTS = [
    (Decimal("-0"), Decimal("0.00")), (Decimal("-0.00"), Decimal("0.00")), (Decimal("-0.004"), Decimal("0.00")),
    (Decimal("-0.005"), Decimal("-0.01")), (Decimal("0.005"), Decimal("0.01")), (Decimal("1E-30"), Decimal("0.00")),
    (Decimal("9999999999999999.99"), Decimal("9999999999999999.99")),
    (Decimal("-9999999999999999.99"), Decimal("-9999999999999999.99")),
    (Decimal("9999999999999999.995"), RecordValidationError), (Decimal("-9999999999999999.995"), RecordValidationError),
    (Decimal("1E+16"), RecordValidationError), (0.125, Decimal("0.13")), (2.675, Decimal("2.68")),
    ("12.345", Decimal("12.35")), (7, Decimal("7.00")),
]
RATES = [
    (Decimal("-0.00005"), Decimal("-0.0001")), (Decimal("-0.00004"), Decimal("0.0000")),
    (Decimal("99999999999999.9999"), Decimal("99999999999999.9999")),
    (Decimal("99999999999999.99995"), RecordValidationError), (Decimal("0.1") + Decimal("0.2"), Decimal("0.3000")),
]
MOMENTS = [
    datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8))),
    datetime(2026, 3, 1, 9, 30, 15),  # naive: UTC
    datetime(2026, 3, 1, 9, 30, 15, 1, tzinfo=timezone.utc),
    datetime(2026, 3, 1, 9, 30, 15, 999999, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
    datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK),  # ambiguous: first (EDT, 05:30 UTC)
    datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NEW_YORK),  # ambiguous: second (EST, 06:30 UTC)
    datetime(2026, 3, 8, 2, 30, tzinfo=NEW_YORK),  # in the spring gap
    datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=SHANGHAI),
    datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=timezone.utc),
    datetime(1, 1, 2, 7, 0, tzinfo=timezone(timedelta(hours=8))),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
    datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
    datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
]


@pytest.fixture
def deals(crm, install):
    install(PACKAGE)
    return crm.as_system().records("deal")


@pytest.mark.parametrize("field, cases", [("amount", AMOUNTS), ("rate", RATES)])
def test_decimals_at_the_edges_read_back_and_match_exactly(deals, field, cases):
    for given, expected in cases:
        if expected is RecordValidationError:
            with pytest.raises(RecordValidationError):
                deals.create({"name": "edge", field: given})
            continue
        created = deals.create({"name": f"{field} {given!r}", field: given})
        stored = deals.get(created.id)[field]
        assert stored == expected and str(stored) == str(expected), (given, stored)
        found = {record.id for record in deals.query({field: expected}, limit=500).records}
        assert created.id in found, (given, expected)
        assert created.id in {record.id for record in deals.query({field: {"gte": expected, "lte": expected}},
                                                                  limit=500).records}


def test_moments_at_the_edges_read_back_as_the_same_instant_in_utc(deals):
    created = {}
    for number, moment in enumerate(MOMENTS):
        created[number] = deals.create({"name": f"moment {number}", "at": moment})
    for number, moment in enumerate(MOMENTS):
        expected = (moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)).astimezone(
            timezone.utc)
        stored = deals.get(created[number].id)["at"]
        assert stored == expected and stored.utcoffset() == timedelta(0), (moment, stored)
        assert stored.microsecond == expected.microsecond
        assert [record.id for record in deals.query({"at": moment}).records] == [created[number].id], moment
        assert [record.id for record in deals.query({"at": expected}).records] == [created[number].id], moment
    ambiguous_first, ambiguous_second = (deals.get(created[number].id)["at"] for number in (4, 5))
    assert ambiguous_second - ambiguous_first == timedelta(hours=1)


def test_moments_sort_in_instant_order_whatever_zone_they_were_given_in(deals):
    for number, moment in enumerate(MOMENTS):
        deals.create({"name": f"moment {number}", "at": moment})
    read = [record["at"] for record in deals.query(sort=["at"], limit=100).records]
    assert read == sorted(read) and len(read) == len(MOMENTS)
    walked, after = [], None
    while True:
        page = deals.query(sort=["-at"], limit=3, after=after, fields=("at",))
        walked += [record["at"] for record in page.records]
        if not page.has_more:
            break
        after = page.next_cursor
    assert walked == sorted(read, reverse=True)
