"""Attacks on the static check of rules reading protected fields (metadata/disclosure_checks.py): reads it missed.

Each package below reads `deal.cost` or `account.credit_limit` (protected by the permission set 'costs') where a
user who may not see them sees an answer that moves with them, and was accepted:

- a validation rule reading the field by name, through `previous('cost')`: on an update that is the stored value, so
  `amount < previous('cost')` refuses a rep's saves exactly as `amount < cost` does;
- a default expression copying it into a field users read (`limit_copy`, default `account.credit_limit`): a rep
  creating a deal on an account reads the limit;
- an automation rule whose condition compares it with a field users vary and whose action changes a field they read,
  or whose action copies it into one.
"""
from __future__ import annotations

import pytest

from crmkit.engine.messages import translated
from tests.metadata.test_rules_reading_protected_fields import HEAD, problems_of, with_rule


@pytest.mark.parametrize("condition", ["amount is not None and amount < (previous('cost') or 0)",
                                       "amount is not None and changed('cost') and amount < 5",
                                       "amount is not None and amount < (previous(name) or 0)"])
def test_a_rule_reading_a_protected_field_by_its_name_is_an_error(write_package, catalog, condition):
    found = problems_of(write_package, catalog, with_rule(condition))
    assert len(found) == 1, found
    assert "package.yaml:37:" in found[0] and "validation rule 'checked' reads deal.cost" in found[0], found


def test_reading_an_unprotected_field_by_its_name_is_still_accepted(write_package, catalog):
    assert problems_of(write_package, catalog, with_rule("amount is not None and amount < (previous('amount') or 0)")) \
        == []


DEFAULTED = HEAD.replace("      amount: {type: integer}\n",
                         "      amount: {type: integer}\n"
                         "      limit_copy: {type: integer, default: {expression: \"account.credit_limit\"}}\n")


def test_a_default_expression_copying_a_protected_field_into_a_readable_one_is_an_error(write_package, catalog):
    found = problems_of(write_package, catalog, DEFAULTED)
    assert len(found) == 1, found
    assert "package.yaml:31:44:" in found[0], found  # the default of limit_copy
    assert "the default of deal.limit_copy reads account.credit_limit" in found[0], found
    assert "permission set 'costs'" in found[0] and "costs" in found[0]
    sentence = found[0].split(": ", 1)[1].rsplit(" (at ", 1)[0]
    zh = translated(sentence, "zh")
    assert zh.startswith("deal.limit_copy 的默认值读取了 account.credit_limit，该字段受权限集“costs”保护"), zh


def test_a_default_expression_copying_it_into_a_field_protected_as_well_is_accepted(write_package, catalog):
    protected = DEFAULTED.replace("      account.credit_limit: [read]\n",
                                  "      account.credit_limit: [read]\n      deal.limit_copy: [read]\n")
    assert problems_of(write_package, catalog, protected) == []


ORACLE = HEAD + """    automations:
      - name: flagger
        on: [created, updated]
        condition: "amount is not None and cost is not None and amount > cost"
        actions:
          - type: update_record
            set: {name: "'over'"}
"""
COPIER = HEAD + """    automations:
      - name: copier
        on: [created, updated]
        actions:
          - type: update_record
            set: {amount: "cost"}
"""


@pytest.mark.parametrize(("package", "told"), [(ORACLE, "automation rule 'flagger' reads deal.cost"),
                                               (COPIER, "automation rule 'copier' reads deal.cost")],
                         ids=["condition", "copied value"])
def test_an_automation_rule_showing_a_protected_field_is_an_error(write_package, catalog, package, told):
    found = problems_of(write_package, catalog, package)
    assert len(found) == 1 and told in found[0], found
    assert "discloses_protected_fields: true" in found[0]
    declared = package.replace("        on: [created, updated]\n",
                               "        on: [created, updated]\n        discloses_protected_fields: true\n")
    assert problems_of(write_package, catalog, declared) == []


TELLER = HEAD + """    automations:
      - name: teller
        on: [created, updated]
        condition: "cost is not None and cost > 100"
        actions:
          - type: update_record
            set: {name: "'expensive'"}
"""
SCHEDULED = HEAD + """    automations:
      - name: nightly
        on: [scheduled]
        schedule: {cron: "0 2 * * *"}
        where: {cost: {gt: 100}}
        actions:
          - type: update_record
            set: {name: "'expensive'"}
"""


@pytest.mark.parametrize(("package", "at"), [(TELLER, "condition"), (SCHEDULED, "where")], ids=["condition", "where"])
def test_an_automation_rule_acting_visibly_on_a_protected_condition_is_an_error(write_package, catalog, package, at):
    """Not a saver's oracle: every user reading the record's name reads whether cost > 100."""
    found = problems_of(write_package, catalog, package)
    assert len(found) == 1 and "reads deal.cost" in found[0] and f"(at objects.deal.automations[0].{at})" in found[0], \
        found


def test_an_automation_rule_reading_only_protected_fields_into_protected_fields_is_accepted(write_package, catalog):
    quiet = HEAD + """    automations:
      - name: quiet
        on: [created, updated]
        condition: "cost is not None and cost < 0"
        actions:
          - type: update_record
            set: {cost: "0"}
"""
    assert problems_of(write_package, catalog, quiet) == []


def test_every_sentence_of_the_check_is_said_in_chinese_too(write_package, catalog):
    packages = [DEFAULTED, ORACLE, COPIER, TELLER, with_rule("amount is not None and amount < (previous('cost') or 0)")]
    for package in packages:
        (found,) = problems_of(write_package, catalog, package)
        sentence = found.split(": ", 1)[1].rsplit(" (at ", 1)[0]
        zh = translated(sentence, "zh")
        assert zh != sentence and "权限集“costs”" in zh and ("deal.cost" in zh or "account.credit_limit" in zh), zh


