"""Import jobs: the row that says how far an import got, and the rows it refused.

A job's counts change only in the transaction that writes the batch they count (`advance`),
so after a crash the job says exactly what is in the database, and `resume` starts at
`rows_done`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterator, Mapping, Sequence

from sqlalchemy import Connection, insert, select, update

from crmkit.engine import messages
from crmkit.engine.records.errors import RecordError

JOB = "crmkit_import_job"
ERROR = "crmkit_import_error"
MAPPING = "crmkit_import_mapping"


class UnknownImportJob(RecordError):
    """No import job with this id that the user may see."""

    title = "Not found"
    status = 404


@dataclass(frozen=True)
class RowError:
    """One refused value or row: the row number a spreadsheet shows, the column, the field and the sentence."""

    row: int
    column: str | None
    field: str | None
    message: str


@dataclass(frozen=True)
class ImportJob:
    """An import's state as stored (crmkit_import_job)."""

    id: int
    object: str
    user_id: int | None
    source: str
    options: Mapping[str, Any]
    status: str
    rows_total: int | None
    rows_done: int
    created: int
    updated: int
    skipped: int
    failed: int
    error: str | None
    created_at: datetime
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status == "done"

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> "ImportJob":
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class BatchCounts:
    """What one batch did: rows read, created, updated, skipped, failed."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0


def create_job(connection: Connection, runtime: Any, *, object_name: str, user_id: int | None, source: str,
               options: Mapping[str, Any], rows_total: int | None, now: datetime) -> int:
    table = runtime.system_table(JOB)
    return connection.execute(insert(table).values(
        object=object_name, user_id=user_id, source=source, options=dict(options), status="pending",
        rows_total=rows_total, rows_done=0, created=0, updated=0, skipped=0, failed=0,
        created_at=now, updated_at=now).returning(table.c.id)).scalar_one()


def read_job(connection: Connection, runtime: Any, job_id: int, user_id: int | None) -> ImportJob:
    """The job `job_id`, if `user_id` started it (None: the system, which sees every job); else UnknownImportJob."""
    table = runtime.system_table(JOB)
    query = select(table).where(table.c.id == job_id)
    if user_id is not None:
        query = query.where(table.c.user_id == user_id)
    row = connection.execute(query).mappings().first() if isinstance(job_id, int) else None
    if row is None:
        raise UnknownImportJob(messages.IMPORT_NO_JOB(id=job_id))
    return ImportJob.of(row)


def claim_batch(connection: Connection, runtime: Any, job_id: int, rows_done: int, now: datetime) -> bool:
    """Whether this runner may write the job's next batch: the job still stands at `rows_done` rows and is not
    done. Run first in the batch's transaction: the job row's update locks it (PostgreSQL; SQLite's write
    lock), so a second runner of the same job (a Resume clicked while it runs, a queue retry) waits, then finds
    the count moved on and stops instead of importing the same rows again."""
    table = runtime.system_table(JOB)
    return connection.execute(update(table).where(
        table.c.id == job_id, table.c.rows_done == rows_done, table.c.status != "done").values(
        status="running", updated_at=now)).rowcount == 1


def advance(connection: Connection, runtime: Any, job_id: int, counts: BatchCounts, errors: Sequence[RowError],
            now: datetime) -> None:
    """Add a batch's counts and error rows to the job, on the batch's own connection (its transaction)."""
    table = runtime.system_table(JOB)
    connection.execute(update(table).where(table.c.id == job_id).values(
        status="running", updated_at=now,
        rows_done=table.c.rows_done + counts.rows, created=table.c.created + counts.created,
        updated=table.c.updated + counts.updated, skipped=table.c.skipped + counts.skipped,
        failed=table.c.failed + counts.failed))
    if errors:
        connection.execute(insert(runtime.system_table(ERROR)), [
            {"job_id": job_id, "row": error.row, "column": error.column, "field": error.field,
             "message": error.message} for error in errors])


def set_status(connection: Connection, runtime: Any, job_id: int, status: str, now: datetime,
               error: str | None = None) -> None:
    table = runtime.system_table(JOB)
    connection.execute(update(table).where(table.c.id == job_id).values(
        status=status, updated_at=now, error=error, finished_at=now if status == "done" else None))


def read_errors(connection: Connection, runtime: Any, job_id: int, *, limit: int | None = None) -> list[RowError]:
    """The job's refused rows in row order (the first `limit`)."""
    table = runtime.system_table(ERROR)
    query = select(table.c.row, table.c.column, table.c.field, table.c.message).where(
        table.c.job_id == job_id).order_by(table.c.row, table.c.id).limit(limit)
    return [RowError(*row) for row in connection.execute(query)]


def error_csv(errors: Sequence[RowError] | Iterator[RowError],
              shown: Callable[[str], str] | None = None) -> Iterator[str]:
    """The errors as CSV lines (row, column, field, message), header first, with a UTF-8 byte order mark;
    each message through `shown` when given (a translation)."""
    from crmkit.engine.records.export import LineWriter

    line = LineWriter()  # a cell holding a line break, a lone CR too, is quoted: no message breaks its row
    yield "\ufeff" + line(["row", "column", "field", "message"])
    for error in errors:
        message = shown(error.message) if shown is not None else error.message
        yield line([error.row, _safe(error.column), error.field or "", _safe(message)])


def _safe(text: str | None) -> str:
    from crmkit.engine.records.export import neutralise_formula

    return "" if text is None else neutralise_formula(text)
