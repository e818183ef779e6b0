"""A webhook and the change feed give one change the same payload (docs/api.md, "Change feed": "This is the
payload automation's call_webhook posts ... so one receiver handles both"; outside12).

Fault (fixed): the webhook body's `timestamp` is the moment of each delivery attempt (deliveries.py
`_call_webhook` passes `now`), not the change's: a retry sends another body for the same webhook-id, and a
receiver reading the feed and the webhooks sees two times for one change.
"""
from __future__ import annotations

import json


from crmkit.engine.records.changes import ChangeFeed
from tests.automation.test_webhooks import hook_rows, scored


def test_a_retried_webhook_carries_the_changes_timestamp_as_the_change_feed_does(mailing, crm, clock, hook_server,
                                                                                monkeypatch):
    monkeypatch.setenv("CRMKIT_WEBHOOK_PRIVATE_NETWORKS", "127.0.0.1/32")
    server, hooks = hook_server
    hooks.status = 503
    person = scored(mailing)
    (row,) = hook_rows(crm)
    clock.advance(seconds=90)
    assert crm.outbox.work(row["id"]) == "retry"
    hooks.status = 200
    clock.advance(seconds=600)
    assert crm.outbox.work(row["id"]) == "done"
    first, second = (json.loads(raw) for _, _, raw in hooks.received)
    assert first == second  # one webhook-id, one body
    feed = ChangeFeed(crm.as_system()).read(None, limit=100).changes
    (update,) = [change for change in feed if change["type"] == "person.update" and change["data"]["id"] == person.id]
    assert second["timestamp"] == update["timestamp"]
