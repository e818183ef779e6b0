"""On PostgreSQL, pages read again and again run as prepared statements planned for their page size.

psycopg prepares a statement after a connection ran it 5 times, and forgets all of them on
ROLLBACK; reads end with COMMIT, and LIMIT/OFFSET are numbers in the SQL (engine/prepared.py).
"""
from __future__ import annotations

from typing import Iterator

import pytest
from sqlalchemy import select

from crmkit.engine import Crm

PACKAGE = """\
package: shop
version: "1.0.0"
objects:
  customer:
    label: Customer
    default_sort: [name]
    fields:
      name: {type: text, label: Name, indexed: true}
      city: {type: text, label: City, indexed: true}
"""


@pytest.fixture
def crm(postgres_url, write_package) -> Iterator[Crm]:
    instance = Crm.open(postgres_url)
    try:
        instance.install(write_package(PACKAGE))
        customers = instance.as_system().records("customer")
        for number in range(30):
            customers.create({"name": f"Customer {number:02d}", "city": ("Beijing", "Paris")[number % 2]})
        yield instance
    finally:
        instance.close()


def prepared(crm: Crm) -> list[str]:
    """The statements prepared on the pool's connection (the tests read one at a time: the pool holds one)."""
    with crm.engine.connect() as connection:
        found = list(connection.exec_driver_sql("SELECT statement FROM pg_prepared_statements").scalars())
        connection.commit()  # a ROLLBACK, as closing the connection would do, makes psycopg forget them all
    return found


def page_statements(crm: Crm) -> list[str]:
    return [text for text in prepared(crm) if "FROM customer" in text and "ORDER BY" in text]


def test_a_page_read_again_and_again_is_prepared_and_stays_prepared(crm):
    customers = crm.as_system().records("customer")
    crm.engine.dispose()  # one fresh connection, whatever the setup did before
    for _ in range(8):
        page = customers.query({"city": "Paris"}, sort=["name"], limit=10)
    assert [record["name"] for record in page.records] == [f"Customer {n:02d}" for n in range(1, 20, 2)]
    assert len(page_statements(crm)) == 1, prepared(crm)
    with crm.engine.connect() as connection:  # what every read did before: rolled back when closed
        connection.exec_driver_sql("SELECT 1")
    assert page_statements(crm) == []
    for _ in range(6):
        customers.query({"city": "Paris"}, sort=["name"], limit=10)
    crm.as_system().records("customer").get(page.records[0].id)  # another read ends: nothing is forgotten
    assert len(page_statements(crm)) == 1, prepared(crm)


def test_a_failed_read_still_rolls_back(crm):
    """Only a read that succeeded commits; one that failed leaves nothing behind (the statement's error)."""
    from crmkit.engine.query.errors import QueryError

    customers = crm.as_system().records("customer")
    with pytest.raises(QueryError):
        customers.query({"nowhere": "x"})
    assert customers.query(limit=1).records


def test_limit_and_offset_are_numbers_in_the_prepared_page(crm):
    customers = crm.as_system().records("customer")
    crm.engine.dispose()
    for _ in range(6):
        customers.query({"city": "Beijing"}, sort=["name"], limit=5, offset=10)
    statements = page_statements(crm)
    assert len(statements) == 1, prepared(crm)
    assert "LIMIT 6" in statements[0] and "OFFSET 10" in statements[0], statements[0]


def test_limits_written_as_numbers_keep_sqlalchemys_compiled_cache(crm):
    """The numbers are rendered when the statement runs: one compiled form serves every page size."""
    table = crm.runtime.table("customer")
    with crm.engine.connect() as connection:
        rows = [connection.execute(select(table.c.name).order_by(table.c.name).limit(size).offset(size)).all()
                for size in (2, 3)]
    assert [len(found) for found in rows] == [2, 3]
    assert rows[0][0].name == "Customer 02" and rows[1][0].name == "Customer 03"
