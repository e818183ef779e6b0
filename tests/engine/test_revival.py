"""Kept (retired) data used again goes through the same checks and conversion as a type change."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import inspect

from crmkit.engine import MigrationError

ITEM_FIELDS = {
    "name": "{type: text}",
    "code": "{type: text}",
    "tier": "{type: picklist, options: [Gold, Silver, Bronze]}",
    "tags": "{type: multi_picklist, options: [A, B]}",
    "buyer": "{type: lookup, to: account}",
    "note": "{type: text, max_length: 100}",
}


def package(version: str, item: dict[str, str] | None) -> str:
    """The test package: account and vendor, plus an item object with the given fields (None: no item)."""
    text = f"""
package: kept
version: "{version}"
objects:
  account:
    title_field: name
    fields:
      name: {{type: text}}
  vendor:
    title_field: name
    fields:
      name: {{type: text}}
"""
    if item is not None:
        text += "  item:\n    title_field: name\n    fields:\n"
        text += "".join(f"      {name}: {spec}\n" for name, spec in item.items())
    return text


def without(*names: str) -> dict[str, str]:
    return {name: spec for name, spec in ITEM_FIELDS.items() if name not in names}


@pytest.fixture
def kept(crm, write_package):
    """Version 1 with two items; `upgrade(version, fields)` installs another version."""
    crm.install(write_package(package("1.0.0", ITEM_FIELDS), "v1.yaml"))
    session = crm.as_system()
    first = session.records("account").create({"name": "Acme"})
    second = session.records("account").create({"name": "Globex"})
    session.records("vendor").create({"name": "Initech"})
    items = session.records("item")
    good = items.create({"name": "good", "code": "7", "tier": "Gold", "tags": ["A", "B"], "buyer": first.id,
                         "note": "short"})
    bad = items.create({"name": "bad", "code": "ABC-7", "tier": "Bronze", "tags": ["B"], "buyer": second.id,
                        "note": "a note that is longer than ten characters"})

    def upgrade(version: str, fields: dict[str, str] | None):
        return crm.install(write_package(package(version, fields), f"v{version}.yaml"))

    return crm, upgrade, good, bad


def refused(upgrade, version: str, fields: dict[str, str] | None) -> str:
    with pytest.raises(MigrationError) as caught:
        upgrade(version, fields)
    return str(caught.value)


def test_a_field_re_added_with_another_type_is_converted_or_refused_like_a_type_change(kept):
    crm, upgrade, good, bad = kept
    upgrade("2.0.0", without("code"))
    message = refused(upgrade, "3.0.0", {**without("code"), "code": "{type: decimal}"})
    assert "nothing was changed" in message and f"id {bad.id} ('ABC-7'" in message
    assert f"id {good.id} " not in message
    assert crm.installed_packages()[0]["version"] == "2.0.0"
    assert "code" not in crm.as_system().records("item").get(bad.id)
    crm.as_system().records("item").delete(bad.id)
    upgrade("3.0.0", {**without("code"), "code": "{type: decimal}"})
    items = crm.as_system().records("item")
    assert items.get(good.id)["code"] == Decimal("7.0000")
    assert [r["code"] for r in items.query({"code": {"gt": 1}}, sort=["-code"]).records] == [Decimal("7.0000")]


def test_a_field_re_added_with_the_same_type_is_checked_against_its_new_options(kept):
    crm, upgrade, good, bad = kept
    upgrade("2.0.0", without("tier", "note", "tags"))
    shorter = {**without("tier", "note", "tags"), "note": "{type: text, max_length: 10}"}
    assert f"id {bad.id} ('a note that" in refused(upgrade, "3.0.0", shorter)
    fewer = {**without("tier", "note", "tags"), "tier": "{type: picklist, options: [Gold, Silver]}"}
    message = refused(upgrade, "3.0.0", fewer)
    assert f"id {bad.id} ('Bronze'" in message and f"id {good.id} " not in message
    same = {**without("tier", "note", "tags"), "tags": "{type: multi_picklist, options: [A, B]}",
            "tier": "{type: picklist, options: [Gold, Silver, Bronze]}"}
    upgrade("3.0.0", same)
    record = crm.as_system().records("item").get(bad.id)
    assert (record["tags"], record["tier"]) == (["B"], "Bronze")


def test_a_lookup_re_added_pointing_to_another_object_needs_every_id_to_exist_there(kept):
    crm, upgrade, good, bad = kept
    upgrade("2.0.0", without("buyer"))
    message = refused(upgrade, "3.0.0", {**without("buyer"), "buyer": "{type: lookup, to: vendor}"})
    assert f"id {bad.id} (points to vendor id {bad['buyer']}, which does not exist)" in message
    assert f"id {good.id} " not in message
    crm.as_system().records("item").delete(bad.id)
    upgrade("3.0.0", {**without("buyer"), "buyer": "{type: lookup, to: vendor}"})
    items = crm.as_system().records("item")
    assert items.count({"buyer.name": "Initech"}).value == 1
    with crm.engine.connect() as connection:
        (key,) = inspect(connection).get_foreign_keys("item")
    assert key["referred_table"] == "vendor"


def test_an_active_lookup_pointed_to_another_object_is_checked_too(kept):
    crm, upgrade, good, bad = kept
    message = refused(upgrade, "2.0.0", {**ITEM_FIELDS, "buyer": "{type: lookup, to: vendor}"})
    assert f"id {bad.id} (points to vendor id {bad['buyer']}" in message


def test_a_field_renamed_from_a_kept_column_is_converted_or_refused(kept):
    crm, upgrade, good, bad = kept
    upgrade("2.0.0", without("code"))
    renamed = {**without("code"), "price": "{type: decimal, renamed_from: code}"}
    assert f"id {bad.id} ('ABC-7'" in refused(upgrade, "3.0.0", renamed)
    crm.as_system().records("item").delete(bad.id)
    plan = upgrade("3.0.0", renamed)
    assert "use the kept column item.code again as price, converting every value" in plan.describe()
    assert crm.as_system().records("item").get(good.id)["price"] == Decimal("7.0000")
    with pytest.raises(MigrationError, match="nothing by that name is kept"):
        crm.plan(purge=["item.code"])


def test_a_rename_onto_a_kept_column_is_refused_with_the_way_out(kept):
    crm, upgrade, good, bad = kept
    upgrade("2.0.0", without("code"))
    fields = {**without("code", "note"), "code": "{type: text, renamed_from: note}"}
    message = refused(upgrade, "3.0.0", fields)
    assert "kept column code" in message and "--purge item.code" in message


def test_an_object_re_added_checks_its_kept_fields_and_keeps_the_unused_ones(kept):
    crm, upgrade, good, bad = kept
    upgrade("2.0.0", None)
    changed = {"name": "{type: text}", "code": "{type: integer}", "tier": ITEM_FIELDS["tier"]}
    message = refused(upgrade, "3.0.0", changed)
    assert f"id {bad.id} ('ABC-7'" in message
    assert crm.installed_packages()[0]["version"] == "2.0.0"
    changed["code"] = "{type: text, max_length: 20}"
    plan = upgrade("3.0.0", changed)
    assert "use the kept table item again" in plan.describe()
    items = crm.as_system().records("item")
    assert items.get(bad.id)["code"] == "ABC-7" and "note" not in items.get(bad.id)
    assert "PURGE: delete the column item.note" in crm.plan(purge=["item.note"]).describe()
    with pytest.raises(MigrationError, match="still in use"):
        crm.plan(purge=["item"])


def test_kept_lookups_do_not_block_deleting_the_records_they_pointed_to(kept):
    crm, upgrade, good, bad = kept
    upgrade("2.0.0", without("buyer"))
    accounts = crm.as_system().records("account")
    accounts.delete(bad["buyer"])
    message = refused(upgrade, "3.0.0", ITEM_FIELDS)
    assert f"id {bad.id} (points to account id {bad['buyer']}, which does not exist)" in message
    crm.as_system().records("item").delete(bad.id)
    upgrade("3.0.0", ITEM_FIELDS)
    assert crm.as_system().records("item").get(good.id)["buyer"] == good["buyer"]
    with crm.engine.connect() as connection:
        (key,) = inspect(connection).get_foreign_keys("item")
    assert (key["referred_table"], key["constrained_columns"]) == ("account", ["buyer"])
    upgrade("4.0.0", None)
    accounts.delete(good["buyer"])
    assert accounts.count().value == 0


def test_converted_values_that_coincide_in_a_unique_field_refuse_the_migration(kept):
    crm, upgrade, good, bad = kept
    crm.as_system().records("item").update(bad.id, {"code": "7.0"}, version=bad.version)
    upgrade("2.0.0", {**ITEM_FIELDS, "code": "{type: text, unique: true}"})
    message = refused(upgrade, "3.0.0", {**ITEM_FIELDS, "code": "{type: decimal, unique: true}"})
    assert "nothing was changed" in message and "used more than once" in message
    assert crm.as_system().records("item").get(bad.id)["code"] == "7.0"


def test_a_type_change_that_also_adds_an_index(kept):
    crm, upgrade, good, bad = kept
    crm.as_system().records("item").update(bad.id, {"code": "8"}, version=bad.version)
    upgrade("2.0.0", {**ITEM_FIELDS, "code": "{type: integer, indexed: true}"})
    assert crm.as_system().records("item").count({"code": {"gte": 7}}).value == 2
    upgrade("3.0.0", {**ITEM_FIELDS, "code": "{type: text}"})
    assert crm.as_system().records("item").get(bad.id)["code"] == "8"


def test_a_computed_field_re_added_over_a_kept_column_gets_a_column_of_its_own_type(kept):
    crm, upgrade, good, bad = kept
    upgrade("2.0.0", without("code"))
    plan = upgrade("3.0.0", {**without("code"), "code": '{type: formula, returns: decimal, formula: "2.5"}'})
    assert "use the kept column item.code again, converting every value" in plan.describe()
    items = crm.as_system().records("item")
    assert items.get(bad.id)["code"] == Decimal("2.5000")
    assert items.count({"code": {"gt": 2}}).value == 2
