"""Rate limits per API token (Flask-Limiter) and a request id on every API call and its log records.

Limits: CRMKIT_API_RATE_LIMIT (default "600 per minute; 20 per second", Flask-Limiter's
notation) per token, counted in Redis when CRMKIT_REDIS_URL is set (so the limit holds across
every worker and machine) and in the process's memory otherwise (limit_storage.py: without
the timer thread limits' own memory storage starts on nearly every call). A call over the limit gets
429 problem+json with `Retry-After` (seconds) and the X-RateLimit-* headers.

Request ids: a caller's `X-Request-Id` (letters, digits, `._:-`, up to 128) is kept, else one is
made; it is returned in `X-Request-Id`, in every problem's `request_id`, and set as
`request_id` on the log records of the API's loggers (and the app's).
"""
from __future__ import annotations

import hashlib
import logging

from flask import Blueprint, Flask, Response, has_request_context, request
from flask_limiter import Limiter

from crmkit.api.blueprint import bearer_token, is_api_request, logger, request_id
from crmkit.api.limit_storage import ProcessMemoryStorage

DEFAULT_RATE_LIMIT = "600 per minute; 20 per second"


def token_key() -> str:
    """Whose calls a limit counts: the token's (its SHA-256, never the token itself), else the client address."""
    token = bearer_token()
    if token:
        return "token:" + hashlib.sha256(token.encode()).hexdigest()[:32]
    return "address:" + (request.remote_addr or "-")


def storage_uri(app: Flask) -> str:
    redis_url = app.config.get("CRMKIT_REDIS_URL")
    return redis_url if redis_url else ProcessMemoryStorage.STORAGE_SCHEME[0] + "://"


class RequestIdFilter(logging.Filter):
    """Sets `record.request_id` (the API call's id, "-" outside one) on every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id() if has_request_context() and is_api_request() else "-"
        return True


def install_limits(app: Flask, blueprint: Blueprint) -> Limiter:
    """The limiter of `app`, limiting `blueprint`'s calls per token; request ids on API responses and logs."""
    limiter = Limiter(token_key, app=app, storage_uri=storage_uri(app), headers_enabled=True,
                      default_limits=[], strategy="moving-window", key_prefix="crmkit-api",
                      enabled=app.config.get("CRMKIT_API_RATE_LIMIT", DEFAULT_RATE_LIMIT) != "")
    limiter.limit(lambda: app.config.get("CRMKIT_API_RATE_LIMIT") or DEFAULT_RATE_LIMIT)(blueprint)
    id_filter = RequestIdFilter()
    for each in (logger, app.logger):
        if not any(isinstance(existing, RequestIdFilter) for existing in each.filters):
            each.addFilter(id_filter)

    @app.after_request
    def add_request_id(response: Response) -> Response:
        if is_api_request():
            response.headers["X-Request-Id"] = request_id()
        return response

    return limiter
