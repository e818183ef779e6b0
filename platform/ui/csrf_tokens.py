"""The page's CSRF token: Flask-WTF's `generate_csrf`, its signing done once a second per cookie secret.

    {{ csrf_token() }}            in templates (the global Flask-WTF installs, replaced by `csrf_token`)

Flask-WTF signs the cookie's CSRF secret with a timestamp (itsdangerous' URLSafeTimedSerializer,
salt "wtf-csrf-token") on every page that has a form: a serializer built, its key derived, the
secret serialised and an HMAC computed, about 3% of a list page. The token is a pure function of
the signing key, the secret and the second it is made in (itsdangerous' timestamps are whole
seconds), so a token made in this second for the same key and secret is the very token signing
again would make: it is kept for the rest of that second and handed out as is. Nothing about
checking tokens changes (`CSRFProtect` validates them as before, with WTF_CSRF_TIME_LIMIT), and a
request without a secret yet, or with another key, field name or secret, goes through
`generate_csrf` itself (which makes the secret).
"""
from __future__ import annotations

import time
from typing import Any

from flask import current_app, g, session
from flask_wtf.csrf import generate_csrf

#: (the second, {(signing key, field name, cookie secret): the token made in that second}): one second at a time.
_kept: tuple[int, dict[tuple[object, str, str], str]] = (-1, {})


def csrf_token() -> str:
    """This request's CSRF token, exactly as `flask_wtf.csrf.generate_csrf()` makes it (the module docstring)."""
    config = current_app.config
    field = config.get("WTF_CSRF_FIELD_NAME") or "csrf_token"
    here = g._get_current_object()
    made = getattr(here, field, None)
    if made is not None:  # generate_csrf keeps the request's token in g under the field name: so do we
        return made
    secret = session.get(field)
    signing_key = config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key
    key = (signing_key, field, secret)
    second, tokens = _kept
    if isinstance(secret, str) and second == int(time.time()):
        token = tokens.get(key)
        if token is not None:
            setattr(here, field, token)
            return token
    token = generate_csrf()
    _keep(key if session.get(field) == secret else (signing_key, field, session.get(field)), token)
    return token


def _keep(key: tuple[object, str, str], token: str) -> None:
    """Keeps `token` for the second read after it was made: its timestamp is that second or earlier, so a form
    sent in the same second is never refused as signed in the future."""
    global _kept
    now = int(time.time())
    second, tokens = _kept
    if second != now:
        tokens = {}
        _kept = (now, tokens)
    if isinstance(key[2], str):
        tokens[key] = token


def install(app: Any) -> None:
    """Templates' `csrf_token()` is `csrf_token`: as the global and as the page variable Flask-WTF's CSRFProtect
    sets (a context processor, which a later one overrides); call after CSRFProtect(app)."""
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.context_processor(_template_variables)


def _template_variables() -> dict[str, Any]:
    return {"csrf_token": csrf_token}
