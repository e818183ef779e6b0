"""`crmkit migrate` rebuilds indexes an older crmkit built in another order, and keeps startswith indexes with their fields."""
from __future__ import annotations

import pytest
from sqlalchemy import inspect

from crmkit.engine.migrations.steps import CreateIndex, DropIndex, RebuildIndex
from crmkit.engine.query import QueryContext, QuerySpec, fetch_rows

PACKAGE = """\
package: shop
version: "1.0.0"
objects:
  customer:
    label: Customer
    default_sort: [name]
    fields:
      name: {type: text, label: Name, indexed: true}
      email: {type: email, label: Email, indexed: %s}
"""


def indexes(crm, table: str) -> dict[str, dict]:
    with crm.engine.connect() as connection:
        return {index["name"]: index for index in inspect(connection).get_indexes(table)}


def page_plans(crm, plan_reader, spec: QuerySpec) -> list:
    runtime = crm.runtime
    ctx = QueryContext(runtime.registry, runtime.schema, runtime.field_types)

    def read() -> None:
        with crm.engine.connect() as connection:
            fetch_rows(connection, ctx, "customer", spec)
    return plan_reader(crm.engine).plans(read)


def test_migrate_rebuilds_an_index_built_in_the_old_order(crm, install, plan_reader):
    install(PACKAGE % "false")
    with crm.engine.begin() as connection:  # what crmkit built before: the database's default order, no id
        connection.exec_driver_sql("DROP INDEX ix_customer_name")
        connection.exec_driver_sql("CREATE INDEX ix_customer_name ON customer (name DESC)")
    assert any(plan.sorts for plan in page_plans(crm, plan_reader, QuerySpec(limit=10)))
    plan = crm.migrate()
    assert [type(step) for step in plan.steps] == [RebuildIndex], plan.describe()
    assert "ix_customer_name" in plan.describe()
    assert not any(plan.sorts for plan in page_plans(crm, plan_reader, QuerySpec(limit=10)))
    assert crm.migrate().is_empty


def test_migrate_rebuilds_a_postgresql_index_sorted_empty_last(postgres_url, write_package, plan_reader):
    """PostgreSQL's default ASC NULLS LAST serves no page: same columns, other NULL order, still rebuilt."""
    from crmkit.engine import Crm

    crm = Crm.open(postgres_url)
    try:
        crm.install(write_package(PACKAGE % "false"))
        with crm.engine.begin() as connection:
            connection.exec_driver_sql("DROP INDEX ix_customer_name")
            connection.exec_driver_sql("CREATE INDEX ix_customer_name ON customer (name, id)")
        assert any(plan.sorts for plan in page_plans(crm, plan_reader, QuerySpec(limit=10)))
        plan = crm.migrate()
        assert [type(step) for step in plan.steps] == [RebuildIndex], plan.describe()
        assert indexes(crm, "customer")["ix_customer_name"]["column_sorting"] == {"name": ("nulls_first",)}
        assert not any(plan.sorts for plan in page_plans(crm, plan_reader, QuerySpec(limit=10)))
    finally:
        crm.close()


def test_an_indexed_text_field_gets_a_startswith_index_that_goes_with_the_index(crm, install, write_package):
    install(PACKAGE % "false")
    assert "ip_customer_email" not in indexes(crm, "customer")
    plan = crm.install(write_package(PACKAGE % "true"))
    assert {(type(step), step.name) for step in plan.steps} == {
        (CreateIndex, "ix_customer_email"), (CreateIndex, "ip_customer_email")}, plan.describe()
    assert "ip_customer_email" in indexes(crm, "customer")
    assert crm.migrate().is_empty
    plan = crm.install(write_package(PACKAGE % "false"))
    assert {(type(step), step.name) for step in plan.steps} == {
        (DropIndex, "ix_customer_email"), (DropIndex, "ip_customer_email")}, plan.describe()
    assert "ip_customer_email" not in indexes(crm, "customer")


def test_a_purged_field_takes_its_startswith_index_along(crm, install, write_package):
    install(PACKAGE % "true")
    crm.install(write_package(PACKAGE.replace("      email: {type: email, label: Email, indexed: %s}\n", "")))
    crm.migrate(purge=["customer.email"])
    assert not [name for name in indexes(crm, "customer") if "email" in name]
    assert "ip_customer_name" in indexes(crm, "customer")


