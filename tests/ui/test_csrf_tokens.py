"""The CSRF token is Flask-WTF's, signed once a second per cookie secret (crmkit/ui/csrf_tokens.py): the very
token generate_csrf makes, valid, and never another session's."""
from __future__ import annotations

import time

import pytest
from flask import g, session
from flask_wtf.csrf import generate_csrf, validate_csrf
from wtforms import ValidationError

from crmkit.ui.csrf_tokens import csrf_token
from tests.ui.conftest import csrf_token as page_token

MOMENT = 1_800_000_000.25


def token_for(app, secret: str) -> str:
    """csrf_token() in a request whose cookie holds `secret`, at MOMENT."""
    with app.test_request_context("/"):
        session["csrf_token"] = secret
        return csrf_token()


def test_a_kept_token_is_the_one_generate_csrf_makes_in_that_second_and_validates(app, monkeypatch):
    monkeypatch.setattr(time, "time", lambda: MOMENT)
    first = token_for(app, "a" * 40)
    assert token_for(app, "a" * 40) == first  # kept for the second...
    with app.test_request_context("/"):
        session["csrf_token"] = "a" * 40
        assert generate_csrf() == first  # ...and the very token signing again makes
        validate_csrf(first)
    other = token_for(app, "b" * 40)
    assert other != first
    with app.test_request_context("/"):
        session["csrf_token"] = "b" * 40
        with pytest.raises(ValidationError):
            validate_csrf(first)  # another cookie's secret: refused, as always
    monkeypatch.setattr(time, "time", lambda: MOMENT + 1)
    assert token_for(app, "a" * 40) != first  # the next second signs anew (a new timestamp)


def test_a_request_without_a_secret_gets_one_made_and_a_token_for_it(app):
    with app.test_request_context("/"):
        token = csrf_token()
        assert session["csrf_token"] and g.csrf_token == token
        validate_csrf(token)


def test_two_browsers_get_tokens_of_their_own_and_one_is_refused_for_the_other(app):
    from crmkit.engine.security.users import SystemDirectory
    from tests.ui.conftest import signed_in_client
    from tests.webapp import PASSWORD

    directory = SystemDirectory(app.extensions["crmkit"].crm)
    for name in ("csrf_one", "csrf_two"):
        directory.grant("sales_user", user_id=directory.create_user(name, password=PASSWORD).id)
    first = signed_in_client(app, "csrf_one", 201)
    second = signed_in_client(app, "csrf_two", 202)
    mine, theirs = page_token(first.get("/o/account").get_data(as_text=True)), \
        page_token(second.get("/o/account").get_data(as_text=True))
    assert mine != theirs
    refused = first.post("/language", data={"language": "en", "next": "/", "csrf_token": theirs})
    assert refused.status_code == 400
    accepted = first.post("/language", data={"language": "en", "next": "/", "csrf_token": mine})
    assert accepted.status_code in (302, 303)


def test_pages_make_their_tokens_with_it(app):
    with app.test_request_context("/"):
        variables: dict = {}
        app.update_template_context(variables)
        assert variables["csrf_token"] is csrf_token and app.jinja_env.globals["csrf_token"] is csrf_token
