"""`user` in expressions: the user on whose behalf an automation condition or value is evaluated.

    condition: "user.role == 'sales_rep' and user.id != owner_id"

`user` reads as a record with the attributes USER_ATTRIBUTES: id, username, name (the
display name), email, role (the role's name or None), teams (a tuple of team names),
language, timezone. It is the acting user of the save (a person, an API token's user, the
user who clicked a manual rule); for a save the worker makes for an outbox row, the user
whose save wrote the row (`crmkit_outbox.actor_id`, carried down a chain of rules). With
nobody behind it (the platform's own saves, scheduled work) `user` is the empty record:
falsy, every attribute None.

The user's row is read only when an expression reads `user` (once per save), on the
save's own connection, with bound parameters.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Mapping

from sqlalchemy import select

from crmkit.metadata.automation_names import USER_ATTRIBUTES, USER_NAME
from crmkit.sandbox import EMPTY_RECORD, RecordView

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext

__all__ = ["USER_ATTRIBUTES", "USER_NAME", "acting_user", "acting_user_id"]


class _UserValues(Mapping[str, Any]):
    """The acting user's attributes, read from the database on first use."""

    def __init__(self, context: "UserContext", user_id: int) -> None:
        self._context = context
        self._user_id = user_id
        self._values: dict[str, Any] | None = None

    def _loaded(self) -> dict[str, Any]:
        if self._values is None:
            self._values = _read_user(self._context, self._user_id)
        return self._values

    def __getitem__(self, name: str) -> Any:
        return self._loaded()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())


def _read_user(context: "UserContext", user_id: int) -> dict[str, Any]:
    runtime = context.runtime
    users = runtime.system_table("crmkit_user")
    members, teams = runtime.system_table("crmkit_team_member"), runtime.system_table("crmkit_team")
    with context.reading() as connection:
        row = connection.execute(select(users.c.id, users.c.username, users.c.display_name, users.c.email,
                                        users.c.role, users.c.language, users.c.timezone)
                                 .where(users.c.id == user_id)).first()
        names = connection.execute(select(teams.c.name).join(members, members.c.team_id == teams.c.id)
                                   .where(members.c.user_id == user_id).order_by(teams.c.name)).scalars().all()
    if row is None:  # deleted meanwhile: every attribute reads as None, as for nobody
        return dict.fromkeys(USER_ATTRIBUTES)
    return {"id": row.id, "username": row.username, "name": row.display_name, "email": row.email,
            "role": row.role, "teams": tuple(names), "language": row.language, "timezone": row.timezone}


def acting_user_id(context: "UserContext") -> int | None:
    """Whose behalf `context` acts on: its user, or for the worker the user whose save wrote the outbox row."""
    if context.actor.user_id is not None:
        return context.actor.user_id
    origin = context.automation
    return getattr(origin, "actor_id", None) if origin is not None else None


def acting_user(context: "UserContext") -> RecordView:
    """`user` for expressions evaluated on `context`'s behalf (read lazily); the empty record for nobody."""
    user_id = acting_user_id(context)
    return RecordView(_UserValues(context, user_id)) if user_id is not None else EMPTY_RECORD
