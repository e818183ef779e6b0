"""The transfer lines: importing contacts with duplicates, exporting many accounts (time and peak memory).

- import: a CSV of --imports contacts (one in ten repeats an earlier email in other case)
  imported into the standard CRM's `contact` with duplicates on email skipped, through the
  whole save pipeline (formulas, history, search index, automation); raw = the same file
  read with the csv module, deduplicated in a Python set and written with one Core
  executemany per 1,000 rows into a plain copy of the table.
- export: --exports accounts (default: all of --rows) streamed as CSV and as XLSX through
  the engine's export; raw = a Core select written by the csv module (CSV) or XlsxWriter
  (XLSX). The note gives the process's peak resident memory growth while each export ran,
  sampled every 20 ms from /proc: flat memory means a few MB whatever the row count.
"""
from __future__ import annotations

import csv
import io
import os
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from sqlalchemy import MetaData, Table, insert, select

from benchmarks.report import NO_TARGET, Result, Target
from crmkit.engine import Crm
from crmkit.engine.transfer.importer import ImportOptions, ImportService
from crmkit.engine.transfer.spreadsheet import xlsx_chunks

IMPORT_TARGET = Target("< 60 s", seconds=60.0)


def transfer_lines(crm: Crm, imports: int, exports: int) -> Iterator[Result]:
    """The import line, then the CSV and XLSX export lines."""
    yield import_line(crm, imports)
    yield from export_lines(crm, exports)


def contacts_file(folder: Path, count: int) -> Path:
    """A CSV of `count` contacts with the standard CRM's English labels; every tenth repeats an email."""
    path = folder / "contacts.csv"
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["First Name", "Last Name", "Email", "Phone", "Title"])
        for number in range(count):
            email = f"person{number}@example.com" if number % 10 else f"PERSON{max(number - 5, 1)}@example.com"
            writer.writerow(["Wei", f"Li{number}", email, f"1380013{number % 10_000:04d}", "Buyer"])
    return path


def import_line(crm: Crm, count: int) -> Result:
    with tempfile.TemporaryDirectory() as folder:
        path = contacts_file(Path(folder), count)
        start = time.perf_counter()
        report = ImportService(crm.as_system(), "contact").import_file(path, ImportOptions(duplicates="skip"))
        ours = time.perf_counter() - start
        raw = _raw_import(crm, path)
    note = (f"{report.created:,} created, {report.skipped:,} duplicates skipped, {report.failed:,} failed; "
            f"{count / ours:,.0f} rows/s")
    return Result(f"import {count:,} contacts, dedup on email", ours, raw, IMPORT_TARGET, note)


def _raw_import(crm: Crm, path: Path) -> float:
    source = crm.runtime.table("contact")
    metadata = MetaData()
    copy = Table("bench_contact_import", metadata,
                 *(column.copy() for column in source.columns if not column.foreign_keys))
    metadata.drop_all(crm.engine, checkfirst=True)
    metadata.create_all(crm.engine)
    try:
        start = time.perf_counter()
        now = datetime.now(timezone.utc)
        seen: set[str] = set()
        with path.open(encoding="utf-8") as file, crm.engine.begin() as connection:
            rows = csv.reader(file)
            next(rows)
            batch = []
            for first, last, email, phone, title in rows:
                key = email.strip().lower()
                if key in seen:
                    continue
                seen.add(key)
                batch.append({"first_name": first, "last_name": last, "email": email, "phone": phone, "title": title,
                              "version": 1, "created_at": now, "updated_at": now})
                if len(batch) == 1000:
                    connection.execute(insert(copy), batch)
                    batch = []
            if batch:
                connection.execute(insert(copy), batch)
        return time.perf_counter() - start
    finally:
        metadata.drop_all(crm.engine)


def export_lines(crm: Crm, count: int) -> Iterator[Result]:
    records = crm.as_system().records("account")
    table = crm.runtime.table("account")
    last = crm.engine.connect().execute(select(table.c.id).order_by(table.c.id).offset(count - 1).limit(1)).scalar()
    window = {"id": {"lte": last}} if last is not None else None
    columns = list(records.export(window, format="values").columns)

    def ours_csv() -> int:
        return sum(len(line) for line in records.export(window, sort=("id",)))

    def ours_xlsx() -> int:
        stream = records.export(window, sort=("id",), format="values")
        rows = ([row.get(name) for name in columns] for row in stream)
        return sum(len(chunk) for chunk in xlsx_chunks(columns, rows))

    def raw_rows() -> Iterator:
        query = select(*(table.c[name] for name in columns)).order_by(table.c.id)
        if last is not None:
            query = query.where(table.c.id <= last)
        with crm.engine.connect() as connection:
            yield from connection.execution_options(stream_results=True, yield_per=1000).execute(query)

    def raw_csv() -> int:
        buffer, size = io.StringIO(), 0
        writer = csv.writer(buffer)
        for row in raw_rows():
            writer.writerow(row)
            if buffer.tell() > 65536:
                size += buffer.tell()
                buffer.seek(0)
                buffer.truncate()
        return size + buffer.tell()

    def raw_xlsx() -> int:
        return sum(len(chunk) for chunk in xlsx_chunks(columns, (list(row) for row in raw_rows())))

    for kind, ours, raw in (("CSV", ours_csv, raw_csv), ("XLSX", ours_xlsx, raw_xlsx)):
        seconds, grown, size = measured(ours)
        raw_seconds = measured(raw)[0]
        yield Result(f"export {count:,} accounts as {kind}, peak memory", seconds, raw_seconds, NO_TARGET,
                     f"peak memory +{grown / 2**20:,.0f} MB while exporting; file {size / 2**20:,.1f} MB")


def measured(function: Callable[[], int]) -> tuple[float, int, int]:
    """(seconds, peak growth of resident memory in bytes, what the function returned)."""
    page = os.sysconf("SC_PAGE_SIZE")
    peak = [resident(page)]
    base = peak[0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], resident(page))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    try:
        size = function()
    finally:
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
    return seconds, max(0, max(peak[0], resident(page)) - base), size


def resident(page: int) -> int:
    """This process's resident memory in bytes (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as file:
            return int(file.read().split()[1]) * page
    except OSError:
        return 0
