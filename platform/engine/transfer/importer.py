"""Importing a CSV or spreadsheet file into one object's records.

    imports = ImportService(crm.as_user(alice), "contact")
    report = imports.dry_run("contacts.csv", ImportOptions(duplicates="skip"))   # writes nothing
    report.errors            # [RowError(row=7, column="Email", field="email", message="...")]
    report = imports.import_file("contacts.csv", ImportOptions(duplicates="skip"), progress=print)
    imports.resume(report.job_id)                                                # after a crash

What happens to each row, in file order:

1. Its cells are read for the mapped fields (transfer/cells.py); lookup cells are resolved
   to records by external id or name (transfer/lookups.py), through the user's row filter.
2. With `upsert_on`, a row whose value of that (unique) field is held by a stored record
   updates that record. Otherwise, with a duplicate action, a row matching a stored record
   (or an earlier row of the file) by the duplicate rule (transfer/duplicates.py) is
   refused (block), left out (skip) or written into that record (merge: its non-empty cells
   replace the stored values). Other rows create records.
3. Creates go through the save pipeline's bulk path (records/bulk.py), updates through the
   single-record update (optimistic lock, edit rights per record): defaults, coercion,
   formulas, validation rules, history, rollups, search index, and automation unless the
   import turns it off.

Each batch of `batch_size` rows is one transaction, which also adds the batch's counts and
refused rows to the import job (transfer/jobs.py): a crash loses no committed batch and
`resume` starts after the last one. A refused row is reported with the row number a
spreadsheet shows (the header is row 1), its column and field, and the reason; the other
rows of its batch are written.

Permissions (engine-enforced, as for any save): create and import on the object, and edit
when rows may update records (upsert, merge); a mapped column whose field the user may not
edit is refused before anything is read, naming the column.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

from crmkit.engine import messages
from crmkit.engine.automation.rules import rules_held
from crmkit.engine.records.errors import RecordError
from crmkit.engine.security.access import PermissionDenied, RightsChanged
from crmkit.engine.transfer import jobs
from crmkit.engine.transfer.batch import ImportBatch, Planned
from crmkit.engine.transfer.cells import cell_reader
from crmkit.engine.transfer.duplicates import ACTIONS, DEFAULT_REGION, DuplicateRule
from crmkit.engine.transfer.files import ImportFileError, Table, cell_text, read_table
from crmkit.engine.transfer.jobs import BatchCounts, ImportJob, RowError
from crmkit.engine.transfer.mapping import (checked_mapping, field_words, guess_mapping, header_key, save_mapping,
                                           saved_mapping)

logger = logging.getLogger("crmkit.transfer")

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext

#: progress(rows done, rows in the file), called after each committed batch.
Progress = Callable[[int, int], None]
#: Rows a preview shows.
PREVIEW_ROWS = 5


@dataclass(frozen=True)
class ImportOptions:
    """How to import a file; stored with the job, so a resume works the same way.

    mapping: {column header: field name or label, or None to leave it out}; None guesses it
    from the header (transfer/mapping.py), `saved_mapping` names a mapping saved before, and
    `save_mapping_as` keeps the mapping used under that name. `upsert_on`: a unique field
    whose value finds the record to update. `duplicates`: block, skip or merge (None: no
    duplicate check), by `duplicate_rule` (email, phone, name); `region`: the phone region
    for numbers without a country code. `automation`: False saves without firing automation
    rules. `batch_size`: rows per transaction. `mapping_adds`: `mapping` changes the guessed
    mapping (its columns mapped, or left out with None) instead of replacing it: the command
    line's COLUMN=FIELD pairs, given for the columns the guess left out.
    """

    mapping: Mapping[str, str | None] | None = None
    saved_mapping: str | None = None
    save_mapping_as: str | None = None
    upsert_on: str | None = None
    duplicates: str | None = None
    duplicate_rule: str = "email"
    region: str = DEFAULT_REGION
    automation: bool = True
    batch_size: int = 1000
    mapping_adds: bool = False

    def stored(self) -> dict[str, Any]:
        values = asdict(self)
        values["mapping"] = dict(self.mapping) if self.mapping is not None else None
        return values


@dataclass(frozen=True)
class ImportPreview:
    """What a mapping screen shows: the file's header, the mapping (guessed or given) and the first rows."""

    header: tuple[str, ...]
    mapping: Mapping[str, str]
    rows: tuple[tuple[str, ...], ...]
    total: int
    encoding: str | None


