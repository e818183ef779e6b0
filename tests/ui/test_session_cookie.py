"""The session cookie is checked once and kept while valid (sessions.CookieSessions.open_session): the same cookie
opens the same session without its signature being checked again, but a changed cookie is refused, an expired one
too, and no two requests share one session object."""
from __future__ import annotations

import time

from crmkit.engine.security.users import SystemDirectory
from tests.ui.conftest import signed_in_client
from tests.webapp import PASSWORD


def cookie_user(app, name: str, network: int):
    directory = SystemDirectory(app.extensions["crmkit"].crm)
    directory.grant("sales_user", user_id=directory.create_user(name, password=PASSWORD).id)
    return signed_in_client(app, name, network)


def test_a_kept_cookie_opens_its_session_and_a_changed_one_is_refused(app):
    client = cookie_user(app, "cookie_kept", 203)
    kept = app.session_interface._opened
    client.get("/o/account")  # the first page may set the cookie anew (its CSRF secret)
    assert client.get("/o/account").status_code == 200
    size = len(kept)
    assert client.get("/o/account").status_code == 200 and len(kept) == size  # opened from what was kept
    cookie = client.get_cookie("crmkit_session")
    forged = cookie.value[:-2] + ("AA" if not cookie.value.endswith("AA") else "BB")  # another signature
    client.set_cookie("crmkit_session", forged)
    refused = client.get("/o/account")
    assert refused.status_code == 302 and "/login" in refused.headers["Location"]


def opened(app, value: str):
    """The session the application's cookie interface opens from the cookie `value`."""
    with app.test_request_context("/", headers={"Cookie": f"crmkit_session={value}"}):
        from flask import request

        return app.session_interface.open_session(app, request)


def test_a_kept_cookie_past_its_lifetime_is_refused(app, monkeypatch):
    value = app.session_interface.get_signing_serializer(app).dumps({"login": "a kept token"})
    assert opened(app, value)["login"] == "a kept token"  # checked and kept
    assert opened(app, value)["login"] == "a kept token"  # opened from what was kept
    later = time.time() + app.permanent_session_lifetime.total_seconds() + 5
    monkeypatch.setattr(time, "time", lambda: later)
    assert "login" not in opened(app, value)  # refused as itsdangerous refuses it: signed too long ago


def test_each_request_gets_a_session_of_its_own(app):
    value = app.session_interface.get_signing_serializer(app).dumps(
        {"login": "own token", "_flashes": [["info", "first"]]})
    first = opened(app, value)
    first["_flashes"].append(["info", "only mine"])
    assert opened(app, value)["_flashes"] == [["info", "first"]]
