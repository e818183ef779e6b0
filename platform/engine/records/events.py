"""Record events: what every write produces, and the one after-write step all writes share.

Every write path (create, update, bulk create, delete with its cascade and cleared
links, restore with its cascade and re-linked records, privacy erasure) describes what
it wrote as `RecordEvent`s and hands them to `after_write`, which runs, inside the
write's transaction and always in this order:

    1. history      field history rows (objects with `track_history`)
    2. propagation  rollups of parent records, formulas of records reading the changed ones
    3. search       the search index of the written records and of those propagation rewrote
    4. after-save   the `crmkit_after_save` hook, once per event
    5. outbox       the outbox rows of the automation rules' after-save actions (automation/rules.py), and the
                    run log entries of the before-save rules of created records (automation/runlog.py)
    6. planning     the planned runs of relative (date-based) rules (automation/planning.py)
    7. changes      the change log the API's change feed reads (records/changes.py): the written records, then
                    those whose stored rollups or formulas propagation changed (one update each)

An exception in any step rolls the whole write back. Before the write, creates and
updates hand a `RecordDraft` to the `crmkit_before_save` hook (see `before_save`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, NoReturn, Sequence

from sqlalchemy import Connection

from crmkit.engine.automation.planning import plan_runs
from crmkit.engine.automation.rules import write_outbox
from crmkit.engine.automation.runlog import flush_pending as flush_pending_runs
from crmkit.engine.query.search_index import add_pending, add_records, reindex_records, remove_records
from crmkit.engine.records.changes import write_changes, write_derived_changes
from crmkit.engine.records.errors import RECORD_ERRORS, RecordValidationError
from crmkit.engine.records.history import history_rows, write_history
from crmkit.engine.records.propagation import Propagator
from crmkit.engine.records.record import Actor

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext


class Operation(str, Enum):
    """What a write did to a record. The values are the words stored in field history."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    RESTORE = "restore"
    #: A privacy erasure: personal fields anonymised (docs/security.md).
    ERASE = "erase"


