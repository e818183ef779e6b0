"""The web application's settings: defaults, the environment, and the secret key.

Settings come from, in order: the `config` mapping given to create_app, environment
variables, then the defaults below. The secret key signs the session cookie; it is
CRMKIT_SECRET_KEY when set, else (for the embedded SQLite database only) a random key
generated once and kept in `secret_key` beside the database file (crmkit.engine.secret_key,
which the engine's signed links share). A PostgreSQL deployment runs several processes,
possibly on several machines, so it must be given one.
"""
from __future__ import annotations

import os
from datetime import timedelta
from typing import Any, Mapping

# The key lives in the engine, which signs with it too (unsubscribe links); re-exported for the app.
from crmkit.engine.secret_key import (  # noqa: F401
    SECRET_KEY_FILE, SECRET_KEY_VARIABLE, ConfigurationError, secret_key, stored_secret,
)


def default_settings() -> dict[str, Any]:
    """Flask and crmkit settings before `config` and the environment are applied."""
    return {
        "SESSION_COOKIE_NAME": "crmkit_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # False: Secure whenever the request came over https (sessions.py); True: always.
        "SESSION_COOKIE_SECURE": _flag(os.environ.get("CRMKIT_SECURE_COOKIES")),
        "PERMANENT_SESSION_LIFETIME": timedelta(days=7),
        # The cookie is signed and sent when it changes (sign-in, language, CSRF secret), not on every page: the
        # login session it names ends at most 7 days after sign-in (Authenticator.session_absolute), when the
        # cookie set at sign-in expires, so re-signing it on each request (Flask's default) kept nothing longer.
        "SESSION_REFRESH_EACH_REQUEST": False,
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the signed-in session
        "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
        # Number of proxies in front whose X-Forwarded-For/-Proto headers are trusted (0: none).
        "CRMKIT_PROXY_COUNT": int(os.environ.get("CRMKIT_PROXY_COUNT") or 0),
        "CRMKIT_SESSION_IDLE": timedelta(hours=8),
        # The search page: hits shown per object, and each object's count capped here (1,000+).
        "CRMKIT_SEARCH_PER_OBJECT": 10,
        "CRMKIT_SEARCH_COUNT_CAP": 1000,
        # Hits in the header search box's dropdown.
        "CRMKIT_SEARCH_PREVIEW": 6,
        # Uploaded import files, kept so a resume (and a queue worker) can read them again.
        "CRMKIT_IMPORT_FOLDER": os.environ.get("CRMKIT_IMPORT_FOLDER") or "instance/imports",
        # The REST API (docs/api.md): calls per token (the `limits` library's notation; "" turns limits off),
        # counted in Redis when CRMKIT_REDIS_URL is set, so the limit holds across workers.
        "CRMKIT_API_RATE_LIMIT": os.environ.get("CRMKIT_API_RATE_LIMIT", "600 per minute; 20 per second"),
        "CRMKIT_REDIS_URL": os.environ.get("CRMKIT_REDIS_URL") or None,
    }


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def merged_settings(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The defaults with `config` on top."""
    settings = default_settings()
    settings.update(config or {})
    return settings
