"""Exports measured in processes of their own: seconds and peak resident memory (VmHWM) of each.

    python -m benchmarks.export_memory <database URL> <kind>[,<kind>...] <rows>[,<rows>...]

with kinds among ours-csv, ours-xlsx, raw-csv, raw-xlsx, prints one JSON line: a list with one
{"kind", "rows", "seconds", "bytes" (the file's size), "peak" (bytes of resident memory the
process reached above what it held just before the export), "rss_before"} per kind and row
count, in that order. The process opens the database once and warms every kind up on one
row (imports, compiled statements: not the rows' memory); then each export runs in a child
forked from it, which opens a connection of its own on one row again, resets its high-water mark (Linux: /proc/self/clear_refs "5") and exports the first <rows> accounts by
id. A fork is a fresh process as far as memory goes, without a second interpreter start
(about 2 s each): benchmarks/transfer.py measures 1/10 of the rows and all of them, and the
peaks show whether memory grows with the rows exported: a streamed export's stays the same.
"""
from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from typing import Any, Callable, Iterator, Sequence

from sqlalchemy import select

from crmkit.engine import Crm
from crmkit.engine.transfer.spreadsheet import xlsx_chunks

KINDS = ("ours-csv", "ours-xlsx", "raw-csv", "raw-xlsx")


def status_bytes(field: str) -> int:
    """A VmXXX line of /proc/self/status in bytes (0 where there is none: not Linux)."""
    try:
        with open("/proc/self/status") as file:
            for line in file:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def reset_peak() -> None:
    """Start the VmHWM high-water mark again from the current resident size (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as file:
            file.write("5")
    except OSError:
        pass


def exporters(crm: Crm, rows: int) -> dict[str, Callable[[int], int]]:
    """Each kind's export of the first `n` accounts (n = rows, or 1 to warm up), returning the file's size."""
    records = crm.as_system().records("account")
    table = crm.runtime.table("account")
    columns = list(records.export({"id": {"lte": 0}}, format="values").columns)

    def last_id(n: int) -> int:
        with crm.engine.connect() as connection:
            found = connection.execute(select(table.c.id).order_by(table.c.id).offset(n - 1).limit(1)).scalar()
        return found if found is not None else 0

    def ours_csv(n: int) -> int:
        return sum(len(line.encode()) for line in records.export({"id": {"lte": last_id(n)}}, sort=("id",)))

    def ours_xlsx(n: int) -> int:
        stream = records.export({"id": {"lte": last_id(n)}}, sort=("id",), format="values")
        return sum(len(chunk) for chunk in xlsx_chunks(columns, ([row.get(name) for name in columns]
                                                                  for row in stream)))

    def raw_rows(n: int) -> Iterator[Sequence[Any]]:
        query = select(*(table.c[name] for name in columns)).where(table.c.id <= last_id(n)).order_by(table.c.id)
        with crm.engine.connect() as connection:
            yield from connection.execution_options(stream_results=True, yield_per=1000).execute(query)

    def raw_csv(n: int) -> int:
        buffer, size = io.StringIO(), 0
        writer = csv.writer(buffer)
        for row in raw_rows(n):
            writer.writerow(row)
            if buffer.tell() > 65536:
                size += len(buffer.getvalue().encode())
                buffer.seek(0)
                buffer.truncate()
        return size + len(buffer.getvalue().encode())

    def raw_xlsx(n: int) -> int:
        return sum(len(chunk) for chunk in xlsx_chunks(columns, (list(row) for row in raw_rows(n))))

    return {"ours-csv": ours_csv, "ours-xlsx": ours_xlsx, "raw-csv": raw_csv, "raw-xlsx": raw_xlsx}


def measured(crm: Crm, export: Callable[[int], int], rows: int) -> dict[str, float]:
    """One export of `rows` accounts in a child process forked from this one: its seconds, bytes and peak."""
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # the child: measure, write the figures to the pipe, and leave without cleanup
        status = 1
        try:
            os.close(reading)
            crm.engine.dispose(close=False)  # the parent's pooled connections stay the parent's
            export(1)  # this process's own connection, opened before the high-water mark is reset
            before = status_bytes("VmRSS")
            reset_peak()
            start = time.perf_counter()
            size = export(rows)
            seconds = time.perf_counter() - start
            peak = status_bytes("VmHWM")
            figures = {"seconds": seconds, "bytes": size, "peak": max(0, peak - before), "rss_before": before}
            with os.fdopen(writing, "w") as pipe:
                pipe.write(json.dumps(figures))
            status = 0
        except BaseException:  # noqa: B036 - the child reports any failure through its exit status and stderr
            import traceback

            traceback.print_exc()
        finally:
            os._exit(status)
    os.close(writing)
    with os.fdopen(reading) as pipe:
        text = pipe.read()
    _, status = os.waitpid(child, 0)
    if status != 0 or not text:
        raise SystemExit(f"export_memory: the export of {rows:,} rows failed in its process (status {status}).")
    return json.loads(text)


def main(argv: list[str]) -> None:
    url, kinds, counts = argv[0], argv[1].split(","), [int(rows) for rows in argv[2].split(",")]
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown:
        raise SystemExit(f"export_memory: the kinds are among {', '.join(KINDS)}, not {', '.join(unknown)}")
    crm = Crm.open(url, create=False)
    try:
        chosen = exporters(crm, max(counts))
        for kind in kinds:
            chosen[kind](1)  # imports, statements compiled, the first connection: not the rows' memory
        results = [{"kind": kind, "rows": rows, **measured(crm, chosen[kind], rows)} for kind in kinds for rows in counts]
    finally:
        crm.close()
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1:])
