"""The UI lines: the list page and a detail page against the bare engine calls behind them, and the
list page's throughput under gunicorn.

Server time is measured through Flask's test client (one WSGI call each: session cookie,
sign-in check, the engine calls, the template, CSRF token, security headers), signed in as
the administrator, with p50 and p95 over repeated requests; the reference is the same
engine calls made directly with the same user's context, each call made right after a
request (paired_samples), so both meet the same load of a shared machine. The note adds the
ratio of this process's CPU time (the page's to its engine calls'): on a loaded machine the
wall-clock ratio grows with the load (a longer request is preempted more often), the CPU
ratio much less; on PostgreSQL it leaves out the server's own work:

- list page `/o/account`: the sign-in check (`Authenticator.session_user` of the page's login
  session), the menu of saved views (`SavedViews.menu`), `records.query` (first page of 50 in the
  layout's sort) and `records.count` (capped as the page caps it);
- detail page `/r/account/<id>` of an account with 6 contacts, 6 opportunities and 6 cases
  (three related lists with rows; the layout's other three related lists are empty): the sign-in
  check, `records.get` and one `records.query` per related list of the layout.

Every engine call a page makes is in its reference, so the ratio is what the UI layer adds (Flask,
the session cookie, formatting, HTML, CSRF, headers, the test client's WSGI call); the list line's
note also gives the ratio to `records.query` + `records.count` alone, the reference of earlier runs.

Throughput: gunicorn (2 workers, gthread with 4 threads each; see docs/ui.md for why not
sync) serves the bench database on 127.0.0.1, and a bounded load generator (LOAD_CLIENTS
keep-alive clients, each sending its next request when the previous one answered) asks
for `/o/account` for --load-seconds: `wrk` when it is installed, else a small Python
client of http.client threads. Pages per second and p95 latency under load are printed.
"""
from __future__ import annotations

import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from http.client import HTTPConnection
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlencode

from benchmarks.report import Result, Target
from crmkit.engine import Crm
from crmkit.engine.saved_views import SavedViews
from crmkit.engine.security.users import SystemDirectory
from crmkit.ui.list_page import COUNT_CAP
from crmkit.ui.sessions import LOGIN_TOKEN

PASSWORD = "ui bench password 1"
SECRET = "ui-bench-secret-key-0123456789-0123456789"
#: Issue 9: the list page's p95 under 50 ms and at most twice its engine calls.
LIST_TARGET = Target("p95 < 50 ms, <= 2x", ratio=2.0, p95_seconds=0.050)
DETAIL_TARGET = Target("-")
#: Issue 9: list pages per second under gunicorn with 2 workers on 2 cores.
PAGES_PER_SECOND = 150
LOAD_CLIENTS = 8
WORKERS, THREADS = 2, 4
CHILDREN = 6
#: Seconds gunicorn's workers may take to load the application and answer.
STARTUP = 120


@dataclass(frozen=True)
class Load:
    """What the load generator measured: pages answered per second, their p95 latency, and how."""

    pages: int
    seconds: float
    p95: float
    errors: int
    tool: str
    #: Threads per gunicorn worker; 0 for the sync worker class.
    threads: int = THREADS
    #: CPU seconds the load generator itself used (it shares the machine's cores with gunicorn); None: not measured.
    generator_cpu: float | None = None

    @property
    def per_second(self) -> float:
        return self.pages / self.seconds if self.seconds else 0.0

    @property
    def met(self) -> bool:
        return self.per_second >= PAGES_PER_SECOND and not self.errors

    def line(self) -> str:
        mark = "ok" if self.met else "NO"
        errors = f", {self.errors} errors" if self.errors else ""
        workers = f"{WORKERS} gthread workers x {self.threads} threads" if self.threads else f"{WORKERS} sync workers"
        generator = "" if self.generator_cpu is None or not self.seconds else \
            f" using {self.generator_cpu / self.seconds:.0%} of a core"
        return (f"UI list page under load: {self.per_second:,.0f} pages/s, p95 {self.p95 * 1e3:.1f} ms "
                f"({LOAD_CLIENTS} keep-alive clients, {self.tool}{generator}, gunicorn {workers}{errors})  "
                f"{mark} target >= {PAGES_PER_SECOND} pages/s")


def samples(call: Callable[[], object], budget: float, least: int = 20) -> list[float]:
    """Seconds of repeated calls of `call` (one warm-up first) for about `budget` seconds, at least `least` of them."""
    call()
    times: list[float] = []
    end = time.perf_counter() + budget
    while time.perf_counter() < end or len(times) < least:
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def paired_samples(first: Callable[[], object], second: Callable[[], object], budget: float,
                   least: int = 20) -> tuple[list[float], list[float], float]:
    """Seconds of `first` and of `second`, called in turn (one warm-up each first) for about 2 x `budget` seconds,
    at least `least` of each: both meet the same moments of a shared machine's load, so their ratio does not swing
    with what other processes did while only one of them was measured. Also the ratio of the CPU time this
    process spent in all the calls of `first` to that in `second` (a database server's own work not counted)."""
    first()
    second()
    ones: list[float] = []
    twos: list[float] = []
    cpu_first = cpu_second = 0.0
    end = time.perf_counter() + 2 * budget
    while time.perf_counter() < end or len(ones) < least:
        start, cpu = time.perf_counter(), time.process_time()
        first()
        middle, cpu_middle = time.perf_counter(), time.process_time()
        second()
        ones.append(middle - start)
        twos.append(time.perf_counter() - middle)
        cpu_first += cpu_middle - cpu
        cpu_second += time.process_time() - cpu_middle
    return ones, twos, cpu_first / cpu_second if cpu_second else 0.0


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]


