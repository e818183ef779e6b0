"""Type changes give the same result on SQLite and PostgreSQL: converted, or refused naming the records."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

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


def with_value(version: str, field: str) -> str:
    return (f'package: kinds\nversion: "{version}"\nobjects:\n  item:\n    title_field: name\n    fields:\n'
            f"      name: {{type: text}}\n      value: {field}\n")


MIDNIGHT = datetime(2024, 2, 29, tzinfo=timezone.utc)


@pytest.mark.parametrize("old_type,stored,new_type,expected", [
    ("boolean", True, "integer", 1),
    ("boolean", False, "decimal", Decimal("0")),
    ("boolean", True, "text", "true"),
    ("date", "2024-02-29", "text", "2024-02-29"),
    ("date", "2024-02-29", "datetime", MIDNIGHT),
    ("datetime", "2024-02-29T13:45:00Z", "text", "2024-02-29T13:45:00+00:00"),
    ("datetime", "2024-02-29T00:00:00Z", "date", date(2024, 2, 29)),
])
def test_yes_no_dates_and_moments_convert_alike_on_every_database(crm, write_package, old_type, stored, new_type,
                                                                  expected):
    crm.install(write_package(with_value("1.0.0", f"{{type: {old_type}}}"), "v1.yaml"))
    item = crm.as_system().records("item").create({"name": "x", "value": stored})

    crm.install(write_package(with_value("2.0.0", f"{{type: {new_type}}}"), "v2.yaml"))

    assert crm.as_system().records("item").get(item.id)["value"] == expected


@pytest.mark.parametrize("old_type,stored,new_type", [
    ("datetime", "2024-02-29T13:45:00Z", "date"),
    ("boolean", True, "url"),
    ("boolean", True, "lookup"),
    ("date", "2024-02-29", "phone"),
    ("date", "2024-02-29", "url"),
    ("datetime", "2024-02-29T13:45:00Z", "url"),
])
def test_a_conversion_that_would_lose_or_invent_meaning_is_refused_on_every_database(crm, write_package, old_type,
                                                                                    stored, new_type):
    crm.install(write_package(with_value("1.0.0", f"{{type: {old_type}}}"), "v1.yaml"))
    item = crm.as_system().records("item").create({"name": "x", "value": stored})
    kept = crm.as_system().records("item").get(item.id)["value"]
    new = "{type: lookup, to: item}" if new_type == "lookup" else f"{{type: {new_type}}}"

    with pytest.raises(MigrationError) as refused:
        crm.install(write_package(with_value("2.0.0", new), "v2.yaml"))

    assert f"id {item.id} " in str(refused.value)
    assert crm.as_system().records("item").get(item.id)["value"] == kept


def test_a_kept_moment_revived_as_a_date_keeps_its_time_of_day_or_is_refused(crm, write_package):
    crm.install(write_package(with_value("1.0.0", "{type: datetime}"), "v1.yaml"))
    item = crm.as_system().records("item").create({"name": "x", "value": "2024-02-29T13:45:00Z"})
    crm.install(write_package(with_value("1.1.0", "{type: text}").replace("      value: {type: text}\n", ""),
                              "v2.yaml"))

    with pytest.raises(MigrationError) as refused:
        crm.install(write_package(with_value("2.0.0", "{type: date}"), "v3.yaml"))
    assert f"id {item.id} " in str(refused.value)

    crm.install(write_package(with_value("2.0.0", "{type: text}"), "v3.yaml"))
    assert crm.as_system().records("item").get(item.id)["value"] == "2024-02-29T13:45:00+00:00"
