"""The PostgreSQL schemas tests share one after another come back as `Crm.open` left them."""
from __future__ import annotations

import pytest

from tests.conftest import PreparedSchemas, add_users, require_postgres

PACKAGE = 'package: shop\nversion: "1.0.0"\nobjects:\n  order:\n    fields:\n      name: {type: text, searchable: true}\n'


@pytest.fixture
def schemas() -> PreparedSchemas:
    require_postgres()
    schemas = PreparedSchemas()
    yield schemas
    schemas.drop_all()


def tables_of(schemas: PreparedSchemas, schema: str) -> set[str]:
    with schemas.connect() as connection:
        return {name for (name,) in connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s",
                                                       (schema,))}


def test_a_used_schema_comes_back_with_only_the_system_tables_empty_and_numbering_from_one(schemas, tmp_path):
    from crmkit.engine import Crm

    schema, rows, fingerprint = schemas.take()
    system_tables = tables_of(schemas, schema)
    package = tmp_path / "shop.yaml"
    package.write_text(PACKAGE, encoding="utf-8")
    crm = Crm.open(schemas.url(schema))
    crm.install(package)
    add_users(crm, [("ann", None, [])])
    crm.as_system().records("order").create({"name": "first"})
    crm.close()
    assert tables_of(schemas, schema) > system_tables

    schemas.give_back(schema, rows, fingerprint)
    assert schemas.free == [(schema, rows, fingerprint)]
    assert tables_of(schemas, schema) == system_tables
    crm = Crm.open(schemas.url(schema))
    try:
        assert crm.installed_packages() == []
        assert add_users(crm, [("bob", None, [])]) == {"bob": 1}
    finally:
        crm.close()


def test_a_schema_whose_system_tables_a_test_changed_is_dropped_not_reused(schemas):
    schema, rows, fingerprint = schemas.take()
    with schemas.connect() as connection:
        connection.execute(f'ALTER TABLE "{schema}".crmkit_user ADD COLUMN nickname text')
    schemas.give_back(schema, rows, fingerprint)
    assert schemas.free == []
    assert tables_of(schemas, schema) == set()
