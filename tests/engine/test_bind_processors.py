"""The one-function bind processors of UTC timestamps, exact decimals and JSON documents send exactly what
SQLAlchemy's generic chain (`process_bind_param`, then the storage type's processor) sends, and store values
that read back the same, on SQLite and PostgreSQL."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select
from sqlalchemy.types import TypeDecorator

from crmkit.engine.columns import ExactDecimal, JsonDocument, UtcDateTime

MOMENTS = [
    datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8))),
    datetime(2026, 3, 1, 9, 30, 15, tzinfo=timezone.utc),  # no microseconds: still six digits
    datetime(2026, 3, 1, 23, 59, 59, 999999),  # naive: taken as UTC
    datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=timezone.utc),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=5))),
    None,
]
NUMBERS = [Decimal("47749.28"), Decimal("-0.005"), Decimal("0.005"), Decimal("12.3456"), 7, "19.99", 0.1, 2.675,
           Decimal("-999999999999.99"), Decimal("1E+3"), None]
DOCUMENTS = [{"name": "星辰科技", "amount": "1.50", "when": datetime(2026, 3, 1), "n": None}, ["a", 1, 2.5], "text",
             None]


def generic(column_type: TypeDecorator, dialect):
    """SQLAlchemy's own TypeDecorator chain for `column_type` on `dialect` (its storage type's processor after
    `process_bind_param`), without the override."""
    return TypeDecorator.bind_processor(column_type.dialect_impl(dialect), dialect)


def processor(column_type: TypeDecorator, dialect):
    """What statements use: the processor SQLAlchemy keeps for `column_type` on `dialect`."""
    return column_type._cached_bind_processor(dialect)


def dialects():
    from sqlalchemy.dialects import postgresql, sqlite

    return [sqlite.dialect(), postgresql.dialect()]


@pytest.mark.parametrize("dialect", dialects(), ids=["sqlite", "postgresql"])
def test_each_processor_sends_what_the_generic_chain_sends(dialect):
    cases = [(UtcDateTime(), MOMENTS), (ExactDecimal(18, 2), NUMBERS), (ExactDecimal(9, 4), NUMBERS),
             (JsonDocument(), DOCUMENTS)]
    for column_type, values in cases:
        fast, slow = processor(column_type, dialect), generic(column_type, dialect)
        for value in values:
            expected = slow(value) if slow is not None else value
            assert fast(value) == expected and type(fast(value)) is type(expected), (column_type, value)
    if dialect.name == "sqlite":
        assert processor(UtcDateTime(), dialect)(MOMENTS[0]) == "2026-03-01 01:30:15.123456"
        assert processor(UtcDateTime(), dialect)(MOMENTS[1]) == "2026-03-01 09:30:15.000000"
        assert processor(ExactDecimal(18, 2), dialect)(Decimal("-0.005")) == -1  # half away from zero


@pytest.mark.parametrize("dialect", dialects(), ids=["sqlite", "postgresql"])
def test_a_value_that_cannot_be_sent_is_refused_as_before(dialect):
    beyond = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5)))  # past year 9999 in UTC
    for column_type, value, error in [(ExactDecimal(18, 2), "twelve", InvalidOperation),
                                      (UtcDateTime(), beyond, OverflowError),
                                      (UtcDateTime(), date(2026, 3, 1), AttributeError)]:
        with pytest.raises(error):
            processor(column_type, dialect)(value)
        with pytest.raises(error):
            generic(column_type, dialect)(value)


def test_values_stored_through_the_processors_read_back_the_same(database_url):
    from crmkit.engine.database import connect

    engine = connect(database_url)
    table = Table("h_bind_processors", MetaData(), Column("id", Integer, primary_key=True),
                  Column("moment", UtcDateTime()), Column("amount", ExactDecimal(18, 2)), Column("document", JsonDocument()))
    try:
        with engine.begin() as connection:
            table.create(connection)
            rows = [{"id": number, "moment": moment, "amount": amount, "document": document}
                    for number, (moment, amount, document) in enumerate(zip(
                        [MOMENTS[0], MOMENTS[1], MOMENTS[2], None], [Decimal("47749.28"), Decimal("-0.005"), 7, None],
                        [DOCUMENTS[0], DOCUMENTS[1], DOCUMENTS[2], None]))]
            for row in rows:
                connection.execute(insert(table), row)
            stored = {row.id: row for row in connection.execute(select(table))}
        assert stored[0].moment == MOMENTS[0] and stored[0].moment.tzinfo == timezone.utc
        assert stored[1].moment == MOMENTS[1]
        assert stored[2].moment == MOMENTS[2].replace(tzinfo=timezone.utc)
        assert [stored[number].amount for number in range(4)] == [Decimal("47749.28"), Decimal("-0.01"),
                                                                 Decimal("7.00"), None]
        assert stored[0].document == json.loads(json.dumps(DOCUMENTS[0], ensure_ascii=False, default=str))
        assert stored[1].document == DOCUMENTS[1] and stored[2].document == "text" and stored[3].document is None
    finally:
        with engine.begin() as connection:
            table.drop(connection, checkfirst=True)
        engine.dispose()
