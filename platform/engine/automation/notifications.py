"""In-app notifications: what a `notify` action tells users, their unread count and marking them read.

    notes = Notifications(crm.as_user(7))
    notes.unread_count()            # the top bar's badge: one indexed count
    notes.list(limit=50)            # newest first, with the record each is about
    notes.mark_read([3, 4]); notes.mark_all_read()

The worker writes them (`deliver`, the notify action of automation/actions.py) for an outbox
row, in the transaction that marks the row done; (outbox id, user) is unique, so a row done
twice tells nobody twice. A recipient is told only if they may read the record now (their
object permission and row filter), so a notification never points at a record they cannot
open, nor one whose message quotes a field (of the record, or of a record a lookup names) they
may not read. The message was computed when the record was saved (`message:` of the action).
Each time they are listed the same is asked again of the user as they are now: a record they
may no longer read shows nothing, a field the message quotes that they may no longer read (or
a related record it quotes) leaves the notification without its message.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from sqlalchemy import Connection, func, insert, select, update

from crmkit.engine.query.inputs import INT64_MAX, INT64_MIN, is_record_id
from crmkit.engine.security.access import UnknownUser
from crmkit.engine.security.readable import may_read_record, readable_ids
from crmkit.engine.security.shaping import quotable_field

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext

TABLE = "crmkit_notification"
MAX_PAGE = 200


@dataclass(frozen=True)
class Notification:
    id: int
    object: str
    record_id: int
    message: str
    rule: str
    created_at: datetime
    read_at: datetime | None
    #: False when the user may no longer read the record (its owner, sharing or their rights changed
    #: since, or it was deleted): `message` is then "", as it may quote the record's values.
    available: bool = True
    #: True when the record is available but the message quotes a field or related record the user may no
    #: longer read: `message` is then "".
    withheld: bool = False

    @property
    def unread(self) -> bool:
        return self.read_at is None


class Notifications:
    """The acting user's own notifications (every method reads or changes only theirs)."""

    def __init__(self, context: "UserContext") -> None:
        self.context = context
        self.user_id = context.actor.user_id
        self.table = context.runtime.system_table(TABLE)

    def unread_count(self) -> int:
        """How many are unread: one count by the (user_id, read_at) index; 0 for the platform itself."""
        if self.user_id is None:
            return 0
        table = self.table
        with self.context.reading() as connection:
            return connection.execute(select(func.count()).select_from(table).where(
                table.c.user_id == self.user_id, table.c.read_at.is_(None))).scalar_one()

    def list(self, *, unread_only: bool = False, before: int | None = None, limit: int = 50) -> list[Notification]:
        """Newest first; `before`: only those with a smaller id (the next page)."""
        table = self.table
        query = select(table).where(table.c.user_id == self.user_id).order_by(table.c.id.desc()).limit(
            max(1, min(limit, MAX_PAGE)))
        if unread_only:
            query = query.where(table.c.read_at.is_(None))
        if before is not None:
            query = query.where(table.c.id < id_bound(before))
        with self.context.reading() as connection:
            rows = connection.execute(query).all()
            quoted = self._quoted(connection, rows)
            readable = self._readable(connection, [(row.object, row.record_id) for row in rows]
                                      + [pair for _fields, related in quoted.values() for pair in related])
        notifications = []
        for row in rows:
            available = (row.object, row.record_id) in readable
            shown = available and self._may_read_quotes(quoted.get(row.outbox_id), readable)
            notifications.append(Notification(row.id, row.object, row.record_id, row.message if shown else "",
                                              row.rule, row.created_at, row.read_at, available,
                                              available and not shown))
        return notifications

    def _quoted(self, connection: Connection, rows: Sequence[Any]) -> dict[int, tuple[list[tuple[str, str]],
                                                                                     list[tuple[str, int]]]]:
        """{outbox id: ([(object, field)] the message quotes, [(object, id)] related records it quotes a value of)}
        of the rows told by an outbox row, from that row's payload (`deliver`'s "reads" and "related"). One
        statement; an outbox row is kept while a notification it told remains (runlog.prune)."""
        ids = sorted({row.outbox_id for row in rows if row.outbox_id is not None})
        if not ids:
            return {}
        outbox = self.context.runtime.system_table("crmkit_outbox")
        quoted = {}
        for outbox_id, payload in connection.execute(select(outbox.c.id, outbox.c.payload)
                                                     .where(outbox.c.id.in_(ids))):
            payload = payload if isinstance(payload, dict) else {}
            quoted[outbox_id] = ([(str(o), str(f)) for o, f in payload.get("reads") or ()],
                                 [(str(o), int(i)) for o, i in payload.get("related") or ()])
        return quoted

    def _may_read_quotes(self, quotes: tuple[list[tuple[str, str]], list[tuple[str, int]]] | None,
                         readable: set[tuple[str, int]]) -> bool:
        """Whether the user may read now every field the message quotes and every related record it quotes a value
        of, as `deliver` asked of them when it told them: a field permission revoked since, or a related record
        reassigned, hides the message as a record no longer readable does. None (told without an outbox row, or
        its payload gone): nothing more to ask."""
        if quotes is None:
            return True
        policy, objects = self.context.policy, self.context.runtime.registry.objects
        fields, related = quotes
        for object_name, field in fields:
            if object_name not in objects or field not in objects[object_name].fields:
                return False  # removed from the metadata since: what it quoted is no one's to read
            if policy is not None and (not policy.can(object_name, "read")
                                       or not quotable_field(policy, object_name, field)):
                return False
        return all(pair in readable for pair in related)

    def _readable(self, connection: Connection, records: Sequence[tuple[str, int]]) -> set[tuple[str, int]]:
        """Of `records` [(object, record id)], those that exist and the user may read now (security/readable.py,
        the check of the change feed, the recycle bin and recent items).

        A notification was delivered only to who could read its record then (`deliver`); this asks again,
        so one about a record since reassigned, unshared or deleted shows nothing of it.
        """
        wanted: dict[str, set[int]] = {}
        for object_name, record_id in records:
            wanted.setdefault(object_name, set()).add(record_id)
        runtime, policy = self.context.runtime, self.context.policy
        return {(object_name, record_id) for object_name, ids in wanted.items()
                for record_id in readable_ids(connection, runtime, policy, object_name, ids)}

    def mark_read(self, ids: Iterable[int]) -> int:
        """Mark these of the user's notifications read (others' ids are ignored); returns how many changed."""
        ids = [int(i) for i in ids if is_record_id(int(i))]  # one past 64 bits is nobody's (and fails in SQL)
        if not ids:
            return 0
        table = self.table
        with self.context.writing() as connection:
            return connection.execute(update(table).where(
                table.c.user_id == self.user_id, table.c.id.in_(ids), table.c.read_at.is_(None)).values(
                read_at=self.context.now())).rowcount

    def mark_all_read(self) -> int:
        """Mark every unread notification of the user read; returns how many changed."""
        table = self.table
        with self.context.writing() as connection:
            return connection.execute(update(table).where(
                table.c.user_id == self.user_id, table.c.read_at.is_(None)).values(
                read_at=self.context.now())).rowcount


