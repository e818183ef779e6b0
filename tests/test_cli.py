"""The `crmkit` command: sentences and exit codes, never tracebacks."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from crmkit.cli import main

PACKAGES = Path(__file__).resolve().parent / "packages"


@pytest.fixture
def run(sqlite_url):
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, ["--database", sqlite_url, *args], catch_exceptions=False)

    return invoke


def test_validate_accepts_a_good_package(run):
    result = run("validate", str(PACKAGES / "all_types_v1.yaml"))
    assert result.exit_code == 0
    assert result.output == "valid: all_types 1.0.0 (2 objects)\n"


def test_validate_prints_one_line_per_problem_and_exits_1(run, write_package):
    path = write_package('package: bad\nversion: "1.0.0"\nobjects:\n  deal:\n    fields:\n'
                         "      amount: {type: curency}\n      stage: {type: picklist}\n")
    result = run("validate", str(path))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == f"{path}:6:22: 'curency' is not a field type. Did you mean 'currency'? (at objects.deal.fields.amount.type)"
    assert lines[1] == f"{path}:7:7: a picklist field needs 'options'. (at objects.deal.fields.stage)"
    assert lines[2] == "2 problems found; nothing was changed."
    assert "Traceback" not in result.output


def test_validate_reports_syntax_errors_with_position(run, write_package):
    path = write_package("package: bad\nversion: \"1.0.0\"\nobjects:\n\tdeal: {}\n")
    result = run("validate", str(path))
    assert result.exit_code == 1
    assert result.output.startswith(f"{path}:4:1: ")
    assert "tab" in result.output.lower()


def test_install_plan_packages_and_migrate(run):
    planned = run("install", "--plan", str(PACKAGES / "all_types_v1.yaml"))
    assert planned.exit_code == 0 and "create the table for project" in planned.output
    assert run("packages").output.startswith("No packages are installed")
    installed = run("install", str(PACKAGES / "all_types_v1.yaml"))
    assert installed.exit_code == 0 and "Installed: all_types 1.0.0" in installed.output
    assert run("packages").output.startswith("all_types")
    assert run("migrate", "--plan").output == "The database is up to date; nothing to do.\n"


def test_migrate_refuses_to_purge_what_is_in_use(run):
    run("install", str(PACKAGES / "all_types_v1.yaml"))
    result = run("migrate", "--purge", "project.name")
    assert result.exit_code == 1
    assert result.output == "Error: cannot purge 'project.name': it is still in use; remove it from the metadata first.\n"


def test_an_unusable_database_is_a_sentence(tmp_path):
    result = CliRunner().invoke(main, ["--database", f"sqlite:///{tmp_path}/missing/dir/\0x.db", "packages"])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
