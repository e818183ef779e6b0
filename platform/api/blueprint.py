"""The /api/v1 blueprint and what every call does first: a request id, then the token's user.

    GET /api/v1/objects/account HTTP/1.1
    Authorization: Bearer crmkit_1a2b3c4d_...
    Accept-Language: zh-CN            # or ?lang=zh: labels and messages in that language

`g.api_context` is then the token user's UserContext (crm.as_user) in the caller's language;
every view works through it, so the engine checks every permission. A call without a
valid token gets 401 problem+json with `WWW-Authenticate: Bearer`. The OpenAPI document
and the docs page also open for a user signed in to the web application (a browser).
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from dataclasses import dataclass, field

from flask import Blueprint, Response, current_app, g, request

from crmkit.engine import messages
from crmkit.engine.context import UserContext
from crmkit.engine.crm import Crm
from crmkit.engine.security.tokens import TokenStore
from crmkit.engine.security.users import User
from crmkit.errors import CrmkitError

PREFIX = "/api/v1"
blueprint = Blueprint("api", __name__, url_prefix=PREFIX, template_folder="templates")
logger = logging.getLogger("crmkit.api")

#: Endpoints a browser signed in to the web application may open without a token (read-only pages).
COOKIE_READABLE = frozenset({"api.openapi", "api.docs"})
#: A request id a caller may send: letters, digits and `._:-`, up to 128 characters; others are replaced.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class Unauthenticated(CrmkitError):
    status = 401
    title = "Authentication needed"


def is_api_request() -> bool:
    """Whether the current request is addressed to the API (routed or not: a 404 under /api/v1 too)."""
    return is_api_path(request.path)


def is_api_path(path: str) -> bool:
    """Whether `path` (a request's, after the script root) is the API's: /api/v1 or under it."""
    return path == PREFIX or path.startswith(PREFIX + "/")


def crm() -> Crm:
    return current_app.extensions["crmkit"].crm


def bearer_token() -> str | None:
    """The token of an `Authorization: Bearer <token>` header (RFC 6750 section 2.1), else None."""
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def requested_language() -> str | None:
    """The caller's language as a tag in its usual case ('zh-Hans-CN'): ?lang=, else the Accept-Language entry of
    highest quality above 0 (RFC 9110 section 12.5.4: q=0 is "not acceptable"); None leaves the user's own.

    Tags compare without regard to case (RFC 5646 section 2.1.1): ZH-CN, zh-cn and zh-CN are one."""
    given = (request.args.get("lang") or "").strip()
    if not given and request.headers.get("Accept-Language"):  # parsed only when sent; werkzeug sorts by quality
        given = next((tag for tag, quality in request.accept_languages if quality > 0), "")
    if not given or given == "*" or not re.fullmatch(r"[A-Za-z0-9-_]+", given):
        return None
    return language_tag(given[:35])


def language_tag(text: str) -> str:
    """A language tag in the case RFC 5646 section 2.1.1 recommends: language lower case, a four-letter script
    title case, a region upper case, '_' read as '-' ("ZH_hans_cn" -> "zh-Hans-CN")."""
    parts = [part for part in text.replace("_", "-").split("-") if part]
    shaped = [parts[0].lower()] if parts else []
    for part in parts[1:]:
        if len(part) == 4 and part.isalpha():
            shaped.append(part.title())
        elif (len(part) == 2 and part.isalpha()) or (len(part) == 3 and part.isdigit()):
            shaped.append(part.upper())
        else:
            shaped.append(part.lower())
    return "-".join(shaped)


def language() -> str:
    """The language labels and messages are given in for this call: the caller's (`requested_language`), else the
    token user's profile language (also for a call no route answered: `unrouted_language`), else English."""
    context = g.get("api_context")
    if context is not None:
        return context.actor.language
    return requested_language() or g.get("api_unrouted_language") or "en"


def unrouted_language() -> None:
    """For an answer to a call no route answered (a 404 or 405 under /api/v1, the blueprint's `authenticate` not
    run): when it sends a valid bearer token, its user's profile language is the one `language` falls back to.

    A token that is not valid changes nothing (the answer is the one without a token), so the answer tells no
    more about a token than a 401 of any routed call does (valid or not), and a valid one only what its holder
    may read (their own profile's language). The call was counted against its client address's rate limits
    (limits.py `check`), as a routed call with a failing token is.
    """
    if g.get("api_context") is not None or "api_unrouted_language" in g:
        return
    g.api_unrouted_language = None
    token = bearer_token()
    if token is None or requested_language() is not None:  # the caller's own language wins: nothing to look up
        return
    try:
        user = checked_token(token)
    except Exception:  # noqa: BLE001 - the answer is an error already: it is given in the language without a token
        logger.debug("token not checked for an unrouted call's language", exc_info=True)
        return
    if user is not None:
        g.api_unrouted_language = user.language


def context() -> UserContext:
    """The authenticated caller's UserContext (set by `authenticate`)."""
    return g.api_context


@blueprint.before_request
def authenticate() -> None:
    """Sets g.api_user and g.api_context from the bearer token; Unauthenticated (401) without one."""
    g.api_started = time.perf_counter()
    token = bearer_token()
    user = checked_token(token) if token else None
    if token is not None:  # counted per token once it is known valid, else per client address (limits.py)
        limits = current_app.extensions.get("crmkit_api_limits")
        if limits is not None:
            limits.count_token(token if user is not None else None)
    if user is None and request.endpoint in COOKIE_READABLE and request.method in ("GET", "HEAD"):
        user = g.get("user")  # the web application's signed-in user (a browser reading the docs)
    if user is None:
        raise Unauthenticated(messages.API_TOKEN_NEEDED() if token is None else messages.API_TOKEN_UNKNOWN())
    g.api_user = user
    # lazy: the rights this process holds for the user, checked by the call's first engine operation.
    g.api_context = crm().as_user(user.id, language=requested_language(), timezone=user.timezone, lazy=True)


#: Seconds a token found valid is trusted without asking the database again: a token revoked by another process
#: (another gunicorn worker, `crmkit` on the command line) or expired stops working within this time on every
#: worker; one revoked in this process (TokenStore.revoke) at once, as does a deactivated user (the call's first
#: operation reads the rights version, which deactivating moves).
TOKEN_TRUSTED_SECONDS = 5.0
KEPT_TOKENS = 1024


@dataclass
class TrustedTokens:
    """Tokens found valid lately (app.extensions["crmkit_api_tokens"]): SHA-256 of the token -> (its user, when it
    was checked: time.monotonic()); emptied when this process revokes a token (`revocations` fell behind
    Crm.token_revocations) or when KEPT_TOKENS are kept. Never the token itself."""

    revocations: int = 0
    users: dict[str, tuple[User, float]] = field(default_factory=dict)


def checked_token(token: str) -> User | None:
    """The token's user (TokenStore.authenticate), trusted for TOKEN_TRUSTED_SECONDS per worker (see there)."""
    the_crm = crm()
    kept: TrustedTokens = current_app.extensions.setdefault("crmkit_api_tokens",
                                                            TrustedTokens(the_crm.token_revocations))
    if kept.revocations != the_crm.token_revocations:
        kept.users.clear()
        kept.revocations = the_crm.token_revocations
    key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
    found = kept.users.get(key)
    now = time.monotonic()
    if found is not None and now - found[1] < TOKEN_TRUSTED_SECONDS:
        return found[0]
    revocations = the_crm.token_revocations  # read before the lookup: a revocation during it empties the cache
    user = TokenStore(the_crm).authenticate(token)
    if user is None:
        kept.users.pop(key, None)
        return None
    if len(kept.users) >= KEPT_TOKENS:
        kept.users.clear()
    if revocations == kept.revocations:
        kept.users[key] = (user, now)
    return user


@blueprint.after_request
def log_call(response: Response) -> Response:
    """One log line per call, with its request id, user, status and milliseconds."""
    if not logger.isEnabledFor(logging.INFO):  # its values are not even worked out then
        return response
    started = g.get("api_started")
    user = g.get("api_user")
    logger.info("%s %s -> %s (%s ms, user %s)", request.method, request.full_path.rstrip("?"), response.status_code,
                round((time.perf_counter() - started) * 1000, 1) if started else "-",
                user.id if user is not None else "-")
    return response


def request_id() -> str:
    """This request's id: the caller's X-Request-Id when it is a sensible one, else a new one (32 random hex digits:
    128 bits from os.urandom, as uuid4().hex had them less its 6 fixed bits, without building a UUID)."""
    found = g.get("request_id")
    if found is None:
        given = request.headers.get("X-Request-Id", "")
        found = g.request_id = given if given and REQUEST_ID.fullmatch(given) else os.urandom(16).hex()
    return found