@dataclass(frozen=True)
class ImportReport:
    """The outcome of a dry run or an import: counts, the refused rows (all for a dry run), and the job."""

    rows: int
    created: int
    updated: int
    skipped: int
    failed: int
    errors: tuple[RowError, ...] = ()
    job_id: int | None = None
    status: str = "done"
    mapping: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of_job(cls, job: ImportJob, errors: Sequence[RowError]) -> "ImportReport":
        return cls(job.rows_done, job.created, job.updated, job.skipped, job.failed, tuple(errors), job.id,
                   job.status, dict(job.options.get("mapping") or {}))


class ImportService:
    """Imports into one object for one UserContext (see the module docstring)."""

    def __init__(self, context: "UserContext", object_name: str) -> None:
        self.context = context
        self.records = context.records(object_name)
        self.object_name = object_name

    @classmethod
    def for_job(cls, context: "UserContext", job_id: int) -> "ImportService":
        """The service of the object import `job_id` writes to (one the user started); UnknownImportJob."""
        with context.reading() as connection:
            job = jobs.read_job(connection, context.runtime, job_id,
                                None if context.actor.system else context.actor.user_id)
        return cls(context, job.object)

    # -- before importing ---------------------------------------------------------------

    def require(self, options: ImportOptions = ImportOptions()) -> None:
        """PermissionDenied unless the user may import into the object now (create and import; edit for updates)."""
        with self.records._reading(*self._permissions(options)):
            pass

    def preview(self, path: str | Path, options: ImportOptions = ImportOptions()) -> ImportPreview:
        """The header, the mapping the import would use and the first rows; ImportFileError, PermissionDenied."""
        table = read_table(path)
        with self.records._reading(*self._permissions(options)) as connection:
            mapping = self._mapping(connection, table, options)
        rows = tuple(tuple(cell_text(cell) for cell in cells) for _, cells in islice(table.rows(), PREVIEW_ROWS))
        return ImportPreview(table.header, mapping, rows, sum(1 for _ in table.rows()), table.encoding)

    def dry_run(self, path: str | Path, options: ImportOptions = ImportOptions(),
                progress: Progress | None = None) -> ImportReport:
        """Every row checked as the import would, nothing written: the counts it would reach and every error.

        The same for any batch size, and the same as the import's: a row is matched against, and checked for
        unique values with, what the rows before it would have created (transfer/batch.py).
        """
        _check_options(options)
        table = read_table(path)
        total = sum(1 for _ in table.rows())
        counts, errors = BatchCounts(), []
        with self.records._reading(*self._permissions(options)) as connection:
            mapping = self._mapping(connection, table, options)
        plan = ImportPlan(self, table, options, mapping)
        planned = Planned()
        for batch in _batches(table.rows(), options.batch_size):
            with self.records._reading(*self._permissions(options)) as connection:
                done, refused = ImportBatch(self, plan, connection, write=False, planned=planned).run(batch)
            counts, errors = _added(counts, done), errors + refused
            if progress is not None:
                progress(counts.rows, total)
        return ImportReport(counts.rows, counts.created, counts.updated, counts.skipped, counts.failed,
                            tuple(errors), None, "dry run", mapping)

    # -- importing ----------------------------------------------------------------------

    def import_file(self, path: str | Path, options: ImportOptions = ImportOptions(),
                    progress: Progress | None = None) -> ImportReport:
        """Start an import job for the file and run it to the end (`start`, then `resume`)."""
        return self.resume(self.start(path, options), progress)

    def start(self, path: str | Path, options: ImportOptions = ImportOptions()) -> int:
        """Check the file, the mapping and the rights, and record a pending import job; returns its id.

        ImportFileError (file, mapping, options), PermissionDenied (rights, a column the user may not edit).
        """
        _check_options(options)
        table = read_table(path)
        total = sum(1 for _ in table.rows())
        session = self.context
        with self.records._writing(*self._permissions(options)) as connection:
            mapping = self._mapping(connection, table, options)
            ImportPlan(self, table, options, mapping)  # checks the upsert field and duplicate rule now
            now = session.now()
            if options.save_mapping_as:
                save_mapping(connection, session.runtime.system_table(jobs.MAPPING), self.object_name,
                             options.save_mapping_as, mapping, session.actor.user_id, now)
            stored = {**options.stored(), "mapping": mapping, "saved_mapping": None, "save_mapping_as": None}
            return jobs.create_job(connection, session.runtime, object_name=self.object_name,
                                   user_id=session.actor.user_id, source=str(Path(path).resolve()),
                                   options=stored, rows_total=total, now=now)

    def resume(self, job_id: int, progress: Progress | None = None) -> ImportReport:
        """Run the job from the first row no committed batch holds, to the end; its report.

        A job that is done is reported as it is. Each batch checks the rights again (a right
        revoked meanwhile stops the import: the job is marked failed and can be resumed).
        """
        job = self.job(job_id)
        if job.status != "done":
            options = ImportOptions(**{**job.options, "mapping": job.options["mapping"]})
            table = read_table(job.source)
            plan = ImportPlan(self, table, options, dict(job.options["mapping"]))
            self._run(job, table, plan, options, progress)
            job = self.job(job_id)
        return ImportReport.of_job(job, self.errors(job_id, limit=1000))

    def _run(self, job: ImportJob, table: Table, plan: "ImportPlan", options: ImportOptions,
             progress: Progress | None) -> None:
        session, runtime = self.context, self.context.runtime
        done, total = job.rows_done, job.rows_total or 0
        try:
            with self._automation(options.automation):
                for batch in _batches(islice(table.rows(), job.rows_done, None), options.batch_size):
                    with self.records._writing(*self._permissions(options)) as connection:
                        if not jobs.claim_batch(connection, runtime, job.id, done, session.now()):
                            raise _Overtaken()
                        counts, refused = ImportBatch(self, plan, connection, write=True).run(batch)
                        jobs.advance(connection, runtime, job.id, counts, refused, session.now())
                    done += counts.rows
                    if progress is not None:
                        progress(done, total)
        except _Overtaken:  # another runner of this job wrote the batch: it carries on, this one stops
            logger.info("import %s: another runner is at row %s; this one stops", job.id, done)
            return
        except RightsChanged:  # the batches before are saved: the job is resumed, not done again
            stopped = RightsChanged(messages.IMPORT_RIGHTS_CHANGED(rows=f"{done:,}"))
            with session.writing() as connection:
                jobs.set_status(connection, runtime, job.id, "failed", session.now(), str(stopped))
            raise stopped from None
        except (RecordError, ImportFileError) as error:
            with session.writing() as connection:
                jobs.set_status(connection, runtime, job.id, "failed", session.now(), str(error))
            raise
        with session.writing() as connection:
            jobs.set_status(connection, runtime, job.id, "done", session.now())

    # -- reading jobs -------------------------------------------------------------------

    def job(self, job_id: int) -> ImportJob:
        """The import job (one the user started; the system sees all); UnknownImportJob otherwise."""
        session = self.context
        with session.reading() as connection:
            return jobs.read_job(connection, session.runtime, job_id,
                                 None if session.actor.system else session.actor.user_id)

    def errors(self, job_id: int, *, limit: int | None = None) -> list[RowError]:
        """The job's refused rows, in row order."""
        self.job(job_id)
        with self.context.reading() as connection:
            return jobs.read_errors(connection, self.context.runtime, job_id, limit=limit)

    def error_report(self, job_id: int, shown: Callable[[str], str] | None = None) -> Iterator[str]:
        """The job's refused rows as CSV lines (row, column, field, message), for download; `shown` turns each kept
        message (the engine's English) into what the reader is shown (their language: ui/errors.py sentence)."""
        return jobs.error_csv(self.errors(job_id), shown)

    # -- shared -------------------------------------------------------------------------

    def _permissions(self, options: ImportOptions) -> tuple[str, ...]:
        updates = options.upsert_on is not None or options.duplicates == "merge"
        return ("create", "import", "edit") if updates else ("create", "import")

    def _mapping(self, connection: Any, table: Table, options: ImportOptions) -> dict[str, str]:
        """The checked mapping of `options` (given, saved or guessed), with every field editable by the user."""
        obj, field_types = self.records.obj, self.context.runtime.field_types
        given = options.mapping
        if given is None and options.saved_mapping:
            given = saved_mapping(connection, self.context.runtime.system_table(jobs.MAPPING), obj.name,
                                  options.saved_mapping)
            if given is None:
                raise ImportFileError(messages.IMPORT_NO_SAVED_MAPPING(name=options.saved_mapping, object=obj.name))
        policy = self.context.policy
        if given is None or options.mapping_adds:
            # A header naming a field the user may not read is a column no field has for them: left out, like
            # any unknown column (refusing it would tell them the hidden field's name).
            guessed = {column: name for column, name in guess_mapping(obj, field_types, table.header).items()
                       if policy is None or name == "owner_id" or policy.can_read_field(obj.name, name)}
            if given is not None:  # a field given a column of the caller's is no longer the guessed column's
                words = field_words(obj, field_types)  # a pair may name it by a label, in any case, as checked_mapping reads it
                taken = {words.get(header_key(str(target)), target) for target in given.values() if target}
                guessed = {column: name for column, name in guessed.items() if name not in taken}
            given = guessed if given is None else {**guessed, **given}
        mapping = checked_mapping(obj, field_types, table.header, given)
        if policy is not None:
            for column, name in mapping.items():
                if name != "owner_id" and not policy.can_read_field(obj.name, name):
                    raise ImportFileError(messages.IMPORT_NOT_IMPORTABLE(column=column, field=name, object=obj.name))
                if name != "owner_id" and not policy.can_edit_field(obj.name, name):
                    raise PermissionDenied(messages.IMPORT_FIELD_NOT_EDITABLE(column=column, field=name))
        return mapping

    @contextmanager
    def _automation(self, on: bool) -> Iterator[None]:
        """With `on` False, saves fire no automation rule: every rule is in the saves' chain (automation/rules.py)."""
        if on:
            yield
            return
        with rules_held(self.context):
            yield


