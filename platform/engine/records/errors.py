"""What can go wrong with a record operation, in terms a user can act on."""
from __future__ import annotations

from typing import Mapping, Sequence

from crmkit.engine import messages
from crmkit.errors import CrmkitError

#: Key of errors that belong to the record as a whole rather than one field.
RECORD_ERRORS = "_record"


class RecordError(CrmkitError):
    """Base of every record operation error; `status` is the HTTP status the API will use."""

    status = 400
    title = "Request not possible"


def summary_key(field: str) -> str:
    """A field's name as a validation summary writes it: as it is when a name (letters, digits, _), else quoted
    (repr: "'first name'"), so that a key sent with ': ' or '; ' in it does not read as the summary's own
    punctuation (engine/messages.py SUMMARY_PART)."""
    return field if field.isidentifier() and field.isascii() else repr(field)


class RecordValidationError(RecordError):
    """Field-level errors: {field: [message, ...]}, record-level ones under `_record`."""

    status = 422
    title = "Invalid record"

    def __init__(self, errors: Mapping[str, Sequence[str]]) -> None:
        self.errors = {field: list(texts) for field, texts in errors.items()}
        summary = "; ".join(f"{summary_key(field)}: {' '.join(dict.fromkeys(texts))}"  # a sentence said once
                            for field, texts in self.errors.items())
        super().__init__(messages.VALIDATION_FAILED(summary=summary))


class RecordNotFound(RecordError):
    """No such record, or the user may not see it: both look the same, so nothing leaks."""

    status = 404
    title = "Not found"

    def __init__(self, object_name: str, record_id: object) -> None:
        super().__init__(messages.NO_RECORD(object=object_name, id=record_id))
        self.object_name = object_name
        self.record_id = record_id


class StaleRecordError(RecordError):
    """Someone else saved the record after it was read; never silently overwritten."""

    status = 409
    title = "Changed by someone else"

    def __init__(self, object_name: str, record_id: object, expected: int, actual: int) -> None:
        super().__init__(messages.STALE(object=object_name, id=record_id, expected=expected, actual=actual))
        self.expected = expected
        self.actual = actual


class DeleteRestrictedError(RecordError):
    """Records still point here through an on_delete: restrict lookup.

    `blockers` counts only records the user may see ({"Deals (deal.account)": 2}); `unseen`
    says others they may not see point here too, without saying how many or which.
    """

    status = 409
    title = "Cannot delete"

    def __init__(self, object_name: str, record_id: object, blockers: Mapping[str, int], *,
                 unseen: bool = False) -> None:
        listed = ", ".join(f"{count} {name}" for name, count in blockers.items())
        message = messages.RESTRICTED if not unseen else \
            messages.RESTRICTED_ALSO_UNSEEN if listed else messages.RESTRICTED_UNSEEN
        super().__init__(message(object=object_name, id=record_id, listed=listed))
        self.blockers = dict(blockers)
        self.unseen = unseen


class CascadeDeleteError(RecordError):
    """Deleting the record would cascade (on_delete: cascade) to records the user may not delete.

    The message says so without naming, counting or describing those records, which the
    user may not even see: a delete never destroys what the user may not delete.
    """

    status = 409
    title = "Cannot delete"

    def __init__(self, object_name: str, record_id: object) -> None:
        super().__init__(messages.CASCADE_REFUSED(object=object_name, id=record_id))
        self.object_name = object_name
        self.record_id = record_id


class RestoreError(RecordError):
    status = 409
    title = "Cannot restore"
