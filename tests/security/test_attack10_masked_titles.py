"""Attack on the paths that show a record's title, when the title is a formula the user sees masked.

A formula reading a record through a lookup is masked (empty) for a user who may not see that record
(security/derived.py), on `get` and lists. A title field can be such a formula ("account.name + ' renewal'").
Checked here: the recycle bin and recent items show the title as `get` does, never the stored value read
from the record the user cannot see (autocomplete and search: tests/security/test_attack6_suggest.py).
SQLite and PostgreSQL.
"""
from __future__ import annotations

import pytest

from crmkit.engine.recent_items import RecentItems
from tests.conftest import add_users

SECRET = "Bob's secret client"

PACKAGE = """
package: attack10_titles
version: "1.0.0"
roles:
  rep: {label: Rep}
permission_sets:
  sales:
    roles: [rep]
    objects:
      account: [create, read, edit, delete]
      deal: [create, read, edit, delete]
objects:
  account:
    title_field: name
    sharing: private
    fields:
      name: {type: text, searchable: true}
  deal:
    title_field: label
    sharing: private
    fields:
      code: {type: text, searchable: true}
      account: {type: lookup, to: account}
      label: {type: formula, returns: text, formula: "account.name + ' renewal'", searchable: true}
"""


@pytest.fixture
def masked(crm, write_package, install_once):
    """(crm, Ann's context, the id of Ann's deal on Bob's account)."""
    install_once(write_package(PACKAGE))
    users = add_users(crm, [("ann", "rep", ["sales"]), ("bob", "rep", ["sales"])])
    bobs = crm.as_user(users["bob"]).records("account").create({"name": SECRET})
    deal = crm.as_system().records("deal").create({"code": "D-1", "account": bobs.id, "owner_id": users["ann"]})
    ann = crm.as_user(users["ann"])
    assert ann.records("deal").get(deal.id)["label"] is None     # get: masked
    return crm, ann, deal.id


def test_recent_items_do_not_show_the_stored_title(masked):
    _, ann, deal_id = masked
    recent = RecentItems(ann)
    recent.touch("deal", deal_id)
    assert [item.id for item in recent.items()] == [deal_id]
    assert all(SECRET not in str(item.title) for item in recent.items())


def test_the_recycle_bin_does_not_show_the_stored_title(masked):
    _, ann, deal_id = masked
    ann.records("deal").delete(deal_id)
    entries = [entry for entry in ann.recycle_bin.entries("deal") if entry["record_id"] == deal_id]
    assert len(entries) == 1
    assert "label" not in entries[0]["data"]                 # the data withholds it, as get masks it
    assert SECRET not in str(entries[0]["title"])