def prepare(crm: Crm, users: dict[str, list[int]], rows: int) -> int:
    """The administrator's password, and the detail page's account with its related records; returns its id."""
    SystemDirectory(crm).set_password(users["admin"][0], PASSWORD)
    system = crm.as_system()
    account_id = max(1, rows // 2)
    if system.records("contact").query({"account": account_id}, limit=1).records:
        return account_id  # --keep: made by an earlier run
    for number in range(CHILDREN):
        system.records("contact").create({"first_name": "Wei", "last_name": f"Li {number}", "title": "Buyer",
                                          "email": f"li{number}@example.com", "account": account_id})
        system.records("opportunity").create({"name": f"Renewal {number}", "account": account_id,
                                              "stage": "Prospecting", "close_date": date(2030, 1, number + 1),
                                              "amount": Decimal("12500.50")})
        system.records("service_case").create({"subject": f"Cannot sign in {number}", "account": account_id,
                                               "status": "New"})
    return account_id


def login_cookie(get: Callable[[str], tuple[str, str]], post: Callable[[str, str, str], str],
                 username: str = "admin0") -> str:
    """Signs `username` (the administrator by default; password PASSWORD) in through /login (with its CSRF
    token); returns the session cookie ("session=...").

    `get(path)` returns (body, cookie) and `post(path, body, cookie)` the new cookie.
    """
    body, cookie = get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', body)[1]
    form = urlencode({"csrf_token": token, "username": username, "password": PASSWORD, "next": "/"})
    return post("/login", form, cookie)


def ui_lines(crm: Crm, users: dict[str, list[int]], rows: int, budget: float) -> Iterator[Result]:
    """The list page and the detail page against their engine calls (Flask's test client, this process)."""
    from crmkit.ui import create_app

    account_id = prepare(crm, users, rows)
    app = create_app(crm, {"SECRET_KEY": SECRET})
    client = app.test_client()

    def get(path: str) -> tuple[str, str]:
        return client.get(path).get_data(as_text=True), ""

    def post(path: str, form: str, cookie: str) -> str:
        client.post(path, data=form, content_type="application/x-www-form-urlencoded")
        return ""

    login_cookie(get, post)
    with client.session_transaction() as cookie:
        token = cookie[LOGIN_TOKEN]
    authenticator = app.extensions["crmkit"].authenticator
    context = crm.as_user(users["admin"][0])
    views = SavedViews(context)
    registry = crm.runtime.registry
    layout = registry.layout("account")
    list_sort = layout.list.sort if layout.list is not None else ()
    accounts = context.records("account")
    # The engine calls read the columns the pages show, as the pages do (list_page.stored_columns).
    list_columns = layout.list.columns if layout.list is not None else None
    related_lists = [(context.records(related.object), related) for related in layout.related or ()]

    def list_records() -> None:
        accounts.query(None, sort=list_sort, limit=50, fields=list_columns)
        accounts.count(None, cap=COUNT_CAP)

    def list_engine() -> None:
        authenticator.session_user(token)
        views.menu("account")
        list_records()

    def detail_engine() -> None:
        authenticator.session_user(token)
        accounts.get(account_id)
        for records, related in related_lists:
            records.query({related.via: account_id}, sort=related.sort, limit=related.rows,
                          fields=related.columns or None)

    for name, path, engine, target in (
            ("UI list page (50 rows)", "/o/account", list_engine, LIST_TARGET),
            ("UI detail page (3 related lists)", f"/r/account/{account_id}", detail_engine, DETAIL_TARGET)):
        response = client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"make bench: {path} answered {response.status_code}, not 200.")
        least = 20 if budget >= 0.1 else 3  # enough for a p95; a smoke run (tests/test_bench.py) takes a few
        page, bare, cpu = paired_samples(lambda address=path: client.get(address), engine, budget, least)
        ours, reference, late, bare_late = statistics.median(page), statistics.median(bare), p95(page), p95(bare)
        records_only = ""
        if engine is list_engine:  # the reference of earlier runs, for comparison
            again, alone, _ = paired_samples(lambda address=path: client.get(address), list_records, budget / 2, least)
            records_only = f"; {statistics.median(again) / statistics.median(alone):.2f}x query + count alone"
        yield Result(name, ours, reference, target,
                     f"p50 {ours * 1e3:.1f} ms, p95 {late * 1e3:.1f} ms; engine calls p95 {bare_late * 1e3:.1f} ms; "
                     f"CPU {cpu:.2f}x{records_only}", p95=late)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(url: str, port: int, threads: int = THREADS, settings: dict[str, str] | None = None) -> subprocess.Popen:
    """gunicorn serving crmkit on the bench database at 127.0.0.1:`port` (gthread workers with `threads`
    threads each; 0: sync workers), once it answers; `settings` are more CRMKIT_* environment variables."""
    environment = {**os.environ, "CRMKIT_DATABASE_URL": url, "CRMKIT_SECRET_KEY": SECRET, **(settings or {})}
    kind = ["--worker-class", "gthread", "--threads", str(threads)] if threads else ["--worker-class", "sync"]
    heartbeat = ["--worker-tmp-dir", "/dev/shm"] if os.path.isdir("/dev/shm") else []  # as README deploys it
    command = [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS), *kind, *heartbeat,
               "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "crmkit.ui:create_app()"]
    server = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    end = time.monotonic() + STARTUP
    while time.monotonic() < end:
        if server.poll() is not None:
            raise SystemExit(f"make bench: gunicorn stopped: {server.stderr.read().decode()[-2000:]}")
        try:  # the port opens before the workers have loaded the application: wait for a page
            connection = HTTPConnection("127.0.0.1", port, timeout=STARTUP)
            connection.request("GET", "/login")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
        finally:
            connection.close()
    server.terminate()
    raise SystemExit(f"make bench: gunicorn did not answer within {STARTUP} seconds.")


