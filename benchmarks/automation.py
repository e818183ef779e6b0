"""Issue 10's automation lines: what rules that do not match cost a save, and jobs per second through the queue.

    updates of records whose object has 20 rules that do not match, against the same object
    without rules, the two taking turns in rounds (target <= 1.5x);
    outbox jobs worked by two `crmkit worker` processes, on the embedded queue (SqliteHuey)
    and on Redis when it answers (target >= 500 jobs/s).

The jobs are real outbox rows: each is a `create_record` action that the worker does through
the whole save pipeline, marked done in the same transaction. The rows are written with no
queue attached (so nothing works them early); the workers are started and warmed up first,
then every id is handed to the queue at once and the clock runs until the last row is done.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, Sequence

import yaml
from sqlalchemy import func, select

from benchmarks.writes import ROUNDS, alternated
from benchmarks.report import Result, Target
from crmkit.engine import Crm
from crmkit.engine.automation.queue import AutomationQueue

#: Rules on `ruled_deal`: half change the record before its save, half act after it; none matches an update of `note`.
RULES = 20
RULES_TARGET = Target("<= 1.5x no rules", ratio=1.5)
JOBS_PER_SECOND = 500
#: The Redis the queue line uses (a database number of its own: the bench flushes its queue).
BENCH_REDIS_URL = os.environ.get("CRMKIT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
WORKERS = 2
#: Seconds the workers have to finish the jobs before the line says they did not.
JOBS_TIMEOUT = 600


def package() -> dict:
    """The bench's automation package: ruled_deal (20 rules), plain_deal (none), job_source -> bench_job."""
    def deal(**more) -> dict:
        return {"title_field": "name", "fields": {
            "name": {"type": "text", "required": True},
            "stage": {"type": "picklist", "options": ["New", "Won", "Lost"], "default": "New"},
            "amount": {"type": "currency"}, "note": {"type": "text"}, "next_step": {"type": "text"}}, **more}

    rules = [{"name": f"rule_{number}", "on": ["saved"],
              "condition": f"changed('stage') and stage == 'Won' and amount is not None and amount > {1_000_000 + number}",
              "actions": [{"type": "create_record", "object": "bench_job", "set": {"name": "'won ' + name"}}
                          if number % 2 else {"type": "update_record", "set": {"next_step": "'call'"}}]}
             for number in range(RULES)]
    return {"package": "bench_automation", "version": "1.0.0", "objects": {
        "ruled_deal": deal(automations=rules),
        "plain_deal": deal(),
        "job_source": {"title_field": "name", "fields": {"name": {"type": "text", "required": True},
                                                         "round": {"type": "integer"}},
                       "automations": [{"name": "make_job", "on": ["updated"], "condition": "changed('round')",
                                        "actions": [{"type": "create_record", "object": "bench_job",
                                                     "set": {"name": "'job ' + name"}}]}]},
        "bench_job": {"title_field": "name", "fields": {"name": {"type": "text", "required": True}}},
    }}


def install(crm: Crm) -> None:
    """Install the automation package (once per database; a kept database has it already)."""
    with tempfile.TemporaryDirectory(prefix="crmkit-bench-automation-") as folder:
        path = Path(folder) / "bench_automation.yaml"
        path.write_text(yaml.safe_dump(package(), allow_unicode=True, sort_keys=False), encoding="utf-8")
        crm.install(path)


def automation_lines(crm: Crm, updates: int, jobs: int) -> Iterator[Result]:
    """The rules line, then one queue line per queue (embedded; Redis when it answers)."""
    install(crm)
    yield rules_line(crm, updates)
    yield from queue_lines(crm, jobs)


def rules_line(crm: Crm, updates: int) -> Result:
    """`updates` one-by-one updates of ruled_deal records against the same updates of plain_deal records.

    The two sides take turns in rounds (writes.py `alternated`), as the write lines do: on a shared machine whose
    load moves during the run, both meet the same load."""
    session = crm.as_system()
    sides = []
    for object_name in ("ruled_deal", "plain_deal"):
        records = session.records(object_name)
        created = [records.create({"name": f"deal {number}", "amount": 100}) for number in range(updates)]

        def update(chunk: list, records=records) -> None:
            for record in chunk:
                records.update(record.id, {"note": "called"}, version=record.version)

        sides.append((update, created))
    # Both sides update the same positions of their own records in each round.
    pairs = list(zip(sides[0][1], sides[1][1]))
    ours, raw = alternated([lambda chunk: sides[0][0]([ruled for ruled, _ in chunk]),
                            lambda chunk: sides[1][0]([plain for _, plain in chunk])], pairs, ROUNDS)
    return Result(f"update {updates:,} records, {RULES} rules that do not match", ours, raw, RULES_TARGET,
                  f"raw = the same updates with no rules; per update {ours / updates * 1e6:.0f} µs vs "
                  f"{raw / updates * 1e6:.0f} µs")