def test_a_new_index_in_an_analysed_sqlite_database_gets_its_statistics(crm, install, write_package):
    """Without them SQLite's planner guesses ten rows per value and may prefer the new index to
    analysed ones (a sales rep's list sorted after reading, at a million accounts)."""
    if crm.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL plans from column statistics")
    install(PACKAGE % "false")
    customers = crm.as_system().records("customer")
    for number in range(3):  # SQLite keeps no statistics of an empty table
        customers.create({"name": f"Customer {number}", "email": f"c{number}@example.com"})
    with crm.engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")
    crm.install(write_package(PACKAGE % "true"))
    with crm.engine.connect() as connection:
        analysed = {row[0] for row in connection.exec_driver_sql("SELECT idx FROM sqlite_stat1")}
    assert {"ix_customer_email", "ip_customer_email"} <= analysed


ORDERS = """\
package: orders
version: "1.0.0"
objects:
  customer:
    label: Customer
    default_sort: [name]
    fields:
      name: {type: text, label: Name}
    layouts:
      related:
        - {object: purchase, via: customer, columns: [number], sort: [-number]}
  purchase:
    label: Purchase
    default_sort: [number]
    fields:
      number: {type: integer, label: Number}
      customer: {type: lookup, label: Customer, to: customer}
      referrer: {type: lookup, label: Referred by, to: customer}
"""


def test_migrate_replaces_a_lookup_index_over_every_row_by_the_related_lists_partial_index(crm, install,
                                                                                          plan_reader):
    """crmkit before 0.x indexed a lookup as (lookup, id) over every row: the related list was sorted after reading."""
    install(ORDERS)
    with crm.engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ix_purchase_customer_number")
        connection.exec_driver_sql("DROP INDEX ix_purchase_referrer")
        connection.exec_driver_sql("CREATE INDEX ix_purchase_customer ON purchase (customer, id)")
        connection.exec_driver_sql("CREATE INDEX ix_purchase_referrer ON purchase (referrer, id)")
    runtime = crm.runtime
    ctx = QueryContext(runtime.registry, runtime.schema, runtime.field_types)

    def related_plans() -> list:
        def read() -> None:
            with crm.engine.connect() as connection:
                fetch_rows(connection, ctx, "purchase", QuerySpec(filter={"customer": 1}, sort=("-number",), limit=5))
        return plan_reader(crm.engine).plans(read)

    assert any(plan.sorts for plan in related_plans())
    plan = crm.migrate()
    assert {(type(step), step.name) for step in plan.steps} == {
        (CreateIndex, "ix_purchase_customer_number"), (DropIndex, "ix_purchase_customer"),
        (RebuildIndex, "ix_purchase_referrer")}, plan.describe()
    assert "rows without referrer" in plan.describe()
    found = indexes(crm, "purchase")
    where = f"{crm.engine.dialect.name}_where"
    assert str(found["ix_purchase_customer_number"]["dialect_options"][where]).strip("()") == "customer IS NOT NULL"
    assert str(found["ix_purchase_referrer"]["dialect_options"][where]).strip("()") == "referrer IS NOT NULL"
    assert not any(plan.sorts for plan in related_plans())
    assert all("ix_purchase_customer_number" in plan.indexes for plan in related_plans())
    assert crm.migrate().is_empty


def test_a_failed_lookup_index_upgrade_leaves_the_old_indexes(crm, install, monkeypatch):
    from crmkit.engine.migrations import applier

    install(ORDERS)
    with crm.engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ix_purchase_customer_number")
        connection.exec_driver_sql("CREATE INDEX ix_purchase_customer ON purchase (customer, id)")
    before = set(indexes(crm, "purchase"))

    def fail(self, step) -> None:
        raise RuntimeError("the disk is full")
    monkeypatch.setattr(applier.Applier, "_DropIndex", fail)
    with pytest.raises(RuntimeError):
        crm.migrate()
    assert set(indexes(crm, "purchase")) == before


def test_a_related_list_sorted_by_long_text_keeps_a_lookup_index_without_it(crm, install):
    """A b-tree entry has a size limit on PostgreSQL: an index never holds a textarea (that list is sorted after reading)."""
    install(ORDERS.replace("      number: {type: integer, label: Number}\n",
                           "      number: {type: integer, label: Number}\n      notes: {type: textarea, label: Notes}\n")
            .replace("sort: [-number]", "sort: [notes]"))
    found = indexes(crm, "purchase")
    assert "ix_purchase_customer" in found and found["ix_purchase_customer"]["column_names"] == ["customer", "id"]
    assert not [name for name in found if "notes" in name]
