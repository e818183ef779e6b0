"""Rate limits per token (across workers with Redis) and request ids in answers and logs."""
from __future__ import annotations

import hashlib
import logging
import shutil
import socket
import subprocess
import time
from typing import Iterator

import pytest

from tests.api.conftest import make_app


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A Redis server of this module's own on a free port (skipped where redis-server is not installed)."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _get(app, token: str, path: str = "/api/v1/objects", **headers: str):
    return app.test_client().get(path, headers={"Authorization": f"Bearer {token}", **headers})


def test_a_token_over_its_limit_gets_429_with_retry_after(api_crm):
    app = make_app(api_crm.crm, CRMKIT_API_RATE_LIMIT="3 per minute")
    statuses = [_get(app, api_crm.tokens["wang"]).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = _get(app, api_crm.tokens["wang"])
    assert refused.status_code == 429
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.get_json()["status"] == 429
    assert _get(app, api_crm.tokens["li"]).status_code == 200  # another token counts on its own


def test_every_limited_answer_tells_the_limit_nearest_to_running_out(api_crm):
    app = make_app(api_crm.crm, CRMKIT_API_RATE_LIMIT="100 per hour; 4 per minute")
    first = _get(app, api_crm.tokens["wang"])
    assert first.headers["X-RateLimit-Limit"] == "4" and first.headers["X-RateLimit-Remaining"] == "3"
    assert 0 < int(first.headers["X-RateLimit-Reset"]) - time.time() <= 61
    for _ in range(3):
        _get(app, api_crm.tokens["wang"])
    refused = _get(app, api_crm.tokens["wang"])
    assert refused.status_code == 429 and refused.headers["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "X-RateLimit-Limit" not in make_app(api_crm.crm).test_client().get("/login").headers  # only API calls


def test_calls_without_a_token_are_counted_per_client_address(api_crm):
    app = make_app(api_crm.crm, CRMKIT_API_RATE_LIMIT="2 per minute")
    client = app.test_client()
    assert [client.get("/api/v1/objects").status_code for _ in range(3)] == [401, 401, 429]
    assert _get(app, api_crm.tokens["wang"]).status_code == 200  # a token counts on its own


def test_limits_off_leave_no_rate_headers(api_app, api_crm):
    answer = _get(api_app, api_crm.tokens["wang"])
    assert answer.status_code == 200 and "X-RateLimit-Limit" not in answer.headers


@pytest.mark.parametrize("text", ["lots per minute", "5 per fortnight", "5/"])
def test_a_rate_limit_that_is_not_one_stops_the_app_saying_how_to_write_it(api_crm, text):
    from crmkit.engine.secret_key import ConfigurationError

    with pytest.raises(ConfigurationError, match="is not a rate limit: write for example '600 per minute"):
        make_app(api_crm.crm, CRMKIT_API_RATE_LIMIT=text)


def test_the_limit_holds_across_workers_sharing_redis(api_crm, redis_url):
    workers = [make_app(api_crm.crm, CRMKIT_API_RATE_LIMIT="3 per minute", CRMKIT_REDIS_URL=redis_url)
               for _ in range(2)]
    token = api_crm.tokens["admin"]
    assert [_get(workers[number % 2], token).status_code for number in range(3)] == [200, 200, 200]
    assert _get(workers[1], token).status_code == 429
    assert _get(workers[0], token).status_code == 429


def test_a_request_id_is_kept_or_made_and_logged(api_app, api_crm, caplog):
    token = api_crm.tokens["wang"]
    with caplog.at_level(logging.INFO, logger="crmkit.api"):
        given = _get(api_app, token, **{"X-Request-Id": "erp-sync-42"})
    assert given.headers["X-Request-Id"] == "erp-sync-42"
    assert any(getattr(record, "request_id", None) == "erp-sync-42" for record in caplog.records)
    made = _get(api_app, token, **{"X-Request-Id": "bad id <script>"})
    assert made.headers["X-Request-Id"] != "bad id <script>" and len(made.headers["X-Request-Id"]) == 32
    problem = _get(api_app, token, "/api/v1/objects/nothing", **{"X-Request-Id": "lost-1"})
    assert problem.get_json()["request_id"] == "lost-1" and problem.headers["X-Request-Id"] == "lost-1"


def test_a_revoked_token_stops_working_once_its_trust_runs_out(api_crm, monkeypatch):
    import importlib

    from crmkit.engine.security.tokens import TokenStore

    calls = importlib.import_module("crmkit.api.blueprint")  # the module, not the Blueprint of that name

    app = make_app(api_crm.crm)
    store = TokenStore(api_crm.crm)
    issued = store.create(api_crm.users["wang"], "revoked soon")
    assert _get(app, issued.token).status_code == 200
    store.revoke(issued.id)
    monkeypatch.setattr(calls, "TOKEN_TRUSTED_SECONDS", 0.0)
    assert _get(app, issued.token).status_code == 401


def test_a_token_revoked_in_this_process_is_refused_at_once_though_still_trusted(api_crm):
    """TOKEN_TRUSTED_SECONDS (5 s) bounds a revocation made elsewhere; one made here empties the trusted tokens."""
    from crmkit.engine.security.tokens import TokenStore

    app = make_app(api_crm.crm)
    store = TokenStore(api_crm.crm)
    revoked, kept = (store.create(api_crm.users["wang"], name) for name in ("revoked now", "kept on"))
    assert _get(app, revoked.token).status_code == 200 and _get(app, kept.token).status_code == 200
    store.revoke(revoked.id)
    assert _get(app, revoked.token).status_code == 401
    assert _get(app, kept.token).status_code == 200  # found valid again by the database, and trusted again


def test_a_token_revoked_by_another_process_is_trusted_at_most_token_trusted_seconds(api_crm, monkeypatch):
    import importlib

    from sqlalchemy import update

    from crmkit.engine.security.tokens import TokenStore

    calls = importlib.import_module("crmkit.api.blueprint")
    app = make_app(api_crm.crm)
    issued = TokenStore(api_crm.crm).create(api_crm.users["wang"], "revoked elsewhere")
    clock = [1_000.0]
    monkeypatch.setattr(calls.time, "monotonic", lambda: clock[0])
    assert _get(app, issued.token).status_code == 200
    tokens = api_crm.crm.runtime.system_table("crmkit_api_token")
    with api_crm.crm.write_engine.begin() as connection:  # as another worker's revoke: this process is not told
        connection.execute(update(tokens).where(tokens.c.id == issued.id).values(revoked_at=api_crm.crm.clock()))
    clock[0] += calls.TOKEN_TRUSTED_SECONDS - 0.5
    assert _get(app, issued.token).status_code == 200  # still within its trust
    clock[0] += 0.5
    assert _get(app, issued.token).status_code == 401


def test_the_rate_headers_read_with_the_hit_count_every_call(api_crm):
    """In memory the hit reads its window in the same step; every call is still counted, the 429s too."""
    app = make_app(api_crm.crm, CRMKIT_API_RATE_LIMIT="5 per minute; 3 per second")
    token = api_crm.tokens["wang"]
    remaining = [_get(app, token).headers["X-RateLimit-Remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    refused = _get(app, token)
    assert refused.status_code == 429 and refused.headers["X-RateLimit-Limit"] == "3"
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    storage = app.extensions["crmkit_api_limits"].storage
    per_minute = app.extensions["crmkit_api_limits"].items[0]
    key = per_minute.key_for("crmkit-api", "token:" + hashlib.sha256(token.encode()).hexdigest()[:32])
    assert storage.get_moving_window(key, 5, 60)[1] == 4  # the refused call counted against the minute too


def test_the_memory_storage_hit_and_window_read_agree_with_limits_own_reads():
    from crmkit.api.limit_storage import ProcessMemoryStorage

    storage = ProcessMemoryStorage()
    now = [500.0]
    storage.clock = lambda: now[0]
    assert storage.acquire_entry_with_window("k", 2, 60) == (True, 500.0, 1)
    now[0] += 10
    assert storage.acquire_entry_with_window("k", 2, 60) == (True, 500.0, 2)
    assert storage.acquire_entry_with_window("k", 2, 60) == (False, 500.0, 2)
    assert storage.get_moving_window("k", 2, 60) == (500.0, 2)
    now[0] += 51  # the first entry left the window
    assert storage.acquire_entry_with_window("k", 2, 60) == (True, 510.0, 2)
    assert storage.acquire_entry_with_window("new", 0, 60) == (False, now[0], 0)


def test_a_user_deactivated_since_their_last_call_is_refused_at_once(api_crm):
    """The token is still trusted (5 s), but the call's first operation reads the rights version (as every does)."""
    from crmkit.engine.security.tokens import TokenStore
    from crmkit.engine.security.users import SystemDirectory

    app = make_app(api_crm.crm)
    directory = SystemDirectory(api_crm.crm)
    user = directory.create_user("deactivated_soon", display_name="Soon", role="sales_rep")
    token = TokenStore(api_crm.crm).create(user.id, "soon").token
    assert _get(app, token, "/api/v1/objects/account?limit=1").status_code == 200
    directory.deactivate(user.id)
    refused = _get(app, token, "/api/v1/objects/account?limit=1")
    assert refused.status_code == 401 and refused.headers["Content-Type"] == "application/problem+json"


def test_limits_without_redis_count_in_process_memory_and_free_their_window():
    from limits import parse
    from limits.strategies import MovingWindowRateLimiter

    from crmkit.api.limit_storage import SWEEP_EVERY, ProcessMemoryStorage

    storage = ProcessMemoryStorage()
    now = [1_000.0]
    storage.clock = lambda: now[0]
    limiter = MovingWindowRateLimiter(storage)
    per_minute = parse("3 per minute")
    assert [limiter.hit(per_minute, "token:a") for _ in range(4)] == [True, True, True, False]
    assert limiter.hit(per_minute, "token:b")  # each token counts on its own
    now[0] += 30
    assert not limiter.hit(per_minute, "token:a")
    assert storage.get_moving_window("crmkit/token:a", 3, 60) == (now[0], 0)  # an unknown key: nothing taken
    now[0] += 30.5  # the first three calls are more than a minute old now
    assert limiter.hit(per_minute, "token:a")
    stats = limiter.get_window_stats(per_minute, "token:a")
    assert stats.remaining == 2
    now[0] += 61
    for number in range(SWEEP_EVERY):  # a sweep drops the keys whose window is empty
        storage.acquire_entry(f"other:{number % 7}", 10_000, 60)
    assert set(storage._windows) <= {f"other:{number}" for number in range(7)}


def test_the_apps_limits_without_redis_use_the_process_memory_storage(api_crm):
    from crmkit.api.limit_storage import ProcessMemoryStorage

    app = make_app(api_crm.crm, CRMKIT_API_RATE_LIMIT="3 per minute")
    assert isinstance(app.extensions["crmkit_api_limits"].storage, ProcessMemoryStorage)


def test_a_new_made_up_token_on_each_call_is_counted_against_the_client_address(api_crm):
    import uuid

    app = make_app(api_crm.crm, CRMKIT_API_RATE_LIMIT="2 per minute")
    statuses = [_get(app, f"crmkit_{uuid.uuid4().hex}").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]  # each made-up token is a counter of its own, the address is not
    assert app.test_client().get("/api/v1/objects").status_code == 429  # nor a call without a token after them
    assert _get(app, api_crm.tokens["wang"]).status_code == 200  # a valid token still counts on its own
    other = app.test_client().get("/api/v1/objects", headers={"Authorization": "Bearer crmkit_made_up"},
                                  environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 401 and other.headers["X-RateLimit-Remaining"] == "1"  # another address's own count


def test_a_token_that_fails_is_no_counter_of_its_own_in_the_storage(api_crm):
    from flask import Flask

    from crmkit.api.limits import KEY_PREFIX, token_key

    app = make_app(api_crm.crm, CRMKIT_API_RATE_LIMIT="5 per minute")
    for _ in range(2):
        assert _get(app, "crmkit_made_up").status_code == 401
    assert _get(app, api_crm.tokens["wang"]).status_code == 200
    limits = app.extensions["crmkit_api_limits"]
    (item,) = limits.items

    def remaining(token: str) -> int:
        with Flask(__name__).test_request_context(headers={"Authorization": f"Bearer {token}"}):
            return limits.strategy.get_window_stats(item, KEY_PREFIX, token_key()).remaining

    assert remaining("crmkit_made_up") == 5  # nothing kept for it (a window's worth of them would fill memory)
    assert remaining(api_crm.tokens["wang"]) == 4
    assert app.test_client().get("/api/v1/objects").headers["X-RateLimit-Remaining"] == "2"  # the address's: 3 calls


def test_behind_proxies_made_up_tokens_count_per_forwarded_address_which_a_caller_cannot_choose_without(api_crm):
    import uuid

    proxied = make_app(api_crm.crm, CRMKIT_API_RATE_LIMIT="2 per minute", CRMKIT_PROXY_COUNT=1)
    forwarded = [_get(proxied, f"crmkit_{uuid.uuid4().hex}", **{"X-Forwarded-For": "198.51.100.9"}).status_code
                 for _ in range(3)]
    assert forwarded == [401, 401, 429]
    assert _get(proxied, "crmkit_made_up", **{"X-Forwarded-For": "198.51.100.10"}).status_code == 401
    direct = make_app(api_crm.crm, CRMKIT_API_RATE_LIMIT="2 per minute")  # no proxy: X-Forwarded-For is ignored
    spoofed = [_get(direct, f"crmkit_{uuid.uuid4().hex}", **{"X-Forwarded-For": f"203.0.113.{n}"}).status_code
               for n in range(3)]
    assert spoofed == [401, 401, 429]


def test_a_token_differing_in_case_or_scheme_spelling_is_no_fresh_counter(api_crm):
    app = make_app(api_crm.crm, CRMKIT_API_RATE_LIMIT="3 per minute")
    token = api_crm.tokens["wang"]
    client = app.test_client()
    spellings = (f"Bearer {token}", f"bearer {token}", f"BEARER   {token}\t", f"Bearer {token.upper()}",
                 f"Bearer {token.lower()}")
    statuses = [client.get("/api/v1/objects", headers={"Authorization": spelling}).status_code
                for spelling in spellings]
    assert statuses[:3] == [200, 200, 200]  # the scheme's case and the spaces around the token: the same token
    assert statuses[3:] == [401, 401]  # another case is another (unknown) token, counted per address as well
    assert [client.get("/api/v1/objects").status_code for _ in range(2)] == [401, 429]
    assert client.head("/api/v1/objects", headers={"Authorization": f"Bearer {token}"}).status_code == 429
    assert client.options("/api/v1/objects", headers={"Authorization": f"Bearer {token}"}).status_code == 429


@pytest.mark.parametrize("token", ["crmkit_\udcff", "\udcff", "crmkit_令牌"])
def test_a_token_no_server_would_send_is_refused_not_crashed_on(api_crm, token):
    app = make_app(api_crm.crm, CRMKIT_API_RATE_LIMIT="100 per minute")
    answer = app.test_client().get("/api/v1/objects", environ_overrides={"HTTP_AUTHORIZATION": f"Bearer {token}"})
    assert answer.status_code == 401 and answer.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("path", ["/api/v1/no-such-thing", "/api/v1/records/account/1/nowhere"])
def test_paths_under_the_api_that_no_endpoint_answers_are_counted_against_the_client_address(api_crm, path):
    """Probing the API's paths (404s, with or without a token) is limited like calling them: a caller cannot
    map the API or spend its resources for free, and a made-up token opens no counter of its own."""
    app = make_app(api_crm.crm, CRMKIT_API_RATE_LIMIT="3 per minute")
    client = app.test_client()
    statuses = [client.get(path, headers={"Authorization": f"Bearer made-up-{number}"}).status_code
                for number in range(3)]
    assert statuses == [404, 404, 404]
    refused = client.get(path)
    assert refused.status_code == 429 and refused.headers["Content-Type"] == "application/problem+json"
    assert _get(app, api_crm.tokens["wang"]).status_code == 200  # a valid token counts on its own
    assert client.get("/login").status_code == 200  # the web pages are no API calls: not limited here


def test_with_crmkit_log_level_set_each_api_call_is_a_line_on_stderr_with_its_request_id(api_app, api_crm, capsys):
    """gunicorn and `crmkit serve` configure no logging of crmkit's: CRMKIT_LOG_LEVEL=INFO writes it (ui/logs.py)."""
    from crmkit.ui import logs

    crmkit = logging.getLogger("crmkit")
    level = crmkit.level
    try:
        logs.log_to_stderr({"CRMKIT_LOG_LEVEL": "info"})
        logs.log_to_stderr({"CRMKIT_LOG_LEVEL": "info"})  # once per process, however many apps are made
        _get(api_app, api_crm.tokens["wang"], **{"X-Request-Id": "erp-sync-43"})
        lines = [line for line in capsys.readouterr().err.splitlines() if "crmkit.api" in line]
        assert len(lines) == 1, lines
        assert "INFO crmkit.api [erp-sync-43] GET /api/v1/objects -> 200" in lines[0]
    finally:
        for handler in [h for h in crmkit.handlers if isinstance(h, logs._Handler)]:
            crmkit.removeHandler(handler)
        crmkit.setLevel(level)


def test_an_unknown_log_level_is_refused_with_a_sentence():
    from crmkit.engine.secret_key import ConfigurationError
    from crmkit.ui import logs

    with pytest.raises(ConfigurationError, match="CRMKIT_LOG_LEVEL='LOUD' is no log level"):
        logs.log_to_stderr({"CRMKIT_LOG_LEVEL": "loud"})
    logs.log_to_stderr({})  # unset: nothing added
    assert not any(isinstance(h, logs._Handler) for h in logging.getLogger("crmkit").handlers)
