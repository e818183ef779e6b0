"""A record's timeline: its field history and the activities linked to it, newest first, a page at a time.

    page = crm.as_user(7).records("account").timeline(42)            # the newest 20 entries
    older = crm.as_user(7).records("account").timeline(42, after=page.next_cursor)

Two sources are read, each newest first with a limit in SQL, and the two short lists merged:

- history (`crmkit_history`, objects with `track_history`): one entry per changed field,
  and one per create, delete and restore. The entries of fields the user may not read
  (security/shaping.stored_withheld), and of fields the object no longer has, are left out
  in the query itself, so neither their values nor the fact that they changed shows, and a
  page is never short because of them.
- activities: records of the activity objects (ACTIVITY_OBJECTS) whose lookups point at the
  record, as the user may see them: the object needs `read`, the lookup must be a field
  they may read, and the row filter of the object applies (security/access.py).

- runs (`crmkit_automation_run`): the automation rules that fired on the record
  (automation/runlog.py), without their error sentence unless the user is an administrator.

Entries are ordered by (moment, source, id), newest first: history by `changed_at`,
activities by `created_at`. The cursor holds the last entry's key; each source is read
from just after it (a keyset), so no entry is skipped or shown twice as records change.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Sequence

from sqlalchemy import ColumnElement, Connection, Table, and_, or_, select, true

from crmkit.engine import messages
from crmkit.engine.query.errors import QueryError
from crmkit.engine.query.sorting import INVALID_CURSOR, MAX_CURSOR_LENGTH
from crmkit.engine.records.record import Record
from crmkit.engine.security.shaping import readable_field, shown_rows, stored_withheld

if TYPE_CHECKING:
    from crmkit.engine.records.service import RecordService

#: Objects whose records are activities on the records they point at (calls, meetings, tasks, notes, ...).
ACTIVITY_OBJECTS = frozenset({"activity", "task", "event", "call", "meeting", "note", "email"})
#: Entries per page unless asked otherwise, and the most one page may hold.
PAGE_SIZE, MAX_PAGE_SIZE = 20, 100
#: The source key of history entries; activities use their object's name.
HISTORY = ""
#: The source key of run log entries (no object name starts with "@").
RUNS = "@run"


@dataclass(frozen=True)
class HistoryEntry:
    """One row of field history. `operation`: create, update, delete or restore; `field` is None
    except for update, whose `old_value`/`new_value` are the values as JSON (fieldtypes.to_json)."""

    at: datetime
    id: int
    operation: str
    field: str | None
    old_value: Any
    new_value: Any
    changed_by: int | None

    @property
    def key(self) -> tuple[datetime, str, int]:
        return self.at, HISTORY, self.id


@dataclass(frozen=True)
class ActivityEntry:
    """A record of an activity object pointing at the record through `via` (its lookups that do),
    as the user may see it (hidden fields left out); `at` is when it was created."""

    at: datetime
    record: Record
    via: tuple[str, ...]

    @property
    def id(self) -> int:
        return self.record.id

    @property
    def object(self) -> str:
        return self.record.object

    @property
    def key(self) -> tuple[datetime, str, int]:
        return self.at, self.record.object, self.record.id


@dataclass(frozen=True)
class RunEntry:
    """An automation rule that fired on the record (automation/runlog.py): its rule, trigger, the kinds of its
    actions, outcome and duration. `error` is given to administrators only (it may quote values)."""

    at: datetime
    id: int
    rule: str
    trigger: str
    actions: tuple[str, ...]
    outcome: str
    duration_ms: int
    error: str | None

    @property
    def key(self) -> tuple[datetime, str, int]:
        return self.at, RUNS, self.id


TimelineEntry = HistoryEntry | ActivityEntry | RunEntry


@dataclass(frozen=True)
class TimelinePage:
    entries: tuple[TimelineEntry, ...]
    #: Pass as `after` for the older entries; None when there are none.
    next_cursor: str | None


def activity_sources(service: "RecordService") -> list[tuple[str, tuple[str, ...]]]:
    """(activity object, its lookups to the record's object that the user may read), for objects they may read."""
    policy = service.session.policy
    registry = service.runtime.registry
    sources: dict[str, list[str]] = {}
    for child, via in registry.children.get(service.object_name, ()):
        if child not in ACTIVITY_OBJECTS or child not in registry.objects:
            continue
        if policy is not None and not (policy.can(child, "read") and readable_field(policy, child, via)):
            continue
        sources.setdefault(child, []).append(via)
    return [(child, tuple(vias)) for child, vias in sorted(sources.items())]


def read_timeline(service: "RecordService", connection: Connection, record_id: int, after: str | None,
                  limit: int) -> TimelinePage:
    """The page of `record_id`'s timeline after the cursor `after` (None: the newest), `limit` entries at most.

    The caller has checked that the user may read the record. QueryError for a damaged cursor
    or a limit outside 1..MAX_PAGE_SIZE.
    """
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise QueryError(messages.TIMELINE_PAGE(max=MAX_PAGE_SIZE))
    cursor = decode_cursor(after) if after is not None else None
    entries: list[TimelineEntry] = list(_history(service, connection, record_id, cursor, limit + 1))
    entries.extend(_runs(service, connection, record_id, cursor, limit + 1))
    for child, vias in activity_sources(service):
        entries.extend(_activities(service, connection, child, vias, record_id, cursor, limit + 1))
    entries.sort(key=lambda entry: entry.key, reverse=True)
    page = tuple(entries[:limit])
    more = len(entries) > limit
    return TimelinePage(page, encode_cursor(page[-1].key) if more and page else None)


def _history(service: "RecordService", connection: Connection, record_id: int,
             cursor: tuple[datetime, str, int] | None, limit: int) -> list[HistoryEntry]:
    """The newest `limit` history entries after `cursor` the user may see (hidden fields left out in SQL)."""
    table = service.runtime.system_table("crmkit_history")
    query = select(table).where(table.c.object == service.object_name, table.c.record_id == record_id,
                                _after(table.c.changed_at, table.c.id, HISTORY, cursor))
    # An allow-list: the object's fields now, less those withheld; a removed field's entries stay out too,
    # since whether the user could read it is no longer known.
    shown = (set(service.obj.fields) | {"owner_id"}) - stored_withheld(service.session.policy, service.object_name)
    query = query.where(or_(table.c.field.is_(None), table.c.field.in_(sorted(shown))))
    query = query.order_by(table.c.changed_at.desc(), table.c.id.desc()).limit(limit)
    return [HistoryEntry(row.changed_at, row.id, row.operation, row.field, row.old_value, row.new_value,
                         row.changed_by) for row in connection.execute(query)]


def _runs(service: "RecordService", connection: Connection, record_id: int,
          cursor: tuple[datetime, str, int] | None, limit: int) -> list[RunEntry]:
    """The newest `limit` run log entries of the record after `cursor` (the caller checked it may be read).

    Entries hold the rule, trigger, action kinds and outcome, never field values; the error
    sentence (which may quote values) is shown to administrators only.
    """
    table = service.runtime.system_table("crmkit_automation_run")
    policy = service.session.policy
    with_error = policy is None or policy.is_admin
    query = select(table).where(table.c.object == service.object_name, table.c.record_id == record_id,
                                _after(table.c.at, table.c.id, RUNS, cursor))
    query = query.order_by(table.c.at.desc(), table.c.id.desc()).limit(limit)
    return [RunEntry(row.at, row.id, row.rule, row.trigger, tuple(row.actions or ()), row.outcome, row.duration_ms,
                     row.error if with_error else None) for row in connection.execute(query)]


def _activities(service: "RecordService", connection: Connection, child: str, vias: Sequence[str], record_id: int,
                cursor: tuple[datetime, str, int] | None, limit: int) -> list[ActivityEntry]:
    """The newest `limit` records of `child` pointing at the record through `vias` that the user may see."""
    runtime, policy = service.runtime, service.session.policy
    table: Table = runtime.table(child)
    query = select(table).where(or_(*(table.c[via] == record_id for via in vias)),
                                _after(table.c.created_at, table.c.id, child, cursor))
    restriction = policy.row_filter(child) if policy is not None else None
    if restriction is not None:
        query = query.where(restriction)
    query = query.order_by(table.c.created_at.desc(), table.c.id.desc()).limit(limit)
    rows = [dict(row._mapping) for row in connection.execute(query)]
    shown = shown_rows(connection, runtime, policy, runtime.object(child), rows)
    return [ActivityEntry(row["created_at"], Record(child, values),
                          tuple(via for via in vias if row[via] == record_id)) for row, values in zip(rows, shown)]


def _after(at: Any, id_column: Any, source: str, cursor: tuple[datetime, str, int] | None) -> ColumnElement[bool]:
    """The keyset condition: entries of `source` that come after `cursor` in (moment, source, id) order, descending."""
    if cursor is None:
        return true()
    moment, cursor_source, cursor_id = cursor
    if source < cursor_source:
        return at <= moment
    if source > cursor_source:
        return at < moment
    return or_(at < moment, and_(at == moment, id_column < cursor_id))


def encode_cursor(key: tuple[datetime, str, int]) -> str:
    """An opaque cursor (URL-safe base64 of JSON) for the entries after the one with `key`."""
    moment, source, entry_id = key
    payload = json.dumps([moment.isoformat(), source, entry_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> tuple[datetime, str, int]:
    """The key a cursor holds; QueryError when it is damaged."""
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_LENGTH:
        raise QueryError(INVALID_CURSOR)
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        moment, source, entry_id = json.loads(raw.decode("utf-8"))
        moment = datetime.fromisoformat(moment)
    except (ValueError, TypeError, binascii.Error, RecursionError):
        raise QueryError(INVALID_CURSOR) from None
    if moment.tzinfo is None or not isinstance(source, str) or type(entry_id) is not int:
        raise QueryError(INVALID_CURSOR)
    return moment, source, entry_id

