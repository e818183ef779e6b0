"""attack12: package upgrades whose refusal or outcome does not say what happened.

The standard (README): metadata errors are `file:line:column: what is wrong, and how to fix it`, and a
refused migration is explained in sentences; an upgrade never does something other than what it declares.
"""
from __future__ import annotations

import pytest

from crmkit.engine.migrations.planner import MigrationError
from crmkit.metadata import MetadataError


def project(version: str, fields: str) -> str:
    return (f'package: example\nversion: "{version}"\nobjects:\n  project:\n    title_field: name\n'
            f"    fields:\n      name: {{type: text}}\n{fields}")


def test_a_refused_text_to_lookup_change_names_no_none(crm, write_package):
    crm.install(write_package(project("1.0.0", "      ref: {type: text}\n"), "v1.yaml"))
    crm.as_system().records("project").create({"name": "a", "ref": "7"})
    with pytest.raises(MigrationError) as refused:
        crm.install(write_package(project("1.1.0", "      ref: {type: lookup, to: project}\n"), "v2.yaml"))
    assert "points to project id 7, which does not exist" in str(refused.value)
    assert "None" not in str(refused.value), str(refused.value)


def test_renamed_from_a_field_still_declared_is_a_metadata_error(crm, write_package):
    crm.install(write_package(project("1.0.0", "      code: {type: text}\n"), "v1.yaml"))
    crm.as_system().records("project").create({"name": "a", "code": "C-1"})
    # A slip: the author meant `renamed_from: code`, but wrote the name of a field that stays.
    with pytest.raises(MetadataError) as refused:
        crm.install(write_package(project("1.1.0", "      reference: {type: text, renamed_from: name}\n"),
                                  "v2.yaml"))
    assert "v2.yaml:8:" in str(refused.value) and "renamed_from" in str(refused.value)


ROLLUP_PACKAGE = """package: example
version: "VERSION"
objects:
  parent:
    title_field: name
    fields:
      name: {type: text}
ROLLUP
  child:
    fields:
      parent: {type: lookup, to: parent}
      amount: {type: currency}
"""


def test_a_rollup_added_over_totals_that_do_not_fit_is_a_refused_migration_naming_the_record(crm, write_package):
    crm.install(write_package(ROLLUP_PACKAGE.replace("VERSION", "1.0.0").replace("ROLLUP\n", ""), "v1.yaml"))
    parent = crm.as_system().records("parent").create({"name": "p"})
    for _ in range(3):
        crm.as_system().records("child").create({"parent": parent["id"], "amount": "9999999999999999.99"})
    upgrade = ROLLUP_PACKAGE.replace("VERSION", "1.1.0").replace(
        "ROLLUP", "      total: {type: rollup, from: child.parent, aggregate: sum, field: amount}")
    with pytest.raises(Exception) as refused:
        crm.install(write_package(upgrade, "v2.yaml"))
    text = str(refused.value)
    assert "_record" not in text and isinstance(refused.value, MigrationError), (type(refused.value), text)
    assert f"id {parent['id']}" in text, text


def test_a_refused_datetime_to_date_change_shows_the_value_as_people_write_it(crm, write_package):
    crm.install(write_package(project("1.0.0", "      seen: {type: datetime}\n"), "v1.yaml"))
    crm.as_system().records("project").create({"name": "a", "seen": "2024-01-01T10:00:00Z"})
    with pytest.raises(MigrationError) as refused:
        crm.install(write_package(project("1.1.0", "      seen: {type: date}\n"), "v2.yaml"))
    text = str(refused.value)
    assert "time of day" in text and "datetime.datetime(" not in text and "tzinfo" not in text, text


BASE_V1 = ('package: base\nversion: "1.0.0"\nobjects:\n  account:\n    title_field: name\n    fields:\n'
           '      name: {type: text}\n      tier: {type: picklist, options: [Gold, Silver]}\n')
BASE_V2 = 'package: base\nversion: "2.0.0"\nobjects:\n  account:\n    title_field: name\n    fields:\n      name: {type: text}\n'
ADDON = ('package: addon\nversion: "1.0.0"\ndepends_on: [base]\nobjects:\n  deal:\n    fields:\n'
         '      account: {type: lookup, to: account}\n'
         '      tier_copy: {type: formula, returns: text, formula: "account.tier if account else None"}\n')


def test_the_cli_refusal_caused_by_an_installed_package_points_at_a_real_place(database_url, write_package):
    from click.testing import CliRunner

    from crmkit.cli import main

    runner = CliRunner()
    first = runner.invoke(main, ["--database", database_url, "install", str(write_package(BASE_V1, "base.yaml")),
                                 str(write_package(ADDON, "addon.yaml"))])
    assert first.exit_code == 0, first.output
    refused = runner.invoke(main, ["--database", database_url, "install", str(write_package(BASE_V2, "base2.yaml"))])
    assert refused.exit_code == 1 and "account.tier" in refused.output, refused.output
    # Where the formula is written (addon.yaml line 8, as crm.install says), or the file whose upgrade removes it.
    assert "addon.yaml:8:" in refused.output or "base2.yaml:" in refused.output, refused.output


def test_renamed_from_an_object_still_declared_is_a_metadata_error(crm, write_package):
    both = project("1.1.0", "").replace("objects:\n", "objects:\n  task:\n    renamed_from: project\n    fields:\n"
                                                      "      subject: {type: text}\n")
    with pytest.raises(MetadataError) as refused:
        crm.install(write_package(both, "v2.yaml"))
    assert "v2.yaml:5:" in str(refused.value) and "renamed_from" in str(refused.value), str(refused.value)


@pytest.mark.parametrize(("installed", "given"), [("1.0.0", "0.9.0"), ("1.0.0", "1.0.0-rc.1"), ("2.1.0", "2.0.9")])
def test_installing_an_older_version_says_it_goes_back(crm, write_package, installed, given):
    crm.install(write_package(project(installed, "      code: {type: text}\n"), "new.yaml"))
    plan = crm.install(write_package(project(given, ""), "old.yaml"))
    assert f"package example goes back from version {installed} to the older {given}" in plan.describe()


def test_an_upgrade_or_the_same_version_says_nothing_of_going_back(crm, write_package):
    crm.install(write_package(project("1.0.0-rc.1", ""), "v1.yaml"))
    assert "goes back" not in crm.install(write_package(project("1.0.0", ""), "v2.yaml")).describe()
    assert "goes back" not in crm.install(write_package(project("1.0.0", ""), "v3.yaml")).describe()
