"""Attacks on finding duplicates and merging: what a clerk learns of fields and records they may not read."""
from __future__ import annotations

import pytest

from crmkit.engine.transfer.files import ImportFileError
from crmkit.engine.transfer.merge import MergeService
from tests.conftest import add_users

PACKAGE = """
package: attack_merge
version: "1.0.0"
permission_sets:
  clerks:
    objects:
      person: [create, read, edit, delete]
      visit: [create, read, edit, delete]
  auditors:
    objects:
      person: [read]
    fields:
      person.email: [read]
objects:
  person:
    title_field: last_name
    sharing: private
    fields:
      last_name: {type: text, required: true}
      email: {type: email}
      phone: {type: phone}
  visit:
    title_field: note
    sharing: private
    fields:
      note: {type: text}
      person: {type: lookup, to: person}
"""


@pytest.fixture
def clerks(crm, install):
    """ann and bob, clerks: each sees only their own people and visits, and no one's email (auditors' field)."""
    install(PACKAGE)
    return add_users(crm, [("ann", None, ["clerks"]), ("bob", None, ["clerks"])])


def test_duplicates_are_not_found_by_a_field_the_user_may_not_read(crm, clerks):
    system = crm.as_system().records("person")
    for name in ("A", "B"):
        system.create({"last_name": name, "email": "same@example.cn", "owner_id": clerks["ann"]})
    merging = MergeService(crm.as_user(clerks["ann"]), "person")
    assert "email" not in merging.rules()
    with pytest.raises(ImportFileError):
        merging.find_duplicates("email")  # would tell ann that A and B share an email she may not read
    first = system.query(sort=["id"], limit=1).records[0]["id"]
    with pytest.raises(ImportFileError):
        merging.duplicates_of(first, "email")


def test_a_merge_does_not_count_children_the_user_may_not_read(crm, clerks):
    persons = crm.as_user(clerks["ann"]).records("person")
    keep, other = (persons.create({"last_name": name}).id for name in ("A", "B"))
    hidden_visit = crm.as_system().records("visit").create(
        {"note": "bob's call", "person": other, "owner_id": clerks["bob"]}).id
    seen_visit = crm.as_user(clerks["ann"]).records("visit").create({"note": "ann's call", "person": other}).id
    result = MergeService(crm.as_user(clerks["ann"]), "person").merge(keep, [other])
    assert result.reparented == {"visit.person": 1}  # ann's own visit; bob's is moved but not told to ann
    visits = crm.as_system().records("visit")
    assert visits.get(hidden_visit)["person"] == keep and visits.get(seen_visit)["person"] == keep
