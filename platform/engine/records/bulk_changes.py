"""Changing or deleting many chosen records at once (a list's "bulk edit" and "bulk delete").

    result = context.records("account").update_many({7: 3, 9: 1}, {"industry": "Retail"})   # {id: version}
    result.succeeded          # (7,)
    result.failed             # (RecordFailure(id=9, status=409, message="account 9 was changed by someone else ...")
    context.records("account").delete_many([7, 9])                   # versions optional: [id, ...] or {id: version}

**Per record, not all-or-nothing** (as Salesforce's mass update reports per record): each
record is saved in a transaction of its own (inside a caller's `context.transaction()`, in a
savepoint of it), through the normal save pipeline exactly as `update` and `delete` run it:
field access, coercion and validation, formulas, validation rules, the before-save hook, the
optimistic lock on `version`, then the after-write step (history, rollups, search index,
record events). A record that fails leaves nothing of itself written and does not stop the
others; `BulkResult` says which records were saved and, for each failure, the engine's sentence
and its field-level messages.

Permissions are checked per record, as a single `update`/`delete` checks them: a record the
user may not see is reported as not found, with the same sentence as an id no record has (so
the result reveals nothing about it); one they may see but not change or delete gets the
engine's PermissionDenied sentence. Without the object's edit (delete) permission the whole
call is refused with PermissionDenied before any record is read.

At most `MAX_RECORDS` (200) ids per call: a list page selects at most one page of records, and
a request that saves hundreds of records one by one must stay short.
"""
from __future__ import annotations

from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

from crmkit.engine import messages
from crmkit.engine.records.errors import RecordError, RecordValidationError
from crmkit.engine.security.access import RightsChanged, UnknownUser
from crmkit.errors import CrmkitError

if TYPE_CHECKING:
    from crmkit.engine.records.service import RecordService

#: The most records one update_many or delete_many call may name.
MAX_RECORDS = 200


@dataclass(frozen=True)
class RecordFailure:
    """Why one record was not saved: the id as given, the HTTP-like status, the engine's sentence,
    and {field: [message, ...]} for a validation failure (422; record-level messages under `_record`)."""

    id: Any
    status: int
    message: str
    errors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class BulkResult:
    """The outcome of a bulk change: the ids saved (in the order given) and the failures."""

    succeeded: tuple[int, ...] = ()
    failed: tuple[RecordFailure, ...] = ()

    @property
    def complete(self) -> bool:
        """Whether every record named was saved."""
        return not self.failed


def chosen_records(records: Mapping[Any, int | None] | Sequence[Any]) -> dict[Any, int | None]:
    """{id: version or None} from a mapping or a list of ids; duplicates once. RecordError beyond MAX_RECORDS."""
    if isinstance(records, (str, bytes)):
        raise RecordError(messages.BULK_AS_TEXT())
    chosen = dict(records) if isinstance(records, Mapping) else dict.fromkeys(records)
    if len(chosen) > MAX_RECORDS:
        raise RecordError(messages.BULK_TOO_MANY(max=MAX_RECORDS, count=f"{len(chosen):,}"))
    return chosen


def update_many(service: "RecordService", records: Mapping[Any, int | None] | Sequence[Any],
                values: Mapping[str, Any]) -> BulkResult:
    """Set the same `values` on each record of `records` ({id: version} or [id]; a None version: as it is now).

    Raises PermissionDenied without the object's edit permission and RecordError for more than
    MAX_RECORDS ids; every other problem is a RecordFailure of its record.
    """
    chosen = chosen_records(records)
    with service._reading("edit"):
        pass

    def update(record_id: Any, version: int | None) -> None:
        with service._writing("edit") as connection:
            if version is None:
                version = service._load(connection, record_id, level="edit")["version"]
            service._update(connection, record_id, values, version)

    return _each(service, chosen, update)


def delete_many(service: "RecordService", records: Mapping[Any, int | None] | Sequence[Any]) -> BulkResult:
    """Move each record of `records` ({id: version} or [id]) and its cascade to the recycle bin, one bin entry each.

    Raises PermissionDenied without the object's delete permission and RecordError for more than
    MAX_RECORDS ids; every other problem (not found, not the user's to delete, restricted by
    records pointing to it, changed since `version`) is a RecordFailure of its record.
    """
    chosen = chosen_records(records)
    with service._reading("delete"):
        pass
    return _each(service, chosen, lambda record_id, version: service.delete(record_id, version=version))


def _each(service: "RecordService", chosen: Mapping[Any, int | None],
          action: Callable[[Any, int | None], Any]) -> BulkResult:
    succeeded: list[int] = []
    failed: list[RecordFailure] = []
    for record_id, version in chosen.items():
        try:
            with _isolated(service):
                action(record_id, version)
        except (RightsChanged, UnknownUser):  # not this record's failure: the whole transaction stops
            raise
        except RecordValidationError as error:
            failed.append(RecordFailure(record_id, error.status, error.message,
                                        {name: tuple(messages) for name, messages in error.errors.items()}))
        except CrmkitError as error:
            failed.append(RecordFailure(record_id, error.status, error.message))
        else:
            succeeded.append(record_id)
    return BulkResult(tuple(succeeded), tuple(failed))


@contextmanager
def _isolated(service: "RecordService") -> Iterator[None]:
    """Inside a caller's transaction, a savepoint per record (a failure undoes that record only);
    otherwise each record's operation opens its own transaction."""
    connection = getattr(service.session, "_connection", None)
    with connection.begin_nested() if connection is not None else nullcontext():
        yield


__all__ = ["MAX_RECORDS", "BulkResult", "RecordFailure", "chosen_records", "delete_many", "update_many"]
