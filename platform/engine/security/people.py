"""The names of the people a page mentions (owners, who changed or deleted a record), for a signed-in user.

Any active user may read the display names of other users, as a record page shows its
owner's and last editor's names (Salesforce shows user names to every user the same way);
nothing else of them: no username, e-mail, role or rights. Only the ids asked for are read.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from sqlalchemy import select

from crmkit.engine.query.inputs import is_record_id

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext

#: Ids read per statement.
BATCH = 500


def user_names(context: "UserContext", user_ids: Iterable[object]) -> dict[int, str]:
    """{user id: display name} of the given users (ids that are not user ids are ignored), read as `context`'s user.

    UnknownUser if the acting user was deactivated (the operation's start, UserContext.reading).
    """
    ids = sorted({user_id for user_id in user_ids if is_record_id(user_id)})
    if not ids:
        return {}
    table = context.runtime.system_table("crmkit_user")
    names: dict[int, str] = {}
    with context.reading() as connection:
        for start in range(0, len(ids), BATCH):
            query = select(table.c.id, table.c.display_name).where(table.c.id.in_(ids[start:start + BATCH]))
            names.update((user_id, name) for user_id, name in connection.execute(query))
    return names
