"""Attack on the recycle bin (records/recycle.py RecycleBin) after the user lost the object.

Who sees a bin entry is `_visible`: who deleted it (or holds modify_all on its object). Nothing asks whether
the user may still read the object: a rep whose permission set was revoked after deleting a record still
lists its stored values and restores it, putting back a record of an object they may no longer read,
create or edit. SQLite and PostgreSQL.
"""
from __future__ import annotations

import pytest

from crmkit.engine.records.errors import RecordNotFound
from crmkit.engine.security.access import PermissionDenied
from crmkit.engine.security.users import SystemDirectory

PACKAGE = """
package: attack10_bin
version: "1.0.0"
roles:
  rep: {label: Rep}
permission_sets:
  sales:
    objects:
      account: [create, read, edit, delete]
objects:
  account:
    title_field: name
    sharing: private
    fields:
      name: {type: text}
      revenue: {type: decimal}
"""


@pytest.fixture
def revoked(crm, write_package, install_once):
    """(crm, the rep's id, the bin batch of the account they deleted before losing the `sales` set)."""
    install_once(write_package(PACKAGE))
    directory = SystemDirectory(crm)
    rep = directory.create_user("rep", role="rep", permission_sets=["sales"]).id
    accounts = crm.as_user(rep).records("account")
    account = accounts.create({"name": "Acme", "revenue": "1250000"})
    batch = accounts.delete(account.id)
    directory.revoke("sales", user_id=rep)
    with pytest.raises(PermissionDenied):
        crm.as_user(rep).records("account").query()
    return crm, rep, batch, account.id


def test_a_user_who_may_no_longer_read_the_object_is_not_shown_its_bin_entries(revoked):
    crm, rep, batch, _ = revoked
    entries = crm.as_user(rep).recycle_bin.entries()
    assert [entry["data"].get("revenue") for entry in entries] == []


def test_a_user_who_lost_the_object_cannot_restore_its_records(revoked):
    crm, rep, batch, account_id = revoked
    with pytest.raises((PermissionDenied, RecordNotFound)):
        crm.as_user(rep).recycle_bin.restore(batch)
    with pytest.raises(RecordNotFound):
        crm.as_system().records("account").get(account_id)