def queue_lines(crm: Crm, jobs: int) -> Iterator[Result]:
    """Jobs per second through the embedded queue, then through Redis if it answers."""
    with tempfile.TemporaryDirectory(prefix="crmkit-bench-queue-") as folder:
        queue_file = str(Path(folder) / "queue.db")
        yield queue_line(crm, jobs, "embedded (SQLite file)", {"CRMKIT_QUEUE_FILE": queue_file},
                         AutomationQueue.open(crm, path=queue_file))
    problem = redis_problem(BENCH_REDIS_URL)
    if problem:
        print(f"queue line on Redis skipped: {problem}", flush=True)
        return
    queue = AutomationQueue.open(crm, redis_url=BENCH_REDIS_URL)
    queue.huey.flush()
    yield queue_line(crm, jobs, "Redis", {"CRMKIT_REDIS_URL": BENCH_REDIS_URL}, queue)


def redis_problem(url: str) -> str | None:
    """Why Redis at `url` cannot be used (a sentence), or None when it answers."""
    try:
        import redis
    except ImportError:
        return "the redis package is not installed (pip install 'crmkit[redis]')."
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as error:
        return f"Redis at {url} does not answer ({type(error).__name__})."
    return None


def queue_line(crm: Crm, jobs: int, where: str, environment: dict[str, str], queue: AutomationQueue) -> Result:
    """`jobs` outbox rows worked by WORKERS `crmkit worker` processes on `queue`, timed from handing them over."""
    workers = start_workers(crm, environment)
    try:
        work(crm, queue, pending_rows(crm, 10 * WORKERS))  # the workers are up and have their statements ready
        ids = pending_rows(crm, jobs)
        start = time.perf_counter()
        finished = work(crm, queue, ids)
        seconds = time.perf_counter() - start
    finally:
        stop_workers(workers)
    rate = jobs / seconds
    note = f"{rate:,.0f} jobs/s; raw = {jobs:,} jobs at {JOBS_PER_SECOND}/s"
    if not finished:
        note += f"; NOT FINISHED within {JOBS_TIMEOUT} s"
    return Result(f"queue: {jobs:,} jobs, {WORKERS} workers, {where}", seconds if finished else float("inf"),
                  jobs / JOBS_PER_SECOND, Target(f">= {JOBS_PER_SECOND} jobs/s", ratio=1.0), note)


def pending_rows(crm: Crm, count: int) -> list[int]:
    """`count` new pending outbox rows (each will create a bench_job), written with no queue attached."""
    kept, crm.queue = crm.queue, None
    try:
        sources = crm.as_system().records("job_source")
        table = crm.runtime.system_table("crmkit_outbox")
        with crm.engine.connect() as connection:
            last = connection.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()
        for number in range(count):
            record = sources.create({"name": f"source {number}", "round": 0})
            sources.update(record.id, {"round": 1}, version=record.version)
        with crm.engine.connect() as connection:
            ids = list(connection.execute(select(table.c.id).where(table.c.id > last, table.c.status == "pending")
                                          .order_by(table.c.id)).scalars())
    finally:
        crm.queue = kept
    assert len(ids) == count, f"expected {count} outbox rows, found {len(ids)}"
    return ids


def work(crm: Crm, queue: AutomationQueue, ids: Sequence[int]) -> bool:
    """Hand `ids` to `queue` and wait until none is pending; False after JOBS_TIMEOUT seconds."""
    table = crm.runtime.system_table("crmkit_outbox")
    queue.enqueue(ids)
    deadline = time.perf_counter() + JOBS_TIMEOUT
    lowest = min(ids)
    while time.perf_counter() < deadline:
        with crm.engine.connect() as connection:
            left = connection.execute(select(func.count()).select_from(table).where(
                table.c.id >= lowest, table.c.status == "pending")).scalar_one()
        if not left:
            return True
        time.sleep(0.01)
    return False


def start_workers(crm: Crm, environment: dict[str, str]) -> list[subprocess.Popen]:
    """WORKERS `crmkit worker` processes on this database, each started (its first line printed)."""
    url = crm.engine.url.render_as_string(hide_password=False)
    env = {**os.environ, **environment}
    env.pop("CRMKIT_REDIS_URL", None) if "CRMKIT_REDIS_URL" not in environment else None
    command = [sys.executable, "-c", "from crmkit.cli import main; main()", "--database", url, "worker"]
    workers = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
               for _ in range(WORKERS)]
    for worker in workers:
        first = worker.stdout.readline()
        if not first.startswith("crmkit worker:"):
            stop_workers(workers)
            raise RuntimeError(f"a worker did not start: {first!r}")
    return workers


def stop_workers(workers: Sequence[subprocess.Popen]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
