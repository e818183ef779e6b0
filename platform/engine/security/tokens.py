"""API tokens: long-lived credentials for scripts and integrations, one user each.

    store = TokenStore(crm)
    issued = store.create(alice.id, "nightly export")   # issued.token is shown once: crmkit_<prefix>_<secret>
    store.authenticate(issued.token)                     # alice, until revoked or expired
    store.revoke(issued.id)

Only the token's SHA-256 and its short, non-secret prefix are stored.
"""
from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update

from crmkit.engine import messages
from crmkit.engine.database import write_transaction
from crmkit.engine.security.audit import Clock, SecurityLog, utc_now
from crmkit.engine.security.passwords import token_digest
from crmkit.engine.security.users import User, UserError, checked_text, user_columns, user_from_row

if TYPE_CHECKING:
    from crmkit.engine.crm import Crm

TOKEN_SCHEME = "crmkit"
PREFIX_BYTES = 4     # 8 hex characters: tells a user's tokens apart in lists and logs
SECRET_BYTES = 32
NAME_LENGTH = 150
#: last_used_at is written at most this often, not on every request.
USE_GRANULARITY_SECONDS = 60
LISTED_COLUMNS = ("id", "name", "prefix", "created_at", "last_used_at", "expires_at", "revoked_at")


@dataclass(frozen=True)
class IssuedToken:
    id: int
    token: str
    prefix: str
    name: str


class TokenStore:
    def __init__(self, crm: "Crm", *, clock: Clock | None = None) -> None:
        self._crm = crm
        self._clock = clock or utc_now
        self.log = SecurityLog(crm, clock=self._clock)

    def _table(self, name: str):
        return self._crm.runtime.system_table(f"crmkit_{name}")

    def create(self, user_id: int, name: str, *, expires_at: datetime | None = None,
               actor_id: int | None = None) -> IssuedToken:
        """A new token for an active user; the returned `token` is the only time the secret exists in full."""
        name = checked_text(str(name).strip(), "token name")
        if not name or len(name) > NAME_LENGTH:
            raise UserError(messages.NAME_LENGTH(what="token", length=NAME_LENGTH, value=repr(name)))
        now = self._clock()
        if expires_at is not None and (expires_at.tzinfo is None or expires_at <= now):
            raise UserError("a token's expiry must be a timezone-aware time in the future.")
        prefix = secrets.token_hex(PREFIX_BYTES)
        token = f"{TOKEN_SCHEME}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
        tokens, users = self._table("api_token"), self._table("user")
        with write_transaction(self._crm.write_engine) as connection:
            user = connection.execute(select(users.c.username, users.c.active).where(users.c.id == user_id)).first()
            if user is None:
                raise UserError(messages.NO_USER(id=user_id))
            if not user.active:
                raise UserError(messages.USER_DEACTIVATED(username=repr(user.username)))
            token_id = connection.execute(insert(tokens).values(
                user_id=user_id, name=name, prefix=prefix, token_hash=token_digest(token), created_at=now,
                expires_at=expires_at).returning(tokens.c.id)).scalar_one()
            self.log.record("token.created", user_id=user_id, username=user.username, connection=connection,
                            detail={"token_id": token_id, "name": name, "prefix": prefix, "by": actor_id})
        return IssuedToken(id=token_id, token=token, prefix=prefix, name=name)

    def authenticate(self, token: str) -> User | None:
        """The token's user, or None if the token is unknown, revoked or expired, or the user is inactive."""
        if not isinstance(token, str) or not token.isascii() or not token.startswith(f"{TOKEN_SCHEME}_"):
            return None
        tokens, users = self._table("api_token"), self._table("user")
        digest = token_digest(token)
        # The lookup goes through the unique index on the hash: the hash of a 256-bit secret
        # reveals nothing an attacker could use, and the final comparison is constant-time.
        query = (select(tokens.c.id.label("token_id"), tokens.c.token_hash, tokens.c.expires_at, tokens.c.revoked_at,
                        tokens.c.last_used_at, *user_columns(users))
                 .join(users, users.c.id == tokens.c.user_id).where(tokens.c.token_hash == digest))
        with self._crm.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            return None
        now = self._clock()
        if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now) or not row.active:
            return None
        if row.last_used_at is None or (now - row.last_used_at).total_seconds() >= USE_GRANULARITY_SECONDS:
            with write_transaction(self._crm.write_engine) as connection:
                connection.execute(update(tokens).where(tokens.c.id == row.token_id).values(last_used_at=now))
        return user_from_row(row)

    def list(self, user_id: int) -> list[dict]:
        """The user's tokens, revoked and expired ones included, oldest first; never the secret or its hash."""
        tokens = self._table("api_token")
        query = (select(*(tokens.c[name] for name in LISTED_COLUMNS))
                 .where(tokens.c.user_id == user_id).order_by(tokens.c.id))
        with self._crm.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def revoke(self, token_id: int, *, user_id: int | None = None, actor_id: int | None = None) -> None:
        """Stops the token from working, for good; with `user_id`, only if it is that user's token."""
        tokens, users = self._table("api_token"), self._table("user")
        query = (select(tokens.c.user_id, tokens.c.name, tokens.c.prefix, tokens.c.revoked_at, users.c.username)
                 .join(users, users.c.id == tokens.c.user_id, isouter=True).where(tokens.c.id == token_id))
        with write_transaction(self._crm.write_engine) as connection:
            row = connection.execute(query).first()
            if row is None or (user_id is not None and row.user_id != user_id):
                raise UserError(messages.NO_TOKEN(id=token_id))
            if row.revoked_at is not None:
                return
            connection.execute(update(tokens).where(tokens.c.id == token_id).values(revoked_at=self._clock()))
            self.log.record("token.revoked", user_id=row.user_id, username=row.username, connection=connection,
                            detail={"token_id": token_id, "name": row.name, "prefix": row.prefix, "by": actor_id})
        self._crm.token_revocations += 1  # committed: this process's caches of valid tokens drop theirs
