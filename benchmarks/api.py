"""The API line: a list page of 50 accounts through a live production server, against the bare engine call.

gunicorn, as docs/ui.md deploys crmkit (gthread workers; benchmarks/ui.py starts it), serves the
bench database on 127.0.0.1 in processes of its own; one keep-alive client in this process asks
`GET /api/v1/objects/account?limit=50` with the administrator's API token: the HTTP round trip,
the token check, the rate limiter (counting in the worker's memory: no CRMKIT_REDIS_URL), the
UserContext, the engine's query, JSON and the security headers.
The reference is `records("account").query(None, limit=50)` called directly in this process with
the same user's context, each call right after a request (paired_samples), so both meet the same
load of a shared machine. Issue 12's target: within 2x.
"""
from __future__ import annotations

import json
import statistics
from http.client import HTTPConnection
from typing import Iterator

from benchmarks.report import Result, Target
from benchmarks.ui import free_port, p95, paired_samples, start_gunicorn
from crmkit.engine import Crm
from crmkit.engine.security.tokens import TokenStore

API_TARGET = Target("<= 2x", ratio=2.0)
PATH = "/api/v1/objects/account?limit=50"
#: The rate limiter stays on, as deployed; the limit is high enough that the bench's calls are never refused.
RATE_LIMIT = "1000000 per minute"
#: Threads per gunicorn worker: one client asks one request at a time, so one worker serves it.
THREADS = 4


def api_lines(crm: Crm, url: str, users: dict[str, list[int]], budget: float, *, rate_limit: str = RATE_LIMIT,
              redis_url: str | None = None) -> Iterator[Result]:
    """The API list page of 50 over HTTP against `records.query` (the same user, the same page).

    `url` is the bench database's address (gunicorn opens it); `rate_limit` "" turns the limiter
    off; `redis_url` counts in Redis instead of the worker's memory.
    """
    admin = users["admin"][0]
    token = TokenStore(crm).create(admin, "bench").token
    settings = {"CRMKIT_API_RATE_LIMIT": rate_limit}
    if redis_url:
        settings["CRMKIT_REDIS_URL"] = redis_url
    limiter = "no rate limiter" if not rate_limit else f"rate limiter in {'Redis' if redis_url else 'memory'}"
    port = free_port()
    server = start_gunicorn(url, port, THREADS, settings)
    connection = HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"}

    def page() -> bytes:
        connection.request("GET", PATH, headers=headers)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"make bench: {PATH} answered {response.status}: {body[:300]!r}")
        return body

    try:
        rows = len(json.loads(page())["data"])
        accounts = crm.as_user(admin).records("account")
        least = 20 if budget >= 0.1 else 3
        ours, bare, _ = paired_samples(page, lambda: accounts.query(None, limit=50), budget, least)
        yield Result(f"API list page of {rows} (HTTP, JSON)", statistics.median(ours), statistics.median(bare),
                     API_TARGET, f"p95 {p95(ours) * 1e3:.1f} ms; engine call p95 {p95(bare) * 1e3:.1f} ms; "
                     f"gunicorn gthread, keep-alive client, bearer token, {limiter}", p95=p95(ours))
    finally:
        connection.close()
        server.terminate()
        server.wait(timeout=30)
