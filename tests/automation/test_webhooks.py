"""call_webhook through the outbox: a JSON POST of the declared fields only, signed per Standard Webhooks
with the outbox id as webhook-id, retried with the outbox's backoff, and never sent to a host that is not
allowed or that resolves to an internal address (checked after DNS resolution)."""
from __future__ import annotations

import json
import socket
from datetime import datetime, timezone

import pytest
from standardwebhooks import Webhook

from crmkit.engine.automation.webhooks import WebhookRefused, checked_address

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def hook_rows(crm):
    return [row for row in crm.outbox.rows(limit=100) if row["kind"] == "call_webhook"]


def scored(mailing, name="Hal"):
    people = mailing.records("person")
    person = people.create({"name": "quiet", "email": "h@example.com"})
    return people.update(person.id, {"score": 1, "name": name}, version=person.version)


def test_a_record_is_posted_signed_with_only_its_declared_fields(mailing, crm, clock, hook_server, monkeypatch):
    monkeypatch.setenv("CRMKIT_WEBHOOK_PRIVATE_NETWORKS", "127.0.0.1/32")
    person = scored(mailing)
    (row,) = hook_rows(crm)
    assert crm.outbox.work(row["id"]) == "done"
    (path, headers, raw), = hook_server[1].received
    assert path == "/in" and headers["content-type"] == "application/json"
    assert headers["webhook-id"] == f"crmkit-outbox-{row['id']}"
    moment = datetime.fromtimestamp(int(headers["webhook-timestamp"]), timezone.utc)
    assert moment == clock.moment  # the time of sending, from Crm.clock
    assert headers["webhook-signature"] == Webhook(SECRET).sign(headers["webhook-id"], moment, raw.decode())
    verified = json.loads(raw)
    assert verified["data"] == {"object": "person", "id": person.id, "fields": {"name": "Hal", "score": 1}}
    assert verified["type"] == "person.update" and "email" not in json.dumps(verified)
    assert hook_rows(crm)[0]["status"] == "done"


def test_loopback_is_refused_after_resolution_unless_allowed_explicitly(mailing, crm, hook_server, monkeypatch):
    monkeypatch.delenv("CRMKIT_WEBHOOK_PRIVATE_NETWORKS", raising=False)
    scored(mailing)
    (row,) = hook_rows(crm)
    assert crm.outbox.work(row["id"]) == "dead"  # hooks.test is allowed by name, but resolves to 127.0.0.1
    assert "resolves to 127.0.0.1, an internal address" in hook_rows(crm)[0]["last_error"]
    assert hook_server[1].received == []


@pytest.mark.parametrize("address", ["10.0.0.5", "192.168.1.1", "169.254.169.254", "224.0.0.1", "::1", "fd00::1",
                                     "::ffff:127.0.0.1", "0.0.0.0"])
def test_internal_addresses_are_refused_whatever_name_points_at_them(monkeypatch, address):
    monkeypatch.setenv("CRMKIT_WEBHOOK_HOSTS", "*.example.org")
    monkeypatch.delenv("CRMKIT_WEBHOOK_PRIVATE_NETWORKS", raising=False)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: [(family, 1, 6, "", (address, 443))])
    with pytest.raises(WebhookRefused, match="an internal address"):
        checked_address("hooks.example.org", 443)


def test_a_host_not_in_the_allow_list_is_refused_before_any_lookup(monkeypatch):
    monkeypatch.setenv("CRMKIT_WEBHOOK_HOSTS", "hooks.example.org")

    def no_lookup(*args, **kwargs):
        raise AssertionError("resolved a host that is not allowed")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)
    with pytest.raises(WebhookRefused, match="not allowed: add it to CRMKIT_WEBHOOK_HOSTS"):
        checked_address("evil.example.org", 443)


def test_an_error_answer_is_retried_with_backoff_then_delivered_with_the_same_id(
        mailing, crm, clock, hook_server, monkeypatch):
    monkeypatch.setenv("CRMKIT_WEBHOOK_PRIVATE_NETWORKS", "127.0.0.1/32")
    server, hooks = hook_server
    hooks.status = 503
    scored(mailing)
    (row,) = hook_rows(crm)
    assert crm.outbox.work(row["id"]) == "retry"
    assert "answered 503" in hook_rows(crm)[0]["last_error"]
    hooks.status = 200
    clock.advance(seconds=30)
    assert crm.outbox.work(row["id"]) == "done"
    assert [headers["webhook-id"] for _, headers, _ in hooks.received] == [f"crmkit-outbox-{row['id']}"] * 2


def test_a_missing_secret_makes_the_row_dead_with_the_variable_named(mailing, crm, hook_server, monkeypatch):
    monkeypatch.delenv("CRMKIT_TEST_HOOK_SECRET")
    scored(mailing)
    (row,) = hook_rows(crm)
    assert crm.outbox.work(row["id"]) == "dead"
    assert "set the environment variable CRMKIT_TEST_HOOK_SECRET" in hook_rows(crm)[0]["last_error"]


def test_the_connection_goes_to_the_address_that_was_checked_so_dns_rebinding_cannot_redirect_it(
        mailing, crm, hook_server, monkeypatch):
    monkeypatch.setenv("CRMKIT_WEBHOOK_PRIVATE_NETWORKS", "127.0.0.1/32")
    checked = socket.getaddrinfo  # the fixture's resolver: hooks.test -> 127.0.0.1
    answers = []

    def rebinding(host, *args, **kwargs):  # the first answer is checked; any later one points elsewhere
        answers.append(host)
        if host == "hooks.test" and len(answers) > 1:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("203.0.113.9", 80))]
        return checked(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    scored(mailing)
    (row,) = hook_rows(crm)
    assert crm.outbox.work(row["id"]) == "done"
    assert answers.count("hooks.test") == 1 and len(hook_server[1].received) == 1
    assert hook_server[1].received[0][1]["Host"].startswith("hooks.test:")
