"""A rule that judges saves on a protected field says so in the metadata, or the package is refused.

A validation rule or a stage move's condition is judged on the whole record, whatever the saver may see
(as Salesforce's validation rules). One comparing a field a user may change with one a permission set
protects from them (`amount < cost`) tells them, save by save, where the protected value lies
(tests/security/test_attack11_validation_rules.py finds `cost` by bisection). Such a rule is therefore a
metadata error at its condition unless it says `discloses_protected_fields: true`; a field is protected
when a permission set names it, and so is a formula or a rollup showing one (metadata/disclosure_checks.py).
"""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from crmkit.engine import Crm
from crmkit.metadata import MetadataError, validate_paths

HEAD = """\
package: deals
version: "1.0.0"
roles:
  rep: {label: Rep}
permission_sets:
  sales:
    roles: [rep]
    objects:
      account: [create, read, edit]
      deal: [create, read, edit]
  costs:
    fields:
      deal.cost: [read, edit]
      account.credit_limit: [read]
objects:
  account:
    title_field: name
    fields:
      name: {type: text}
      credit_limit: {type: integer}
      rating: {type: integer}
  line:
    fields:
      deal: {type: lookup, to: deal}
      cost: {type: integer}
  deal:
    title_field: name
    fields:
      name: {type: text}
      amount: {type: integer}
      cost: {type: integer}
      margin: {type: formula, formula: "(amount or 0) - (cost or 0)", returns: integer}
      stage: {type: picklist, options: [Open, Won]}
      account: {type: lookup, to: account}
"""


def problems_of(write_package, catalog, package: str) -> list[str]:
    try:
        validate_paths([write_package(package)], catalog)
    except MetadataError as error:
        return [problem.format() for problem in error.problems]
    return []


def with_rule(condition: str, declared: str = "", head: str = HEAD) -> str:
    return head + ("    validations:\n      - name: checked\n"
                   f"        condition: \"{condition}\"\n        message: Refused.\n{declared}")


READING = [
    ("amount is not None and cost is not None and amount < cost", "deal.cost", "the field itself"),
    ("margin < 0", "deal.cost (through margin, derived from it)", "a formula showing it"),
    ("account and amount and amount > account.credit_limit", "account.credit_limit,",
     "a field of a linked record"),
]


@pytest.mark.parametrize(("condition", "named", "what"), READING, ids=[what for _, _, what in READING])
def test_a_rule_reading_a_protected_field_is_an_error_at_its_condition_saying_how_to_fix_it(
        write_package, catalog, condition, named, what):
    found = problems_of(write_package, catalog, with_rule(condition))
    assert len(found) == 1, found
    assert "package.yaml:37:" in found[0], found  # the condition's line
    assert f"validation rule 'checked' reads {named}" in found[0]
    assert "permission set 'costs' protects" in found[0]
    assert "discloses_protected_fields: true" in found[0]


def test_a_rule_reading_only_fields_no_permission_set_names_is_accepted(write_package, catalog):
    assert problems_of(write_package, catalog, with_rule("amount is not None and amount < 0")) == []
    assert problems_of(write_package, catalog, with_rule("account and account.rating < 0")) == []


def test_a_rule_reading_nothing_a_user_may_vary_but_protected_fields_is_accepted(write_package, catalog):
    """`cost < 0` changes its answer only with values saved by those who may see them: no oracle."""
    assert problems_of(write_package, catalog, with_rule("cost is not None and cost < 0")) == []
    assert problems_of(write_package, catalog, with_rule("id is None and cost < 0")) == []
    assert problems_of(write_package, catalog, with_rule("owner_id and cost < 0")) != []  # the owner is chosen
    assert problems_of(write_package, catalog, with_rule("margin < 0")) != []  # margin is amount - cost


def test_a_rule_declaring_that_it_discloses_them_is_accepted(write_package, catalog):
    declared = "        discloses_protected_fields: true\n"
    assert problems_of(write_package, catalog, with_rule("margin < 0", declared)) == []


def test_a_rollup_over_a_protected_child_field_is_protected_too(write_package, catalog):
    package = HEAD.replace("      account: {type: lookup, to: account}\n",
                           "      account: {type: lookup, to: account}\n"
                           "      line_costs: {type: rollup, from: line.deal, aggregate: sum, field: cost}\n").replace("      deal.cost: [read, edit]\n",
                                                     "      deal.cost: [read, edit]\n      line.cost: [read]\n")
    package += ("    validations:\n      - name: checked\n        condition: \"line_costs > 100\"\n"
                "        message: Refused.\n")
    found = problems_of(write_package, catalog, package)
    assert len(found) == 1 and "reads line.cost (through line_costs, derived from it)" in found[0], found


def test_a_stage_move_whose_condition_reads_a_protected_field_is_an_error_too(write_package, catalog):
    move = ("    transitions:\n      stage:\n        moves:\n          - from: Open\n            to: Won\n"
            "            condition: \"amount is not None and cost is not None and amount >= cost\"\n{declared}")
    found = problems_of(write_package, catalog, HEAD + move.format(declared=""))
    assert len(found) == 1 and "the condition of move 1 of deal.stage reads deal.cost" in found[0], found
    accepted = move.format(declared="            discloses_protected_fields: true\n")
    assert problems_of(write_package, catalog, HEAD + accepted) == []


def test_a_new_permission_set_protecting_what_an_installed_rule_reads_is_the_error(
        sqlite_url, write_package):
    unprotected = HEAD.replace("      deal.cost: [read, edit]\n", "")
    crm = Crm.open(sqlite_url)
    crm.install(write_package(with_rule("amount is not None and cost is not None and amount < cost",
                                        head=unprotected)))
    crm.close()
    crm = Crm.open(sqlite_url)  # installed earlier: read back with the rules of its time
    try:
        guard = ('package: guard\nversion: "1.0.0"\ndepends_on: [deals]\npermission_sets:\n  controllers:\n'
                 "    fields:\n      deal.cost: [read, edit]\n")
        with pytest.raises(MetadataError) as refused:
            crm.install(write_package(guard, "guard.yaml"))
        told = str(refused.value)
        assert "guard.yaml:7:" in told and "the permission set 'controllers' protects deal.cost" in told, told
        assert "installed package 'deals'" in told and "discloses_protected_fields: true" in told
    finally:
        crm.close()


def test_a_database_holding_such_a_rule_from_an_older_crmkit_still_opens(sqlite_url, write_package):
    declared = "        discloses_protected_fields: true\n"
    crm = Crm.open(sqlite_url)
    crm.install(write_package(with_rule("margin < 0", declared)))
    crm.close()
    engine = create_engine(sqlite_url)
    with engine.begin() as connection:  # as an older crmkit installed it: no declaration
        documents = connection.execute(text("SELECT documents FROM crmkit_package WHERE name = 'deals'")).scalar()
        assert '"discloses_protected_fields": true' in documents
        connection.execute(text("UPDATE crmkit_package SET documents = :documents WHERE name = 'deals'"),
                           {"documents": documents.replace(', "discloses_protected_fields": true', "")})
    engine.dispose()
    crm = Crm.open(sqlite_url)
    try:
        assert "deal" in crm.runtime.registry.objects
    finally:
        crm.close()
