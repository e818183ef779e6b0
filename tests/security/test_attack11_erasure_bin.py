"""Attack on a privacy erasure (security/privacy.py `Privacy.erase`) and the recycle bin of OTHER records.

The erasure removes the person's own bin entries, and recomputes the live formulas that read the person.
A deleted deal is in the bin as its stored copy (records/recycle.py), with its formula `contact_name`
holding the person's name as computed at the delete; the erasure does not touch it, and the bin gives it
(in `data`, and as the entry's title when the formula is the title) to whoever deleted the deal.
SQLite and PostgreSQL.
"""
from __future__ import annotations

import json

import pytest

from crmkit.engine.records.recycle import RecycleBin
from crmkit.engine.security.privacy import Privacy
from tests.conftest import add_users

PACKAGE = """
package: attack11_bin
version: "1.0.0"
roles:
  rep: {label: Rep}
  officer: {label: Privacy officer}
permission_sets:
  sales:
    roles: [rep]
    objects:
      person: [create, read, edit]
      deal: [create, read, edit, delete]
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
  deal:
    title_field: contact_name
    sharing: public_read_write
    fields:
      code: {type: text}
      contact: {type: lookup, to: person}
      contact_name: {type: formula, returns: text, formula: "contact.name"}
"""


@pytest.fixture
def people(crm, write_package, install_once):
    install_once(write_package(PACKAGE))
    return crm, add_users(crm, [("ann", "rep", ["sales"]), ("officer", "officer", ["privacy"])])


def test_an_erased_persons_name_stays_in_no_other_records_bin_entry(people):
    crm, users = people
    ann = crm.as_user(users["ann"])
    wei = ann.records("person").create({"name": "Wei Zhang", "email": "wei@example.com"})
    deal = ann.records("deal").create({"code": "D-1", "contact": wei.id})
    ann.records("deal").delete(deal.id, version=deal.version)
    (entry,) = RecycleBin(ann).entries("deal")
    assert entry["data"]["contact_name"] == "Wei Zhang"
    Privacy(crm.as_user(users["officer"])).erase("person", wei.id)
    assert ann.records("person").get(wei.id)["name"] != "Wei Zhang"
    shown = [json.dumps(entry, default=str) for entry in RecycleBin(crm.as_user(users["ann"])).entries()]
    assert [text for text in shown if "Wei Zhang" in text] == []
