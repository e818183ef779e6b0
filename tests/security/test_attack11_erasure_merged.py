"""Attack on a privacy erasure (security/privacy.py `Privacy.erase`) after a merge of duplicates.

A merge (transfer/merge.py) puts the merged duplicates of a person into the recycle bin, as a delete does,
with all their values: the same person's name and address under another record id. Erasing the survivor
removes the bin copies of the survivor's id only, and the duplicate, no live record, cannot be erased
itself: its copy stays, shown in the bin to who merged
it, and a restore brings the erased person's data back as a live record. SQLite and PostgreSQL.
"""
from __future__ import annotations

import json

import pytest

from crmkit.engine.records.errors import RecordNotFound
from crmkit.engine.records.recycle import RecycleBin
from crmkit.engine.security.privacy import Privacy
from crmkit.engine.transfer.merge import MergeService
from tests.conftest import add_users

PACKAGE = """
package: attack11_merged
version: "1.0.0"
roles:
  rep: {label: Rep}
  officer: {label: Privacy officer}
permission_sets:
  sales:
    roles: [rep]
    objects:
      person: [create, read, edit, delete]
  privacy:
    roles: [officer]
    system: [manage_privacy]
    objects:
      person: [create, read, edit]
objects:
  person:
    title_field: name
    sharing: public_read_write
    fields:
      name: {type: text, required: true, personal: true}
      email: {type: email, personal: true}
"""


@pytest.fixture
def people(crm, write_package, install_once):
    install_once(write_package(PACKAGE))
    return crm, add_users(crm, [("ann", "rep", ["sales"]), ("officer", "officer", ["privacy"])])


def test_erasing_a_merged_person_leaves_no_copy_of_their_duplicate(people):
    crm, users = people
    ann = crm.as_user(users["ann"])
    wei = ann.records("person").create({"name": "Wei Zhang", "email": "wei@example.com"})
    twin = ann.records("person").create({"name": "Wei Zhang", "email": "wei@example.com"})
    MergeService(ann, "person").merge(wei.id, [twin.id])
    officer = Privacy(crm.as_user(users["officer"]))
    officer.erase("person", wei.id)
    with pytest.raises(RecordNotFound):  # nor can the officer erase the duplicate: it is no live record
        officer.erase("person", twin.id)
    assert ann.records("person").get(wei.id)["email"] is None
    shown = [json.dumps(entry, default=str) for entry in RecycleBin(crm.as_user(users["ann"])).entries()]
    assert [text for text in shown if "wei@example.com" in text or "Wei Zhang" in text] == []
