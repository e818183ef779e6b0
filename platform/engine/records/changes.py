"""The change log every write appends to, the change feed that reads it, and their one payload format.

    change_payload("account", "update", 42, {"name": "Acme", ...}, at)
    -> {"type": "account.update", "timestamp": "2026-12-02T10:00:00+00:00",
        "data": {"object": "account", "id": 42, "fields": {"name": "Acme", ...}}}

That payload is what automation's call_webhook POSTs (automation/deliveries.py) and what each
item of the change feed is, so one receiver handles both. `write_changes` runs in the
after-write step (events.py), inside the write's transaction: a change is logged exactly when
the write commits. `ChangeFeed(context).read(since)` gives the changes after a cursor that
the user may see: the records they may read now (deleted ones: if they see every record of
the object, or deleted it themselves), without the fields they may not read.

The log keeps CRMKIT_CHANGE_RETENTION_DAYS (default 30) days: `prune_changes` (the daily
automation prune task, automation/queue.py) deletes older rows, oldest first, and records the
last id it removed. A cursor from before that id would silently skip what was removed, so
reading from it raises ChangesExpired (410) instead, naming the oldest cursor still complete:
the caller syncs the records again and reads on from there (as Salesforce's Change Data
Capture refuses a replay id past its retention window).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from crmkit.engine import messages
from crmkit.engine.batch_insert import insert_rows
from crmkit.engine.database import write_transaction
from crmkit.engine.retention import retention_days
from crmkit.engine.fieldtypes import to_json
from crmkit.engine.query.errors import QueryError
from crmkit.engine.security.readable import readable_ids
from crmkit.engine.security.shaping import stored_shown
from crmkit.errors import CrmkitError

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext
    from crmkit.engine.crm import Crm
    from crmkit.engine.records.events import RecordEvent
    from crmkit.engine.runtime import Runtime

CHANGE_TABLE = "crmkit_change"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
#: Rows read per statement while looking for changes the user may see.
SCAN_BATCH = 1000
#: Log rows a read looks at, at most, before answering (with a cursor past what it skipped).
MAX_SCANNED = 20_000
#: Ids given out by transactions still open may commit after higher ones on PostgreSQL: a read
#: leaves the last seconds of changes for the next one, so a cursor never skips a late commit.
SETTLE = {"postgresql": timedelta(seconds=5)}
DELETED = "delete"
#: Records read per statement by `write_derived_changes`.
DERIVED_BATCH = 500
#: Days a change is kept, unless CRMKIT_CHANGE_RETENTION_DAYS says otherwise.
DEFAULT_RETENTION_DAYS = 30
#: Log rows one pruning transaction removes at most (each batch commits on its own: short write locks).
PRUNE_BATCH = 5000
#: The crmkit_counter row holding the last log id pruning removed (no object's name starts with crmkit_).
PRUNED_THROUGH = ("crmkit_change", "pruned_through")


class ChangesExpired(CrmkitError):
    """410: the cursor is from before changes the log has since removed (`oldest_cursor`: read on from there)."""

    status = 410
    title = "Gone"

    def __init__(self, message: str, oldest_cursor: str) -> None:
        super().__init__(message)
        self.oldest_cursor = oldest_cursor
        #: Added to the API's problem document.
        self.problem_extra = {"oldest_cursor": oldest_cursor}


def change_retention() -> timedelta:
    """How long changes are kept: CRMKIT_CHANGE_RETENTION_DAYS (a whole number of days >= 1), else 30 days.

    ValueError naming the variable when it is set to anything else.
    """
    return retention_days("CRMKIT_CHANGE_RETENTION_DAYS", DEFAULT_RETENTION_DAYS)


def prune_changes(crm: "Crm", *, keep: timedelta | None = None) -> int:
    """Delete the log's changes older than `keep` (default `change_retention()`), oldest first, in batches of
    PRUNE_BATCH rows each committed with the new `pruned_through` id; returns how many were deleted.

    Rows are taken in id order (the primary key: no index on the time is needed) up to the first one
    written after the cutoff, so what is left is every change from an id on.
    """
    cutoff = crm.clock() - (keep if keep is not None else change_retention())
    table = crm.runtime.system_table(CHANGE_TABLE)
    counters = crm.runtime.system_table("crmkit_counter")
    deleted = 0
    while True:
        with write_transaction(crm.write_engine) as connection:
            rows = connection.execute(select(table.c.id, table.c.changed_at).order_by(table.c.id)
                                      .limit(PRUNE_BATCH)).all()
            old = [row.id for row in rows if row.changed_at < cutoff]
            last = old[-1] if old else None
            if last is not None:
                deleted += connection.execute(delete(table).where(table.c.id <= last)).rowcount
                _keep_pruned_through(connection, counters, last)
        if last is None or len(old) < len(rows) or len(rows) < PRUNE_BATCH:
            return deleted


def _keep_pruned_through(connection: Connection, counters: Any, last: int) -> None:
    """Set the `pruned_through` counter to `last` (it only grows: ids are removed oldest first)."""
    key = (counters.c.object == PRUNED_THROUGH[0]) & (counters.c.field == PRUNED_THROUGH[1])
    if connection.execute(update(counters).where(key).values(value=last)).rowcount == 0:
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        connection.execute(dialect.insert(counters).values(object=PRUNED_THROUGH[0], field=PRUNED_THROUGH[1],
                                                           value=last).on_conflict_do_nothing())


def _retention_days() -> str:
    try:
        return str(change_retention().days)
    except ValueError:  # a bad setting is the prune task's error to report, not this reader's
        return "CRMKIT_CHANGE_RETENTION_DAYS"


def pruned_through(connection: Connection, counters: Any) -> int:
    """The last change-log id pruning removed; 0 before any was."""
    return connection.execute(select(counters.c.value).where(
        counters.c.object == PRUNED_THROUGH[0], counters.c.field == PRUNED_THROUGH[1])).scalar() or 0


def change_payload(object_name: str, operation: str, record_id: int, fields: Mapping[str, Any],
                   at: datetime) -> dict[str, Any]:
    """A change as webhooks and the change feed give it: {"type", "timestamp", "data": {object, id, fields}}."""
    return {"type": f"{object_name}.{operation}", "timestamp": at.isoformat(),
            "data": {"object": object_name, "id": record_id, "fields": dict(fields)}}


def change_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """A record's stored values as a change's `fields`: JSON (to_json), the id left to the change's own `id`."""
    plain, direct = _PLAIN, _DIRECT
    fields = {}
    for name, value in values.items():
        kind = type(value)
        if kind in plain:
            fields[name] = value
        elif kind in direct:
            fields[name] = direct[kind](value)
        else:
            fields[name] = to_json(value)
    fields.pop("id", None)
    return fields


