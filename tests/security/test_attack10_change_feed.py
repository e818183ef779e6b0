"""Attack on the change feed (records/changes.py ChangeFeed): what a log row tells a user who reads it now.

The feed strips AccessPolicy.hidden_fields from each change's `fields`, but a change holds the record's
*stored* values: a rollup over children the user cannot all see, or a formula reading a record the user
cannot see, is stored as the system computed it, while every other path (get, lists, search) shows it
recomputed or masked (security/derived.py). And an erasure (security/privacy.py) clears the person's
data from the record, its history and the recycle bin, but not from the log. SQLite and PostgreSQL.
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from crmkit.engine.records.changes import ChangeFeed
from crmkit.engine.security.privacy import Privacy
from tests.conftest import add_users

PACKAGE = """
package: attack10_feed
version: "1.0.0"
roles:
  rep: {label: Rep}
  officer: {label: Privacy officer}
permission_sets:
  sales:
    roles: [rep]
    objects:
      account: [create, read, edit]
      deal: [create, read, edit]
      person: [create, read, edit]
  privacy:
    roles: [officer]
    system: [manage_privacy]
    objects:
      person: [create, read, edit]
objects:
  account:
    title_field: name
    sharing: private
    fields:
      name: {type: text}
      note: {type: text}
      pipeline: {type: rollup, from: deal.account, aggregate: sum, field: amount}
  deal:
    title_field: name
    sharing: private
    fields:
      name: {type: text}
      amount: {type: decimal}
      account: {type: lookup, to: account}
      account_name: {type: formula, returns: text, formula: "account.name"}
  person:
    title_field: name
    sharing: public_read_write
    fields:
      name: {type: text, required: true, personal: true}
      email: {type: email, personal: true}
"""


@pytest.fixture
def feed(crm, write_package, install_once):
    install_once(write_package(PACKAGE))
    users = add_users(crm, [("ann", "rep", ["sales"]), ("bob", "rep", ["sales"]),
                            ("officer", "officer", ["privacy"])])
    return crm, users


def fields_of(context, object_name: str, record_id: int) -> list[dict]:
    page = ChangeFeed(context).read(None, limit=1000, settle=timedelta(0))
    return [change["data"]["fields"] for change in page.changes
            if change["data"]["object"] == object_name and change["data"]["id"] == record_id]


def test_the_feed_gives_a_rollup_as_the_reader_sees_it_not_its_stored_total(feed):
    crm, users = feed
    ann = crm.as_user(users["ann"])
    account = ann.records("account").create({"name": "Ann's account"})
    # Bob's private deal on Ann's account (linked by the system: Bob need not see the account)
    crm.as_system().records("deal").create({"name": "Secret", "amount": 990_000, "account": account.id,
                                            "owner_id": users["bob"]})
    current = ann.records("account").get(account.id)
    assert current["pipeline"] in (None, 0, Decimal(0))       # get: recomputed over the deals Ann can see
    ann.records("account").update(account.id, {"note": "touched"}, version=current.version)
    totals = [fields.get("pipeline") for fields in fields_of(ann, "account", account.id)]
    assert all(total in (None, 0, "0") for total in totals), totals


def test_the_feed_masks_a_formula_read_through_a_lookup_the_reader_cannot_follow(feed):
    crm, users = feed
    bob_account = crm.as_user(users["bob"]).records("account").create({"name": "Bob's secret client"})
    ann = crm.as_user(users["ann"])
    deal = crm.as_system().records("deal").create({"name": "Ann's deal", "amount": 5, "account": bob_account.id,
                                                   "owner_id": users["ann"]})
    assert ann.records("deal").get(deal.id)["account_name"] is None      # get: masked
    names = [fields.get("account_name") for fields in fields_of(ann, "deal", deal.id)]
    assert names and "Bob's secret client" not in names, names


def test_an_erased_person_is_not_given_back_by_the_change_feed(feed):
    crm, users = feed
    ann = crm.as_user(users["ann"])
    person = ann.records("person").create({"name": "Wei Zhang", "email": "wei@example.com"})
    ann.records("person").update(person.id, {"email": "wei.zhang@example.com"}, version=person.version)
    officer = crm.as_user(users["officer"])
    Privacy(officer).erase("person", person.id)
    assert ann.records("person").get(person.id)["email"] is None
    logged = fields_of(ann, "person", person.id)
    assert logged  # the erasure itself is fed
    leaked = [fields for fields in logged if {"Wei Zhang", "wei@example.com", "wei.zhang@example.com"}
              & {fields.get("name"), fields.get("email")}]
    assert leaked == []
