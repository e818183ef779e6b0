"""The security headers of every response (flask-talisman), worked out once per kind of request instead of per request.

Talisman decides the headers (Content-Security-Policy, X-Frame-Options, Referrer-Policy,
Permissions-Policy, X-Content-Type-Options, and Strict-Transport-Security on https) from its
settings, the view's own options (`@talisman(...)`), whether the request came over https, and
a CSP nonce when one is configured. Without view options or a nonce they are the same for
every plain request and for every https one, yet Talisman builds them anew each time (the
policy text parsed and joined, the view's options looked up four times): about a tenth of a
millisecond per API call. `SecurityHeaders` asks Talisman once per (https or not) and copies
its answer; a view with options of its own, or a nonce, still goes through Talisman every time.
Every header Talisman sets is set by assignment (a previous value is replaced), and so is the copy.
"""
from __future__ import annotations

from typing import Any

import flask
from flask import Response
from flask_talisman import Talisman
from werkzeug.datastructures import Headers


class SecurityHeaders(Talisman):
    """Talisman with its answer kept per https-or-not for views without options of their own (the module docstring)."""

    def init_app(self, app: flask.Flask, **options: Any) -> None:
        self._kept: dict[bool, tuple[tuple[str, str], ...]] = {}
        self._own_options: dict[str | None, bool] = {}
        super().init_app(app, **options)

    def _has_own_options(self) -> bool:
        """Whether the request's view has Talisman options of its own (`@talisman(...)`), kept per endpoint: a view's
        options are set where it is defined, before it is registered."""
        endpoint = flask.request.endpoint
        own = self._own_options.get(endpoint)
        if own is None:
            view = flask.current_app.view_functions.get(endpoint)
            own = self._own_options[endpoint] = hasattr(view, "talisman_view_options")
        return own

    def _force_https(self) -> Response | None:
        """Talisman's redirect to https: nothing to do when neither it nor a secure session cookie is asked for."""
        if self.force_https or self.session_cookie_secure or self._has_own_options():
            return super()._force_https()
        return None

    def _make_nonce(self) -> None:
        if self.content_security_policy_nonce_in or self._has_own_options():
            super()._make_nonce()

    def _set_response_headers(self, response: Response) -> Response:
        if self.content_security_policy_nonce_in or self._has_own_options():
            return super()._set_response_headers(response)
        request = flask.request
        secure = request.is_secure or request.headers.get("X-Forwarded-Proto", "http") == "https"
        kept = self._kept.get(secure)
        if kept is None:
            scratch = Response()
            scratch.headers = Headers()
            super()._set_response_headers(scratch)
            kept = self._kept[secure] = tuple(scratch.headers.items())
        set_headers(response.headers, kept)
        return response


def set_headers(headers: Headers, pairs: tuple[tuple[str, str], ...]) -> None:
    """Each of `pairs` set on `headers` as by assignment (a previous value replaced)."""
    for name, value in pairs:
        headers[name] = value
