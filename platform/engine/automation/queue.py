"""The task queue that carries outbox ids to workers: huey, embedded by default, Redis to scale out.

    queue = AutomationQueue.open(crm)     # SqliteHuey in its own file, or RedisHuey with CRMKIT_REDIS_URL
    crm.queue = queue                     # saves hand their committed outbox ids to it
    queue.consumer(workers=2).run()       # `crmkit worker`

The queue holds only ids: the outbox rows in the main database are the record of truth
(huey loses the task a killed worker was running; the periodic `requeue` task hands such
rows on again every minute, automation/outbox.py). SQLite-backed huey locks its whole file,
so it never shares the CRM's database file. Tasks are registered under fixed names, so a web
process and a worker that open the queue alike agree on them.
"""
from __future__ import annotations

import os
import signal
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

from huey import RedisHuey, SqliteHuey, crontab
from huey.api import Huey

if TYPE_CHECKING:
    from crmkit.engine.crm import Crm

#: Where the embedded queue lives when the CRM's database is not a SQLite file.
DEFAULT_QUEUE_FILE = "instance/crmkit-queue.db"
DELIVER_TASK = "crmkit.automation.deliver"
#: The most outbox ids one task carries: a worker does them in one transaction (Outbox.work_many).
BATCH = 50
REQUEUE_TASK = "crmkit.automation.requeue"
#: Daily, 03:17 UTC: the run log, done outbox rows and read notifications past their retention (automation/runlog.py),
#: and the change log's changes past theirs (records/changes.py).
PRUNE_TASK = "crmkit.automation.prune"
#: Each minute: scheduled rules whose moment came, and planned runs of relative rules that are due.
TIME_TASK = "crmkit.automation.time_based"
#: An import job started on the web (engine/transfer/background.py): run or resumed by a worker.
IMPORT_TASK = "crmkit.transfer.import"


def queue_file(database_url: str) -> str:
    """The embedded queue's file: CRMKIT_QUEUE_FILE, else beside a SQLite database (`crm.db` -> `crm-queue.db`)."""
    given = os.environ.get("CRMKIT_QUEUE_FILE")
    if given:
        return given
    if database_url.startswith("sqlite:///") and database_url != "sqlite:///:memory:":
        path = Path(database_url.removeprefix("sqlite:///").split("?", 1)[0])
        return str(path.with_name(f"{path.stem}-queue.db"))
    return DEFAULT_QUEUE_FILE


class AutomationQueue:
    """A huey instance with crmkit's tasks (automation, import jobs) bound to one Crm."""

    def __init__(self, crm: "Crm", huey: Huey) -> None:
        self.crm = crm
        self.huey = huey

        @huey.task(name=DELIVER_TASK)
        def deliver(outbox_ids: int | list[int]) -> dict[int, str]:
            ids = [outbox_ids] if isinstance(outbox_ids, int) else outbox_ids  # one id: a task queued by 0.x
            return crm.outbox.work_many(ids)

        @huey.periodic_task(crontab(minute="*"), name=REQUEUE_TASK)
        def requeue() -> list[int]:
            return crm.outbox.requeue()

        self.deliver, self.requeue = deliver, requeue

        @huey.periodic_task(crontab(minute="17", hour="3"), name=PRUNE_TASK)
        def prune() -> dict[str, int]:
            from crmkit.engine.automation.runlog import prune as prune_logs
            from crmkit.engine.records.changes import CHANGE_TABLE, prune_changes

            return {**prune_logs(crm), CHANGE_TABLE: prune_changes(crm)}

        self.prune = prune
        @huey.periodic_task(crontab(minute="*"), name=TIME_TASK)
        def time_based() -> dict:
            from crmkit.engine.automation.due import run_time_based

            return run_time_based(crm)

        self.time_based = time_based

        @huey.task(name=IMPORT_TASK)
        def run_import(job_id: int) -> None:
            from crmkit.engine.transfer.background import run_import_job

            run_import_job(crm, job_id)

        self.run_import = run_import

    @classmethod
    def open(cls, crm: "Crm", *, redis_url: str | None = None, path: str | None = None) -> "AutomationQueue":
        """RedisHuey at `redis_url` (else CRMKIT_REDIS_URL), else SqliteHuey in `path` (else `queue_file`)."""
        redis_url = redis_url or os.environ.get("CRMKIT_REDIS_URL")
        if redis_url:
            return cls(crm, RedisHuey("crmkit", url=redis_url, results=False))
        filename = path or queue_file(crm.engine.url.render_as_string(hide_password=True))
        Path(filename).parent.mkdir(parents=True, exist_ok=True)
        return cls(crm, SqliteHuey("crmkit", filename=filename, results=False))

    def enqueue(self, outbox_ids: Sequence[int], *, eta: datetime | None = None) -> None:
        """Hand `outbox_ids` to the workers, now or at `eta` (a moment of `Crm.clock`), BATCH ids a task."""
        delay = max(0.0, (eta - self.crm.clock()).total_seconds()) if eta is not None else None
        ids = list(outbox_ids)
        for start in range(0, len(ids), BATCH):
            chunk = ids[start:start + BATCH]
            if delay:
                self.deliver.schedule((chunk,), delay=delay)
            else:
                self.deliver(chunk)

    def enqueue_import(self, job_id: int) -> None:
        """Hand an import job to the workers (it reads its file from where the job says)."""
        self.run_import(job_id)

    def work_one(self) -> bool:
        """Take the next ready task and run it in this thread (tests, `crmkit worker --once`); False if none."""
        task = self.huey.dequeue()
        if task is None:
            return False
        self.huey.execute(task)
        return True

    def consumer(self, *, workers: int = 1):
        """huey's consumer for these tasks (threads), running the periodic requeue too: `.run()` blocks."""
        # An idle worker polls the embedded (SQLite) queue at most a second apart (huey's default
        # backs off to 10 s): a save's actions start within about a second. Redis blocks instead.
        return self.huey.create_consumer(workers=workers, worker_type="thread", periodic=True, max_delay=1.0)

    @contextmanager
    def embedded(self, *, workers: int = 1) -> Iterator[None]:
        """Works the queue in threads of this process while the block runs (`crmkit serve`, development).

        huey's consumer installs its own handlers for SIGINT, SIGTERM and SIGHUP when it starts;
        the process's handlers are put back, so Ctrl+C still stops the server, and the consumer's
        threads are told to stop when the block ends. Production runs `crmkit worker` instead.
        """
        consumer = self.consumer(workers=workers)
        kept = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        consumer.start()
        for signum, handler in kept.items():
            signal.signal(signum, handler)
        try:
            yield
        finally:
            consumer.stop(graceful=False)
