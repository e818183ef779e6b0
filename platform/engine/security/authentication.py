"""Signing in: password checks, throttling of repeated failures, and sessions.

    auth = Authenticator(crm)
    info = auth.login("alice", "a long passphrase", address="203.0.113.9")
    auth.session_user(info.token)       # the User while the session lasts, else None
    auth.logout(info.token)

Only a session token's SHA-256 is stored. Unknown users, wrong passwords and inactive
users fail with the same message after the same argon2 work, so neither the message nor
the time taken tells whether an account exists. Failed attempts are throttled per
(username, address), per address and per account (throttling.py), never by a lock that
an attacker who knows a username could set off.
"""
from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable

from sqlalchemy import Connection, ScalarSelect, Select, Table, bindparam, delete, insert, select, update

from crmkit.engine import messages
from crmkit.engine.database import write_transaction
from crmkit.engine.fieldtypes.inputs import UNSTORABLE
from crmkit.engine.records.errors import RecordError
from crmkit.engine.security.audit import ADDRESS_LENGTH, USERNAME_LENGTH, Clock, SecurityLog, clip, utc_now
from crmkit.engine.security.passwords import (
    hash_password, needs_rehash, spend_verification_time, token_digest, verify_password,
)
from crmkit.engine.security.throttling import SignInThrottle, ThrottlePolicy, ThrottleVerdict
from crmkit.engine.security.users import User, end_sessions_in, normalize_username, user_columns, user_from_row

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext
    from crmkit.engine.crm import Crm

#: last_seen_at (and so the idle expiry) is written at most this often, not on every request.
SEEN_GRANULARITY = timedelta(minutes=1)
USER_AGENT_LENGTH = 512


class AuthenticationError(RecordError):
    status = 401
    title = "Sign-in failed"


class LoginFailed(AuthenticationError):
    """One message for every reason, so that it does not reveal which usernames exist."""

    def __init__(self) -> None:
        super().__init__(messages.LOGIN_FAILED())


class LoginThrottled(AuthenticationError):
    status = 429
    title = "Too many attempts"

    def __init__(self, retry_at: datetime, now: datetime) -> None:
        minutes = max(1, math.ceil((retry_at - now).total_seconds() / 60))
        unit = "minute" if minutes == 1 else "minutes"
        super().__init__(f"too many failed sign-in attempts; try again in {minutes} {unit} (after {retry_at:%H:%M} UTC).")
        self.retry_at = retry_at


class CurrentPasswordWrong(AuthenticationError):
    status = 403
    title = "Password not changed"

    def __init__(self) -> None:
        super().__init__(messages.CURRENT_PASSWORD_WRONG())


class SessionEnded(AuthenticationError):
    title = "Signed out"

    def __init__(self) -> None:
        super().__init__(messages.SESSION_ENDED())


@dataclass(frozen=True)
class LoginSession:
    token: str
    user: User
    expires_at: datetime



@lru_cache(maxsize=8)
def _session_user_query(sessions: Table, users: Table, alongside: tuple[ScalarSelect, ...] = ()) -> Select:
    """The sign-in check's statement (a login session and its user by the token's digest, `:token_hash`, then the
    scalar subqueries `alongside`), built once per pair of tables: every request of a signed-in user runs it."""
    return (select(sessions.c.created_at.label("session_created_at"), sessions.c.last_seen_at,
                   sessions.c.expires_at, sessions.c.address.label("session_address"), *user_columns(users),
                   *alongside)
            .join(users, users.c.id == sessions.c.user_id).where(sessions.c.token_hash == bindparam("token_hash")))


