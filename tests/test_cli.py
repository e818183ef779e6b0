"""The `crmkit` command: sentences and exit codes, never tracebacks."""
from __future__ import annotations

import contextlib
import shutil
import sqlite3
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

    invoke.database_url = sqlite_url
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
    assert lines[2] == "2 problems found."  # validate never changes anything
    assert "Traceback" not in result.output


def test_validate_reports_syntax_errors_with_position(run, write_package):
    path = write_package("package: bad\nversion: \"1.0.0\"\nobjects:\n\tdeal: {}\n")
    result = run("validate", str(path))
    assert result.exit_code == 1
    assert result.output.startswith(f"{path}:4:1: ")
    assert "tab" in result.output.lower()


def test_install_plan_packages_and_migrate(run, tmp_path):
    planned = run("install", "--plan", str(PACKAGES / "all_types_v1.yaml"))
    assert planned.exit_code == 0 and "create the table for project" in planned.output
    assert planned.output.startswith("There is no crmkit database at sqlite:///")
    assert not (tmp_path / "crm.db").exists()
    assert run("setup", "--records", "0").exit_code == 0
    assert run("packages").output.startswith("default_crm")
    installed = run("install", str(PACKAGES / "all_types_v1.yaml"))
    assert installed.exit_code == 0 and "Installed: all_types 1.0.0" in installed.output
    assert run("packages").output.startswith("all_types")
    assert run("migrate", "--plan").output == "The database is up to date; nothing to do.\n"


def test_migrate_refuses_to_purge_what_is_in_use(run):
    run("install", str(PACKAGES / "all_types_v1.yaml"))
    result = run("migrate", "--purge", "project.name")
    assert result.exit_code == 1
    assert result.output == "Error: cannot purge 'project.name': it is still in use; remove it from the metadata first.\n"


@pytest.mark.parametrize("command", ["packages", "setup"])
def test_an_unusable_database_is_a_sentence(tmp_path, command):
    result = CliRunner().invoke(main, ["--database", f"sqlite:///{tmp_path}/missing/dir/\0x.db", command],
                                catch_exceptions=False)
    assert result.exit_code == 2
    assert result.output == "Error: the database URL contains a NUL character; no file or database is named like that.\n"