def http_sign_in(port: int) -> str:
    """The session cookie of the administrator signed in over HTTP."""
    connection = HTTPConnection("127.0.0.1", port, timeout=30)

    def get(path: str) -> tuple[str, str]:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.read().decode(), cookie_of(response.getheader("Set-Cookie", ""))

    def post(path: str, form: str, cookie: str) -> str:
        connection.request("POST", path, body=form, headers={
            "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
        response = connection.getresponse()
        response.read()
        if response.status != 302:
            raise SystemExit(f"make bench: signing in over HTTP answered {response.status}.")
        return cookie_of(response.getheader("Set-Cookie", ""))

    try:
        return login_cookie(get, post)
    finally:
        connection.close()


def cookie_of(header: str) -> str:
    return header.split(";", 1)[0]


def python_load(port: int, cookie: str, path: str, seconds: float) -> Load:
    """LOAD_CLIENTS threads, each with one keep-alive connection, asking for `path` until `seconds` pass."""
    latencies: list[list[float]] = [[] for _ in range(LOAD_CLIENTS)]
    errors = [0] * LOAD_CLIENTS
    end = time.perf_counter() + seconds

    def client(number: int) -> None:
        connection = HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            while time.perf_counter() < end:
                start = time.perf_counter()
                connection.request("GET", path, headers={"Cookie": cookie})
                response = connection.getresponse()
                response.read()
                latencies[number].append(time.perf_counter() - start)
                if response.status != 200:
                    errors[number] += 1
        finally:
            connection.close()

    started, cpu = time.perf_counter(), time.process_time()
    threads = [threading.Thread(target=client, args=(number,)) for number in range(LOAD_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [latency for times in latencies for latency in times]
    return Load(len(every), time.perf_counter() - started, p95(every) if every else 0.0, sum(errors),
                "Python http.client threads", generator_cpu=time.process_time() - cpu)


WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("crmkit %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(95), summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout))
end
"""


def wrk_load(wrk: str, port: int, cookie: str, path: str, seconds: float) -> Load:
    """`wrk` with LOAD_CLIENTS connections on 2 threads for `seconds` (at least 1)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "report.lua"
        script.write_text(WRK_SCRIPT)
        output = subprocess.run(
            [wrk, "-t2", f"-c{LOAD_CLIENTS}", f"-d{max(1, round(seconds))}s", "-s", str(script), "-H",
             f"Cookie: {cookie}", f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, timeout=600)
    found = re.search(r"crmkit (\d+) (\d+) (\d+) (\d+)", output.stdout)
    if found is None:
        raise SystemExit(f"make bench: wrk printed no summary: {output.stdout[-1000:]} {output.stderr[-1000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk has ended: its CPU time is counted here
    used = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    requests, microseconds, late, errors = (int(value) for value in found.groups())
    return Load(requests, microseconds / 1e6, late / 1e6, errors, "wrk", generator_cpu=used)


def throughput(url: str, seconds: float, threads: int = THREADS) -> Load:
    """The list page's throughput under gunicorn on the database at `url` (see the module docstring)."""
    port = free_port()
    server = start_gunicorn(url, port, threads)
    try:
        cookie = http_sign_in(port)
        path = "/o/account"
        python_load(port, cookie, path, min(seconds, 1.0))  # warm-up: every worker and thread opened its connections
        wrk = shutil.which("wrk")
        if wrk is None:
            print("wrk is not installed (apt-get install wrk), so a Python client drives the load; it takes some of "
                  "the same two cores, so the pages per second are lower than wrk would show.", flush=True)
            return replace(python_load(port, cookie, path, seconds), threads=threads)
        return replace(wrk_load(wrk, port, cookie, path, seconds), threads=threads)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
