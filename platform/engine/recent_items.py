"""Recent items: the records a user viewed or edited lately, across objects, newest first.

    recent = RecentItems(crm.as_user(rep_id))
    recent.touch("account", acme.id)                 # after showing it; "edited" after a save
    recent.items(limit=10)                           # [RecentItem(object, id, title, action, at)]

A touch of a record already among the user's rows moves it to the top (one UPDATE); any other is one
upsert and one trim by index on the user's own rows: at most CAP (50) rows per user are kept, the oldest
going first. Nothing is copied from the record: titles are
read when the list is read, through the user's own permissions (object read permission, row
filter, field access), so a record shared away since, deleted to the recycle bin, or one
whose title field the user may no longer see, shows nothing of itself: the first two are
left out, and a hidden title shows as the record's id (as global search does). A privacy
erasure removes the record from every user's recent items (security/privacy.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from crmkit.engine import messages
from crmkit.engine.query.inputs import is_record_id
from crmkit.engine.records.errors import RecordError, RecordNotFound
from crmkit.engine.records.record import Record
from crmkit.engine.records.service import RecordService
from crmkit.engine.runtime import Runtime
from crmkit.engine.security.readable import may_read_record

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext

#: Rows kept per user.
CAP = 50
ACTIONS = ("viewed", "edited")


@dataclass(frozen=True)
class RecentItem:
    """One recent record: its object, id, title as the user may see it (its id when hidden), what they did, when."""

    object: str
    id: int
    title: str
    action: str
    at: datetime


class RecentItems:
    """One user's recent items (a UserContext of `crm.as_user`)."""

    def __init__(self, context: "UserContext") -> None:
        if context.policy is None:
            raise RecordError("recent items belong to a user; use a user's session (crm.as_user), "
                              "not the system session.")
        self.context = context

    @property
    def _table(self):
        return self.context.runtime.system_table("crmkit_recent_item")

    def touch(self, object_name: str, record: "int | Record", action: str = "viewed") -> None:
        """Put a record the user may read at the top of their recent items.

        `record`: its id, or the Record this context's `records(object_name).get` returned:
        while the user's rights are still those that read checked (`RecordService.read_here`),
        its row is not read again (the detail page has just read it); any other Record is
        checked by its id. A record deleted or shared away in between is left out when the
        list is read, as any other is. RecordNotFound for a record they cannot see (as `get`
        would), PermissionDenied without the object's read permission, RecordError for an
        action other than viewed or edited.
        """
        if action not in ACTIONS:
            raise RecordError(f"a recent item was {' or '.join(ACTIONS)}, not {action!r}.")
        records = RecordService(self.context, object_name)
        record_id = record.id if isinstance(record, Record) else record
        with self.context.writing() as connection:
            policy = self.context.policy  # as this write's operation read left it
            policy.require(object_name, "read")
            if not records.read_here(record) and not self._readable(connection, records, record_id):
                raise RecordNotFound(object_name, record_id)
            user_id = policy.user.user_id
            if self._moved_up(connection, user_id, object_name, record_id, action):
                return  # a record already among them: the user's rows are as many as before, nothing to trim
            self._upsert(connection, user_id, object_name, record_id, action)
            self._trim(connection, user_id)

    def items(self, limit: int = 20) -> list[RecentItem]:
        """Up to `limit` (1 to CAP) records the user may still see, newest first, titled as they see them."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= CAP:
            raise RecordError(messages.RECENT_ITEMS_COUNT(max=CAP))
        table = self._table
        with self.context.reading() as connection:
            rows = connection.execute(select(table.c.object, table.c.record_id, table.c.action, table.c.at)
                                      .where(table.c.user_id == self.context.policy.user.user_id)
                                      .order_by(table.c.at.desc(), table.c.id.desc()).limit(CAP)).all()
        titles: dict[tuple[str, int], str] = {}
        by_object: dict[str, list[int]] = {}
        for row in rows:
            by_object.setdefault(row.object, []).append(row.record_id)
        for object_name, ids in by_object.items():
            titles.update({(object_name, record_id): title for record_id, title in self._titles(object_name, ids)})
        found = [RecentItem(row.object, row.record_id, titles[(row.object, row.record_id)], row.action, row.at)
                 for row in rows if (row.object, row.record_id) in titles]
        return found[:limit]

    def clear(self) -> None:
        """Forget every recent item of the user."""
        with self.context.writing() as connection:
            connection.execute(delete(self._table).where(self._table.c.user_id == self.context.policy.user.user_id))

    def _titles(self, object_name: str, ids: list[int]) -> list[tuple[int, str]]:
        """(id, title) of the records among `ids` the user may read now; none for an object they may not read."""
        policy = self.context.policy
        if object_name not in self.context.runtime.registry.objects or not policy.can(object_name, "read"):
            return []
        records = RecordService(self.context, object_name)
        page = records.query({"id": {"in": ids}}, sort=("id",), limit=len(ids))
        title = records.obj.title_field
        return [(record.id, str(record.id if record.get(title) is None else record.get(title)) if title
                 else str(record.id)) for record in page.records]

    def _readable(self, connection: Connection, records: RecordService, record_id: Any) -> bool:
        return is_record_id(record_id) and may_read_record(connection, self.context.runtime, self.context.policy,
                                                           records.object_name, record_id)

    def _moved_up(self, connection: Connection, user_id: int, object_name: str, record_id: int, action: str) -> bool:
        """Moves the user's row of this record to the top (action, now) if it has one; whether it had. A detail page
        opened again (the commonest touch) is then one statement, not an upsert and a trim's read; a row another
        transaction inserts meanwhile is met by the upsert that follows a miss."""
        table = self._table
        moved = connection.execute(update(table).where(
            table.c.user_id == user_id, table.c.object == object_name, table.c.record_id == record_id,
        ).values(action=action, at=self.context.now()))
        return moved.rowcount == 1

    def _upsert(self, connection: Connection, user_id: int, object_name: str, record_id: int, action: str) -> None:
        runtime = self.context.runtime
        insert = sqlite_insert if runtime.is_sqlite else pg_insert
        now = self.context.now()
        statement = insert(self._table).values(user_id=user_id, object=object_name, record_id=record_id,
                                               action=action, at=now)
        connection.execute(statement.on_conflict_do_update(
            index_elements=["user_id", "object", "record_id"], set_={"action": action, "at": now}))

    def _trim(self, connection: Connection, user_id: int) -> None:
        """Delete the user's rows beyond the newest CAP: one read of the first row past them, one delete."""
        table = self._table
        cut = connection.execute(select(table.c.at, table.c.id).where(table.c.user_id == user_id)
                                 .order_by(table.c.at.desc(), table.c.id.desc()).offset(CAP).limit(1)).first()
        if cut is not None:
            connection.execute(delete(table).where(table.c.user_id == user_id, or_(
                table.c.at < cut.at, and_(table.c.at == cut.at, table.c.id <= cut.id))))


def forget_record(connection: Connection, runtime: Runtime, object_name: str, record_id: int) -> None:
    """Remove a record from every user's recent items, inside `connection`'s transaction (privacy erasure)."""
    table = runtime.system_table("crmkit_recent_item")
    connection.execute(delete(table).where(table.c.object == object_name, table.c.record_id == record_id))
