"""attack12: an empty password is a traceback, not a sentence.

docs/cli.md: "Passwords need at least 12 characters, ..."; problems are printed as sentences.
`printf '' | crmkit user create bob --password-stdin` (an empty first line, or no line at all)
reaches zxcvbn with '' (engine/security/passwords.py `_rate`), which raises IndexError.
"""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from crmkit.cli import main
from crmkit.engine import Crm
from crmkit.engine.security.users import PasswordRefused, SystemDirectory


@pytest.fixture
def database(sqlite_url):
    Crm.open(sqlite_url).close()
    return sqlite_url


@pytest.mark.xfail(strict=True, reason="attack12: `crmkit user create --password-stdin` with empty input prints a "
                                       "zxcvbn IndexError traceback")
@pytest.mark.parametrize("typed", ["", "\n"], ids=["no-line", "empty-line"])
def test_an_empty_password_on_stdin_is_refused_with_a_sentence(database, typed):
    result = CliRunner().invoke(main, ["--database", database, "user", "create", "bob", "--password-stdin"],
                                input=typed)
    assert result.exit_code == 1 and not isinstance(result.exception, IndexError), repr(result.exception)
    assert "password" in result.output and "Traceback" not in result.output


@pytest.mark.xfail(strict=True, reason="attack12: `crmkit user set-password --password-stdin` with empty input "
                                       "prints a zxcvbn IndexError traceback")
def test_an_empty_new_password_is_refused_with_a_sentence(database):
    SystemDirectory(Crm.open(database)).create_user("bob", display_name="Bob")
    result = CliRunner().invoke(main, ["--database", database, "user", "set-password", "bob", "--password-stdin"],
                                input="\n")
    assert result.exit_code == 1 and not isinstance(result.exception, IndexError), repr(result.exception)


@pytest.mark.xfail(strict=True, reason="attack12: SystemDirectory.create_user(password='') raises IndexError "
                                       "instead of PasswordRefused")
def test_the_engine_refuses_an_empty_password_as_a_password_problem(database):
    with pytest.raises(PasswordRefused):
        SystemDirectory(Crm.open(database)).create_user("bob", display_name="Bob", password="")


@pytest.mark.xfail(strict=True, reason="attack12: changing one's own password to an empty one on /settings/password "
                                       "answers 500 (zxcvbn IndexError)")
def test_an_empty_new_password_on_the_settings_page_is_a_form_error(database):
    import re

    from crmkit.ui import create_app

    crm = Crm.open(database)
    password = "a long enough passphrase 42"
    SystemDirectory(crm).create_user("bob", display_name="Bob", password=password)
    app = create_app(crm, {"SECRET_KEY": "attack12-secret-key-0123456789-0123456789", "CRMKIT_API_RATE_LIMIT": ""})
    client = app.test_client()

    def token_of(page: str) -> str:
        return re.search(r'name="csrf-token" content="([^"]+)"', client.get(page).get_data(as_text=True))[1]

    signed = client.post("/login", data={"username": "bob", "password": password, "csrf_token": token_of("/login")})
    assert signed.status_code == 302
    answer = client.post("/settings/password", data={"current_password": password, "new_password": "",
                                                      "confirm_password": "", "csrf_token": token_of("/settings")})
    assert answer.status_code == 422, answer.status_code
