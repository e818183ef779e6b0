"""The import tables, created with the other system tables (engine/tables.py).

crmkit_import_job: one row per import, with its options and progress (rows done, created,
updated, skipped, failed), updated in the transaction of each batch it writes, so it
always says what is in the database.
crmkit_import_error: the rows an import refused, one row per field error.
crmkit_import_mapping: saved column mappings, by object and name.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text

from crmkit.engine.columns import JsonDocument, RecordId, UtcDateTime

#: pending: made, nothing written yet; running: batches being written (or the process stopped: resume it);
#: done: every row read; failed: stopped by an error that is not a row's (a revoked right): resume it.
JOB_STATUSES = ("pending", "running", "done", "failed")


def define_transfer_tables(metadata: MetaData) -> None:
    """crmkit_import_job, crmkit_import_error and crmkit_import_mapping."""
    Table(
        "crmkit_import_job", metadata,
        Column("id", RecordId, primary_key=True, autoincrement=True),
        Column("object", String(63), nullable=False),
        Column("user_id", BigInteger(), nullable=True),
        #: The file read, as given (a path the importing process can open again to resume).
        Column("source", Text(), nullable=False),
        #: mapping, upsert_on, duplicates, duplicate_rule, automation, region, batch_size (ImportOptions).
        Column("options", JsonDocument(), nullable=False),
        Column("status", String(16), nullable=False),
        #: Data rows in the file (counted when the job was made).
        Column("rows_total", Integer(), nullable=True),
        #: Data rows read from the file and settled (written, skipped or failed): a resume starts after them.
        Column("rows_done", Integer(), nullable=False, default=0),
        Column("created", Integer(), nullable=False, default=0),
        Column("updated", Integer(), nullable=False, default=0),
        Column("skipped", Integer(), nullable=False, default=0),
        Column("failed", Integer(), nullable=False, default=0),
        Column("error", Text(), nullable=True),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("updated_at", UtcDateTime(), nullable=False),
        Column("finished_at", UtcDateTime(), nullable=True),
        sqlite_autoincrement=True,
    )
    errors = Table(
        "crmkit_import_error", metadata,
        Column("id", RecordId, primary_key=True, autoincrement=True),
        Column("job_id", BigInteger(), nullable=False),
        #: The row number a spreadsheet shows for the row (the header is row 1).
        Column("row", Integer(), nullable=False),
        Column("column", Text(), nullable=True),
        Column("field", String(63), nullable=True),
        Column("message", Text(), nullable=False),
        sqlite_autoincrement=True,
    )
    Index("ix_crmkit_import_error_job", errors.c.job_id, errors.c.row, errors.c.id)
    mappings = Table(
        "crmkit_import_mapping", metadata,
        Column("id", RecordId, primary_key=True, autoincrement=True),
        Column("object", String(63), nullable=False),
        Column("name", String(127), nullable=False),
        #: {column header: field name}
        Column("columns", JsonDocument(), nullable=False),
        Column("created_by", BigInteger(), nullable=True),
        Column("created_at", UtcDateTime(), nullable=False),
        sqlite_autoincrement=True,
    )
    Index("ux_crmkit_import_mapping_name", mappings.c.object, mappings.c.name, unique=True)
