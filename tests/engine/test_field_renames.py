"""A renamed field (`renamed_from`) keeps its values everywhere the platform stored them: bin and history."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from crmkit.engine.security.users import SystemDirectory

ACCOUNTS = """
package: sales
version: "{version}"
objects:
  account:
    title_field: name
    fields:
      name: {{type: text}}
      order_count: {{type: rollup, from: order.{lookup}, aggregate: count}}
      order_total: {{type: rollup, from: order.{lookup}, aggregate: sum, field: {amount}}}
  order:
    title_field: {title}
    track_history: true
    fields:
      {title}: {{type: text{renamed_title}}}
      {lookup}: {{type: lookup, to: account, on_delete: {on_delete}{renamed_lookup}}}
      {amount}: {{type: currency{renamed_amount}}}
"""


def sales(version: str, on_delete: str, renamed: bool) -> str:
    if not renamed:
        return ACCOUNTS.format(version=version, on_delete=on_delete, title="name", lookup="account", amount="amount",
                               renamed_title="", renamed_lookup="", renamed_amount="")
    return ACCOUNTS.format(version=version, on_delete=on_delete, title="subject", lookup="customer", amount="total",
                           renamed_title=", renamed_from: name", renamed_lookup=", renamed_from: account",
                           renamed_amount=", renamed_from: amount")


@pytest.mark.parametrize("deleted", ["order", "account"])
def test_a_record_deleted_before_its_fields_were_renamed_is_restored_with_its_values(crm, write_package, deleted,
                                                                                   assert_derived_values_fresh):
    crm.install(write_package(sales("1.0.0", "cascade", renamed=False), "v1.yaml"))
    system = crm.as_system()
    account = system.records("account").create({"name": "Acme"})
    order = system.records("order").create({"name": "Anvils", "account": account.id, "amount": "12.34"})
    batch = system.records(deleted).delete(account.id if deleted == "account" else order.id)
    crm.install(write_package(sales("1.1.0", "cascade", renamed=True), "v2.yaml"))

    system.recycle_bin.restore(batch)

    restored = system.records("order").get(order.id)
    assert (restored["subject"], restored["customer"], restored["total"]) == ("Anvils", account.id, Decimal("12.34"))
    parent = system.records("account").get(account.id)
    assert (parent["order_count"], parent["order_total"]) == (1, Decimal("12.34"))
    assert_derived_values_fresh(crm)


def test_links_cleared_by_a_delete_are_restored_through_the_renamed_lookup(crm, write_package):
    crm.install(write_package(sales("1.0.0", "set_null", renamed=False), "v1.yaml"))
    system = crm.as_system()
    account = system.records("account").create({"name": "Acme"})
    order = system.records("order").create({"name": "Anvils", "account": account.id, "amount": "5"})
    batch = system.records("account").delete(account.id)
    crm.install(write_package(sales("1.1.0", "set_null", renamed=True), "v2.yaml"))

    system.recycle_bin.restore(batch)

    assert system.records("order").get(order.id)["customer"] == account.id
    assert system.records("account").get(account.id)["order_count"] == 1


def test_field_history_follows_the_rename(crm, write_package):
    crm.install(write_package(sales("1.0.0", "cascade", renamed=False), "v1.yaml"))
    orders = crm.as_system().records("order")
    order = orders.create({"name": "Anvils", "amount": "1"})
    orders.update(order.id, {"name": "Anvils and more"}, version=order.version)
    crm.install(write_package(sales("1.1.0", "cascade", renamed=True), "v2.yaml"))

    fields = {row["field"] for row in crm.as_system().records("order").history(order.id)} - {None}

    assert "subject" in fields and "name" not in fields


PROTECTED = """
package: vault
version: "{version}"
roles:
  rep: {{}}
permission_sets:
  base:
    roles: [rep]
    objects:
      item: [create, read, edit, delete]
    system: [manage_privacy]
  secret_keepers:
    fields:
      item.{field}: [read, edit]
objects:
  item:
    title_field: name
    track_history: true
    fields:
      name: {{type: text}}
      {field}: {{type: text{renamed}}}
"""


def test_a_protected_field_renamed_stays_hidden_in_history_bin_and_privacy_export(crm, write_package):
    crm.install(write_package(PROTECTED.format(version="1.0.0", field="code", renamed=""), "v1.yaml"))
    rep = SystemDirectory(crm).create_user("rep", role="rep")
    system = crm.as_system().records("item")
    item = system.create({"name": "box", "code": "TOPSECRET-1", "owner_id": rep.id})
    system.update(item.id, {"code": "TOPSECRET-2"}, version=item.version)
    deleted = system.create({"name": "bin", "code": "TOPSECRET-3", "owner_id": rep.id})
    crm.as_user(rep.id).records("item").delete(deleted.id)
    crm.install(write_package(PROTECTED.format(version="1.1.0", field="secret", renamed=", renamed_from: code"),
                              "v2.yaml"))

    context = crm.as_user(rep.id)
    shown = json.dumps([context.records("item").history(item.id), context.recycle_bin.entries(),
                        context.privacy.export("item", item.id)], default=str)

    assert "TOPSECRET" not in shown
