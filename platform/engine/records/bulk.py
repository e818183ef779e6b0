"""Creating many records at once through the full save pipeline, written in batches.

Each row gets coercion, defaults, formulas, validation rules and the before-save hook
exactly as a single create does; the writes, autonumbers and the after-write step
(history, rollups, the after-save hook: events.py) are done per batch.

Statements per batch on PostgreSQL: the rights' check, the batch's ids from the table's
sequence, and ONE statement writing the records with their history, search-index and
change-log rows (`_written_together`, as a single create does: records/create_statement.py);
then whatever else the after-write step has to do (rollups, outbox, ...). SQLite keeps one
executemany per table (no round trips to save there).
tests/engine/test_bulk_and_concurrency.py pins these counts.
"""
from __future__ import annotations

from datetime import datetime
from itertools import chain, islice
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Sequence

from sqlalchemy import Table, func, insert, select

from crmkit.engine.batch_insert import Part, insert_rows, insert_together, table_part
from crmkit.engine.query.search_index import index_parts
from crmkit.engine.records.autonumber import allocate_numbers
from crmkit.engine.records.constraints import ConcurrentDuplicate, constraint_errors, duplicates_within
from crmkit.engine.records.errors import RecordValidationError
from crmkit.engine.records.changes import CHANGE_TABLE, change_rows
from crmkit.engine.records.events import WRITTEN_WITH_RECORD, Operation, RecordEvent, after_write
from crmkit.engine.records.history import history_rows

if TYPE_CHECKING:
    from crmkit.engine.records.service import RecordService


class BulkValidationError(RecordValidationError):
    """Some rows are invalid; nothing of the failing batch was written. Errors are keyed by row number."""

    title = "Invalid records"

    def __init__(self, row_errors: Mapping[int, Mapping[str, list[str]]]) -> None:
        self.row_errors = {number: dict(errors) for number, errors in row_errors.items()}
        flat = {f"row {number}: {field}": messages for number, errors in self.row_errors.items()
                for field, messages in errors.items()}
        super().__init__(flat)


