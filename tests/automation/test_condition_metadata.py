"""What automation expressions may read, checked at load with file:line:column: the record, previous values,
related records (one lookup step), the acting user (`user`) and the clock; and package-level `automations:`,
each naming its object, attached after the object's own rules."""
from __future__ import annotations

import pytest

from crmkit.metadata import MetadataError, validate_paths
from tests.automation.conftest import DEALS

SHOP = """
package: shop
version: "1.0.0"
objects:
  account:
    fields:
      name: {type: text, required: true}
      rating: {type: picklist, options: [Cold, Hot]}
  deal:
    fields:
      name: {type: text, required: true}
      account: {type: lookup, to: account}
      note: {type: text}
    transitions:
      note:
        moves: []
    automations:
      - name: first
        on: [saved]
        condition: CONDITION
        actions:
          - {type: update_record, set: {note: VALUE}}
          - {type: notify, to: owner, message: MESSAGE}
"""


def shop(condition: str = "True", value: str = "'x'", message: str = "'hi'") -> str:
    return (SHOP.replace("CONDITION", f'"{condition}"').replace("VALUE", f'"{value}"')
            .replace("MESSAGE", f'"{message}"').replace("    transitions:\n      note:\n        moves: []\n", ""))


def where(problem: str) -> str:
    """`file.yaml:line` of a formatted problem (its file name without the folder)."""
    location = problem.split(": ", 1)[0]
    file, line, _column = location.rsplit(":", 2)
    return f"{file.rsplit('/', 1)[-1]}:{line}"


def line_of(text: str, needle: str, after: str = "") -> str:
    """The 1-based line of the first line containing `needle` (after the line containing `after`)."""
    lines = text.lstrip().splitlines()
    start = next(number for number, line in enumerate(lines) if after in line) if after else 0
    return str(next(number for number, line in enumerate(lines) if number >= start and needle in line) + 1)


def problems(write_package, catalog, *texts: str) -> list[str]:
    paths = [write_package(text, f"p{number}.yaml") for number, text in enumerate(texts)]
    with pytest.raises(MetadataError) as caught:
        validate_paths(paths, catalog)
    return [problem.format() for problem in caught.value.problems]


@pytest.mark.parametrize("condition", [
    "amount_typo > 1",                      # not a field
    "user.rank == 'boss'",                  # not an attribute of the acting user
    "account.ratin == 'Hot'",               # not a field of the related record
])
def test_an_unknown_name_in_a_condition_is_reported_at_the_rule(write_package, catalog, condition):
    text = shop(condition=condition)
    (problem,) = problems(write_package, catalog, text)
    assert where(problem) == "p0.yaml:" + line_of(text, "condition:")
    assert {"amount_typo > 1": "'amount_typo', which is neither a field of deal",
            "user.rank == 'boss'": "but 'user' has no 'rank'. It has: email, id, language, name, role, teams",
            "account.ratin == 'Hot'": "account has no field 'ratin'. Did you mean 'rating'?"}[condition] in problem


def test_set_values_and_messages_read_the_same_names_as_conditions(write_package, catalog):
    text = shop(value="user.nickname", message="'by ' + user.usernam")
    found = problems(write_package, catalog, text)
    assert any(where(p) == "p0.yaml:" + line_of(text, "update_record") and "'user' has no 'nickname'" in p
               for p in found)
    assert any(where(p) == "p0.yaml:" + line_of(text, "notify") and "Did you mean 'username'?" in p for p in found)


def test_every_condition_form_is_accepted(write_package, catalog):
    text = shop(condition="changed('note') and previous('note') is None and account.rating == 'Hot' "
                          "and user.role == 'sales_rep' and 'emea' in user.teams and today().year > 2000 "
                          "and now().hour < 24",
                value="user.username + ' on ' + text(today())", message="'by ' + user.name")
    deal = validate_paths([write_package(text)], catalog).object("deal")
    assert deal.automations[0].condition.startswith("changed('note')")


