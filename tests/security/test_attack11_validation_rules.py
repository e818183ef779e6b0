"""Attack on validation rules (records/evaluation.py `Evaluator._check`): what a refused save tells the user.

A rule's condition is evaluated over the stored record and its linked records as the system reads them
(`load_related`), whatever the saving user may read. Two ways it tells them what `get` never gives:

- a rule that cannot be evaluated refuses the save with a record-level sentence quoting the sandbox's
  reason, which quotes the value that failed: the name of a linked account the user may not see. Record-level
  errors are not withheld by `shown_errors` (only the errors of hidden fields are);
- a rule reading a field protected from the user answers, at each save, whether a value they chose is above
  or below the protected one: `cost` found exactly by a few saves of `amount`. Such a rule is now accepted only
  when its author declares it (`discloses_protected_fields: true`, metadata/disclosure_checks.py).

SQLite and PostgreSQL.
"""
from __future__ import annotations

import json

import pytest

from crmkit.engine.records.errors import RecordNotFound, RecordValidationError
from crmkit.metadata import MetadataError, validate_paths
from tests.conftest import add_users

SECRET = "Bob's secret client"

PACKAGE = """
package: attack11_validation
version: "1.0.0"
roles:
  rep: {label: Rep}
  controller: {label: Controller}
permission_sets:
  sales:
    roles: [rep, controller]
    objects:
      account: [create, read, edit]
      deal: [create, read, edit]
  costs:
    roles: [controller]
    fields:
      deal.cost: [read, edit]
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
      amount: {type: integer}
      cost: {type: integer}
      account: {type: lookup, to: account}
    validations:
      - name: account_number
        condition: "name != 'seed' and account and int(account.name) < 0"
        message: "The account's number may not be negative."
      - name: below_cost
        condition: "amount is not None and cost is not None and amount < cost"
        message: "The amount is too low."
        field: amount
        discloses_protected_fields: true
"""


@pytest.fixture
def deals(crm, write_package, install_once):
    install_once(write_package(PACKAGE))
    return crm, add_users(crm, [("ann", "rep", ["sales"]), ("bob", "rep", ["sales"])])


def test_a_refused_save_does_not_quote_a_linked_record_the_user_may_not_see(deals):
    crm, users = deals
    secret = crm.as_user(users["bob"]).records("account").create({"name": SECRET})
    deal = crm.as_system().records("deal").create({"name": "seed", "account": secret.id, "owner_id": users["ann"]})
    ann = crm.as_user(users["ann"])
    with pytest.raises(RecordNotFound):
        ann.records("account").get(secret.id)
    current = ann.records("deal").get(deal.id)
    with pytest.raises(RecordValidationError) as refused:
        ann.records("deal").update(deal.id, {"name": "renamed"}, version=current.version)
    told = json.dumps([refused.value.message, refused.value.errors])
    assert "secret client" not in told, told


def test_a_validation_rule_reading_a_protected_field_is_one_its_author_declared(deals, write_package, catalog):
    """The oracle is the author's decision: `below_cost` reads `cost`, which the set `costs` protects, so Ann
    learns at each save whether her amount is below it; without `discloses_protected_fields: true` the package
    is refused (tests/metadata/test_rules_reading_protected_fields.py). Declared, the rule keeps the record
    valid for every saver, and tells nothing but its message."""
    crm, users = deals
    deal = crm.as_system().records("deal").create({"name": "Ann's deal", "cost": 7315, "owner_id": users["ann"]})
    records = crm.as_user(users["ann"]).records("deal")
    assert "cost" not in records.get(deal.id)
    with pytest.raises(RecordValidationError) as refused:
        records.update(deal.id, {"amount": 7000}, version=records.get(deal.id).version)
    assert "7315" not in json.dumps([refused.value.message, refused.value.errors])
    with pytest.raises(MetadataError) as undeclared:
        validate_paths([write_package(PACKAGE.replace("        discloses_protected_fields: true\n", ""))], catalog)
    assert "validation rule 'below_cost' reads deal.cost" in str(undeclared.value)
