"""The longest names validation accepts work on PostgreSQL: derived names fit 63 bytes and never collide."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import inspect

from crmkit.engine.tables import MAX_NAME, fit_name

# 63 characters each; the pairs share their first 62, so only a hash can keep derived names apart.
PARENT = "p" * 62 + "a"
CHILD = "p" * 62 + "b"
NAME = "n" * 62 + "a"
OTHER = "n" * 62 + "b"
LINK = "l" * 63
TOTAL = "t" * 63
AMOUNT = "m" * 63

LONG = f"""
package: long_names
version: "1.0.0"
objects:
  {PARENT}:
    title_field: {NAME}
    sharing: private
    indexes: [{{fields: [{NAME}, {OTHER}]}}, {{fields: [{OTHER}, {NAME}], unique: true}}]
    fields:
      {NAME}: {{type: text, required: true, indexed: true}}
      {OTHER}: {{type: integer, unique: true}}
      {TOTAL}: {{type: rollup, from: {CHILD}.{LINK}, aggregate: sum, field: {AMOUNT}}}
  {CHILD}:
    sharing: private
    indexes: [{{fields: [{LINK}, {AMOUNT}]}}]
    fields:
      {NAME}: {{type: text, unique: true}}
      {LINK}: {{type: lookup, to: {PARENT}}}
      {AMOUNT}: {{type: currency, indexed: true}}
      {OTHER}: {{type: integer, indexed: true}}
"""


def derived_names(crm) -> list[str]:
    """Every index and foreign key name on the two tables, plus their columns."""
    with crm.engine.connect() as connection:
        inspector = inspect(connection)
        names = []
        for table in (PARENT, CHILD):
            names += [index["name"] for index in inspector.get_indexes(table)]
            names += [key["name"] for key in inspector.get_foreign_keys(table) if key["name"]]
        return names


def columns(crm, table: str) -> set[str]:
    with crm.engine.connect() as connection:
        return {column["name"] for column in inspect(connection).get_columns(table)}


def test_fit_name_keeps_short_names_and_shortens_long_ones_with_a_hash():
    assert fit_name("ix_account_name") == "ix_account_name"
    long_a, long_b = fit_name("ix_" + "x" * 70 + "a"), fit_name("ix_" + "x" * 70 + "b")
    assert len(long_a.encode()) == len(long_b.encode()) == MAX_NAME
    assert long_a != long_b and long_a[:54] == long_b[:54]
    assert fit_name("ix_" + "x" * 70 + "a") == long_a


def test_the_longest_names_install_and_migrate(crm, install, write_package):
    install(LONG)
    names = derived_names(crm)
    assert len(names) == len(set(names)) >= 12
    assert all(len(name.encode()) <= MAX_NAME for name in names)
    session = crm.as_system()
    parent = session.records(PARENT).create({NAME: "Acme", OTHER: 1})
    session.records(CHILD).create({NAME: "one", LINK: parent.id, AMOUNT: "2.50", OTHER: 7})
    session.records(CHILD).create({NAME: "two", LINK: parent.id, AMOUNT: "1.25", OTHER: 8})
    assert session.records(PARENT).get(parent.id)[TOTAL] == Decimal("3.75")

    renamed = "r" * 63
    upgraded = (LONG.replace('version: "1.0.0"', 'version: "2.0.0"')
                .replace(f"      {OTHER}: {{type: integer, indexed: true}}",
                         f"      {OTHER}: {{type: decimal, indexed: true}}")
                .replace(f"      {NAME}: {{type: text, unique: true}}",
                         f"      {renamed}: {{type: text, unique: true, renamed_from: {NAME}}}"))
    crm.install(write_package(upgraded))
    assert renamed in columns(crm, CHILD) and NAME not in columns(crm, CHILD)
    names = derived_names(crm)
    assert len(names) == len(set(names))
    assert all(len(name.encode()) <= MAX_NAME for name in names)
    children = crm.as_system().records(CHILD)
    assert [r[OTHER] for r in children.query({OTHER: {"gte": 7}}, sort=[f"-{OTHER}"]).records] == [
        Decimal("8.0000"), Decimal("7.0000")]
    assert children.count({renamed: "two"}).value == 1
    assert crm.plan().is_empty
