"""A running process follows upgrades another process (or another Crm object) installed."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import text

from crmkit.engine import Crm
from crmkit.errors import CrmkitError


def item_package(version: str, fields: str) -> str:
    """The shop package at `version`; `fields` are YAML lines indented by six spaces."""
    return (f'package: shop\nversion: "{version}"\nobjects:\n  item:\n    title_field: name\n    fields:\n'
            f"      name: {{type: text}}\n{fields}\n")


SIX_PLACES = "      price: {type: decimal, precision: 18, scale: 6}"
TWO_PLACES = "      price: {type: decimal, precision: 8, scale: 2}"


@pytest.fixture
def worker(crm, database_url):
    """Another process's Crm on the same database, opened before the test upgrades it."""
    other = Crm.open(database_url)
    yield other
    other.close()


def test_a_process_opened_before_an_upgrade_writes_with_the_new_column_definitions(crm, worker, write_package,
                                                                                   database_url):
    crm.install(write_package(item_package("1.0.0", SIX_PLACES), "v1.yaml"))
    worker.as_system().records("item").create({"name": "before", "price": Decimal("1.5")})
    crm.install(write_package(item_package("1.1.0", TWO_PLACES), "v2.yaml"))

    created = worker.as_system().records("item").create({"name": "after", "price": Decimal("1.25")})

    assert created["price"] == Decimal("1.25")
    fresh = Crm.open(database_url)
    try:
        stored = [(r["name"], r["price"]) for r in fresh.as_system().records("item").query(sort=["name"]).records]
    finally:
        fresh.close()
    assert stored == [("after", Decimal("1.25")), ("before", Decimal("1.50"))]


def test_a_process_opened_before_a_rename_uses_the_new_field_name(crm, worker, write_package):
    crm.install(write_package(item_package("1.0.0", "      code: {type: text}"), "v1.yaml"))
    worker.as_system().records("item").create({"name": "a", "code": "A-1"})
    crm.install(write_package(item_package("1.1.0", "      sku: {type: text, renamed_from: code}"), "v2.yaml"))

    items = worker.as_system().records("item")
    items.create({"name": "b", "sku": "B-2"})
    assert [(r["name"], r["sku"]) for r in items.query(sort=["name"]).records] == [("a", "A-1"), ("b", "B-2")]
    with pytest.raises(CrmkitError):
        items.create({"name": "c", "code": "C-3"})


def test_a_record_service_taken_before_an_upgrade_follows_it(crm, write_package):
    crm.install(write_package(item_package("1.0.0", SIX_PLACES), "v1.yaml"))
    context = crm.as_system()
    items = context.records("item")
    first = items.create({"name": "a", "price": Decimal("1.5")})
    crm.install(write_package(item_package("1.1.0", TWO_PLACES), "v2.yaml"))

    second = items.create({"name": "b", "price": Decimal("1.25")})

    assert items.get(first.id)["price"] == Decimal("1.50")
    assert items.get(second.id)["price"] == Decimal("1.25")
    with crm.engine.connect() as connection:
        raw = connection.execute(text("SELECT price FROM item ORDER BY id")).scalars().all()
    assert [Decimal(str(value)) for value in raw] in ([Decimal(150), Decimal(125)],
                                                     [Decimal("1.50"), Decimal("1.25")])


def test_an_install_from_a_stale_process_plans_from_what_is_installed(crm, worker, write_package):
    crm.install(write_package(item_package("1.0.0", "      code: {type: text}"), "v1.yaml"))
    crm.install(write_package(item_package("1.1.0", "      sku: {type: text, renamed_from: code}"), "v2.yaml"))

    plan = worker.install(write_package(item_package("1.2.0", "      sku: {type: text}\n      size: {type: integer}"),
                                        "v3.yaml"))

    assert "rename" not in plan.describe()
    record = worker.as_system().records("item").create({"name": "a", "sku": "S", "size": 3})
    assert (record["sku"], record["size"]) == ("S", 3)


def test_on_postgresql_an_upgrade_waits_for_an_operation_that_started_before_it(postgres_url, write_package):
    import threading

    admin, worker = Crm.open(postgres_url), Crm.open(postgres_url)
    try:
        admin.install(write_package(item_package("1.0.0", SIX_PLACES), "v1.yaml"))
        upgraded = threading.Event()
        upgrade = threading.Thread(target=lambda: (
            admin.install(write_package(item_package("1.1.0", TWO_PLACES), "v2.yaml")), upgraded.set()))
        with worker.as_system().transaction() as context:
            context.records("item").create({"name": "during", "price": Decimal("1.5")})
            upgrade.start()
            assert not upgraded.wait(1.0)  # the migration waits for the operation to end
            context.records("item").create({"name": "still old", "price": Decimal("2.500000")})
        upgrade.join(30)
        assert upgraded.is_set()
        prices = [r["price"] for r in worker.as_system().records("item").query(sort=["name"]).records]
        assert prices == [Decimal("1.50"), Decimal("2.50")]
    finally:
        admin.close()
        worker.close()


def test_on_postgresql_an_upgrade_waits_for_a_read_that_started_before_it(postgres_url, write_package):
    """A read takes no row lock, yet no migration runs between its first statement and its last."""
    import threading

    admin, worker = Crm.open(postgres_url), Crm.open(postgres_url)
    try:
        admin.install(write_package(item_package("1.0.0", SIX_PLACES), "v1.yaml"))
        admin.as_system().records("item").create({"name": "first", "price": Decimal("1.5")})
        upgraded = threading.Event()
        upgrade = threading.Thread(target=lambda: (
            admin.install(write_package(item_package("1.1.0", TWO_PLACES), "v2.yaml")), upgraded.set()))
        items = worker.as_system().records("item")
        with worker.as_system().reading() as connection:  # an operation under way: its first read is done
            upgrade.start()
            assert not upgraded.wait(1.0)  # the migration waits for the read to end
            raw = connection.execute(text("SELECT price FROM item")).scalar_one()
            assert str(raw) == "1.500000"  # six places: the column is as the operation found it
        upgrade.join(30)
        assert upgraded.is_set()
        assert [r["price"] for r in items.query().records] == [Decimal("1.50")]
    finally:
        admin.close()
        worker.close()


def test_on_postgresql_an_operation_that_starts_during_an_upgrade_waits_and_follows_it(postgres_url,
                                                                                         write_package):
    """In READ COMMITTED the operation's first read sees the upgrade it waited for, not the state before it."""
    import threading

    from crmkit.engine.generation import advance, lock_for_migration
    from crmkit.engine.tables import METADATA_STATE

    admin, worker = Crm.open(postgres_url), Crm.open(postgres_url)
    try:
        admin.install(write_package(item_package("1.0.0", SIX_PLACES), "v1.yaml"))
        items = worker.as_system().records("item")
        items.query()
        loaded = worker.runtime
        read = threading.Event()
        reader = threading.Thread(target=lambda: (items.query(), read.set()))
        state = admin.runtime.system_table(METADATA_STATE)
        with admin.engine.begin() as migration:  # a migration by hand: lock, change, count one more
            lock_for_migration(migration, state)
            advance(migration, state)
            reader.start()
            assert not read.wait(1.0)  # the operation waits for the migration to commit
        reader.join(30)
        assert read.is_set()
        assert worker.runtime is not loaded  # it read the new generation, so it reloaded the metadata
    finally:
        admin.close()
        worker.close()
