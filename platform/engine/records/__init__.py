"""Records: the save pipeline, reading, querying, deleting and restoring."""
from crmkit.engine.records.errors import (
    RECORD_ERRORS,
    CascadeDeleteError,
    DeleteRestrictedError,
    RecordError,
    RecordNotFound,
    RecordValidationError,
    RestoreError,
    StaleRecordError,
)
from crmkit.engine.records.record import Actor, Record

__all__ = [
    "RECORD_ERRORS", "Actor", "CascadeDeleteError", "DeleteRestrictedError", "Record", "RecordError", "RecordNotFound",
    "RecordValidationError", "RestoreError", "StaleRecordError",
]
