"""Rate limits per API token and a request id on every API call and its log records.

Limits: CRMKIT_API_RATE_LIMIT (default "600 per minute; 20 per second", the notation of the
`limits` library: "<amount> per <second|minute|hour|day>", several separated by ";"; "" turns
them off) per valid token, per client address for calls without one or whose token fails (a made-up
token is no counter of its own, so a new one each call escapes nothing). Each is a moving window, counted
in Redis when CRMKIT_REDIS_URL is set (so the limit holds across every worker and machine) and
in the process's memory otherwise (limit_storage.py). A call over a limit gets 429 problem+json
with `Retry-After` (seconds until the window lets one more call in); every limited call's answer
carries X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset (epoch seconds) of the
limit nearest to running out.

The counting (moving windows, Redis and memory storage) is the `limits` library's; crmkit does
not go through Flask-Limiter, which wraps the same library: its per-call generality (decorated
and default limits resolved and filtered on every request, exemptions, meta limits) cost about
0.2 ms an API call, a quarter of what the whole call may add to the engine's work (issue 12's
target: a list page within 2x the bare engine call). What is left here is one hit per limit
(before the call, or right after its token is checked), which in the process's memory also reads the
window the headers show (one lock, one step per limit); in Redis the headers read each window again.

Redis out of reach (a restart, a network fault) does not stop the API: while it does not answer,
each process counts in its own memory (as without CRMKIT_REDIS_URL: the limit then holds per
process, not across them), logs a warning at most once a minute, and asks Redis again after
ASK_AGAIN seconds; a Redis that takes more than REDIS_TIMEOUT to connect or answer counts as not
answering.

Request ids: a caller's `X-Request-Id` (letters, digits, `._:-`, up to 128) is kept, else one is
made; it is returned in `X-Request-Id`, in every problem's `request_id`, and set as
`request_id` on the log records of the API's loggers (and the app's).
"""
from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass, field

from flask import Flask, Response, g, has_request_context, request
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from crmkit.api.blueprint import bearer_token, is_api_request, logger, request_id
from crmkit.api.limit_storage import ProcessMemoryStorage
from crmkit.engine.secret_key import ConfigurationError

DEFAULT_RATE_LIMIT = "600 per minute; 20 per second"
#: The prefix of every counter's key (a Redis shared with other programs keeps them apart).
KEY_PREFIX = "crmkit-api"


def token_key(token: str | None = None) -> str:
    """Whose calls a limit counts: the token's (`token`, else the call's bearer token; its SHA-256, never the token
    itself), else the client address."""
    token = token or bearer_token()
    if token:
        return "token:" + hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return address_key()


def address_key() -> str:
    """The client address's counter (behind CRMKIT_PROXY_COUNT proxies, the address they forwarded for)."""
    return "address:" + (request.remote_addr or "-")


def rate_limit(app: Flask) -> str:
    """The limits' text (CRMKIT_API_RATE_LIMIT, else DEFAULT_RATE_LIMIT); "" when limits are off."""
    configured = app.config.get("CRMKIT_API_RATE_LIMIT", DEFAULT_RATE_LIMIT)
    return "" if configured == "" else configured or DEFAULT_RATE_LIMIT


MEMORY_URI = ProcessMemoryStorage.STORAGE_SCHEME[0] + "://"
#: Seconds between two warnings that the limits' Redis does not answer, and before it is asked again after that.
WARN_EVERY, ASK_AGAIN = 60.0, 5.0
#: Seconds a Redis of the limits may take to connect or answer (a host that drops packets would hold every call).
REDIS_TIMEOUT = 1.0


def storage_uri(app: Flask) -> str:
    redis_url = app.config.get("CRMKIT_REDIS_URL")
    return redis_url if redis_url else MEMORY_URI


def _storage(uri: str) -> Storage:
    """The storage of `uri`; a shared one (Redis) raises StorageError for any fault of its own (limits' wrap_exceptions)."""
    if uri == MEMORY_URI:
        return storage_from_string(uri)
    if uri.split(":", 1)[0] in ("redis", "rediss", "unix"):
        return storage_from_string(uri, wrap_exceptions=True, socket_connect_timeout=REDIS_TIMEOUT,
                                   socket_timeout=REDIS_TIMEOUT)
    return storage_from_string(uri, wrap_exceptions=True)


