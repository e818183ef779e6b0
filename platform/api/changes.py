"""GET /api/v1/changes?since=<cursor>&limit=100: every record change the caller may see, oldest first.

    {"data": [{"type": "account.update", "timestamp": "...", "data": {"object": "account", "id": 42,
                                                                      "fields": {...}}}, ...],
     "next_cursor": "1234"}

Each item is the payload automation's webhooks POST (engine/records/changes.py); pass
`next_cursor` as `since` to read on (an ERP keeps it between syncs). What the caller may not
see is left out by the engine (ChangeFeed).
"""
from __future__ import annotations

from datetime import timedelta

from flask import Response, current_app, request

from crmkit.engine import messages
from crmkit.api.blueprint import blueprint, context
from crmkit.api.problems import Problem
from crmkit.api.requests import json_response
from crmkit.engine.records.changes import DEFAULT_LIMIT, MAX_LIMIT, ChangeFeed


@blueprint.get("/changes")
def changes_view() -> Response:
    text = (request.args.get("limit") or str(DEFAULT_LIMIT)).strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise Problem(messages.API_LIMIT(max=f"{MAX_LIMIT:,}", value=repr(text)))
    settle = current_app.config.get("CRMKIT_CHANGES_SETTLE_SECONDS")
    page = ChangeFeed(context()).read(request.args.get("since"), limit=int(text),
                                      settle=timedelta(seconds=float(settle)) if settle is not None else None)
    return json_response({"data": page.changes, "next_cursor": page.next_cursor})