def id_bound(before: int) -> int:
    """A page cursor (`id < before`) within the 64-bit ids the database stores: past the top it means no
    bound, below the bottom nothing (a bigger number fails in SQL, OverflowError on SQLite)."""
    return max(INT64_MIN, min(int(before), INT64_MAX))


def deliver(context: "UserContext", connection: Connection, payload: Mapping[str, Any], outbox_id: int | None,
            rule: str) -> list[int]:
    """Write the notifications of one notify outbox row on `connection`; returns the users told.

    payload: {"object", "record_id", "message", "users": [user id], "roles": [role name],
    "reads": [[object, field]] the message quotes, "related": [[object, id]] the related records it quotes}. A role's members are its active users now; each
    recipient must be able to read the record and every field the message quotes.
    """
    crm, runtime = context.crm, context.runtime
    users_table = runtime.system_table("crmkit_user")
    wanted = {int(user) for user in payload.get("users") or () if user is not None}
    roles = list(payload.get("roles") or ())
    if roles:
        wanted.update(connection.execute(select(users_table.c.id).where(
            users_table.c.role.in_(roles), users_table.c.active.is_(True))).scalars())
    told = [user for user in sorted(wanted) if _may_read(context, connection, user, payload)]
    if told:
        table = runtime.system_table(TABLE)
        already = set(connection.execute(select(table.c.user_id).where(
            table.c.outbox_id == outbox_id, table.c.user_id.in_(told))).scalars()) if outbox_id is not None else set()
        rows = [{"user_id": user, "object": payload["object"], "record_id": payload["record_id"],
                 "message": payload["message"], "rule": rule, "outbox_id": outbox_id,
                 "created_at": crm.clock(), "read_at": None} for user in told if user not in already]
        if rows:
            connection.execute(insert(table), rows)
    return told


def _may_read(context: "UserContext", connection: Connection, user_id: int, payload: Mapping[str, Any]) -> bool:
    """Whether the active user `user_id` may read the record now (object permission and row filter), every
    field the message quotes, and every related record it quotes a value of."""
    try:
        policy = context.crm.as_user(user_id).policy
    except UnknownUser:  # inactive or gone: told nothing
        return False
    object_name = payload["object"]
    if policy is not None and not policy.can(object_name, "read"):
        return False
    for read_object, read_field in payload.get("reads") or ():  # the message quotes only what they may read
        if policy is not None and (not policy.can(read_object, "read")
                                   or not quotable_field(policy, read_object, read_field)):
            return False
    # The record, and each related record the message quotes a value of ("related": [[object, id]]).
    return all(may_read_record(connection, context.runtime, policy, read_object, record_id)
               for read_object, record_id in [[object_name, payload["record_id"]], *(payload.get("related") or ())])


def unread_counts(context: "UserContext", user_ids: Sequence[int]) -> dict[int, int]:
    """{user id: unread count} (tests and admin tools)."""
    table = context.runtime.system_table(TABLE)
    with context.reading() as connection:
        return dict(connection.execute(select(table.c.user_id, func.count()).where(
            table.c.user_id.in_(list(user_ids)), table.c.read_at.is_(None)).group_by(table.c.user_id)).all())
