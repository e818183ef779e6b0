"""Attack on finding duplicates to merge (transfer/merge.py MergeService) by a title the user sees masked.

The "name" rule compares the title field as stored. `_rule` refuses a hidden field, but a title that is a
formula reading a record the user may not see is not hidden: it is masked (empty on `get`, lists, search;
security/derived.py). Grouping by its stored value tells the user which of their records read the same
unseen record: here, which of a rep's deals are on the same account of another rep. SQLite and PostgreSQL.
"""
from __future__ import annotations

import pytest

from crmkit.engine.transfer.files import ImportFileError
from crmkit.engine.transfer.merge import MergeService
from tests.conftest import add_users

PACKAGE = """
package: attack10_dupes
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
      name: {type: text}
  deal:
    title_field: label
    sharing: private
    fields:
      code: {type: text}
      account: {type: lookup, to: account}
      label: {type: formula, returns: text, formula: "account.name + ' renewal'"}
"""


@pytest.fixture
def deals(crm, write_package, install_once):
    """(Ann's merge service on deals, the ids of her deals: two on one of Bob's accounts, one on another)."""
    install_once(write_package(PACKAGE))
    users = add_users(crm, [("ann", "rep", ["sales"]), ("bob", "rep", ["sales"])])
    bob = crm.as_user(users["bob"]).records("account")
    first, second = bob.create({"name": "Secret one"}).id, bob.create({"name": "Secret two"}).id
    system = crm.as_system().records("deal")
    ids = [system.create({"code": code, "account": account, "owner_id": users["ann"]}).id
           for code, account in (("A", first), ("B", first), ("C", second))]
    ann = crm.as_user(users["ann"])
    assert [ann.records("deal").get(record_id)["label"] for record_id in ids] == [None, None, None]   # masked
    return MergeService(ann, "deal"), ids


def _grouping(call):
    try:
        return call()
    except ImportFileError:  # refused, as for a hidden title: nothing told
        return []


def test_duplicates_by_a_masked_title_tell_nothing(deals):
    merging, (a, b, c) = deals
    assert _grouping(lambda: merging.duplicates_of(a, "name")) == []
    assert _grouping(lambda: merging.find_duplicates("name")) == []
