"""The transfer lines: importing contacts with duplicates, exporting many accounts (time and peak memory).

- import: a CSV of --imports contacts (one in ten repeats an earlier email in other case)
  imported into the standard CRM's `contact` with duplicates on email skipped, through the
  whole save pipeline (formulas, history, search index, automation); raw = the same file
  read with the csv module, deduplicated in a Python set and written with one Core
  executemany per 1,000 rows into a plain copy of the table.
- export: --exports accounts (default: all of --rows) streamed as CSV and as XLSX through
  the engine's export; raw = a Core select (server-side cursor) written by the csv module
  (CSV) or XlsxWriter (XLSX). Each export runs in a process of its own, forked from one
  that opened the database (benchmarks/export_memory.py), once for a tenth of the rows and once for all of them; the
  note gives both peaks of resident memory (VmHWM) above what the process held before the
  export: flat memory means the two peaks are about the same whatever the row count.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from sqlalchemy import MetaData, Table, insert

from benchmarks.report import NO_TARGET, Result, Target
from crmkit.engine import Crm
from crmkit.engine.transfer.importer import ImportOptions, ImportService

#: The folder `python -m benchmarks` runs from (the export processes import `benchmarks` from it).
ROOT = Path(__file__).resolve().parent.parent
IMPORT_TARGET = Target("< 60 s", seconds=60.0)


def transfer_lines(crm: Crm, imports: int, exports: int) -> Iterator[Result]:
    """The import line, then the CSV and XLSX export lines."""
    yield import_line(crm, imports)
    yield from export_lines(crm, exports)


def contacts_file(folder: Path, count: int) -> Path:
    """A CSV of `count` contacts with the standard CRM's English labels; every tenth repeats an email.

    The addresses are at a domain of this run's own, so a kept database (--keep), which holds the
    contacts of earlier runs, gets as many new contacts as the first run did.
    """
    path = folder / "contacts.csv"
    domain = f"run{time.time_ns():x}.example.com"
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["First Name", "Last Name", "Email", "Phone", "Title"])
        for number in range(count):
            email = f"person{number}@{domain}" if number % 10 else f"PERSON{max(number - 5, 1)}@{domain}"
            writer.writerow(["Wei", f"Li{number}", email, f"1380013{number % 10_000:04d}", "Buyer"])
    return path


def import_line(crm: Crm, count: int) -> Result:
    with tempfile.TemporaryDirectory() as folder:
        path = contacts_file(Path(folder), count)
        start, cpu = time.perf_counter(), time.process_time()
        report = ImportService(crm.as_system(), "contact").import_file(path, ImportOptions(duplicates="skip"))
        ours, cpu = time.perf_counter() - start, time.process_time() - cpu
        raw = _raw_import(crm, path)
    note = (f"{report.created:,} created, {report.skipped:,} duplicates skipped, {report.failed:,} failed; "
            f"{count / ours:,.0f} rows/s; this process's CPU {cpu:.1f} s (the database server's not counted); "
            f"load {os.getloadavg()[0]:.1f}")
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
    """CSV and XLSX exports of `count` accounts, each run in a process of its own (benchmarks/export_memory.py).

    The time is the export of `count` rows; the note gives the peak resident memory above what the
    process held before it (VmHWM) for `count` rows and for a tenth of them: flat memory means the
    two are about the same.
    """
    url = crm.engine.url.render_as_string(hide_password=False)
    smaller = max(1, count // 10)
    figures = exported(url, ("ours-csv", "raw-csv", "ours-xlsx", "raw-xlsx"), (smaller, count))
    for kind in ("CSV", "XLSX"):
        ours = {rows: figures[f"ours-{kind.lower()}", rows] for rows in (smaller, count)}
        raw = {rows: figures[f"raw-{kind.lower()}", rows] for rows in (smaller, count)}
        mb = 2**20
        note = (f"peak memory +{ours[smaller]['peak'] / mb:,.0f} MB at {smaller:,} rows, "
                f"+{ours[count]['peak'] / mb:,.0f} MB at {count:,} (raw: +{raw[smaller]['peak'] / mb:,.0f}, "
                f"+{raw[count]['peak'] / mb:,.0f} MB); {smaller:,} rows in {ours[smaller]['seconds']:.1f} s; "
                f"file {ours[count]['bytes'] / mb:,.1f} MB")
        yield Result(f"export {count:,} accounts as {kind}, peak memory", ours[count]["seconds"],
                     raw[count]["seconds"], NO_TARGET, note)


def exported(url: str, kinds: tuple[str, ...], counts: tuple[int, ...]) -> dict[tuple[str, int], dict[str, float]]:
    """{(kind, rows): {"seconds", "bytes", "peak", "rss_before"}}: each export in a process of its own (benchmarks/export_memory.py)."""
    done = subprocess.run([sys.executable, "-m", "benchmarks.export_memory", url, ",".join(kinds),
                           ",".join(str(rows) for rows in counts)],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"make bench: an export failed:\n{done.stderr[-2000:]}")
    return {(item["kind"], item["rows"]): item for item in json.loads(done.stdout.strip().splitlines()[-1])}
