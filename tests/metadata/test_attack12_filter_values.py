"""attack12: filter values written in a package (report filters, rollup conditions) are not checked.

docs/reports.md, "Mistakes are reported where they were written": every mistake is a sentence at its
place, `file:line:column`. A value the field can never hold (`amount: abc`, `d: 2024-02-30`,
`last_n_days:-1`) passes `crmkit validate` and `install`; the report then never runs, and a rollup
condition refuses every save of a child record (a QueryError about a field the user did not type).
"""
from __future__ import annotations

import pytest

from crmkit.metadata import MetadataError, validate_paths

OBJECTS = """package: example
version: "1.0.0"
objects:
  parent:
    title_field: name
    fields:
      name: {type: text}
      total: {type: rollup, from: child.parent, aggregate: sum, field: amount, condition: CONDITION}
  child:
    fields:
      parent: {type: lookup, to: parent}
      amount: {type: currency}
      d: {type: date}
"""

BASE = OBJECTS.replace(", condition: CONDITION", "")


def report(filter_text: str) -> str:
    return BASE + f"reports:\n  r:\n    object: child\n    kind: tabular\n    columns: [amount]\n    filter: {filter_text}\n"


def problems_of(write_package, catalog, text: str) -> list[str]:
    try:
        validate_paths([write_package(text)], catalog)
    except MetadataError as error:
        return [problem.format() for problem in error.problems]
    return []


# A finite number beyond what the field holds is a value it can be compared with (it finds nothing): not listed.
REPORT_FILTERS = ["{amount: abc}", "{d: '2024-02-30'}", "{d: {gte: 'last_n_days:-1'}}"]


@pytest.mark.parametrize("filter_text", REPORT_FILTERS)
def test_a_report_filter_value_the_field_cannot_hold_is_a_metadata_error(write_package, catalog, filter_text):
    found = problems_of(write_package, catalog, report(filter_text))
    assert any("package.yaml:19:" in text for text in found), found


def test_running_an_installed_report_never_raises_a_bare_python_error(crm, write_package):
    from crmkit.engine.reports.errors import ReportError

    crm.install(write_package(report("{amount: {gt: '1e99999999'}}")))
    try:
        crm.as_system().reports.run("r")
    except ReportError:
        pass


ROLLUP_CONDITIONS = ["{amount: {gt: abc}}", "{d: '2024-02-30'}"]


@pytest.mark.parametrize("condition", ROLLUP_CONDITIONS)
def test_a_rollup_condition_value_the_field_cannot_hold_is_a_metadata_error(write_package, catalog, condition):
    found = problems_of(write_package, catalog, OBJECTS.replace("CONDITION", condition))
    assert any("package.yaml:8:" in text and "condition" in text for text in found), found  # the rollup's line


@pytest.mark.parametrize("condition", ["{amount: {gt: abc}}", "{amount: {gt: '1e99999999'}}"], ids=["abc", "huge"])
def test_a_child_with_valid_values_can_be_saved(crm, write_package, condition):
    try:
        crm.install(write_package(OBJECTS.replace("CONDITION", condition)))
    except MetadataError:
        return  # refused where it was written: what the standard asks
    parent = crm.as_system().records("parent").create({"name": "p"})
    crm.as_system().records("child").create({"parent": parent["id"], "amount": "5"})


SHARED = """package: example
version: "1.0.0"
roles:
  boss: {}
  rep: {parent: boss}
permission_sets:
  reps:
    roles: [rep]
    objects:
      deal: [create, read, edit]
objects:
  deal:
    title_field: name
    sharing: private
    sharing_rules:
      - {name: big, criteria: CRITERIA, share_with: {role: rep}, access: read}
    fields:
      name: {type: text}
      amount: {type: currency}
"""


@pytest.mark.parametrize("criteria", ["{amount: abc}"], ids=["abc"])
def test_a_sharing_rule_criteria_value_the_field_cannot_hold_is_a_metadata_error(write_package, catalog, criteria):
    found = problems_of(write_package, catalog, SHARED.replace("CRITERIA", criteria))
    assert any("package.yaml:16:" in text for text in found), found


@pytest.mark.parametrize("criteria", ["{amount: abc}", "{amount: {gt: '1e99999999'}}"], ids=["abc", "huge"])
def test_a_rep_can_list_the_records_while_such_a_rule_is_installed(crm, write_package, criteria):
    from crmkit.engine.security.users import SystemDirectory

    try:
        crm.install(write_package(SHARED.replace("CRITERIA", criteria)))
    except MetadataError:
        return  # refused where it was written: what the standard asks
    crm.as_system().records("deal").create({"name": "d", "amount": "5"})
    rep = SystemDirectory(crm).create_user("rep1", display_name="Rep", role="rep").id
    crm.as_user(rep).records("deal").query({})
