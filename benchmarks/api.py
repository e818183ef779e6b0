"""The API line: a list page of 50 accounts through a live server, against the bare engine call.

A werkzeug server (threaded, HTTP/1.1) serves the app on 127.0.0.1 in this process; one keep-alive
client asks `GET /api/v1/objects/account?limit=50` with the administrator's API token (token
check, the rate limiter counting in memory, the UserContext, the engine's query, JSON, security
headers and the HTTP round trip).
The reference is `records("account").query(None, limit=50)` called directly with the same
user's context. Issue 12's target: within 2x.
"""
from __future__ import annotations

import json
import statistics
import threading
from http.client import HTTPConnection
from typing import Iterator

from werkzeug.serving import WSGIRequestHandler, make_server

from benchmarks.report import Result, Target
from benchmarks.ui import SECRET, p95, samples
from crmkit.engine import Crm
from crmkit.engine.security.tokens import TokenStore

API_TARGET = Target("<= 2x", ratio=2.0)
PATH = "/api/v1/objects/account?limit=50"
#: The rate limiter stays on, as deployed, counting in this process's memory (no CRMKIT_REDIS_URL: one
#: process); the limit is high enough that the bench's calls are never refused.
RATE_LIMIT = "1000000 per minute"


class KeepAlive(WSGIRequestHandler):
    """HTTP/1.1, so the client's connection is kept between calls (as behind any proxy); no access log."""

    protocol_version = "HTTP/1.1"

    def log_request(self, *args: object, **kwargs: object) -> None:
        pass


def api_lines(crm: Crm, users: dict[str, list[int]], budget: float, *, rate_limit: str = RATE_LIMIT,
              redis_url: str | None = None) -> Iterator[Result]:
    """The API list page of 50 over HTTP against `records.query` (the same user, the same page).

    `rate_limit` "" turns the limiter off; `redis_url` counts in Redis instead of memory.
    """
    from crmkit.ui import create_app

    admin = users["admin"][0]
    token = TokenStore(crm).create(admin, "bench").token
    config = {"SECRET_KEY": SECRET, "CRMKIT_API_RATE_LIMIT": rate_limit}
    if redis_url:
        config["CRMKIT_REDIS_URL"] = redis_url
    limiter = "no rate limiter" if not rate_limit else f"rate limiter in {'Redis' if redis_url else 'memory'}"
    app = create_app(crm, config)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=KeepAlive)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    connection = HTTPConnection("127.0.0.1", server.server_port, timeout=60)
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
        ours = samples(page, budget, least)
        bare = samples(lambda: accounts.query(None, limit=50), budget, least)
        yield Result(f"API list page of {rows} (HTTP, JSON)", statistics.median(ours), statistics.median(bare),
                     API_TARGET, f"p95 {p95(ours) * 1e3:.1f} ms; engine call p95 {p95(bare) * 1e3:.1f} ms; "
                     f"live werkzeug server, bearer token, {limiter}", p95=p95(ours))
    finally:
        connection.close()
        server.shutdown()
        thread.join(timeout=10)
