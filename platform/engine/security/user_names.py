"""Users' display names for the people who work with records: owners, creators, an owner filter's suggestions.

    names = UserNames(crm.as_user(wang_id))
    names.names([7, 9])                     # {7: UserName(7, "李娜", True), 9: UserName(9, "Rep 0", False)}
    names.suggest("li", limit=10)           # [UserName(7, "李娜", True), ...]: display name or username starts so

What a user may see (as Salesforce shows user names to every internal user): every
signed-in user may read every user's **display name** and whether the account is active,
inactive users included (their records still name them), and every team's name and label
(`teams`: a dashboard's team filter offers them, as Salesforce offers public groups in its
sharing and report filters). Nothing else: not the username (except as a match for
`suggest`), email, role, permission sets, sign-in times or who belongs to which team; those
are for user administration (needs `manage_users`). A deactivated or unknown acting user
is refused (UnknownUser), as everywhere in the engine.

Reads are bounded: `names` takes at most MAX_IDS ids (the ids of one page) and reads only
those rows; `suggest` reads at most MAX_SUGGESTIONS rows through a prefix match on
lower(display_name) (indexed) or on the username (unique, indexed), with bound parameters.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Iterable

from sqlalchemy import Select, Table, bindparam, func, or_, select

from crmkit.engine import messages
from crmkit.engine.fieldtypes.inputs import UNSTORABLE
from crmkit.engine.query.inputs import is_record_id
from crmkit.engine.security.users import Team, UserError

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext

MAX_IDS = 1000
MAX_SUGGESTIONS = 50
MAX_QUERY_LENGTH = 100


@dataclass(frozen=True)
class UserName:
    id: int
    display_name: str
    active: bool


def like_prefix(text: str) -> str:
    """`text` as a LIKE pattern matching what starts with it ('%' and '_' taken literally, escape '\\')."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


class UserNames:
    """The display names the acting user may see (see the module docstring), for one UserContext."""

    def __init__(self, context: "UserContext") -> None:
        self.context = context

    def _users(self):
        return self.context.runtime.system_table("crmkit_user")

    def names(self, user_ids: Iterable[int]) -> dict[int, UserName]:
        """{id: UserName} for the users among `user_ids` that exist; other values are left out.

        Raises UserError for more than MAX_IDS ids (a page names a few dozen).
        """
        wanted = sorted({user_id for user_id in user_ids if is_record_id(user_id)})
        if len(wanted) > MAX_IDS:
            raise UserError(messages.TOO_MANY_NAMED(max=f"{MAX_IDS:,}", count=f"{len(wanted):,}"))
        if not wanted:
            return {}
        query = _names_query(self._users())
        # The operation read first, on the query's connection: UnknownUser for a deactivated acting user.
        with self.context.reading() as connection:
            return {row.id: UserName(row.id, row.display_name, row.active)
                    for row in connection.execute(query, {"ids": wanted})}

    def teams(self) -> list[Team]:
        """Every team (id, name, label) by name; not their members."""
        table = self.context.runtime.system_table("crmkit_team")
        with self.context.reading() as connection:
            return [Team(row.id, row.name, row.label) for row in connection.execute(
                select(table.c.id, table.c.name, table.c.label).order_by(table.c.name))]

    def suggest(self, text: str | None, *, limit: int = 10) -> list[UserName]:
        """Users whose display name or username starts with `text` (any case), active ones first, then by name.

        Without text, the first users by display name. At most `limit` (1 to MAX_SUGGESTIONS).
        """
        limit = max(1, min(int(limit), MAX_SUGGESTIONS))
        text = UNSTORABLE.sub("", text if isinstance(text, str) else "").strip().lower()[:MAX_QUERY_LENGTH]
        users = self._users()
        query = select(users.c.id, users.c.display_name, users.c.active)
        if text:
            pattern = like_prefix(text)
            query = query.where(or_(func.lower(users.c.display_name).like(pattern, escape="\\"),
                                    users.c.username.like(pattern, escape="\\")))
        query = query.order_by(users.c.active.desc(), func.lower(users.c.display_name), users.c.id).limit(limit)
        with self.context.reading() as connection:
            return [UserName(row.id, row.display_name, row.active) for row in connection.execute(query)]


@lru_cache(maxsize=8)
def _names_query(users: Table) -> Select:
    """Users' names by id (`:ids`, a list), built once per table: most pages run it."""
    return select(users.c.id, users.c.display_name, users.c.active).where(
        users.c.id.in_(bindparam("ids", expanding=True)))
