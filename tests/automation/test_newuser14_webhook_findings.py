"""newuser14 (issue 12, outside check as an integrator): a local receiver of call_webhook (docs/automation.md)."""
from __future__ import annotations

import pytest

from tests.automation.test_webhooks import hook_rows, scored


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


@pytest.mark.parametrize("status, answer", [(500, b"   \r\n\t "), (410, b""), (410, b"  \n")])
def test_a_blank_error_answer_is_told_in_a_finished_sentence_in_both_languages(
        mailing, crm, hook_server, monkeypatch, status, answer):
    from crmkit.engine.messages import translated

    monkeypatch.setenv("CRMKIT_WEBHOOK_PRIVATE_NETWORKS", "127.0.0.1/32")
    server, hooks = hook_server
    hooks.status, hooks.answer = status, answer
    scored(mailing)
    (row,) = hook_rows(crm)
    crm.outbox.work(row["id"])
    error = hook_rows(crm)[0]["last_error"]
    assert f"({status})" in error if status == 410 else f"answered {status}" in error
    assert not error.rstrip().endswith(":"), error
    chinese = translated(error, "zh")
    assert "Webhook" in chinese and not chinese.rstrip().endswith(("：", ":")), chinese


def test_an_error_answer_with_text_still_quotes_it(mailing, crm, hook_server, monkeypatch):
    monkeypatch.setenv("CRMKIT_WEBHOOK_PRIVATE_NETWORKS", "127.0.0.1/32")
    server, hooks = hook_server
    hooks.status, hooks.answer = 503, b"  down for maintenance \n"
    scored(mailing)
    (row,) = hook_rows(crm)
    crm.outbox.work(row["id"])
    assert hook_rows(crm)[0]["last_error"].endswith("the webhook's target answered 503: down for maintenance")
