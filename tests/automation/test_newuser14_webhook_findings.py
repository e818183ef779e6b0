"""newuser14 (issue 12, outside check as an integrator): a local receiver of call_webhook (docs/automation.md)."""
from __future__ import annotations

import pytest

from tests.automation.test_webhooks import hook_rows, scored


@pytest.mark.xfail(strict=True, reason=(
    "newuser14: a receiver answering an error status with an empty body (the usual 500/503 of a proxy or a "
    "bare framework) leaves the outbox row's last error, shown by `crmkit outbox`, as the unfinished sentence "
    "\"the action failed: the webhook's target answered 503:\" (messages.WEBHOOK_ERROR_STATUS always appends "
    "': {answer}')"))
def test_an_error_answer_without_a_body_is_told_in_a_finished_sentence(mailing, crm, hook_server, monkeypatch):
    monkeypatch.setenv("CRMKIT_WEBHOOK_PRIVATE_NETWORKS", "127.0.0.1/32")
    server, hooks = hook_server
    hooks.status = 503  # the test receiver answers with no body
    scored(mailing)
    (row,) = hook_rows(crm)
    assert crm.outbox.work(row["id"]) == "retry"
    error = hook_rows(crm)[0]["last_error"]
    assert "answered 503" in error
    assert not error.rstrip().endswith(":"), error