def _chunks(rows: Iterable[Mapping[str, Any]], size: int) -> Iterator[list[Mapping[str, Any]]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


#: Creating records in bulk is what an import is: both permissions, checked in each batch's transaction.
PERMISSIONS = ("create", "import")


def bulk_create(service: "RecordService", rows: Iterable[Mapping[str, Any]], *, batch_size: int = 1000) -> int:
    """Create `rows` in batches of `batch_size`, each batch in one transaction; returns how many.

    Each batch starts like any operation (the user's rights as they are now, UserContext.writing),
    so a right revoked during a long import stops it at the next batch. PermissionDenied
    without the create and import permissions, also for no rows at all.
    """
    total = 0
    chunks = _chunks(rows, batch_size)
    first = next(chunks, None)
    if first is None:
        with service._reading(*PERMISSIONS):
            return 0
    for number, chunk in enumerate(chain([first], chunks)):
        try:
            total += _create_chunk(service, chunk, number * batch_size)
        except ConcurrentDuplicate:
            if getattr(service.session, "_connection", None) is not None:
                raise  # inside the caller's transaction, which the database has aborted: no second try
            # Another transaction committed one of these unique values after this one checked:
            # checking again (it has committed now) gives the row and the sentence a sequential save gets.
            total += _create_chunk(service, chunk, number * batch_size)
    return total


def _create_chunk(service: "RecordService", chunk: list[Mapping[str, Any]], offset: int) -> int:
    """Check and insert one batch in one transaction; BulkValidationError (nothing written) for bad rows."""
    session = service.session
    with service._writing(*PERMISSIONS) as connection:
        now = session.now()
        prepared, errors = prepare_rows(service, connection, chunk, now)
        errors = {offset + index + 1: found for index, found in errors.items()}
        if not errors:
            errors = _missing_lookups(connection, service, prepared, offset)
        if not errors:
            errors = duplicates_within(service.obj, prepared, offset)
        if errors:
            raise BulkValidationError(errors)
        insert_prepared(service, connection, prepared, now)
    return len(prepared)


def prepare_rows(service: "RecordService", connection, rows: Sequence[Mapping[str, Any]], now: datetime,
                 *, gather: bool = False) -> tuple[list[dict[str, Any]], dict[int, dict[str, list[str]]]]:
    """The save pipeline up to the write for each row: (values of the valid rows in order, {row index: errors}).

    Field access, coercion, defaults, formulas, validation rules and the before-save hook,
    as a single create does; lookups are not checked here (`_missing_lookups` does a batch).
    `gather` (an import): each refused row's errors name every fault it has (RecordService._checked).
    """
    clock = service.session.clock_functions(now)
    prepared, errors = [], {}
    for index, row in enumerate(rows):
        try:
            if gather:
                values = service._checked(connection, row, previous=None, check_lookups=False, clock=clock).values
            else:
                service._check_field_access(row, previous=None)
                values = service._prepare(connection, row, previous=None, check_lookups=False, clock=clock).values
            prepared.append(service.before_save(connection, values, None, clock))
        except RecordValidationError as error:
            errors[index] = error.errors
    return prepared, errors


def insert_prepared(service: "RecordService", connection, prepared: list[dict[str, Any]], now: datetime) -> list[int]:
    """Write prepared rows (autonumbers, system columns, one multi-row INSERT) and run the after-write step.

    Sets each row's "id" and returns the ids in order; ConcurrentDuplicate (a RecordValidationError)
    when a unique value was taken meanwhile.
    """
    if not prepared:
        return []
    runtime, obj, actor = service.runtime, service.obj, service.session.actor
    for fdef in service.pipeline.autonumbers:
        for values, text in zip(prepared, allocate_numbers(connection, runtime, obj.name, fdef, len(prepared))):
            values[fdef.name] = text
    for values in prepared:
        values.update(created_at=now, updated_at=now, created_by=actor.user_id, updated_by=actor.user_id,
                      version=1)
        if values.get("owner_id") is None:
            values["owner_id"] = actor.user_id
    with constraint_errors(obj, None, service._hidden()):
        ids, events, written = _insert_many(connection, service, prepared)
    after_write(connection, service.session, events, written=written)
    return ids


#: Prefixes of the parameters of each table's part of a batch's one statement (`_written_together`).
_RECORD, _HISTORY, _SEARCH, _CHANGE = "", "h_", "s_", "c_"


def _written_together(connection, service: "RecordService", prepared: list[dict[str, Any]],
                      events: list[RecordEvent]) -> list[Part] | None:
    """PostgreSQL: the batch's records (with their ids) and the rows the after-write step would add for
    them (history when the object tracks it, search rows when it has an index, change-log rows) as the
    parts of ONE statement (batch_insert.insert_together): one round trip for the batch's writes, as a
    single create has (records/create_statement.py). None when a table's rows cannot go as arrays
    (a multi-picklist value): the writes are then made one table at a time."""
    runtime, obj = service.runtime, service.obj
    record = table_part(connection, service.table, prepared, _RECORD)
    if record is None:  # one row, or a multi-picklist value
        return None
    parts = [record]
    if obj.track_history:
        rows = [row for event in events for row in history_rows(
            obj.name, event.record_id, Operation.CREATE.value, None, event.current, event.actor.user_id, event.at)]
        part = table_part(connection, runtime.system_table("crmkit_history"), rows, _HISTORY)
        if part is None:
            return None
        parts.append(part)
    index = runtime.search_index(obj.name)
    if index is not None:
        parts.extend(index_parts(index, [event.current for event in events], _SEARCH))
    part = table_part(connection, runtime.system_table(CHANGE_TABLE), change_rows(events), _CHANGE)
    if part is None:
        return None
    parts.append(part)
    return parts


def _missing_lookups(connection, service: "RecordService", rows: list[dict[str, Any]], offset: int) -> dict:
    """Lookups and owners checked once per batch: a row pointing nowhere gets the single-create message."""
    errors: dict[int, dict[str, list[str]]] = {}
    owners = {row["owner_id"] for row in rows if row.get("owner_id") is not None}
    absent = service.pipeline.missing_owners(connection, owners) if owners else set()
    for index, row in enumerate(rows):
        if row.get("owner_id") in absent:
            errors.setdefault(offset + index + 1, {})["owner_id"] = [
                f"there is no active user with id {row['owner_id']}."]
    for fdef in service.pipeline.lookups:
        ids = {row[fdef.name] for row in rows if row.get(fdef.name) is not None}
        missing = service.pipeline.missing_targets(connection, fdef, ids, service.session.row_filter) if ids else set()
        for index, row in enumerate(rows):
            if row.get(fdef.name) in missing:
                errors.setdefault(offset + index + 1, {})[fdef.name] = [
                    f"there is no {fdef.to} record with id {row[fdef.name]}."]
    return errors


def _insert_many(connection, service: "RecordService", rows: list[dict[str, Any]]
                 ) -> tuple[list[int], list[RecordEvent], frozenset[str]]:
    """Insert rows (with their system columns; each gets its "id") and return (their ids in order,
    their create events, the after-write steps already done for them: events.WRITTEN_WITH_RECORD or none).

    On SQLite the transaction holds the write lock and the table uses AUTOINCREMENT, so
    one executemany assigns consecutive ids ending at last_insert_rowid(); asking for
    ordered RETURNING instead would make SQLAlchemy send one statement per row. On
    PostgreSQL the ids are taken from the table's sequence first (one statement for the
    batch) and the rows are written with one INSERT ... SELECT FROM unnest (engine/batch_insert.py):
    several times cheaper for the server than an ordered INSERT ... RETURNING or one INSERT per row;
    their history, search and change-log rows go in the same statement (`_written_together`).
    """
    table, obj, actor = service.table, service.obj, service.session.actor
    now = rows[0]["created_at"]
    written: frozenset[str] = frozenset()
    if service.runtime.is_sqlite:
        connection.execute(insert(table), rows)
        last = connection.exec_driver_sql("SELECT last_insert_rowid()").scalar_one()
        ids = list(range(last - len(rows) + 1, last + 1))
    else:
        ids = _sequence_ids(connection, table, len(rows))
        if ids is None:  # no sequence owns the id column: let RETURNING say which ids were given
            statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
            ids = list(connection.execute(statement, rows).scalars())
        else:
            for values, record_id in zip(rows, ids):
                values["id"] = record_id
            events = [RecordEvent.of(obj.name, Operation.CREATE, None, values, actor, now) for values in rows]
            parts = _written_together(connection, service, rows, events)
            if parts is None:
                insert_rows(connection, table, rows)
            else:
                insert_together(connection, parts)
                written = WRITTEN_WITH_RECORD
            return ids, events, written
    for values, record_id in zip(rows, ids):
        values["id"] = record_id
    return ids, [RecordEvent.of(obj.name, Operation.CREATE, None, values, actor, now) for values in rows], written


def _sequence_ids(connection, table: Table, count: int) -> list[int] | None:
    """`count` new ids from the sequence of `table`'s id column (PostgreSQL), or None if it has none."""
    name = connection.dialect.identifier_preparer.format_table(table)
    sequence = func.pg_get_serial_sequence(name, "id")
    ids = list(connection.execute(select(func.nextval(sequence)).select_from(func.generate_series(1, count))).scalars())
    return None if ids[0] is None else ids  # nextval(NULL) is NULL: no sequence
