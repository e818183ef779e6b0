"""PostgreSQL connections: no ping per operation, yet a dropped connection costs no request; JIT off.

A pooled connection the server dropped (a restart, a failover, an idle timeout) is found by
the first statement of the next operation, which then starts again on a new connection; one
dropped in the middle of an operation is a ConnectionLost sentence, never a driver error.
"""
from __future__ import annotations

from typing import Iterator

import pytest
from sqlalchemy import text

from crmkit.engine import Crm, database
from crmkit.engine.database import ConnectionLost
from crmkit.errors import CrmkitError

PACKAGE = 'package: shop\nversion: "1.0.0"\nobjects:\n  item:\n    title_field: name\n    fields:\n      name: {type: text}\n'


@pytest.fixture
def shop(postgres_url, write_package) -> Iterator[Crm]:
    crm = Crm.open(postgres_url)
    try:
        crm.install(write_package(PACKAGE))
        crm.as_system().records("item").create({"name": "kept"})
        yield crm
    finally:
        crm.close()


def drop_connections(crm: Crm) -> int:
    """Terminate, from another connection, every server process behind `crm`'s idle pooled connections."""
    pids = []
    for _ in range(crm.engine.pool.checkedin()):
        with crm.engine.connect() as connection:
            pids.append(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
    import psycopg

    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True) as admin:
        for pid in set(pids):
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
    return len(set(pids))


def test_an_operation_on_a_dropped_connection_starts_again_on_a_new_one(shop):
    items = shop.as_system().records("item")
    assert drop_connections(shop) >= 1

    assert [record["name"] for record in items.query().records] == ["kept"]
    assert items.create({"name": "after"})["name"] == "after"


def test_a_user_operation_on_a_dropped_connection_starts_again_too(shop):
    from crmkit.engine.security.users import SystemDirectory

    admin = SystemDirectory(shop).create_user("boss", permission_sets=["admin"])
    items = shop.as_user(admin.id).records("item")
    items.query()
    drop_connections(shop)

    assert [record["name"] for record in items.query().records] == ["kept"]


def test_a_connection_dropped_in_the_middle_of_an_operation_is_a_sentence(shop):
    context = shop.as_system()
    with pytest.raises(ConnectionLost) as raised:
        with context.transaction():
            context.records("item").create({"name": "lost"})
            drop_connections_in_use(shop, context)
            context.records("item").create({"name": "lost too"})
    assert isinstance(raised.value, CrmkitError)
    assert "connection to the database server was lost" in str(raised.value)
    assert [record["name"] for record in context.records("item").query().records] == ["kept"]


def drop_connections_in_use(crm: Crm, context) -> None:
    """Terminate the server process of the connection `context`'s open transaction uses."""
    with context.writing() as connection:
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    import psycopg

    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))


def test_a_connection_idle_for_long_is_pinged_before_use(shop, monkeypatch):
    """Paths outside a records operation (installs, sign-in) get a live connection after a quiet spell."""
    monkeypatch.setattr(database, "IDLE_PING_SECONDS", 0.0)
    drop_connections(shop)

    with shop.engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM item")).scalars().all() == ["kept"]


def test_a_connection_in_use_a_moment_ago_is_not_pinged(shop):
    pings = []
    shop.engine.dialect.do_ping = lambda dbapi_connection: pings.append(dbapi_connection) or True
    for _ in range(3):
        shop.as_system().records("item").query()
    assert pings == []


def test_postgresql_connections_run_without_jit_and_keep_the_urls_options(shop, postgres_url):
    with shop.engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW jit").scalar_one() == "off"
        schema = postgres_url.rsplit("search_path%3D", 1)[1]
        assert connection.exec_driver_sql("SHOW search_path").scalar_one() == schema


def test_a_new_sqlite_database_file_is_readable_by_its_owner_alone(tmp_path):
    # It holds password hashes and session digests (shared hosts, backups copied around).
    from crmkit.engine.crm import Crm

    path = tmp_path / "instance" / "crmkit.db"
    crm = Crm.open(f"sqlite:///{path}")
    try:
        crm.install("default_crm")
    finally:
        crm.close()
    assert path.stat().st_mode & 0o777 == 0o600
