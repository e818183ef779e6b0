"""The database's own constraint checks, told as the field errors the save pipeline gives.

The pipeline checks `unique` fields and lookups before it writes, but two transactions can
pass those checks at the same moment (PostgreSQL runs them concurrently). The database's
unique indexes and foreign keys then refuse the second write; this module turns that
refusal into the very message a sequential duplicate gets, keyed by the field, found by
the index or constraint name (PostgreSQL) or the columns named in the error (SQLite).

    with constraint_errors(obj, values):
        connection.execute(insert_statement, values)      # RecordValidationError, never IntegrityError
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Callable, Iterator, Mapping, Sequence

from sqlalchemy.exc import IntegrityError

from crmkit.engine import messages
from crmkit.engine.records.errors import RECORD_ERRORS, RecordValidationError
from crmkit.engine.security.shaping import errors_without
from crmkit.engine.tables import constraint_name, field_indexes
from crmkit.metadata.model import ObjectDef

#: PostgreSQL SQLSTATEs (manual, appendix A): unique_violation and foreign_key_violation.
UNIQUE_VIOLATION, FOREIGN_KEY_VIOLATION = "23505", "23503"
#: SQLite names the columns: "UNIQUE constraint failed: account.code, account.region".
SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)$")
#: SQLite's foreign key refusal, which names no column (sqlite.org/foreignkeys.html).
SQLITE_FOREIGN_KEY = "FOREIGN KEY constraint failed"


#: A dry run's answer to "is `value` of unique field `name` taken by a record other than `own` (an id, or None)?",
#: asked before the database (transfer/batch.py Planned.taken): True or False where the rows before it would have
#: changed a stored record's value, None to ask the database. Set only while a dry run checks its rows.
dry_run_unique: ContextVar[Callable[[str, Any, Any], bool | None] | None] = ContextVar("dry_run_unique", default=None)


def duplicate_message(obj: ObjectDef, value: Any) -> str:
    """What a field hears when its unique value is taken (the pipeline's sequential check says the same)."""
    return messages.DUPLICATE(value=repr(value), object=obj.name)


def combination_message(obj: ObjectDef, columns: Sequence[str], values: Mapping[str, Any],
                        hidden: frozenset[str] = frozenset()) -> str:
    """The sentence of a repeated combination; a field in `hidden` (the user may not read it) is
    neither named nor quoted, only said to be there."""
    shown = ", ".join(f"{name} {values.get(name)!r}" for name in columns if name not in hidden)
    if not any(name in hidden for name in columns):
        return messages.COMBINATION(object=obj.name, values=shown)
    if not shown:
        return messages.COMBINATION_ALL_HIDDEN(object=obj.name)
    return messages.COMBINATION_WITH_HIDDEN(object=obj.name, values=shown)


def violated_columns(error: IntegrityError, obj: ObjectDef) -> tuple[str, ...] | None:
    """The columns of the unique index `error` reports, or None when it is not a unique violation."""
    original = error.orig
    if getattr(original, "sqlstate", None) == UNIQUE_VIOLATION:
        name = getattr(getattr(original, "diag", None), "constraint_name", None)
        return next((columns for index, columns, unique in field_indexes(obj) if unique and index == name), ())
    match = SQLITE_UNIQUE.search(str(original))
    if match:
        return tuple(part.strip().rpartition(".")[2] for part in match.group(1).split(","))
    return None


def violated_lookup(error: IntegrityError, obj: ObjectDef, values: Mapping[str, Any] | None = None) -> str | None:
    """The lookup field whose foreign key `error` reports, RECORD_ERRORS when it is one of several, or None.

    PostgreSQL names the constraint (None: not a lookup's). SQLite says only "FOREIGN KEY
    constraint failed": the lookup is the one `values` fill, or (several filled, or the
    values not known) RECORD_ERRORS, the record as a whole.
    """
    original = error.orig
    if getattr(original, "sqlstate", None) == FOREIGN_KEY_VIOLATION:
        name = getattr(getattr(original, "diag", None), "constraint_name", None)
        return next((f.name for f in obj.fields.values()
                     if f.is_lookup and constraint_name("fk", f.to, (f.name,)) == name), None)
    if SQLITE_FOREIGN_KEY not in str(original):
        return None
    filled = [f.name for f in obj.fields.values() if f.is_lookup and values and values.get(f.name) is not None]
    return filled[0] if len(filled) == 1 else RECORD_ERRORS


def field_errors(error: IntegrityError, obj: ObjectDef, values: Mapping[str, Any] | None,
                 hidden: frozenset[str] = frozenset()) -> dict[str, list[str]] | None:
    """{field: [message]} for a unique or lookup violation at a write; None for anything else.

    `values` are the written values (None: several rows were written, so the value is not known).
    `hidden`: the fields the writing user may not read; their names and values are never told
    (an error of such a field becomes the record-level HIDDEN_FIELD_ERROR, as the pipeline's own).
    """
    errors = _field_errors(error, obj, values, hidden)
    return errors if errors is None or not hidden else errors_without(hidden, errors)


def _field_errors(error: IntegrityError, obj: ObjectDef, values: Mapping[str, Any] | None,
                  hidden: frozenset[str]) -> dict[str, list[str]] | None:
    lookup = violated_lookup(error, obj, values)
    if lookup == RECORD_ERRORS:
        return {RECORD_ERRORS: [f"a record one of this {obj.name}'s lookups names no longer exists (it was deleted "
                                "while this one was saved); nothing was written. Check the lookups and try again."]}
    if lookup is not None:
        target = obj.fields[lookup].to
        shown = f" with id {values[lookup]}" if values and values.get(lookup) is not None else ""
        return {lookup: [f"there is no {target} record{shown} (it was deleted while this one was saved)."]}
    columns = violated_columns(error, obj)
    if columns is None:
        return None
    if values is None:
        names = ", ".join(name for name in columns if name not in hidden) or "a unique field"
        return {columns[0] if len(columns) == 1 else RECORD_ERRORS: [
            f"another {obj.name} record saved at the same time uses the same {names}; nothing was written. "
            "Check the values and try again."]}
    if len(columns) == 1:
        return {columns[0]: [duplicate_message(obj, values.get(columns[0]))]}
    if not columns:
        return {RECORD_ERRORS: [f"another {obj.name} record already uses one of these values, which must be unique."]}
    return {RECORD_ERRORS: [combination_message(obj, columns, values, hidden)]}


class ConcurrentDuplicate(RecordValidationError):
    """Rows written together hit a unique value another transaction committed meanwhile.

    The rows' values are not known here; the caller checks the rows again (bulk.py), which
    names the row and gives the sequential sentence.
    """


@contextmanager
def constraint_errors(obj: ObjectDef, values: Mapping[str, Any] | None,
                      hidden: frozenset[str] = frozenset()) -> Iterator[None]:
    """Around a write: the database's unique and lookup violations become RecordValidationError.

    `hidden`: the fields the writing user may not read (AccessPolicy.hidden_fields), never named
    nor quoted in the error (field_errors)."""
    try:
        yield
    except IntegrityError as error:
        errors = field_errors(error, obj, values, hidden)
        if errors is None:
            raise
        if values is None and violated_columns(error, obj) is not None:
            raise ConcurrentDuplicate(errors) from None
        raise RecordValidationError(errors) from None


def duplicates_within(obj: ObjectDef, rows: Sequence[Mapping[str, Any]], offset: int,
                      numbers: Sequence[int] | None = None) -> dict[int, dict[str, list[str]]]:
    """Rows of one batch that repeat a unique value of an earlier row, keyed by row number (offset + index + 1).

    Each row was checked against the stored records already; this is the check among the new rows.
    `numbers`: the rows' numbers to name in the sentences (an import's file rows), else offset + index + 1.
    """
    return clashes_with(obj, rows, [], offset, numbers)[0]


def clashes_with(obj: ObjectDef, rows: Sequence[Mapping[str, Any]], others: Sequence[Mapping[str, Any]],
                 offset: int = 0, numbers: Sequence[int] | None = None, other_numbers: Sequence[int] | None = None
                 ) -> tuple[dict[int, dict[str, list[str]]], dict[int, dict[str, list[str]]]]:
    """(duplicates_within `rows`, {index in `others`: errors}): `others` (rows refused already, never written)
    are checked against `rows` only, so an import's refused row is told every fault it has, a clash too.

    With `other_numbers` (the others' row numbers, `numbers` given), an other is told only of a clash with a row
    before it, as it would be were the rows written one by one: the outcome does not depend on the batch."""
    errors: dict[int, dict[str, list[str]]] = {}
    other_errors: dict[int, dict[str, list[str]]] = {}
    for _, columns, unique in field_indexes(obj):
        if not unique or any(name not in obj.fields or obj.fields[name].type == "autonumber" for name in columns):
            continue
        field = columns[0] if len(columns) == 1 else RECORD_ERRORS
        first: dict[tuple, int] = {}
        for index, row in enumerate(rows):
            key = tuple(row.get(name) for name in columns)
            if any(value is None for value in key):
                continue
            if key in first:
                errors.setdefault(offset + index + 1, {}).setdefault(field, []).append(_clash(columns, key, first[key]))
            else:
                first[key] = numbers[index] if numbers is not None else offset + index + 1
        for index, row in enumerate(others):
            key = tuple(row.get(name) for name in columns)
            if not any(value is None for value in key) and key in first and (
                    other_numbers is None or first[key] < other_numbers[index]):
                other_errors.setdefault(index, {}).setdefault(field, []).append(_clash(columns, key, first[key]))
    return errors, other_errors


def _clash(columns: Sequence[str], key: tuple, row: int) -> str:
    if len(columns) == 1:
        return messages.UNIQUE_IN_BATCH(value=repr(key[0]), row=row)
    return messages.COMBINATION_IN_BATCH(fields=", ".join(columns), row=row)
