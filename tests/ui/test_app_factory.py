"""create_app and `crmkit serve`: where the database and the secret key come from."""
from __future__ import annotations

import stat

import pytest
from click.testing import CliRunner

from crmkit.cli import main
from crmkit.engine import Crm
from crmkit.ui import create_app
from crmkit.ui.config import ConfigurationError


@pytest.fixture
def empty_crm(tmp_path, monkeypatch):
    monkeypatch.delenv("CRMKIT_SECRET_KEY", raising=False)
    crm = Crm.open(f"sqlite:///{tmp_path / 'crm.db'}")
    yield crm
    crm.close()


def test_the_embedded_database_gets_a_secret_key_made_once_beside_it(empty_crm, tmp_path):
    first = create_app(empty_crm)
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first.secret_key) >= 48 and key_file.read_text() == first.secret_key
    assert create_app(empty_crm).secret_key == first.secret_key  # every process of the same database agrees


def test_a_configured_or_environment_key_wins_and_no_file_is_made(empty_crm, tmp_path, monkeypatch):
    assert create_app(empty_crm, {"SECRET_KEY": "k" * 40}).secret_key == "k" * 40
    monkeypatch.setenv("CRMKIT_SECRET_KEY", "e" * 40)
    assert create_app(empty_crm).secret_key == "e" * 40
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.postgres
def test_a_server_database_needs_a_configured_secret_key(postgres_url, monkeypatch):
    monkeypatch.delenv("CRMKIT_SECRET_KEY", raising=False)
    crm = Crm.open(postgres_url)
    try:
        with pytest.raises(ConfigurationError, match="set CRMKIT_SECRET_KEY"):
            create_app(crm)
        monkeypatch.setenv("CRMKIT_SECRET_KEY", "p" * 40)
        assert create_app(crm).test_client().get("/login").status_code == 200
    finally:
        crm.close()


def test_create_app_without_a_crm_opens_the_configured_database_but_never_creates_one(tmp_path, monkeypatch):
    from crmkit.engine.database import DatabaseError

    monkeypatch.setenv("CRMKIT_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    with pytest.raises(DatabaseError, match="there is no crmkit database"):
        create_app(config={"SECRET_KEY": "s" * 40})
    Crm.open(f"sqlite:///{tmp_path / 'made.db'}").close()
    app = create_app(config={"SECRET_KEY": "s" * 40, "CRMKIT_DATABASE_URL": f"sqlite:///{tmp_path / 'made.db'}"})
    assert str(app.extensions["crmkit"].crm.engine.url).endswith("made.db")
    app.extensions["crmkit"].crm.close()


def test_crmkit_serve_prints_the_address_and_runs_the_app(tmp_path, monkeypatch):
    from flask import Flask

    ran = {}
    monkeypatch.setattr(Flask, "run", lambda app, **options: ran.update(options, app=app))
    database = f"sqlite:///{tmp_path / 'crm.db'}"
    Crm.open(database).close()
    result = CliRunner().invoke(main, ["--database", database, "serve", "--port", "5123"])
    assert result.exit_code == 0, result.output
    assert "crmkit is at http://127.0.0.1:5123/" in result.output
    assert (ran["host"], ran["port"], ran["debug"]) == ("127.0.0.1", 5123, False)
    assert "crmkit" in ran["app"].extensions


def test_crmkit_serve_without_a_database_says_how_to_make_one(tmp_path):
    result = CliRunner().invoke(main, ["--database", f"sqlite:///{tmp_path / 'crm.db'}", "serve"])
    assert result.exit_code == 2
    assert "there is no crmkit database" in result.output and "Traceback" not in result.output


def test_the_addresses_templates_keep_follow_the_script_root_the_app_is_mounted_at(empty_crm):
    """Templates keep the addresses of static files and argument-free pages (app.template_url_for, app.static_tags) per script
    root: the same app served under /crm and at / links each its own way, every time."""
    app = create_app(empty_crm, {"SECRET_KEY": "k" * 40})
    client = app.test_client()
    for _ in range(2):
        mounted = client.get("/login", environ_overrides={"SCRIPT_NAME": "/crm"}).get_data(as_text=True)
        plain = client.get("/login").get_data(as_text=True)
        assert 'href="/crm/static/crmkit/app.css"' in mounted and 'href="/static/crmkit/app.css"' not in mounted
        assert 'href="/static/crmkit/app.css"' in plain and "/crm/" not in plain


def test_a_blueprint_relative_address_is_built_for_the_blueprint_of_each_request(empty_crm):
    """url_for(".x") names the endpoint x of the request's own blueprint (a plugin's templates may use it):
    kept once, it would point every later page at the first blueprint's x."""
    from flask import Blueprint, render_template_string

    app = create_app(empty_crm, {"SECRET_KEY": "k" * 40})
    for name in ("first", "second"):
        blueprint = Blueprint(name, __name__, url_prefix=f"/{name}")
        blueprint.add_url_rule("/here", "here", lambda: render_template_string('{{ url_for(".here") }}'))
        app.register_blueprint(blueprint)
    from crmkit.ui.app import template_url_for

    for path, expected in (("/first/here", "/first/here"), ("/second/here", "/second/here")):
        with app.test_request_context(path):
            assert template_url_for(".here") == expected
