"""The web application's settings: defaults, the environment, and the secret key.

Settings come from, in order: the `config` mapping given to create_app, environment
variables, then the defaults below. The secret key signs the session cookie; it is
CRMKIT_SECRET_KEY when set, else (for the embedded SQLite database only) a random key
generated once and kept in `secret_key` beside the database file. A PostgreSQL
deployment runs several processes, possibly on several machines, so it must be given one.
"""
from __future__ import annotations

import os
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any, Mapping

from crmkit.errors import CrmkitError

SECRET_KEY_VARIABLE = "CRMKIT_SECRET_KEY"
SECRET_KEY_FILE = "secret_key"


class ConfigurationError(CrmkitError):
    """The application cannot start as configured; the message says what to set."""

    status = 500
    title = "Configuration problem"


def default_settings() -> dict[str, Any]:
    """Flask and crmkit settings before `config` and the environment are applied."""
    return {
        "SESSION_COOKIE_NAME": "crmkit_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # False: Secure whenever the request came over https (sessions.py); True: always.
        "SESSION_COOKIE_SECURE": _flag(os.environ.get("CRMKIT_SECURE_COOKIES")),
        "PERMANENT_SESSION_LIFETIME": timedelta(days=7),
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
    }


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def secret_key(database_file: Path | None, configured: str | None = None) -> str:
    """The key that signs session cookies: `configured`, CRMKIT_SECRET_KEY, or the SQLite database's own.

    `database_file` is the SQLite database's file (None for a server database or an
    in-memory one). Raises ConfigurationError when there is no key and no file to keep one beside.
    """
    key = configured or os.environ.get(SECRET_KEY_VARIABLE)
    if key:
        return key
    if database_file is None:
        raise ConfigurationError(
            f"set {SECRET_KEY_VARIABLE} to a long random value (the same for every web process), for example "
            "the output of: python3 -c 'import secrets; print(secrets.token_urlsafe(48))'.")
    return stored_secret(database_file.resolve().parent / SECRET_KEY_FILE)


def stored_secret(path: Path) -> str:
    """The key kept in `path`, created (readable by its owner only) the first time.

    Several processes may start at once: the key is written to a temporary file and linked
    into place, so each of them reads the one key that won.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret-")
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(secrets.token_urlsafe(48))
            os.chmod(temporary, 0o600)
            try:
                os.link(temporary, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(temporary)
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise ConfigurationError(f"the secret key in {path} is too short; delete the file to have a new one made.")
    return key


def merged_settings(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The defaults with `config` on top."""
    settings = default_settings()
    settings.update(config or {})
    return settings
