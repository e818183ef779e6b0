"""One export measured in a process of its own: seconds and peak resident memory (VmHWM).

    python -m benchmarks.export_memory <database URL> <ours-csv|ours-xlsx|raw-csv|raw-xlsx> <rows>

prints one JSON line: {"seconds", "bytes" (the file's size), "peak" (bytes of resident memory the
process reached above what it held just before the export), "rss_before"}. The process opens the
database, warms the export up on one row, then resets its high-water mark (Linux:
/proc/self/clear_refs "5") and exports the first <rows> accounts by id. Run once per size
(benchmarks/transfer.py: 1/10 of the rows and all of them), the peaks show whether memory grows
with the rows exported: a streamed export's stays the same.
"""
from __future__ import annotations

import csv
import io
import json
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


def main(argv: list[str]) -> None:
    url, kind, rows = argv[0], argv[1], int(argv[2])
    if kind not in KINDS:
        raise SystemExit(f"export_memory: the kind is one of {', '.join(KINDS)}, not {kind!r}")
    crm = Crm.open(url, create=False)
    try:
        export = exporters(crm, rows)[kind]
        export(1)  # imports, statements compiled, the first connection: not the rows' memory
        before = status_bytes("VmRSS")
        reset_peak()
        start = time.perf_counter()
        size = export(rows)
        seconds = time.perf_counter() - start
        peak = status_bytes("VmHWM")
    finally:
        crm.close()
    print(json.dumps({"seconds": seconds, "bytes": size, "peak": max(0, peak - before), "rss_before": before}))


if __name__ == "__main__":
    main(sys.argv[1:])