@dataclass(frozen=True)
class RateLimits:
    """The limits of the API's blueprints, counted in `storage` (app.extensions["crmkit_api_limits"])."""

    items: tuple[RateLimitItem, ...]
    storage: Storage
    strategy: MovingWindowRateLimiter
    #: Names of the blueprints whose calls are limited (the API's and the plugins' endpoints under it).
    blueprints: frozenset[str]
    #: The same limits in this process's memory, counted while `storage` (Redis) does not answer; None for memory.
    fallback: "RateLimits | None" = None
    #: time.monotonic() of the last time `storage` did not answer, and of the last warning logged about it.
    unanswered: list[float] = field(default_factory=lambda: [-ASK_AGAIN, -WARN_EVERY], compare=False)

    @classmethod
    def of(cls, app: Flask, blueprints: frozenset[str]) -> "RateLimits":
        """Read from the app's settings once; ConfigurationError for a limit text `limits` cannot parse."""
        text = rate_limit(app)
        try:
            items = tuple(parse_many(text)) if text else ()
        except ValueError:
            raise ConfigurationError(
                f"CRMKIT_API_RATE_LIMIT {text!r} is not a rate limit: write for example "
                f"'600 per minute; 20 per second', or '' to turn the limits off.") from None
        uri = storage_uri(app)
        storage = _storage(uri)
        fallback = None
        if uri != MEMORY_URI:
            memory = _storage(MEMORY_URI)
            fallback = cls(items, memory, MovingWindowRateLimiter(memory), blueprints)
        return cls(items, storage, MovingWindowRateLimiter(storage), blueprints, fallback)

    def check(self) -> None:
        """Before a limited call without a bearer token, and before any request under /api/v1 that no endpoint
        answers (a 404 or 405): one more call counted against each limit of its client address; TooManyRequests
        (429, its `retry_after` in whole seconds) when one is full. A routed call with a token is counted by
        `count_token` once its token is checked; an unrouted one's token is never checked, so it counts against
        the address whatever token it carries (probing the API's paths is limited like calling them)."""
        if not self.items:
            return
        if request.blueprint in self.blueprints:
            if bearer_token():
                return
        elif request.blueprint is not None or request.url_rule is not None or not is_api_request():
            return
        self._hit(address_key())

    def count_token(self, valid_token: str | None) -> None:
        """After a limited call's bearer token was checked (blueprint.authenticate): one more call counted against
        the limits of `valid_token`, or for None (the token failed) its client address's; TooManyRequests
        when one is full.

        A token that fails is no counter of its own: a caller sending a new made-up token each time would
        otherwise never be limited (each costing a token lookup in the database), and every one would leave a
        counter in the storage for a whole window.
        """
        if not self.items or request.blueprint not in self.blueprints:
            return
        self._hit(token_key(valid_token) if valid_token else address_key())

    def _hit(self, key: str) -> None:
        """`_count` in the storage, or in the process's memory while the storage does not answer (the module docstring)."""
        if self.fallback is None:
            self._count(key)
            return
        if time.monotonic() - self.unanswered[0] < ASK_AGAIN:
            self.fallback._count(key)
            return
        try:
            self._count(key)
        except StorageError as error:
            self._unanswered(error)
            self.fallback._count(key)

    def _unanswered(self, error: StorageError) -> None:
        """Notes that the shared storage did not answer (asked again after ASK_AGAIN seconds) and logs it, at most
        once every WARN_EVERY seconds."""
        now = time.monotonic()
        self.unanswered[0] = now
        if now - self.unanswered[1] >= WARN_EVERY:
            self.unanswered[1] = now
            logger.warning("the API's rate limits are counted in this process's memory: their Redis does not "
                           "answer (%s)", getattr(error, "storage_error", error))

    def _count(self, key: str) -> None:
        """One more call counted against each limit for `key`, the key of the answer's X-RateLimit-* headers.

        In the process's memory (ProcessMemoryStorage) each limit's hit also reads its window, under the same
        lock: g.api_rate_headers is then (limit, calls left, reset in epoch seconds) of the limit with the fewest
        left once this call is counted, and `add_headers` reads nothing more. Other storages (Redis) are read
        again by `add_headers`.
        """
        g.api_rate_key = key
        combined = getattr(self.storage, "acquire_entry_with_window", None)
        if combined is None:
            strategy = self.strategy
            for item in self.items:
                if not strategy.hit(item, KEY_PREFIX, key):
                    reset = strategy.get_window_stats(item, KEY_PREFIX, key).reset_time
                    raise TooManyRequests(retry_after=max(1, math.ceil(reset - time.time())))
            return
        tightest: tuple[int, int, float] | None = None
        for item in self.items:
            expiry = item.get_expiry()
            acquired, oldest, taken = combined(item.key_for(KEY_PREFIX, key), item.amount, expiry)
            left, reset = max(0, item.amount - taken), oldest + expiry
            if not acquired:
                g.api_rate_headers = (item.amount, 0, reset)
                raise TooManyRequests(retry_after=max(1, math.ceil(reset - time.time())))
            if tightest is None or left < tightest[1]:
                tightest = (item.amount, left, reset)
        g.api_rate_headers = tightest

    def add_headers(self, response: Response) -> Response:
        """X-RateLimit-* of the limit with the fewest calls left, on a limited call's answer (a 429's too)."""
        here = g._get_current_object()
        shown = getattr(here, "api_rate_headers", None)
        if shown is None:
            key = getattr(here, "api_rate_key", None)
            if key is None:
                return response
            strategy = self.strategy
            try:
                for item in self.items:
                    stats = strategy.get_window_stats(item, KEY_PREFIX, key)
                    if shown is None or stats.remaining < shown[1]:
                        shown = (item.amount, stats.remaining, stats.reset_time)
            except StorageError as error:  # counted; the headers are left out while the storage does not answer
                self._unanswered(error)
                return response
            if shown is None:
                return response
        amount, left, reset = shown
        headers = response.headers
        headers["X-RateLimit-Limit"] = str(amount)
        headers["X-RateLimit-Remaining"] = str(left)
        headers["X-RateLimit-Reset"] = str(math.ceil(reset))
        return response


class RequestIdFilter(logging.Filter):
    """Sets `record.request_id` (the API call's id, "-" outside one) on every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id() if has_request_context() and is_api_request() else "-"
        return True


def install_limits(app: Flask, blueprints: frozenset[str]) -> RateLimits:
    """Limits on the calls of `blueprints` per token (the module docstring); request ids on API responses and logs.

    Raises ConfigurationError for a CRMKIT_API_RATE_LIMIT that is not a limit.
    """
    limits = app.extensions["crmkit_api_limits"] = RateLimits.of(app, blueprints)
    app.before_request(limits.check)
    app.after_request(limits.add_headers)
    id_filter = RequestIdFilter()
    for each in (logger, app.logger):
        if not any(isinstance(existing, RequestIdFilter) for existing in each.filters):
            each.addFilter(id_filter)

    @app.after_request
    def add_request_id(response: Response) -> Response:
        if is_api_request():
            response.headers["X-Request-Id"] = request_id()
        return response

    return limits
