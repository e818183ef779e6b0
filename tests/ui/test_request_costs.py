"""What every request's fixed work keeps, and that it answers exactly as the work it replaces."""
from __future__ import annotations

import pytest
from werkzeug.datastructures import Headers

from crmkit.ui.app import CrmkitFlask
from crmkit.ui.security_headers import set_headers

KEPT = tuple(Headers([("X-Frame-Options", "DENY"), ("Referrer-Policy", "same-origin")]).items())


def test_kept_headers_are_appended_to_an_answer_without_them():
    headers = Headers([("Content-Type", "text/html")])
    set_headers(headers, KEPT)
    assert list(headers.items()) == [("Content-Type", "text/html"), *KEPT]


def test_kept_headers_replace_a_value_already_set_as_assignment_does():
    headers = Headers([("x-frame-options", "SAMEORIGIN"), ("Content-Type", "text/html")])
    set_headers(headers, KEPT)
    assert headers.getlist("X-Frame-Options") == ["DENY"] and headers["Referrer-Policy"] == "same-origin"
    assert len(headers) == 3


def test_ensure_sync_keeps_plain_functions_and_never_a_coroutine_function():
    app = CrmkitFlask("crmkit.ui.app")

    def plain() -> str:
        return "plain"

    async def coroutine() -> str:
        return "async"

    assert app.ensure_sync(plain) is plain and app.ensure_sync(plain) is plain
    for _ in range(2):  # asked twice: still wrapped (or refused without asgiref), never handed back as it is
        try:
            made = app.ensure_sync(coroutine)
        except RuntimeError:
            continue
        assert made is not coroutine
    assert coroutine not in app._crmkit_sync


def test_ensure_sync_forgets_everything_when_full(monkeypatch):
    app = CrmkitFlask("crmkit.ui.app")
    monkeypatch.setattr(CrmkitFlask, "MAX_SYNC", 3)
    functions = [lambda number=number: number for number in range(5)]
    for function in functions:
        assert app.ensure_sync(function) is function
    assert len(app._crmkit_sync) <= 3


@pytest.mark.parametrize("given", ["", "bad id <script>"])
def test_a_made_request_id_is_32_hex_digits(given):
    from flask import Flask

    from crmkit.api.blueprint import request_id

    app = Flask(__name__)
    with app.test_request_context(headers={"X-Request-Id": given} if given else {}):
        made = request_id()
        assert len(made) == 32 and int(made, 16) >= 0 and request_id() == made  # one per request
    with app.test_request_context():
        assert request_id() != made