#: Values `to_json` gives back as they are (the common ones, taken without a call: an import writes a change per row).
_PLAIN = frozenset({str, int, bool, float, type(None)})
#: What `to_json` does with the other common stored types, found by the exact type (a bulk create writes a change per row).
_DIRECT = {Decimal: str, date: date.isoformat, datetime: datetime.isoformat}


def change_rows(events: Sequence["RecordEvent"]) -> list[dict[str, Any]]:
    """The change-log rows of `events`: the record's stored values after the write (before it, for a delete)."""
    return [{"object": event.object, "record_id": event.record_id, "operation": event.operation.value,
             "fields": change_fields(event.current if event.current is not None else event.previous or {}),
             "changed_at": event.at, "changed_by": event.actor.user_id} for event in events]


def write_changes(connection: Connection, runtime: "Runtime", events: Sequence["RecordEvent"]) -> None:
    """Append `events` to the change log on the write's connection: one statement, however many."""
    rows = change_rows(events)
    if rows:
        insert_rows(connection, runtime.system_table(CHANGE_TABLE), rows)


def write_derived_changes(connection: Connection, runtime: "Runtime", derived: Mapping[str, set[int]],
                          at: datetime, user_id: int | None) -> None:
    """Append an update to the change log for each record whose stored rollups or formulas propagation changed
    (records/propagation.py `Propagator.derived`: a parent whose contact_count a child's create raised), with its
    stored values as they are now: the feed's last `fields` of a record are then always its stored ones.

    One row per record, however many of its fields changed; records no longer stored (deleted by the same
    write) have none. One read per object and BATCH records, one insert in all.
    """
    rows: list[dict[str, Any]] = []
    for object_name, ids in derived.items():
        if not ids or object_name not in runtime.registry.objects:
            continue
        table = runtime.table(object_name)
        id_list = sorted(ids)
        for start in range(0, len(id_list), DERIVED_BATCH):
            chunk = id_list[start:start + DERIVED_BATCH]
            for record in connection.execute(select(table).where(table.c.id.in_(chunk)).order_by(table.c.id)):
                values = record._mapping
                rows.append({"object": object_name, "record_id": values["id"], "operation": "update",
                             "fields": change_fields(values), "changed_at": at, "changed_by": user_id})
    if rows:
        insert_rows(connection, runtime.system_table(CHANGE_TABLE), rows)


def parse_cursor(text: str | None) -> int:
    """A feed cursor (the text `read` returned as `next_cursor`) as the log id it stands for; 0 for none."""
    if text is None or not text.strip():
        return 0
    value = text.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise QueryError(messages.CHANGES_SINCE(value=repr(text)))
    return int(value)


