"""Deleting honours on_delete; the recycle bin gives everything back, ids and links included."""
from __future__ import annotations

import pytest

from crmkit.engine import DeleteRestrictedError, RecordNotFound

ACCOUNTS = """
package: sales
version: "1.0.0"
objects:
  account:
    title_field: name
    track_history: true
    fields:
      name: {type: text, required: true}
      open_deals: {type: rollup, from: deal.account, aggregate: count}
  contact:
    title_field: name
    fields:
      name: {type: text}
      account: {type: lookup, to: account, on_delete: set_null}
      account_name: {type: formula, returns: text, formula: "account.name if account else ''"}
  deal:
    title_field: name
    fields:
      name: {type: text}
      account: {type: lookup, to: account, on_delete: cascade}
  invoice:
    fields:
      number: {type: text, unique: true}
      deal: {type: lookup, to: deal, on_delete: restrict}
"""


@pytest.fixture
def sales(crm, install):
    install(ACCOUNTS)
    return crm.as_system()


def test_delete_clears_set_null_links_and_cascades(sales):
    account = sales.records("account").create({"name": "Acme"})
    contact = sales.records("contact").create({"name": "Li Lei", "account": account.id})
    deal = sales.records("deal").create({"name": "Big", "account": account.id})
    sales.records("account").delete(account.id)
    with pytest.raises(RecordNotFound):
        sales.records("account").get(account.id)
    with pytest.raises(RecordNotFound):
        sales.records("deal").get(deal.id)
    unlinked = sales.records("contact").get(contact.id)
    assert unlinked["account"] is None and unlinked["account_name"] is None  # blank text is stored as no value


def test_restrict_blocks_the_delete_and_says_why(sales):
    account = sales.records("account").create({"name": "Acme"})
    deal = sales.records("deal").create({"name": "Big", "account": account.id})
    sales.records("invoice").create({"number": "INV-1", "deal": deal.id})
    with pytest.raises(DeleteRestrictedError) as caught:
        sales.records("account").delete(account.id)
    assert "1 Invoices (invoice.deal) still point to it" in str(caught.value)
    assert sales.records("account").get(account.id)["name"] == "Acme"
    assert sales.records("deal").get(deal.id)["name"] == "Big"


def test_restore_brings_back_the_record_its_cascade_and_its_links(sales):
    account = sales.records("account").create({"name": "Acme"})
    contact = sales.records("contact").create({"name": "Li Lei", "account": account.id})
    deal = sales.records("deal").create({"name": "Big", "account": account.id})
    batch = sales.records("account").delete(account.id)
    (entry,) = sales.recycle_bin.entries()
    assert (entry["object"], entry["record_id"], entry["title"]) == ("account", account.id, "Acme")
    restored = sales.recycle_bin.restore(batch)
    assert set(restored) == {("account", account.id), ("deal", deal.id)}
    back = sales.records("account").get(account.id)
    assert back["name"] == "Acme" and back["open_deals"] == 1
    assert sales.records("contact").get(contact.id)["account_name"] == "Acme"
    assert sales.recycle_bin.entries() == []
    operations = [h["operation"] for h in sales.records("account").history(account.id)]
    assert operations == ["create", "delete", "restore"]


def test_restore_refuses_to_duplicate_a_unique_value(sales):
    invoice = sales.records("invoice").create({"number": "INV-1"})
    batch = sales.records("invoice").delete(invoice.id)
    sales.records("invoice").create({"number": "INV-1"})
    from crmkit.engine.records import RestoreError

    with pytest.raises(RestoreError, match="another record now uses 'INV-1'"):
        sales.recycle_bin.restore(batch)


def test_a_stale_delete_is_refused(sales):
    account = sales.records("account").create({"name": "Acme"})
    sales.records("account").update(account.id, {"name": "Acme 2"}, version=1)
    from crmkit.engine import StaleRecordError

    with pytest.raises(StaleRecordError):
        sales.records("account").delete(account.id, version=1)


def test_purging_a_batch_empties_it_from_the_bin(sales):
    account = sales.records("account").create({"name": "Acme"})
    batch = sales.records("account").delete(account.id)
    assert sales.recycle_bin.purge(batch) == 1
    with pytest.raises(RecordNotFound):
        sales.recycle_bin.restore(batch)
