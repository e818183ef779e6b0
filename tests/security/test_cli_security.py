"""`crmkit user`, `crmkit token` and the first admin of `crmkit setup`: secrets are printed once, never stored."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from crmkit.cli import main
from crmkit.engine import Crm
from crmkit.engine.security.authentication import Authenticator, LoginFailed
from crmkit.engine.security.tokens import TokenStore
from crmkit.engine.security.users import SystemDirectory

PASSWORD = "correct horse battery"
DIRECTORY_PACKAGE = Path(__file__).resolve().parent.parent / "packages" / "directory.yaml"


@pytest.fixture
def run(sqlite_url):
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(main, ["--database", sqlite_url, *args], input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def database(sqlite_url):
    crm = Crm.open(sqlite_url)
    yield crm
    crm.close()


@pytest.fixture
def roles(database):
    """The roles and permission sets the tests give users: they must exist in the installed metadata."""
    database.install(DIRECTORY_PACKAGE)
    return database


def shown_password(output: str) -> str:
    return re.search(r"^Password(?: for \S+)?: (\S+)$", output, re.MULTILINE)[1]


def test_user_create_reads_the_password_from_stdin_and_never_prints_it(run, database, roles):
    result = run("user", "create", "Alice", "--display-name", "Alice Example", "--role", "sales_rep",
                 "--permission-set", "sales", "--language", "zh", "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 0
    assert result.output == "Created user alice (id 1).\n"
    assert Authenticator(database).login("alice", PASSWORD).user.display_name == "Alice Example"
    assert SystemDirectory(database).permission_sets_of(1) == frozenset({"sales"})


def test_user_create_without_a_password_prints_a_generated_one_once(run, database):
    result = run("user", "create", "bob")
    assert result.exit_code == 0
    password = shown_password(result.output)
    assert result.output.count(password) == 1
    hint = next(line for line in result.output.splitlines() if line.startswith("It will not be shown again"))
    assert hint.startswith("It will not be shown again. Change it with: crmkit ")  # as run, with its --database
    assert hint.endswith(" user set-password --password-stdin bob")
    assert Authenticator(database).login("bob", password).user.username == "bob"


def test_user_mistakes_are_sentences_with_exit_code_1(run, database):
    weak = run("user", "create", "carol", "--password-stdin", input="12345\n")
    assert weak.exit_code == 1
    assert weak.output.startswith("Error: the password is not acceptable: it has fewer than 12 characters; "
                                  "it is too easy to guess. ")
    common = run("user", "create", "carol", "--password-stdin", input="password1234\n")
    assert common.exit_code == 1 and "it is too easy to guess. This is a very common password." in common.output
    run("user", "create", "carol")
    taken = run("user", "create", "CAROL")
    assert (taken.exit_code, taken.output) == (1, "Error: the username 'carol' is already taken.\n")
    unknown = run("user", "deactivate", "nobody")
    assert (unknown.exit_code, unknown.output) == (1, "Error: there is no user named 'nobody'.\n")


def test_user_list_deactivate_activate_and_grants(run, roles):
    run("user", "create", "bob", "--role", "support")
    run("user", "create", "alice")
    assert run("user", "grant", "alice", "sales", "export").output == (
        "Granted sales, export; alice now has: export, sales.\n")
    assert run("user", "revoke", "alice", "export").output == "Revoked export; alice now has: sales.\n"
    assert run("user", "deactivate", "bob").output == "Deactivated bob; their sessions have ended.\n"
    lines = run("user", "list").output.splitlines()
    assert [line.split()[1:3] for line in lines] == [["alice", "alice"], ["bob", "bob"]]
    assert "active" in lines[0].split() and "sales" in lines[0] and "never" in lines[0]
    assert "inactive" in lines[1].split() and "support" in lines[1]
    assert [line.split()[1] for line in run("user", "list", "--active-only").output.splitlines()] == ["alice"]
    assert run("user", "activate", "bob").exit_code == 0
    assert "inactive" not in run("user", "list").output


def test_user_set_password_ends_sessions_and_takes_effect(run, database):
    run("user", "create", "alice", "--password-stdin", input=PASSWORD + "\n")
    auth = Authenticator(database)
    token = auth.login("alice", PASSWORD).token
    result = run("user", "set-password", "alice", "--password-stdin", input="a brand new passphrase\n")
    assert result.output == "Changed the password of alice; their sessions have ended.\n"
    assert auth.session_user(token) is None
    with pytest.raises(LoginFailed):
        auth.login("alice", PASSWORD)
    generated = run("user", "set-password", "alice")
    assert auth.login("alice", shown_password(generated.output))


def test_token_create_prints_the_token_once_and_list_never_shows_it(run, database):
    run("user", "create", "alice")
    created = run("token", "create", "alice", "nightly export", "--expires-in-days", "30")
    assert created.exit_code == 0
    token = re.search(r"(crmkit_\w+_\S+)", created.output)[1]
    assert created.output.count(token) == 1
    assert "It will not be shown again: store it now. Revoke it with: crmkit token revoke 1" in created.output
    assert TokenStore(database).authenticate(token).username == "alice"
    listed = run("token", "list", "alice").output
    prefix = token.split("_")[1]
    assert "nightly export" in listed and f"crmkit_{prefix}_..." in listed and token not in listed
    assert run("token", "revoke", "1").output == "Revoked token 1.\n"
    assert TokenStore(database).authenticate(token) is None
    assert "revoked" in run("token", "list", "alice").output
    assert run("token", "revoke", "7").output == "Error: there is no API token with id 7.\n"


def test_setup_creates_the_first_admin_once_with_a_random_password(run, database):
    first = run("setup", "--records", "1")
    assert first.exit_code == 0, first.output
    password = shown_password(first.stdout)
    assert "Administrator: admin" in first.stdout
    assert "This password will not be shown again. Change it with: crmkit --database " in first.stdout
    assert "user set-password --password-stdin admin" in first.stdout
    admin = Authenticator(database).login("admin", password).user
    assert SystemDirectory(database).permission_sets_of(admin.id) == frozenset({"admin"})
    second = run("setup", "--records", "1")
    assert second.exit_code == 0
    assert "Password" not in second.output and "Administrator" not in second.output
    # One administrator; the others are the demo sales reps (crmkit.demo.users), who have no password.
    assert sorted(user.username for user in SystemDirectory(database).list()) == [
        "admin", "emma.clark", "li.wei", "wang.fang"]


def test_user_list_shows_the_permission_sets_a_user_holds_through_their_role(run, roles):
    run("user", "create", "alice", "--role", "sales_rep", "--permission-set", "export")
    SystemDirectory(roles).grant("sales", role="sales_rep")
    line = run("user", "list").output.splitlines()[0]
    assert "export,sales (via role)" in line
    refused = run("user", "revoke", "alice", "sales")
    assert refused.exit_code == 1 and "through their role 'sales_rep'" in refused.output
    assert run("user", "grant", "alice", "reports").output == (
        "Granted reports; alice now has: export, reports, sales (via role).\n")


def test_the_command_line_keeps_the_last_active_administrator(run, roles):
    run("user", "create", "root", "--permission-set", "admin")
    deactivate = run("user", "deactivate", "root")
    assert deactivate.exit_code == 1 and "this is the last active administrator" in deactivate.output
    revoke = run("user", "revoke", "root", "admin")
    assert revoke.exit_code == 1 and "this is the last active administrator" in revoke.output
    assert "admin" in run("user", "list").output.split("root", 1)[1].splitlines()[0]
