"""Time from a record's commit to its email arriving at a local SMTP server, through the embedded queue.

    python -m benchmarks.email_latency [--emails 200]

A fresh SQLite database (a temporary folder) gets a small package whose `person` sends a
welcome email when created; the embedded huey queue (`AutomationQueue.embedded`, as `crmkit
serve` runs it) works the outbox while the bench creates people one at a time and waits for
each message at an aiosmtpd server on 127.0.0.1 (a random port). Each latency is from the
create's return (the commit, and the id handed to the queue) to the server's DATA handler
receiving the message, so it includes the queue's pick-up, the claim, the sandboxed render
(a child process) and the SMTP conversation. Target (issue 10): p95 under 2 s.
"""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.report import HEADER, Result, Target, line

PACKAGE = """
package: mail_bench
version: "1.0.0"
objects:
  person:
    fields:
      name: {type: text, required: true}
      email: {type: email}
    email_templates:
      welcome:
        subject: "Welcome, {{ record.name }}"
        html: "<p>Hello {{ record.name }}</p>"
        text: "Hello {{ record.name }}"
    automations:
      - name: welcome
        on: [created]
        actions: [{type: send_email, template: welcome, to: [email]}]
"""
TARGET = Target("p95 < 2 s", p95_seconds=2.0)


class _Inbox:
    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.event = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        with self.event:
            self.arrived[envelope.rcpt_tos[0]] = time.perf_counter()
            self.event.notify_all()
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def measure(emails: int = 200) -> Result:
    """p50 (as `ours`) and p95 of commit -> received over `emails` messages, sent one after another."""
    from aiosmtpd.controller import Controller

    from crmkit.engine import Crm
    from crmkit.engine.automation.queue import AutomationQueue

    folder = Path(tempfile.mkdtemp(prefix="crmkit-mail-bench-"))
    inbox, port = _Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    saved = {name: os.environ.get(name) for name in ("CRMKIT_SMTP_HOST", "CRMKIT_SMTP_PORT", "CRMKIT_SMTP_FROM")}
    os.environ.update(CRMKIT_SMTP_HOST="127.0.0.1", CRMKIT_SMTP_PORT=str(port), CRMKIT_SMTP_FROM="bench@example.com")
    crm = Crm.open(f"sqlite:///{folder / 'mail.db'}")
    try:
        (folder / "mail_bench.yaml").write_text(PACKAGE, encoding="utf-8")
        crm.install(folder / "mail_bench.yaml")
        crm.queue = AutomationQueue.open(crm, path=str(folder / "queue.db"))
        people = crm.as_system().records("person")
        latencies = []
        with crm.queue.embedded(workers=1):
            for number in range(emails):
                address = f"p{number}@example.com"
                people.create({"name": f"Person {number}", "email": address})
                committed = time.perf_counter()
                with inbox.event:
                    inbox.event.wait_for(lambda wanted=address: wanted in inbox.arrived, timeout=30)
                latencies.append(inbox.arrived.get(address, committed + 30) - committed)
    finally:
        crm.close()
        controller.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(folder, ignore_errors=True)
    p50 = statistics.median(latencies)
    p95 = statistics.quantiles(latencies, n=20)[-1]
    return Result(f"email: commit -> received at SMTP (p50; {emails} emails)", p50, p50, TARGET,
                  note=f"p95 {p95 * 1000:,.0f} ms, embedded queue, SQLite", p95=p95)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.email_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=200, help="Emails sent, one after another (default 200).")
    chosen = parser.parse_args(argv)
    print(HEADER)
    print(line(measure(chosen.emails)))


if __name__ == "__main__":
    main()
