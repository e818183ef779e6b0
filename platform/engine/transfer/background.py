"""Import jobs run away from the request that started them: in a queue worker, else a thread.

    job_id = ImportService(context, "contact").start(path, options)
    start_in_background(crm, job_id)      # returns at once; the job row shows the progress

With a task queue (`crm.queue`, set by `crmkit serve` and `crmkit worker`: automation/queue.py)
the job goes to a worker, which must be able to open the job's file (the same machine, or
a shared folder). Without one (an app given its own Crm, tests) a daemon thread of this
process runs it. Either way the job runs as the user who started it, with their rights as
they are when each batch starts, and a job a stopped process left unfinished is resumed
from the page or `crmkit import --resume ID`.
"""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from crmkit.engine.transfer import jobs
from crmkit.errors import CrmkitError

if TYPE_CHECKING:
    from crmkit.engine.crm import Crm

logger = logging.getLogger("crmkit.transfer")


def run_import_job(crm: "Crm", job_id: int) -> None:
    """Run (or resume) import `job_id` to its end as the user who started it; errors end up on the job row."""
    from crmkit.engine.transfer.importer import ImportService

    system = crm.as_system()
    with system.reading() as connection:
        job = jobs.read_job(connection, system.runtime, job_id, None)
    context = crm.as_user(job.user_id) if job.user_id is not None else system
    try:
        ImportService(context, job.object).resume(job_id)
    except CrmkitError as error:  # kept on the job (status failed) by ImportService; said once in the log
        logger.warning("import %s stopped: %s", job_id, error)


def start_in_background(crm: "Crm", job_id: int) -> None:
    """Queue the job for a worker, or run it in a daemon thread when there is no queue; returns at once."""
    if crm.queue is not None:
        crm.queue.enqueue_import(job_id)
        return
    threading.Thread(target=run_import_job, args=(crm, job_id), name=f"crmkit-import-{job_id}", daemon=True).start()
