"""The security log: an append-only record of sign-ins, account changes and grants.

    log = SecurityLog(crm)
    log.record("user.created", user_id=7, username="alice", detail={"by": 1})
    log.entries(event="login.failed", limit=20)        # newest first

There is deliberately no way to change or delete an entry through this API.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from sqlalchemy import Connection, insert, select

from crmkit.engine.database import write_transaction

if TYPE_CHECKING:
    from crmkit.engine.crm import Crm

#: Returns the current time, timezone-aware; injected in tests so nothing has to sleep.
Clock = Callable[[], datetime]

ADDRESS_LENGTH = 64
USERNAME_LENGTH = 150


#: The network address of the request being served (the web application and the API set it per request,
#: `client_address`), so an entry written deep in the engine (an export, a merge) still says where it came from.
_CLIENT_ADDRESS: ContextVar[str | None] = ContextVar("crmkit_client_address", default=None)


@contextmanager
def client_address(address: str | None) -> Iterator[None]:
    """Entries recorded inside the block without an address of their own get `address`."""
    token = _CLIENT_ADDRESS.set(address)
    try:
        yield
    finally:
        _CLIENT_ADDRESS.reset(token)


def set_client_address(address: str | None) -> Any:
    """`client_address` for a request's start and end (Flask's before/teardown hooks): the token to reset with."""
    return _CLIENT_ADDRESS.set(address)


def reset_client_address(token: Any) -> None:
    """Undo `set_client_address` (a token of another context, where a server ran the end elsewhere: cleared)."""
    try:
        _CLIENT_ADDRESS.reset(token)
    except ValueError:
        _CLIENT_ADDRESS.set(None)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def clip(text: str | None, length: int) -> str | None:
    """Text cut to a column's length: sign-in input comes from anyone and must never fail an insert."""
    return None if text is None else str(text)[:length]


class SecurityLog:
    def __init__(self, crm: "Crm", *, clock: Clock | None = None) -> None:
        self._crm = crm
        self._clock = clock or utc_now

    @property
    def _table(self):
        return self._crm.runtime.system_table("crmkit_security_log")

    def record(self, event: str, *, user_id: int | None = None, username: str | None = None,
               address: str | None = None, detail: Mapping[str, Any] | None = None,
               connection: Connection | None = None) -> None:
        """Append one entry; inside `connection`'s transaction when given, so a change and its entry commit together.

        Without `username`, a `user_id`'s entry gets the user's username (read in the same
        statement); without `address`, the address of the request being served (`client_address`).
        """
        if address is None:
            address = _CLIENT_ADDRESS.get()
        name: Any = clip(username, USERNAME_LENGTH)
        if name is None and user_id is not None:
            users = self._crm.runtime.system_table("crmkit_user")
            name = select(users.c.username).where(users.c.id == user_id).scalar_subquery()
        row = {"at": self._clock(), "event": event, "user_id": user_id, "username": name,
               "address": clip(address, ADDRESS_LENGTH), "detail": dict(detail) if detail else None}
        statement = insert(self._table).values(row)  # values, not parameters: the username may be a subquery
        if connection is not None:
            connection.execute(statement)
            return
        with write_transaction(self._crm.write_engine) as own:
            own.execute(statement)

    def entries(self, *, event: str | None = None, user_id: int | None = None, since: datetime | None = None,
                limit: int = 100) -> list[dict]:
        """Entries newest first, optionally only one event, one user, or those at or after `since`."""
        table = self._table
        query = select(table).order_by(table.c.at.desc(), table.c.id.desc()).limit(max(0, int(limit)))
        if event is not None:
            query = query.where(table.c.event == event)
        if user_id is not None:
            query = query.where(table.c.user_id == user_id)
        if since is not None:
            query = query.where(table.c.at >= since)
        with self._crm.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]
