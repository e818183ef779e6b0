"""Attack on a formula's stored failure reason (`formula_errors`) where the user sees the formula masked.

A formula reading a record through a lookup is masked for a user who may not see every record of the lookup's
object (security/derived.py): its value is empty on `get`, lists, exports, search. When the formula fails,
the record keeps the reason in `formula_errors` (records/evaluation.py), and the sandbox's reasons quote the
value that failed (`int(account.name)`: "invalid literal for int() ... 'Bob's secret client'"). The shaping
(security/shaping.py `_withheld`) removes the reasons of hidden formulas only: a masked formula's reason is
given, with the linked record's name in it, to a user who may not see that record. The change feed
(records/changes.py) strips withheld fields from a change but not their reasons: a masked formula's, and even
a hidden formula's, quoting the protected field it reads. SQLite and PostgreSQL.
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from crmkit.engine.records.changes import ChangeFeed
from crmkit.engine.records.errors import RecordNotFound
from tests.conftest import add_users

SECRET = "Bob's secret client"

PACKAGE = """
package: attack11_formula_errors
version: "1.0.0"
roles:
  rep: {label: Rep}
  controller: {label: Controller}
permission_sets:
  sales:
    roles: [rep]
    objects:
      account: [create, read, edit, export]
      deal: [create, read, edit, export]
  costs:
    roles: [controller]
    fields:
      deal.cost_code: [read, edit]
objects:
  account:
    title_field: name
    sharing: private
    fields:
      name: {type: text}
  deal:
    title_field: name
    sharing: private
    fields:
      name: {type: text}
      account: {type: lookup, to: account}
      account_number: {type: formula, returns: integer, formula: "int(account.name)"}
      cost_code: {type: text}
      cost: {type: formula, returns: integer, formula: "int(cost_code) if cost_code else None"}
"""


@pytest.fixture
def deals(crm, write_package, install_once):
    install_once(write_package(PACKAGE))
    return crm, add_users(crm, [("ann", "rep", ["sales"]), ("bob", "rep", ["sales"])])


def test_a_masked_formulas_failure_does_not_quote_the_record_it_reads(deals):
    crm, users = deals
    secret = crm.as_user(users["bob"]).records("account").create({"name": SECRET})
    deal = crm.as_system().records("deal").create({"name": "Ann's deal", "account": secret.id,
                                                   "owner_id": users["ann"]})
    ann = crm.as_user(users["ann"])
    with pytest.raises(RecordNotFound):
        ann.records("account").get(secret.id)
    shown = ann.records("deal").get(deal.id)
    assert shown["account_number"] is None                                   # masked
    listed = ann.records("deal").query().records[0]
    exported = list(ann.records("deal").export(format="json"))
    told = json.dumps([dict(shown), dict(listed), exported], default=str)
    assert "secret client" not in told, told


def test_the_change_feed_does_not_quote_a_masked_formulas_failure(deals):
    crm, users = deals
    secret = crm.as_user(users["bob"]).records("account").create({"name": SECRET})
    crm.as_system().records("deal").create({"name": "Ann's deal", "account": secret.id, "owner_id": users["ann"]})
    page = ChangeFeed(crm.as_user(users["ann"])).read(None, limit=1000, settle=timedelta(0))
    told = json.dumps([change["data"] for change in page.changes if change["data"]["object"] == "deal"], default=str)
    assert "Ann's deal" in told
    assert "secret client" not in told, told


def test_the_change_feed_does_not_quote_a_hidden_formulas_failure(deals):
    crm, users = deals
    deal = crm.as_system().records("deal").create({"name": "Ann's deal", "cost_code": "cost is 7315 net",
                                                   "owner_id": users["ann"]})
    ann = crm.as_user(users["ann"])
    assert "7315" not in json.dumps(dict(ann.records("deal").get(deal.id)), default=str)   # get withholds it
    page = ChangeFeed(ann).read(None, limit=1000, settle=timedelta(0))
    told = json.dumps([change["data"] for change in page.changes if change["data"]["object"] == "deal"], default=str)
    assert "Ann's deal" in told and "cost_code" not in told.split('"formula_errors"')[0]
    assert "7315" not in told, told



def test_a_filter_on_formula_errors_does_not_match_failures_the_user_is_not_given(deals):
    crm, users = deals
    crm.as_system().records("deal").create({"name": "Ann's deal", "cost_code": "n/a", "owner_id": users["ann"]})
    records = crm.as_user(users["ann"]).records("deal")
    (shown,) = records.query().records
    assert "cost" not in (shown.formula_errors or {})                      # the failure is withheld
    assert records.count({"formula_errors": {"contains": "cost"}}).value == 0