def test_a_folder_that_cannot_hold_the_database_is_a_sentence(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    result = CliRunner().invoke(main, ["--database", f"sqlite:///{tmp_path}/file/crm.db", "setup"],
                                catch_exceptions=False)
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: cannot create the folder {tmp_path}/file for the SQLite database: ")


# -- mistakes get a sentence and a non-zero exit -------------------------------------------

NO_DATABASE = "Error: there is no crmkit database at {path}. Create one with `crmkit setup`"


@pytest.mark.parametrize("command", [
    ["packages"], ["migrate"], ["migrate", "--plan"], ["demo"], ["user", "list"], ["user", "create", "bob"],
    ["user", "deactivate", "bob"], ["token", "revoke", "1"], ["validate", "--with-installed", "x.yaml"],
])
def test_commands_that_need_a_database_never_create_one(tmp_path, command):
    path = tmp_path / "elsewhere" / "crm.db"
    result = CliRunner().invoke(main, ["--database", f"sqlite:///{path}", *command])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(NO_DATABASE.format(path=path))
    assert not path.parent.exists()


@pytest.fixture(scope="module")
def set_up_file(tmp_path_factory) -> Path:
    """A SQLite file `crmkit setup --records 0` made once for the module (copied by `crm_db`)."""
    path = tmp_path_factory.mktemp("set_up") / "crm.db"
    result = CliRunner().invoke(main, ["--database", f"sqlite:///{path}", "setup", "--records", "0"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with contextlib.closing(sqlite3.connect(path)) as connection:  # one file, nothing left in a WAL
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


@pytest.fixture
def crm_db(run, set_up_file):
    """A database with the standard CRM installed and no demo data (a copy of what setup made)."""
    shutil.copyfile(set_up_file, run.database_url.removeprefix("sqlite:///"))
    return run


@pytest.mark.parametrize("args, message", [
    (["user", "create", "bob", "--role", "nosuchrole"],
     "Error: there is no role 'nosuchrole'. The roles are: ceo, marketing_manager, sales_manager, sales_rep, "
     "sales_vp, support_agent, support_manager.\n"),
    (["user", "create", "bob", "--role", "sales_reps"], "Error: there is no role 'sales_reps'. Did you mean 'sales_rep'?"),
    (["user", "create", "bob", "--permission-set", "nosuchset"], "Error: there is no permission set 'nosuchset'. The "
     "permission sets are: admin, data_protection, executive, marketing_user, sales_management, sales_user, "
     "support_management, support_user.\n"),
    (["user", "grant", "admin", "nosuchset"], "Error: there is no permission set 'nosuchset'."),
    (["user", "revoke", "admin", "sales_user"], "Error: admin does not have 'sales_user'; nothing was revoked."),
    (["user", "deactivate", "nosuchuser"], "Error: there is no user named 'nosuchuser'.\n"),
    (["user", "set-password", "nosuchuser"], "Error: there is no user named 'nosuchuser'.\n"),
    (["user", "create", "bob", "--display-name", "Bo\x00b"], "Error: the display name contains a character that "
     "cannot be stored"),
    (["token", "revoke", "999"], "Error: there is no API token with id 999.\n"),
    (["token", "create", "nosuchuser", "laptop"], "Error: there is no user named 'nosuchuser'.\n"),
    (["demo", "--object", "nosuchobject"], "Error: there is no object 'nosuchobject'; installed objects: account,"),
])
def test_mistakes_are_one_sentence_and_exit_1(crm_db, args, message):
    result = crm_db(*args)
    assert result.exit_code == 1, result.output
    assert message in result.output and result.output.count("Error: ") == 1, result.output
    assert "Traceback" not in result.output
    users = crm_db("user", "list").output.splitlines()
    assert [line.split()[1] for line in users] == ["admin"]


@pytest.mark.parametrize("count", ["0", "-5", "1000001", "100000000000000000000"])
def test_demo_refuses_a_count_that_is_not_positive_or_beyond_a_million(crm_db, count):
    result = crm_db("demo", "--records", count)
    assert result.exit_code == 2
    assert f"Invalid value for '--records': {count} is not in the range 1<=x<=1000000." in result.output
    assert "Creating demo records" not in result.output


def test_a_plan_with_refused_steps_exits_non_zero_and_says_so(run, write_package):
    first = write_package('package: tiny\nversion: "1.0.0"\nobjects:\n  thing:\n    fields:\n'
                          "      code: {type: text}\n", "v1.yaml")
    assert run("install", str(first)).exit_code == 0
    from crmkit.engine import Crm

    crm = Crm.open(run.database_url)
    crm.as_system().records("thing").create({"code": "not a number"})
    crm.close()
    second = write_package('package: tiny\nversion: "2.0.0"\nobjects:\n  thing:\n    fields:\n'
                           "      code: {type: integer}\n", "v2.yaml")
    result = run("install", "--plan", str(second))
    assert result.exit_code == 3
    assert "REFUSED" in result.output
    assert result.output.splitlines()[-1] == ("Error: 1 step of this plan is REFUSED (see above); installing it would "
                                              "change nothing. Fix the records or the metadata first.")


@pytest.mark.parametrize("url, message", [
    ("mysql://root@localhost/crm", "Error: 'mysql' databases are not supported; crmkit works with SQLite"),
    ("postgresql://postgres@127.0.0.1:1/crm", "Error: cannot connect to the PostgreSQL server at 127.0.0.1:1: "),
])
def test_a_database_that_cannot_be_used_is_a_sentence_and_exit_2(url, message):
    result = CliRunner().invoke(main, ["--database", url, "packages"])
    assert result.exit_code == 2
    assert result.output.startswith(message)


def test_installing_a_package_with_problems_creates_no_database(run, tmp_path, write_package):
    broken = write_package('package: bad\nversion: "1.0.0"\nobjects:\n  deal:\n    fields:\n'
                           "      amount: {type: curency}\n")
    result = run("install", str(broken))
    assert result.exit_code == 1 and "'curency' is not a field type" in result.output
    assert not (tmp_path / "crm.db").exists()
    result = run("install", "--plan", str(broken))
    assert result.exit_code == 1 and "There is no crmkit database" not in result.output
    assert not (tmp_path / "crm.db").exists()


def test_setup_says_how_to_run_crmkit_again_with_the_same_database(run):
    result = run("setup", "--records", "0")
    assert result.exit_code == 0
    try_line = next(line for line in result.output.splitlines() if line.startswith("Try: "))
    assert f"--database {run.database_url} packages" in try_line
    assert ".venv/bin/crmkit" not in try_line or Path(".venv/bin/crmkit").exists()


def test_setup_demo_data_queues_no_email_and_says_so_once(run):
    from crmkit.engine import Crm

    result = run("setup", "--records", "150")
    assert result.exit_code == 0, result.output
    said = [line for line in result.output.splitlines() if "sends email or calls webhooks was off" in line]
    assert len(said) == 1 and "lead.welcome_web_lead" in said[0]
    crm = Crm.open(run.database_url)
    try:
        kinds = {row["kind"] for row in crm.outbox.rows(limit=1000)}
        assert not kinds & {"send_email", "call_webhook"}
    finally:
        crm.close()


def test_validate_hints_at_installed_dependencies(run, write_package):
    assert run("setup", "--records", "0").exit_code == 0
    path = write_package('package: extra\nversion: "1.0.0"\ndepends_on: [default_crm]\n'
                         "objects:\n  visit:\n    fields:\n      account: {type: lookup, to: account}\n")
    alone = run("validate", str(path))
    assert alone.exit_code == 1 and "Hint: " in alone.output and "--with-installed" in alone.output
    assert "extra 1.0.0" in run("validate", "--with-installed", str(path)).output


def test_migrate_says_when_a_package_source_is_gone_and_keeps_it(run, tmp_path, write_package):
    path = write_package('package: gone\nversion: "1.0.0"\nobjects:\n  visit:\n    fields:\n'
                         "      name: {type: text}\n")
    assert run("install", str(path)).exit_code == 0
    path.rename(tmp_path / "moved.yaml")
    result = run("migrate")
    assert result.exit_code == 0
    assert "up to date" in result.output
    assert f"the source of package gone ({path}) no longer exists" in result.output


def test_the_python_api_installs_a_shipped_package_by_name(sqlite_url):
    from crmkit.engine import Crm

    crm = Crm.open(sqlite_url)
    try:
        crm.install("default_crm")
        assert [p["name"] for p in crm.installed_packages()] == ["default_crm"]
    finally:
        crm.close()


def test_serve_on_a_port_another_program_holds_is_a_sentence_naming_another_port(run):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run("serve", "--port", str(port))
    assert result.exit_code == 1
    assert f"crmkit cannot listen on 127.0.0.1 port {port}: another program is using it." in result.output
    assert "crmkit is at" not in result.output and "Traceback" not in result.output


def test_user_list_lines_up_chinese_names_by_terminal_columns(crm_db):
    """A Chinese character fills two terminal columns (UAX #11): the columns after a Chinese name start where
    they start after a Latin one."""
    from wcwidth import wcswidth

    assert crm_db("user", "create", "wei", "--display-name", "张伟", "--role", "sales_rep").exit_code == 0
    assert crm_db("user", "create", "ann", "--display-name", "Ann Lee", "--role", "sales_rep").exit_code == 0
    lines = {line.split()[1]: line for line in crm_db("user", "list").output.splitlines()}
    starts = {name: wcswidth(line[:line.index("active")]) for name, line in lines.items()}
    assert starts["wei"] == starts["ann"] == starts["admin"], lines