def test_a_field_named_user_is_the_field(write_package, catalog):
    text = shop(condition="user == 'me'").replace("note: {type: text}\n", "note: {type: text}\n      user: {type: text}\n")
    assert validate_paths([write_package(text)], catalog).object("deal").automations[0].condition == "user == 'me'"


def test_formulas_and_validation_rules_may_not_read_the_acting_user(write_package, catalog):
    text = shop().replace("note: {type: text}\n", "note: {type: text}\n      mine: {type: formula, returns: boolean, "
                                                   "formula: \"user.id == owner_id\"}\n")
    (problem,) = problems(write_package, catalog, text)
    assert "'user', which is neither a field of deal" in problem


OPS = """
package: ops
version: "1.0.0"
depends_on: [deals]
automations:
  - name: hot_account
    object: deal
    on: [created]
    condition: "account.rating == 'Hot' and user.role == 'sales_rep'"
    actions:
      - {type: notify, to: owner, message: "'Deal on a hot account: ' + name"}
  - name: tag
    object: account
    on: [saved]
    actions:
      - {type: update_record, set: {note: "'tagged'"}}
"""


def test_package_level_rules_join_their_objects_after_the_objects_own_rules(write_package, catalog):
    registry = validate_paths([write_package(DEALS, "deals.yaml"), write_package(OPS, "ops.yaml")], catalog)
    deal = registry.object("deal")
    assert [rule.name for rule in deal.automations] == ["won", "lost_task", "hot_account"]
    assert deal.automations[-1].package == "ops" and deal.automations[-1].object == "deal"
    assert [rule.name for rule in registry.object("account").automations] == ["tag"]
    # what a package-level condition reads through a lookup is loaded with the record, like a formula's reads
    assert "rating" in registry.related_reads["deal"]["account"]


def test_a_package_level_rule_names_an_object_it_may_see(write_package, catalog):
    unknown = OPS.replace("object: deal", "object: dael")
    (problem,) = problems(write_package, catalog, DEALS, unknown)
    assert where(problem) == "p1.yaml:" + line_of(unknown, "object: dael") and "is for object 'dael', which is not an object here" in problem
    assert "Did you mean 'deal'?" in problem
    unrelated = OPS.replace("depends_on: [deals]\n", "")
    found = problems(write_package, catalog, DEALS, unrelated)
    assert where(found[0]) == "p1.yaml:" + line_of(unrelated, "object: deal") and "does not depend on" in found[0]
    assert "Objects this package may name" not in found[0]


def test_a_package_level_rule_needs_its_object(write_package, catalog):
    (problem,) = problems(write_package, catalog, DEALS, OPS.replace("    object: account\n", ""))
    assert "p1.yaml" in problem and "object" in problem


def test_a_package_level_rule_is_checked_like_an_objects_own(write_package, catalog):
    clash = OPS.replace("name: hot_account", "name: won").replace("user.role", "user.rol")
    found = problems(write_package, catalog, DEALS, clash)
    assert any("two automation rules of deal are named 'won'" in p for p in found)
    assert any(where(p) == "p1.yaml:" + line_of(clash, "condition:") and "Did you mean 'role'?" in p for p in found)


def test_object_is_only_for_package_level_rules(write_package, catalog):
    text = shop().replace("      - name: first\n", "      - name: first\n        object: account\n")
    (problem,) = problems(write_package, catalog, text)
    assert where(problem) == "p0.yaml:" + line_of(text, "object: account") and "'object' is for package-level" in problem


def test_a_stage_move_condition_reads_the_same_names(write_package, catalog):
    text = DEALS.replace('condition: "amount is not None and amount > 0"',
                         'condition: "amount is not None and user.rol == \'boss\'"')
    (problem,) = problems(write_package, catalog, text)
    assert where(problem) == "p0.yaml:" + line_of(text, "user.rol") and "Did you mean 'role'?" in problem