def _frozen(values: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    return None if values is None else MappingProxyType(dict(values))


@dataclass(frozen=True)
class RecordEvent:
    """One record written: the typed fact every after-write step and the after-save hook get.

    `previous` is the stored row before the write (None on create and restore) and
    `current` the stored row after it (None on delete), both read-only {field: value}
    mappings of every column, system fields included. `changed` names the fields whose
    value differs between the two, a missing side counting as empty. `at` is the write's
    moment (aware, UTC); `batch` the recycle-bin batch of a delete or restore.
    """

    object: str
    operation: Operation
    record_id: int
    previous: Mapping[str, Any] | None
    current: Mapping[str, Any] | None
    changed: frozenset[str]
    actor: Actor
    at: datetime
    batch: str | None = None

    @classmethod
    def of(cls, object_name: str, operation: Operation, previous: Mapping[str, Any] | None,
           current: Mapping[str, Any] | None, actor: Actor, at: datetime, batch: str | None = None) -> "RecordEvent":
        """An event with `changed` worked out and both mappings copied read-only."""
        before, after = previous or {}, current or {}
        if before and after:
            changed = frozenset(name for name in {*before, *after} if before.get(name) != after.get(name))
        else:  # a created or deleted record: every field that has a value
            changed = frozenset(name for name, value in (after or before).items() if value is not None)
        record_id = after["id"] if current is not None else before["id"]
        return cls(object_name, operation, record_id, _frozen(previous), _frozen(current), changed, actor, at, batch)


@dataclass
class RecordDraft:
    """A record about to be created or updated, as the `crmkit_before_save` hook sees it.

    Read values with `draft["field"]` or `draft.values`; change one with `draft.set`,
    which coerces it exactly like user input; refuse the save with `draft.refuse`.
    Formulas and validation rules run again on the values after a hook changed any.
    """

    object: str
    operation: Operation
    previous: Mapping[str, Any] | None
    actor: Actor
    _values: dict[str, Any]
    _coerce: Callable[[str, Any], Any] = field(repr=False)
    #: Fields a hook set, in the order set.
    changed: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.previous = _frozen(self.previous)

    @property
    def record_id(self) -> int | None:
        """The record's id; None on create (it is assigned by the write)."""
        return self.previous["id"] if self.previous is not None else None

    @property
    def values(self) -> Mapping[str, Any]:
        return MappingProxyType(self._values)

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def set(self, name: str, value: Any) -> None:
        """Give a writable field a new value; RecordValidationError (on that field) if it is not valid."""
        self._values[name] = self._coerce(name, value)
        if name not in self.changed:
            self.changed.append(name)

    def refuse(self, message: str, field: str | None = None) -> NoReturn:
        """Stop the save with `message`, shown on `field` or on the record as a whole."""
        raise RecordValidationError({field or RECORD_ERRORS: [message]})


def before_save(context: "UserContext", draft: RecordDraft) -> RecordDraft:
    """Run the `crmkit_before_save` hook on a draft that passed validation; returns the draft."""
    context.runtime.hooks.crmkit_before_save(context=context, draft=draft)
    return draft


#: Steps of `after_write` a write may have done itself, with its own statement.
HISTORY_STEP, SEARCH_STEP, CHANGES_STEP = "history", "search", "changes"
#: What a PostgreSQL create writes in its INSERT (records/create_statement.py): its history, search and change rows.
WRITTEN_WITH_RECORD = frozenset({HISTORY_STEP, SEARCH_STEP, CHANGES_STEP})


def after_write(connection: Connection, context: "UserContext", events: Sequence[RecordEvent], *,
                written: frozenset[str] = frozenset()) -> None:
    """The one step after every write: history, propagation, search index, the after-save hook, the outbox (in that order).

    `events` may span objects and operations (a delete and its cascade); they are handled
    in the order given. Runs on `connection`, inside the write's transaction. `written` names
    steps the write already did for every one of `events` (HISTORY_STEP: their history rows;
    SEARCH_STEP: the search rows of created records; CHANGES_STEP: their change-log rows), which are then
    not done again;
    records propagation rewrote are still indexed again from their stored values.
    """
    if not events:
        return
    runtime = context.runtime
    if HISTORY_STEP not in written:
        _history(connection, context, events)
    propagator = Propagator(connection, runtime)
    for object_name, group in _runs(events):
        if group[0].operation is Operation.ERASE:  # no previous values: propagate what `changed` names
            for event in group:
                propagator.fields_changed(object_name, [event.record_id], set(event.changed), depth=0)
        else:
            propagator.records_written(object_name, [(event.previous, event.current) for event in group])
    _search_index(connection, context, events, propagator.rewritten, created_indexed=SEARCH_STEP in written)
    hook = runtime.hooks.crmkit_after_save
    if hook.get_hookimpls():  # a call without implementations costs more than the check
        for event in events:
            hook(context=context, event=event)
    # The automation outbox, written here on `connection`: its rows exist exactly when the write commits,
    # and the context hands their ids to the queue after the commit (UserContext.writing).
    context.outbox_ids.extend(write_outbox(connection, context, events))
    flush_pending_runs(connection, context, events)
    # The planned runs of relative rules (automation/planning.py), kept current in the same transaction.
    plan_runs(connection, context, events)
    # The change log the API's change feed reads (records/changes.py), committed with the write.
    if CHANGES_STEP not in written:
        write_changes(connection, context.runtime, events)
    # The records whose stored rollups or formulas propagation changed (a parent's contact_count after a child's
    # create), after the written ones: the feed's last fields of every record are its stored values.
    if propagator.derived:
        write_derived_changes(connection, context.runtime, propagator.derived, events[-1].at,
                              events[-1].actor.user_id)


def _history(connection: Connection, context: "UserContext", events: Sequence[RecordEvent]) -> None:
    registry = context.runtime.registry
    rows = [row for event in events if registry.object(event.object).track_history
            for row in history_rows(event.object, event.record_id, _WORDS[event.operation], event.previous,
                                    event.current, event.actor.user_id, event.at)]
    write_history(connection, context.runtime, rows)


#: Each operation's stored word (Enum.value is a descriptor call: this is a dict lookup).
_WORDS = {operation: operation.value for operation in Operation}


def _search_index(connection: Connection, context: "UserContext", events: Sequence[RecordEvent],
                  rewritten: Mapping[str, set[int]], created_indexed: bool = False) -> None:
    """Keep each written object's search index current: a batch of statements per object, not one per record.

    Created, restored and updated records are indexed from the event's values (created ones
    not when `created_indexed`: their INSERT wrote their search row); erased ones and those
    propagation rewrote (stored formulas) are read again; deleted ones are removed. On SQLite a
    write creating one record of an object writes its search row to the pending table
    (query/search_index.py `add_pending`), not FTS5; a bulk create writes FTS5 at once.
    """
    runtime = context.runtime
    index_of = runtime.search_index

    removed: dict[str, set[int]] = {}
    added: dict[str, dict[int, Mapping[str, Any]]] = {}
    stale: dict[str, set[int]] = {name: set(ids) for name, ids in rewritten.items()
                                  if ids and index_of(name) is not None}
    created: dict[str, set[int]] = {}
    for event in events:
        index = index_of(event.object)
        if index is None:
            continue
        if event.current is None:
            removed.setdefault(event.object, set()).add(event.record_id)
        elif event.operation is Operation.ERASE:
            stale.setdefault(event.object, set()).add(event.record_id)
        elif created_indexed and event.operation is Operation.CREATE:
            continue
        elif event.previous is None or event.changed & set(index.fields):
            if event.previous is not None:
                removed.setdefault(event.object, set()).add(event.record_id)
            elif event.operation is Operation.CREATE:
                created.setdefault(event.object, set()).add(event.record_id)
            added.setdefault(event.object, {})[event.record_id] = event.current
    for object_name in {*removed, *added, *stale}:
        index = index_of(object_name)
        assert index is not None
        again = stale.get(object_name, set())
        remove_records(connection, index, sorted(removed.get(object_name, set()) - again))
        rows = {record_id: row for record_id, row in added.get(object_name, {}).items() if record_id not in again}
        new = created.get(object_name, set()) & rows.keys()
        if runtime.is_sqlite and len(new) == 1:  # one record created: its row waits in the pending table
            add_pending(connection, index, [rows.pop(record_id) for record_id in new])
        add_records(connection, index, list(rows.values()))
        if again:
            reindex_records(connection, runtime.schema, index, again)


def _runs(events: Sequence[RecordEvent]) -> Iterator[tuple[str, list[RecordEvent]]]:
    """Consecutive events of one object and kind, so a bulk create propagates once per batch."""
    run: list[RecordEvent] = []
    for event in events:
        if run and (event.object != run[0].object or event.operation != run[0].operation):
            yield run[0].object, run
            run = []
        run.append(event)
    if run:
        yield run[0].object, run
