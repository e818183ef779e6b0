"""GET /api/v1/changes?since=<cursor>&limit=100: every record change the caller may see, oldest first.

    {"data": [{"type": "account.update", "timestamp": "...", "data": {"object": "account", "id": 42,
                                                                      "fields": {...}}}, ...],
     "next_cursor": "1234"}

Each item is the payload automation's webhooks POST (engine/records/changes.py); pass
`next_cursor` as `since` to read on (an ERP keeps it between syncs). What the caller may not
see is left out by the engine (ChangeFeed).
"""
from __future__ import annotations

import math
from datetime import timedelta

from flask import Flask, Response, current_app, request

from crmkit.engine import messages
from crmkit.api.blueprint import blueprint, context
from crmkit.api.problems import Problem
from crmkit.api.requests import json_response
from crmkit.engine.records.changes import DEFAULT_LIMIT, MAX_LIMIT, ChangeFeed
from crmkit.engine.secret_key import ConfigurationError


#: app.extensions key of the settle time read at start (`settle_time`).
SETTLE_EXTENSION = "crmkit_changes_settle"
#: The longest settle time a setting may ask, in seconds: a feed that young changes wait longer for is no feed.
MAX_SETTLE_SECONDS = 3600


def settle_time(app: Flask) -> timedelta | None:
    """CRMKIT_CHANGES_SETTLE_SECONDS as a time (None, unset: the engine's default, records/changes.py), read once at
    start; ConfigurationError, naming the setting, for anything but a number of seconds from 0 to MAX_SETTLE_SECONDS
    ("abc", "nan", "1e308", "-1")."""
    value = app.config.get("CRMKIT_CHANGES_SETTLE_SECONDS")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        seconds = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_SETTLE_SECONDS:
        raise ConfigurationError(
            f"CRMKIT_CHANGES_SETTLE_SECONDS {value!r} is not a number of seconds: write one from 0 to "
            f"{MAX_SETTLE_SECONDS} (such as 5), or leave it unset for the default (5 on PostgreSQL, 0 on SQLite).")
    return timedelta(seconds=seconds)


@blueprint.get("/changes")
def changes_view() -> Response:
    text = (request.args.get("limit") or str(DEFAULT_LIMIT)).strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise Problem(messages.API_LIMIT(max=f"{MAX_LIMIT:,}", value=repr(text)))
    page = ChangeFeed(context()).read(request.args.get("since"), limit=int(text),
                                      settle=current_app.extensions.get(SETTLE_EXTENSION))
    return json_response({"data": page.changes, "next_cursor": page.next_cursor})
