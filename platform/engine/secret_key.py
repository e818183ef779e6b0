"""The installation's secret key: it signs the web sessions and the engine's links (unsubscribe).

CRMKIT_SECRET_KEY when set, else (for a SQLite database file only) a random key generated
once and kept in `secret_key` beside the database file, so that the web processes and the
workers of one installation sign and check with one key. A PostgreSQL deployment runs
several processes, possibly on several machines, so it must be given one.
"""
from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from crmkit.errors import CrmkitError

SECRET_KEY_VARIABLE = "CRMKIT_SECRET_KEY"
SECRET_KEY_FILE = "secret_key"


class ConfigurationError(CrmkitError):
    """The application cannot start as configured; the message says what to set."""

    status = 500
    title = "Configuration problem"


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