class _Overtaken(Exception):
    """Raised inside a batch's transaction (rolling it back) when another runner of the job got there first."""


def _check_options(options: ImportOptions) -> None:
    """ImportFileError for options no import takes (an unknown duplicates action), before any file is read."""
    if options.duplicates is not None and options.duplicates not in ACTIONS:
        raise ImportFileError(messages.IMPORT_DUPLICATE_ACTION(action=options.duplicates, actions=", ".join(ACTIONS)))


def _batches(rows: Iterator[tuple[int, list[Any]]], size: int) -> Iterator[list[tuple[int, list[Any]]]]:
    rows = iter(rows)
    while batch := list(islice(rows, max(1, size))):
        yield batch


def _added(counts: BatchCounts, more: BatchCounts) -> BatchCounts:
    return BatchCounts(*(a + b for a, b in zip(asdict(counts).values(), asdict(more).values())))


class ImportPlan:
    """The mapping turned into column readers, and the upsert field and duplicate rule checked."""

    def __init__(self, service: ImportService, table: Table, options: ImportOptions, mapping: Mapping[str, str]):
        obj, field_types = service.records.obj, service.context.runtime.field_types
        self.options = options
        self.columns: list[tuple[int, str]] = [(table.header.index(column), name) for column, name in mapping.items()]
        self.column_of = {name: column for column, name in mapping.items()}
        self.lookups = {name for _, name in self.columns if name == "owner_id" or obj.fields[name].is_lookup}
        zone = service.context.actor.timezone
        self.readers = {name: cell_reader(obj.fields.get(name), field_types[obj.fields[name].type].kind.value_kind,
                                          zone) for _, name in self.columns if name not in self.lookups}
        self.upsert_on = options.upsert_on
        if self.upsert_on is not None:
            fdef = obj.fields.get(self.upsert_on)
            if fdef is None or not fdef.unique:
                raise ImportFileError(messages.IMPORT_UPSERT_NOT_UNIQUE(field=self.upsert_on, object=obj.name))
            if self.upsert_on not in self.column_of:
                raise ImportFileError(messages.IMPORT_UPSERT_NOT_MAPPED(field=self.upsert_on))
        self.rule = (DuplicateRule.of(obj, options.duplicate_rule, region=options.region)
                     if options.duplicates else None)
