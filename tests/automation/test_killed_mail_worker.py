"""A real worker process killed (SIGKILL) in the middle of an email: before the server took the message,
another worker sends it once; after the server took it and before the row was marked done, it is never
sent again and the row says so. The SMTP server the test starts counts what it received."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timezone
from email import message_from_bytes, policy

import pytest

from crmkit.engine.automation.deliveries import LEASE
from tests.automation.delivery_fixtures import free_port

WORKER = "import sys\nfrom crmkit.engine import Crm\nprint(Crm.open(sys.argv[1]).outbox.work(int(sys.argv[2])))\n"


class StallingInbox:
    """Counts the messages it took; holds the first conversation at `stall` ("RCPT" or "DATA") until released."""

    def __init__(self, stall: str) -> None:
        self.stall, self.messages = stall, []
        self.reached, self.release = threading.Event(), threading.Event()

    async def _hold(self, step: str) -> None:
        if self.stall == step and not self.reached.is_set():
            self.reached.set()
            while not self.release.is_set():  # a handoff to the test's thread, bounded by its timeout
                await asyncio.sleep(0.02)

    async def handle_RCPT(self, server, session, envelope, address, options):
        await self._hold("RCPT")
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
        await self._hold("DATA")  # the server has the message; the client has not heard "250" yet
        return "250 OK"


@pytest.mark.parametrize("stall", ["RCPT", "DATA"])
def test_a_killed_worker_process_never_makes_an_email_go_out_twice(mailing, crm, clock, database_url,
                                                                   monkeypatch, stall):
    from aiosmtpd.controller import Controller

    inbox, port = StallingInbox(stall), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    for name, value in {"CRMKIT_SMTP_HOST": "127.0.0.1", "CRMKIT_SMTP_PORT": str(port),
                        "CRMKIT_SMTP_FROM": "crm@example.com", "CRMKIT_SMTP_TIMEOUT": "60"}.items():
        monkeypatch.setenv(name, value)
    try:
        created = mailing.records("person").create({"name": "Kim", "email": "kim@example.com"})
        (row,) = [r for r in crm.outbox.rows(limit=100) if r["kind"] == "send_email" and r["record_id"] == created.id]
        worker = subprocess.Popen([sys.executable, "-c", WORKER, database_url, str(row["id"])],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert inbox.reached.wait(timeout=60), worker.communicate(timeout=5)
        os.kill(worker.pid, signal.SIGKILL)
        worker.communicate(timeout=30)
        inbox.release.set()
        # Another worker, once the dead one's lease is over (the child used the real clock).
        clock.moment = datetime.now(timezone.utc) + LEASE * 2
        crm.outbox.requeue()
        crm.outbox.work_due()
        after = next(r for r in crm.outbox.rows(limit=100) if r["id"] == row["id"])
        kim = [message for message in inbox.messages if message["To"] == "kim@example.com, ops@example.com"]
        assert len(kim) == 1  # exactly one message for the row, whichever moment the worker died
        assert kim[0]["Message-ID"] == f"<crmkit.outbox.{row['id']}@example.com>"
        if stall == "RCPT":
            assert after["status"] == "done"
        else:
            assert after["status"] == "dead" and "may have been delivered" in after["last_error"]
    finally:
        inbox.release.set()
        controller.stop()