class Authenticator:
    """Signs users in and out and keeps their sessions; failed attempts are throttled by `throttle` (throttling.py)."""

    def __init__(self, crm: "Crm", *, session_idle: timedelta = timedelta(hours=8),
                 session_absolute: timedelta = timedelta(days=7), throttle: ThrottlePolicy | None = None,
                 clock: Clock | None = None) -> None:
        self._crm = crm
        self.session_idle = session_idle
        self.session_absolute = session_absolute
        self.throttle = throttle or ThrottlePolicy()
        self._clock = clock or utc_now
        self.log = SecurityLog(crm, clock=self._clock)

    @property
    def max_failures(self) -> int:
        """Failures of one username from one address before its tries are slowed down."""
        return self.throttle.pair_free

    def _table(self, name: str):
        return self._crm.runtime.system_table(f"crmkit_{name}")

    def login(self, username: str, password: str, *, address: str | None = None,
              user_agent: str | None = None) -> LoginSession:
        """A new session for the user; LoginFailed or LoginThrottled otherwise. Every attempt is recorded."""
        # Text no database can hold is never a username or password: such a login fails like any other.
        name = UNSTORABLE.sub("\ufffd", clip(normalize_username(username if isinstance(username, str) else ""),
                                               USERNAME_LENGTH))
        password = password if isinstance(password, str) and not UNSTORABLE.search(password) else ""
        address = clip(address, ADDRESS_LENGTH)
        now = self._clock()
        users = self._table("user")
        with self._crm.engine.connect() as connection:
            verdict = self._throttle().check(connection, name, address, now)
            row = connection.execute(select(users.c.id, users.c.active, users.c.password_hash)
                                     .where(users.c.username == name)).first()
        user_id = row.id if row is not None else None
        if verdict.retry_at is not None:
            self._log_throttled("login", name, address, now, user_id, verdict)
            raise LoginThrottled(verdict.retry_at, now)
        reason = _failure_reason(row, password)
        if reason:
            self._record_failure(name, address, now, "login.failed", user_id, {"reason": reason})
            raise LoginFailed()
        return self._start_session(row, password, name, address, user_agent, now)

    def session_user(self, token: str, *, address: str | None = None,
                     connection: Connection | None = None) -> User | None:
        """The session's user, or None if the token is unknown, the session expired or the user is inactive.

        The login session is read on `connection` when given (a connection of the Crm's engine the caller holds:
        a web request lends it to its UserContext's snapshot, UserContext.lend_read), its transaction left to the
        caller; else on a connection of its own. An expired session's removal and the last-seen time are written
        in transactions of their own either way.
        """
        return self.session_user_reading(token, (), address=address, connection=connection)[0]

    def session_user_reading(self, token: str, alongside: tuple[ScalarSelect, ...], *, address: str | None = None,
                             connection: Connection | None = None) -> tuple[User | None, tuple[Any, ...]]:
        """`session_user`, with the values of the scalar subqueries `alongside` read in the same statement
        (a web request's operation state: context.operation_state_columns); () when there is no such session."""
        if not isinstance(token, str) or not token:
            return None, ()
        sessions, users = self._table("login_session"), self._table("user")
        digest = token_digest(token)
        now = self._clock()
        query = _session_user_query(sessions, users, alongside)
        if connection is not None:
            row = connection.execute(query, {"token_hash": digest}).first()
        else:
            with self._crm.engine.connect() as own:
                row = own.execute(query, {"token_hash": digest}).first()
        if row is None:
            return None, ()
        return self._checked_session_user(row, digest, now, address), tuple(row[len(row) - len(alongside):])

    def _checked_session_user(self, row: Any, digest: str, now: datetime, address: str | None) -> User | None:
        """The user of a login session's row; None when it expired (then deleted) or the user is inactive; the
        session's last-seen time and address written when due."""
        sessions = self._table("login_session")
        if row.expires_at <= now:
            with write_transaction(self._crm.write_engine) as connection:
                connection.execute(delete(sessions).where(sessions.c.token_hash == digest))
            return None
        if not row.active:
            return None
        address = clip(address, ADDRESS_LENGTH)
        if now - row.last_seen_at >= SEEN_GRANULARITY or (address and address != row.session_address):
            expires_at = min(now + self.session_idle, row.session_created_at + self.session_absolute)
            with write_transaction(self._crm.write_engine) as connection:
                connection.execute(update(sessions).where(sessions.c.token_hash == digest).values(
                    last_seen_at=now, expires_at=expires_at, address=address or row.session_address))
        return user_from_row(row)

    def logout(self, token: str) -> None:
        """Ends the session of `token` (nothing happens if there is none)."""
        sessions = self._table("login_session")
        digest = token_digest(token if isinstance(token, str) else "")
        with write_transaction(self._crm.write_engine) as connection:
            user_id = connection.execute(select(sessions.c.user_id).where(sessions.c.token_hash == digest)).scalar()
            if user_id is None:
                return
            connection.execute(delete(sessions).where(sessions.c.token_hash == digest))
            self.log.record("logout", user_id=user_id, username=self._username(connection, user_id),
                            connection=connection)

    def change_password(self, token: str, current_password: str, new_password: str, *,
                        address: str | None = None, context: "UserContext | None" = None) -> None:
        """The signed-in user of `token` changes their own password; their other sessions end, this one stays.

        Raises SessionEnded if the session is over, LoginThrottled while the user's guesses
        are slowed down, CurrentPasswordWrong (counted as a failed sign-in of the user without
        an address, so guessing is throttled like sign-ins and counts towards the account's
        limit, but one user's typing never slows down colleagues behind the same address) and
        PasswordRefused (a UserError) for a new password the policy refuses.

        `context`: the session's UserContext (`crm.as_user` of the same user; ValueError for another), whose
        operation the change then is, as MyAccount's are: inside its `transaction()` on its connection (saved or
        undone with the rest, never waiting for the locks that transaction holds), else a write operation of its
        own that starts with the operation read. A failed or throttled attempt is logged once its transaction has
        ended, whatever became of it (`after_transaction`). Without one, the change is a transaction of its own.
        The session is only read here, never touched (the request's sign-in check does that).
        """
        from crmkit.engine.security.users import SystemDirectory

        user = self._live_session_user(token)
        if user is None:
            raise SessionEnded()
        if context is not None and (context.policy is None or context.policy.user.user_id != user.id):
            raise ValueError("change_password: the context is not that of the session's user")
        later: Callable[[Callable[[], None]], None] = context.after_transaction if context is not None else _now
        address = clip(address, ADDRESS_LENGTH)
        now = self._clock()
        users = self._table("user")
        with self._crm.engine.connect() as connection:
            # Counted as failures without an address: one user's mistyped passwords must not
            # slow down everyone who signs in from the same address (an office behind one NAT).
            verdict = self._throttle().check(connection, user.username, None, now)
            row = connection.execute(select(users.c.id, users.c.active, users.c.password_hash)
                                     .where(users.c.id == user.id)).first()
        if verdict.retry_at is not None:
            later(lambda: self._log_throttled("password_change", user.username, address, now, user.id, verdict))
            raise LoginThrottled(verdict.retry_at, now)
        reason = _failure_reason(row, current_password if isinstance(current_password, str) else "")
        if reason:
            later(lambda: self._record_failure(user.username, address, now, "password_change.failed", user.id,
                                               {"reason": reason}, count_address=False))
            raise CurrentPasswordWrong()
        SystemDirectory(self._crm, clock=self._clock, context=context).set_password(
            user.id, new_password, actor_id=user.id, keep_session=token)

    def end_sessions(self, user_id: int, *, actor_id: int | None = None) -> int:
        """Ends every session of the user (signs them out everywhere); returns how many ended."""
        with write_transaction(self._crm.write_engine) as connection:
            count = end_sessions_in(connection, self._table("login_session"), user_id)
            self.log.record("sessions.ended", user_id=user_id, username=self._username(connection, user_id),
                            detail={"count": count, "by": actor_id}, connection=connection)
        return count

    def remove_expired_sessions(self) -> int:
        """Deletes sessions past their expiry (for a periodic job); returns how many."""
        sessions = self._table("login_session")
        with write_transaction(self._crm.write_engine) as connection:
            return connection.execute(delete(sessions).where(sessions.c.expires_at <= self._clock())).rowcount

    # -- internals -----------------------------------------------------------------------

    def _live_session_user(self, token: str) -> User | None:
        """The user of `token`'s session while it lasts and they are active, else None; read only (no expired
        session deleted, no last-seen time written: no transaction of its own)."""
        if not isinstance(token, str) or not token:
            return None
        with self._crm.engine.connect() as connection:
            row = connection.execute(_session_user_query(self._table("login_session"), self._table("user")),
                                     {"token_hash": token_digest(token)}).first()
        if row is None or row.expires_at <= self._clock() or not row.active:
            return None
        return user_from_row(row)

    def _throttle(self) -> SignInThrottle:
        return SignInThrottle(self.throttle, self._table("login_attempt"))

    def _log_throttled(self, kind: str, name: str, address: str | None, now: datetime, user_id: int | None,
                       verdict: ThrottleVerdict) -> None:
        """Logs a refused attempt (not counted as a failure); an account over its limit gets its own event."""
        event = "login.account_throttled" if verdict.reason == "account" else f"{kind}.throttled"
        with write_transaction(self._crm.write_engine) as connection:
            self.log.record(event, user_id=user_id, username=name, address=address, connection=connection,
                            detail={"retry_at": verdict.retry_at.isoformat(), "limit": verdict.reason})

    def _record_failure(self, name: str, address: str | None, now: datetime, event: str, user_id: int | None,
                        detail: dict[str, Any], *, count_address: bool = True) -> None:
        """Counts a failed attempt against the username (and its address unless `count_address` is False) and logs it."""
        with write_transaction(self._crm.write_engine) as connection:
            connection.execute(insert(self._table("login_attempt")).values(
                username=name, address=address if count_address else None, at=now, success=False))
            self.log.record(event, user_id=user_id, username=name, address=address, detail=detail,
                            connection=connection)

    def _start_session(self, row: Any, password: str, name: str, address: str | None, user_agent: str | None,
                       now: datetime) -> LoginSession:
        users, sessions = self._table("user"), self._table("login_session")
        token = secrets.token_urlsafe(32)
        expires_at = now + min(self.session_idle, self.session_absolute)
        values: dict[str, Any] = {"last_login_at": now}
        if needs_rehash(row.password_hash):
            values["password_hash"] = hash_password(password)  # hashed before the write lock is taken
        with write_transaction(self._crm.write_engine) as connection:
            connection.execute(update(users).where(users.c.id == row.id).values(**values))
            connection.execute(insert(sessions).values(
                token_hash=token_digest(token), user_id=row.id, created_at=now, last_seen_at=now,
                expires_at=expires_at, address=address, user_agent=clip(user_agent, USER_AGENT_LENGTH)))
            connection.execute(insert(self._table("login_attempt")).values(
                username=name, address=address, at=now, success=True))
            self.log.record("login.succeeded", user_id=row.id, username=name, address=address, connection=connection,
                            detail={"rehashed": "password_hash" in values})
            user = user_from_row(connection.execute(select(*user_columns(users)).where(users.c.id == row.id)).one())
        return LoginSession(token=token, user=user, expires_at=expires_at)

    def _username(self, connection: Connection, user_id: int) -> str | None:
        users = self._table("user")
        return connection.execute(select(users.c.username).where(users.c.id == user_id)).scalar()


def _now(action: Callable[[], None]) -> None:
    action()


def _failure_reason(row: Any, password: str) -> str | None:
    """Why the sign-in fails (for the log only), or None; always does the same argon2 work."""
    if row is None or not row.password_hash:
        spend_verification_time(password)
        return "unknown user" if row is None else "no password set"
    if not verify_password(row.password_hash, password):
        return "wrong password"
    return None if row.active else "inactive user"