@pytest.mark.parametrize("package", [COPIER, DEFAULTED], ids=["automation", "default"])
def test_a_new_permission_set_protecting_what_an_installed_rule_or_default_shows_is_the_error(
        sqlite_url, write_package, package):
    from crmkit.engine import Crm
    from crmkit.metadata import MetadataError

    unprotected = package.replace("  costs:\n    fields:\n      deal.cost: [read, edit]\n      account.credit_limit: [read]\n",
                                  "")
    crm = Crm.open(sqlite_url)
    crm.install(write_package(unprotected))
    crm.close()
    crm = Crm.open(sqlite_url)  # installed earlier: read back with the rules of its time
    try:
        guard = ('package: guard\nversion: "1.0.0"\ndepends_on: [deals]\npermission_sets:\n  controllers:\n'
                 "    fields:\n      deal.cost: [read, edit]\n      account.credit_limit: [read]\n")
        with pytest.raises(MetadataError) as refused:
            crm.install(write_package(guard, "guard.yaml"))
        assert "guard.yaml:" in str(refused.value) and "'controllers' protects" in str(refused.value), refused.value
        sentence = refused.value.problems[0].format().split(": ", 1)[1].rsplit(" (at ", 1)[0]
        assert "权限集“controllers”保护" in translated(sentence, "zh"), sentence
    finally:
        crm.close()


SCORED = HEAD.replace("      amount: {type: integer}\n", "      amount: {type: integer}\n      score: {type: integer}\n") + \
    """    scoring:
      field: score
      rules:
        - {condition: "amount is not None and amount > 10", points: 1}
        - {condition: "cost is not None and cost > 100", points: 10}
"""
ASSIGNED = HEAD + """    automations:
      - name: route
        on: [created]
        actions:
          - type: assign_owner
            strategy: rules
            rules:
              - {when: {cost: ["0", "1", "2"]}, role: rep}
"""


def test_a_score_counting_a_protected_condition_is_an_error(write_package, catalog):
    """The score shows whether `cost > 100` to everyone reading it."""
    found = problems_of(write_package, catalog, SCORED)
    assert len(found) == 1 and "a scoring rule of deal.score reads deal.cost" in found[0], found
    assert "(at objects.deal.scoring.rules[1].condition)" in found[0], found
    assert "权限集“costs”" in translated(found[0].split(": ", 1)[1].rsplit(" (at ", 1)[0], "zh")
    protected = SCORED.replace("      deal.cost: [read, edit]\n", "      deal.cost: [read, edit]\n      deal.score: [read]\n")
    assert problems_of(write_package, catalog, protected) == []


def test_an_owner_assigned_by_a_protected_field_is_an_error(write_package, catalog):
    """The owner a row gives shows which of its values the protected field holds."""
    found = problems_of(write_package, catalog, ASSIGNED)
    assert len(found) == 1 and "automation rule 'route' reads deal.cost" in found[0], found
    declared = ASSIGNED.replace("        on: [created]\n", "        on: [created]\n        discloses_protected_fields: true\n")
    assert problems_of(write_package, catalog, declared) == []


MOVE = HEAD + """    transitions:
      stage:
        moves:
          - from: Open
            to: Won
"""


@pytest.mark.parametrize(("rest", "told"), [
    ("            condition: \"cost is not None and cost > 0\"\n", "the condition of move 1 of deal.stage reads deal.cost"),
    ("            requires: [cost]\n", "the requires of move 1 of deal.stage reads deal.cost")], ids=["condition", "requires"])
def test_a_move_judged_on_protected_fields_alone_is_an_error(write_package, catalog, rest, told):
    """A rep moving the stage learns, move by move, whether `cost > 0` (or whether cost is blank): the move is theirs
    to make, and judged only when made, so a stored record may well fail it."""
    found = problems_of(write_package, catalog, MOVE + rest)
    assert len(found) == 1 and told in found[0], found
    declared = MOVE + rest + "            discloses_protected_fields: true\n"
    assert problems_of(write_package, catalog, declared) == []


def test_a_validation_rule_on_protected_fields_alone_judged_on_updates_only_is_an_error(write_package, catalog):
    """Created with cost < 0, a record refuses a rep's every update: the rep learns cost < 0."""
    found = problems_of(write_package, catalog, with_rule("cost is not None and cost < 0") + "        on: [update]\n")
    assert len(found) == 1 and "validation rule 'checked' reads deal.cost" in found[0], found
    assert problems_of(write_package, catalog, with_rule("cost is not None and cost < 0")) == []


@pytest.mark.parametrize("shown", ["text(account)", "str(account)", "f'{account}'"])
def test_a_rule_showing_a_linked_record_as_text_reads_its_protected_name(write_package, catalog, shown):
    """A record used as text shows as its name (sandbox/records.py RecordView.__str__), loaded whenever another
    expression of the object reads it (here the formula `account_name`)."""
    package = with_rule(f"amount is not None and {shown} < 'M'").replace(
        "      account.credit_limit: [read]\n", "      account.credit_limit: [read]\n      account.name: [read]\n").replace(
        "      account: {type: lookup, to: account}\n",
        "      account: {type: lookup, to: account}\n"
        "      account_name: {type: formula, formula: \"account.name\", returns: text}\n")
    found = problems_of(write_package, catalog, package)
    assert len(found) == 1 and "validation rule 'checked' reads account.name" in found[0], found
    assert problems_of(write_package, catalog, with_rule(f"amount is not None and {shown} < 'M'")) == []