@dataclass(frozen=True)
class ChangePage:
    """Changes after a cursor, oldest first (each a `change_payload`), and the cursor to read on from."""

    changes: list[dict[str, Any]]
    next_cursor: str


class ChangeFeed:
    """The change log as one user may see it."""

    def __init__(self, context: "UserContext") -> None:
        self.context = context

    def read(self, since: str | None = None, *, limit: int = DEFAULT_LIMIT,
             settle: timedelta | None = None) -> ChangePage:
        """Up to `limit` changes after `since` the user may see; QueryError for a bad cursor or limit.

        `settle` (default: 5 s on PostgreSQL, none on SQLite, whose writes commit in id order)
        leaves changes younger than that for a later read. `next_cursor` is past every row
        looked at, shown or not, so reading on never sees one twice.
        """
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise QueryError(f"limit must be a whole number from 1 to {MAX_LIMIT:,}.")
        after = parse_cursor(since)
        table = self.context.runtime.system_table(CHANGE_TABLE)
        shown: list[Any] = []
        scanned = 0
        with self.context.reading() as connection:
            removed = pruned_through(connection, self.context.runtime.system_table("crmkit_counter"))
            if since is not None and since.strip() and after < removed:  # no cursor: a new reader starts at the oldest
                raise ChangesExpired(messages.CHANGES_EXPIRED(after=after, days=_retention_days(), oldest=removed),
                                     str(removed))
            given = after
            after = max(after, removed)
            if settle is None:
                settle = SETTLE.get(connection.dialect.name, timedelta(0))
            horizon = self.context.now() - settle
            while len(shown) < limit and scanned < MAX_SCANNED:
                rows = connection.execute(select(table).where(table.c.id > after).order_by(table.c.id)
                                          .limit(SCAN_BATCH)).all()
                if not rows and after == given > removed:  # nothing after it: is it a cursor the feed never gave?
                    _not_ahead(connection, table, given)
                settled = _until_young(rows, horizon)
                visible = self._visible(connection, settled)
                if len(shown) + len(visible) >= limit:
                    taken = visible[:limit - len(shown)]
                    shown.extend(taken)
                    after = taken[-1].id
                    break
                shown.extend(visible)
                if settled:
                    after = settled[-1].id
                scanned += len(settled)
                if len(settled) < len(rows) or len(rows) < SCAN_BATCH:
                    break
        return ChangePage([change_payload(row.object, row.operation, row.record_id, row.fields, row.changed_at)
                           for row in shown], str(after))

    def _visible(self, connection: Connection, rows: Sequence[Any]) -> list[Any]:
        """`rows` the user may see, in order, with the fields they may not read left out."""
        policy = self.context.policy
        registry = self.context.runtime.registry
        if policy is None:
            return [_Shown(row, dict(row.fields or {})) for row in rows if row.object in registry.objects]
        readable: dict[str, set[int]] = {}
        for name in {row.object for row in rows}:
            ids = {row.record_id for row in rows if row.object == name and row.operation != DELETED}
            sees_all = name in registry.objects and policy.can(name, "read") and policy.row_filter(name) is None
            # Who sees every record of the object is fed the changes of records deleted since too.
            readable[name] = ids if sees_all else readable_ids(connection, self.context.runtime, policy, name, ids)
        visible = []
        for row in rows:
            if row.object not in registry.objects or not policy.can(row.object, "read"):
                continue
            if row.operation == DELETED:
                if policy.row_filter(row.object) is not None and row.changed_by != self.context.actor.user_id:
                    continue
            elif row.record_id not in readable[row.object]:
                continue
            visible.append(_Shown(row, stored_shown(policy, row.object, row.fields or {})))  # stored, as history
        return visible


def _not_ahead(connection: Connection, table: Any, after: int) -> None:
    """QueryError when `after` is beyond the newest change: a cursor the feed never gave (another database's, a
    typo) would skip every change written next. Asked only of a cursor with nothing after it (one primary-key read)."""
    newest = connection.execute(select(func.max(table.c.id))).scalar() or 0
    if after > newest:
        raise QueryError(messages.CHANGES_CURSOR_AHEAD(after=after, newest=newest))


@dataclass(frozen=True)
class _Shown:
    """A log row as the user sees it (its fields filtered)."""

    row: Any
    fields: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.row, name)


def _until_young(rows: Sequence[Any], horizon: datetime) -> list[Any]:
    """The rows before the first one written after `horizon` (rows are in id order)."""
    for index, row in enumerate(rows):
        if row.changed_at > horizon:
            return list(rows[:index])
    return list(rows)
