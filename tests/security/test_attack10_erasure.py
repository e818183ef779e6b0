"""Attack on a privacy erasure (security/privacy.py `Privacy.erase`): where else the person's data stays.

The erasure clears the person's personal fields, the history entries of those fields *of the person's own
record*, its recycle-bin copies and recent items, and recomputes the formulas of other records that read the
person. It leaves the history of those other records: a deal's formula copying the contact's name records
the name in the deal's history whenever the deal's contact changes, and that entry survives the erasure.
(The change log and notification messages: test_attack10_change_feed.py, test_attack10_notifications.py.)
SQLite and PostgreSQL.
"""
from __future__ import annotations

import pytest

from crmkit.engine.security.privacy import Privacy
from tests.conftest import add_users

PACKAGE = """
package: attack10_erasure
version: "1.0.0"
roles:
  rep: {label: Rep}
  officer: {label: Privacy officer}
permission_sets:
  sales:
    roles: [rep]
    objects:
      person: [create, read, edit]
      deal: [create, read, edit]
  privacy:
    roles: [officer]
    system: [manage_privacy]
    objects:
      person: [create, read, edit]
      deal: [read]
objects:
  person:
    title_field: name
    sharing: public_read_write
    fields:
      name: {type: text, required: true, personal: true}
      email: {type: email, personal: true}
  deal:
    title_field: code
    sharing: public_read_write
    track_history: true
    fields:
      code: {type: text}
      contact: {type: lookup, to: person}
      contact_name: {type: formula, returns: text, formula: "contact.name"}
"""


@pytest.fixture
def people(crm, write_package, install_once):
    install_once(write_package(PACKAGE))
    return crm, add_users(crm, [("ann", "rep", ["sales"]), ("officer", "officer", ["privacy"])])


def test_an_erased_persons_name_stays_in_no_other_records_history(people):
    crm, users = people
    ann = crm.as_user(users["ann"])
    wei = ann.records("person").create({"name": "Wei Zhang", "email": "wei@example.com"})
    li = ann.records("person").create({"name": "Li Na"})
    deal = ann.records("deal").create({"code": "D-1", "contact": wei.id})
    ann.records("deal").update(deal.id, {"contact": li.id}, version=deal.version)
    assert any(entry["old_value"] == "Wei Zhang" for entry in ann.records("deal").history(deal.id))
    Privacy(crm.as_user(users["officer"])).erase("person", wei.id)
    assert ann.records("person").get(wei.id)["name"] != "Wei Zhang"
    kept = [entry for entry in ann.records("deal").history(deal.id)
            if "Wei Zhang" in (entry["old_value"], entry["new_value"])]
    assert kept == []
