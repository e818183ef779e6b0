"""Attack on PostgreSQL's one-moment reads (commit 8c0150d: a UserContext's reads run in REPEATABLE READ, each
such transaction beginning with LOCK TABLE crmkit_metadata_state IN ACCESS SHARE MODE, in one pipeline with its
BEGIN; database.read_connection, database._read_after_migrations).

Checked: the pool hands a later writer (and any plain connection) a connection in the server's default READ
COMMITTED again; writes run beside reading pages without serialization failures; a connection dropped while its
LOCK waits (behind a migration's ACCESS EXCLUSIVE lock) costs the operation nothing: it starts again on a new
connection, which waits for the migration in turn. PostgreSQL only (SQLite reads one snapshot in any case).
"""
from __future__ import annotations

import threading
import time
from typing import Iterator

import psycopg
import pytest

from crmkit.engine import Crm
from crmkit.engine.database import write_transaction

PACKAGE = 'package: shop\nversion: "1.0.0"\nobjects:\n  item:\n    title_field: name\n    fields:\n      name: {type: text}\n      amount: {type: integer}\n'
ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test"


@pytest.fixture
def shop(postgres_url, write_package) -> Iterator[Crm]:
    crm = Crm.open(postgres_url)
    try:
        crm.install(write_package(PACKAGE))
        crm.as_system().records("item").create({"name": "kept", "amount": 0})
        yield crm
    finally:
        crm.close()


def isolation(connection) -> str:
    return connection.exec_driver_sql("SHOW transaction_isolation").scalar_one()


def test_a_connection_a_read_gave_back_reaches_writers_and_plain_users_in_read_committed(shop):
    items = shop.as_system().records("item")
    with shop.engine.connect() as connection:
        reader_pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    items.query()  # on the pooled connection, in REPEATABLE READ
    with shop.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() == reader_pid
        assert isolation(connection) == "read committed"
    with write_transaction(shop.write_engine) as connection:
        assert isolation(connection) == "read committed"
    with shop.as_system().writing() as connection:
        assert isolation(connection) == "read committed"
    with shop.as_system().reading() as connection:
        assert isolation(connection) == "repeatable read"


def test_writes_beside_reading_pages_are_never_refused_as_serialization_failures(shop):
    items = shop.as_system().records("item")
    record_id = items.query().records[0].id
    other_id = items.create({"name": "other", "amount": 0}).id
    errors: list[BaseException] = []
    done = threading.Event()

    def write() -> None:
        writer = shop.as_system().records("item")
        try:
            for amount in range(1, 16):
                writer.update(record_id, {"amount": amount}, version=writer.get(record_id).version)
        except BaseException as error:  # noqa: BLE001 (reported by the test)
            errors.append(error)
        finally:
            done.set()

    thread = threading.Thread(target=write)
    reader = shop.as_system()
    thread.start()
    seen = []
    while not done.is_set():
        with reader.snapshot():
            first = reader.records("item").get(record_id)["amount"]
            time.sleep(0.005)
            seen.append((first, reader.records("item").get(record_id)["amount"]))
            # a write in the middle of a page runs in a transaction of its own, on the latest row
            if len(seen) % 3 == 0:
                writes = reader.records("item")  # the page's own context
                writes.update(other_id, {"amount": len(seen)}, version=writes.get(other_id).version)
    thread.join()
    assert errors == []
    assert all(first == second for first, second in seen)  # each page read one moment
    assert items.get(record_id)["amount"] == 15


def test_a_connection_dropped_while_its_lock_waits_for_a_migration_starts_again(shop, postgres_url):
    schema = postgres_url.rsplit("search_path%3D", 1)[1]
    items = shop.as_system().records("item")
    items.query()
    result: list = []

    def read() -> None:
        try:
            result.append([record["name"] for record in items.query().records])
        except BaseException as error:  # noqa: BLE001 (reported by the test)
            result.append(error)

    with psycopg.connect(ADMIN) as migration, psycopg.connect(ADMIN, autocommit=True) as admin:
        migration.execute(f'LOCK TABLE "{schema}".crmkit_metadata_state IN ACCESS EXCLUSIVE MODE')
        thread = threading.Thread(target=read)
        thread.start()
        waiting = None
        for _ in range(200):
            waiting = admin.execute("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                    "AND query LIKE '%%LOCK TABLE crmkit_metadata_state%%'").fetchone()
            if waiting:
                break
            time.sleep(0.025)
        assert waiting is not None, "the read's LOCK did not wait for the migration"
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", waiting)
        time.sleep(0.2)
        assert thread.is_alive(), "the read did not wait for the migration on its new connection"
        migration.commit()
    thread.join(10)
    assert result == [["kept"]]
