"""Who is signed in: the session cookie, the engine's login session, and the request's UserContext.

Three things are called session here, kept apart by name (engine/context.py):
- the **cookie** (Flask's signed `session`): carries the login token, the CSRF secret and,
  before sign-in, the chosen language; HttpOnly, SameSite=Lax, Secure over https;
- the **login session** (`crmkit_login_session`, engine/security/authentication.py): the
  server-side record the token names; logout deletes it, so an old cookie signs in no one;
- the **UserContext** (`crm.as_user`): the engine's view of the signed-in user, made once
  per request (`user_context()`), through which every view reads and writes.
"""
from __future__ import annotations

import copy
import time
from functools import wraps
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import unquote, urlsplit

from flask import Flask, current_app, g, request, session, stream_with_context
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature
from werkzeug.exceptions import HTTPException

from crmkit.api.blueprint import is_api_path
from crmkit.engine.context import UserContext, operation_state_columns
from crmkit.engine.crm import Crm
from crmkit.engine.database import read_connection
from crmkit.engine.security.audit import reset_client_address, set_client_address
from crmkit.engine.security.authentication import Authenticator
from crmkit.engine.security.users import User
from crmkit.ui.i18n import select_locale

LOGIN_TOKEN = "login"
#: Cookie serializers kept (one per signing key and fallback keys an application has had).
MAX_SERIALIZERS = 8
#: Checked cookies kept (browsers signed in); emptied when full.
MAX_OPENED = 4096


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure on every https request (and always if SESSION_COOKIE_SECURE).

    Its serializer is built once per signing key and fallback keys, not twice a request (open and save):
    the same itsdangerous URLSafeTimedSerializer Flask builds, checking and signing exactly as it does; and a
    cookie checked once is not checked again while it is valid (`open_session`).

    An API call with an `Authorization` header has no cookie session: the bearer token signs it
    in (crmkit/api/blueprint.py), so its cookie is neither verified nor written back (a null
    session, which refuses writes).
    """

    def __init__(self) -> None:
        self._serializers: dict[tuple[Any, ...], Any] = {}
        #: Cookies checked: (signing key, fallback keys, cookie) -> (its data, when it was signed: epoch seconds).
        self._opened: dict[tuple[Any, ...], tuple[Any, int]] = {}

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure

    def open_session(self, app: Flask, request: Any) -> Any:
        """Flask's `open_session`, with a cookie already checked kept with its data and signing time: the same
        cookie (byte for byte, under the same keys) is not checked again (HMAC, base64, JSON) while it is younger
        than PERMANENT_SESSION_LIFETIME; an older one goes through itsdangerous, which refuses it as before.
        Each request gets a session of its own (a deep copy: flashed messages are lists); an API call with an
        Authorization header gets the null session (the class docstring)."""
        if "Authorization" in request.headers and is_api_path(request.path):
            return self.make_null_session(app)
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        key = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()), value)
        kept = self._opened.get(key)
        if kept is not None and 0 <= int(time.time()) - kept[1] <= max_age:  # itsdangerous' own age test
            return self.session_class(_copied(kept[0]))
        try:
            data, signed_at = serializer.loads(value, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        if len(self._opened) >= MAX_OPENED:
            self._opened.clear()
        self._opened[key] = (copy.deepcopy(data), int(signed_at.timestamp()))
        return self.session_class(data)

    def get_signing_serializer(self, app: Flask) -> Any:
        if not app.secret_key:
            return None
        key = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        serializer = self._serializers.get(key)
        if serializer is None:
            if len(self._serializers) >= MAX_SERIALIZERS:  # keys rotated again and again: start over
                self._serializers.clear()
            serializer = self._serializers[key] = super().get_signing_serializer(app)
        return serializer


#: Cookie values shared between requests as they are: a copy could not differ from them.
_IMMUTABLE = frozenset({str, int, bool, float, type(None), bytes})


def _copied(data: dict[str, Any]) -> dict[str, Any]:
    """A request's own copy of a kept cookie's data: texts and numbers (the login token, the CSRF secret, the
    language) shared, anything else (flashed messages are lists) deep-copied; a deepcopy of the whole costs more."""
    return {key: value if value.__class__ in _IMMUTABLE else copy.deepcopy(value) for key, value in data.items()}


def crm() -> Crm:
    return current_app.extensions["crmkit"].crm


def authenticator() -> Authenticator:
    return current_app.extensions["crmkit"].authenticator


def client_address() -> str | None:
    return request.remote_addr


def streamed(chunks: Iterable[Any]) -> Iterator[Any]:
    """`stream_with_context(chunks)` with the request's address kept for the security log while the stream is read.

    Flask reads a streamed body after the view has returned and the request's teardown has run (which forgets
    the address, ui/app.py `forget_client_address`), pushing the request's context again but running no
    before_request: an entry written then (an export's `records.export_completed`) would have no address."""
    address = client_address()

    def read() -> Iterator[Any]:
        token = set_client_address(address)
        try:
            yield from chunks
        finally:
            reset_client_address(token)

    return stream_with_context(read())


#: Methods of requests that only read until their page's snapshot: their sign-in check's connection is lent to it.
READING_METHODS = frozenset({"GET", "HEAD"})


def load_signed_in_user() -> None:
    """Sets g.user from the cookie's login token (None when signed out or the login session ended).

    A GET or HEAD reads the login session on a connection the request keeps (g.crmkit_read_connection, closed
    by `release_read_connection` when the request ends) and lends it to the user's context (`user_context`):
    the page's snapshot continues that read instead of checking out another connection, and starts from the
    metadata generation and rights version read in the same statement (docs/ui.md, "Speed").
    """
    g.user = None
    token = session.get(LOGIN_TOKEN)
    if not token:
        return
    connection, columns = None, ()
    if request.method in READING_METHODS:
        connection = g.crmkit_read_connection = read_connection(crm().engine)
        columns = operation_state_columns(crm().runtime)  # the page's operation read, in the same statement
    user, g.crmkit_read_state = authenticator().session_user_reading(token, columns, address=client_address(),
                                                                     connection=connection)
    if user is None:
        release_read_connection()
        session.pop(LOGIN_TOKEN, None)
        return
    g.user = user


def release_read_connection(_error: BaseException | None = None) -> None:
    """Closes the request's sign-in connection, if it has one (a teardown of every request)."""
    connection = g.pop("crmkit_read_connection", None)
    if connection is not None:
        connection.close()


def sign_in(token: str, user: User) -> None:
    """A fresh cookie for the new login session (nothing of the previous cookie is kept, its login session ends)."""
    previous = session.get(LOGIN_TOKEN)
    if previous and previous != token:
        authenticator().logout(previous)
    session.clear()
    session[LOGIN_TOKEN] = token
    session.permanent = True
    g.user = user


def sign_out() -> None:
    """Ends the login session on the server and empties the cookie, keeping only the page language.

    The signed-out pages (and the next sign-in page) stay in the language the user worked in,
    not the browser's Accept-Language.
    """
    language = select_locale()
    token = session.get(LOGIN_TOKEN)
    if token:
        authenticator().logout(token)
    session.clear()
    session["language"] = language
    g.user = None


def login_token() -> str | None:
    return session.get(LOGIN_TOKEN)


def user_context() -> UserContext:
    """The signed-in user's engine context for this request, made on first use and reused after."""
    context = g.get("user_context")
    if context is None:
        # Lazy: the login session was checked this request; the first engine call does the operation read.
        user = g.user
        context = g.user_context = crm().as_user(user.id, language=user.language, timezone=user.timezone, lazy=True)
        connection = g.get("crmkit_read_connection")
        if connection is not None:  # the sign-in check's read: the page's snapshot continues it
            context.lend_read(connection, g.get("crmkit_read_state", ()))
    return context


def public(view: Callable[..., Any]) -> Callable[..., Any]:
    """Marks a view that answers without sign-in (the sign-in page itself, language choice)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return view(*args, **kwargs)

    wrapper.crmkit_public = True  # type: ignore[attr-defined]
    return wrapper


def is_public(endpoint: str | None) -> bool:
    if endpoint is None or endpoint == "static":
        return True
    view = current_app.view_functions.get(endpoint)
    return bool(getattr(view, "crmkit_public", False))


#: Pages never returned to after signing in or choosing a language: the sign-in pages themselves.
NOT_A_DESTINATION = frozenset({"auth.login", "auth.logout", "auth.language", "static"})
MAX_NEXT_LENGTH = 2048


def safe_next(target: str | None, default: str = "/") -> str:
    """`target` if it is a page of this site a browser may open with GET ('/search?q=x'), else `default`.

    Never an open redirect (OWASP Unvalidated Redirects and Forwards Cheat Sheet): only a
    path on this site, with no scheme or host ('https:', '//evil', '/\\evil'), no control
    character (a browser drops tabs and newlines, so '/\t/evil' would become '//evil'),
    and none of these once percent-decoded ('/%2F%2Fevil'). Nor a page that answers only
    POST (/logout: reloading it would fail) or a sign-in page (/login, /logout, /language):
    those fall back to `default`, the home page.
    """
    if not isinstance(target, str) or not target or len(target) > MAX_NEXT_LENGTH:
        return default
    for form in (target, unquote(target)):
        if not form.startswith("/") or form.startswith("//") or "\\" in form or \
                any(ord(character) < 32 or ord(character) == 127 for character in form):
            return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target if _opens_with_get(unquote(parts.path)) else default


def _opens_with_get(path: str) -> bool:
    """True if `path` is a page of this application that answers GET and is not a sign-in page."""
    try:
        endpoint, _ = current_app.url_map.bind("localhost").match(path, method="GET")
    except HTTPException:  # 404, 405 (POST only) and redirects to another address alike
        return False
    return endpoint not in NOT_A_DESTINATION
