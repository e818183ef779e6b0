"""Type changes give the same result on SQLite and PostgreSQL: converted, or refused naming the records."""
from __future__ import annotations

import pytest

from crmkit.engine import MigrationError


def with_field(version: str, field: str) -> str:
    """A package where item.ref is `field` (YAML flow mapping), or absent when empty."""
    line = f"      ref: {field}\n" if field else ""
    return (f'package: links\nversion: "{version}"\nobjects:\n  vendor:\n    title_field: name\n    fields:\n'
            f"      name: {{type: text}}\n  item:\n    title_field: name\n    fields:\n      name: {{type: text}}\n"
            f"{line}")


LOOKUP = "{type: lookup, to: vendor}"


@pytest.mark.parametrize("revived", [False, True], ids=["changed", "revived"])
@pytest.mark.parametrize("kind", ["text", "textarea", "picklist"])
def test_ids_stored_as_text_become_a_lookup(crm, write_package, kind, revived):
    field = "{type: picklist, options: ['1', '2', '3']}" if kind == "picklist" else f"{{type: {kind}}}"
    crm.install(write_package(with_field("1.0.0", field), "v1.yaml"))
    system = crm.as_system()
    vendor = system.records("vendor").create({"name": "Acme"})
    item = system.records("item").create({"name": "bolt", "ref": str(vendor.id)})
    if revived:
        crm.install(write_package(with_field("1.1.0", ""), "v2.yaml"))

    crm.install(write_package(with_field("2.0.0", LOOKUP), "v3.yaml"))

    assert crm.as_system().records("item").get(item.id)["ref"] == vendor.id


@pytest.mark.parametrize("revived", [False, True], ids=["changed", "revived"])
@pytest.mark.parametrize("stored", ["7", "seven"])
def test_text_that_is_no_existing_id_refuses_the_lookup_naming_the_record(crm, write_package, stored, revived):
    crm.install(write_package(with_field("1.0.0", "{type: text}"), "v1.yaml"))
    system = crm.as_system()
    vendor = system.records("vendor").create({"name": "Acme"})
    system.records("item").create({"name": "good", "ref": str(vendor.id)})
    bad = system.records("item").create({"name": "bad", "ref": stored})
    if revived:
        crm.install(write_package(with_field("1.1.0", ""), "v2.yaml"))

    with pytest.raises(MigrationError) as refused:
        crm.install(write_package(with_field("2.0.0", LOOKUP), "v3.yaml"))

    assert f"id {bad.id} " in str(refused.value)
    assert crm.as_system().records("item").get(bad.id).get("ref", stored) == stored
