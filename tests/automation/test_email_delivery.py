"""send_email through the outbox: messages arrive at a local SMTP server the test starts, rendered in the
sandbox, each outbox row sent at most once (exactly once unless a worker dies inside SMTP DATA), and
marketing mail honours opt-outs with a signed one-click unsubscribe link."""
from __future__ import annotations

import pytest

from crmkit.engine.automation import deliveries, smtp
from crmkit.engine.automation.deliveries import LEASE
from crmkit.engine.automation.outbox import REQUEUE_AFTER
from crmkit.engine.automation.unsubscribe import UnsubscribeLinkInvalid, record_opt_out
from tests.automation.delivery_fixtures import body


class Killed(BaseException):
    """The worker process dies here: nothing after this point of the worker runs."""


def work_all(crm):
    outcomes = {}
    while due := crm.outbox.work_due():
        outcomes.update(due)
    return outcomes


def email_rows(crm):
    return [row for row in crm.outbox.rows(limit=100) if row["kind"] == "send_email"]


def test_a_created_record_sends_its_template_to_every_recipient_once(mailing, crm, smtp_server):
    company = mailing.records("company").create({"name": "Acme <Ltd>", "email": "desk@acme.test"})
    person = mailing.records("person").create({"name": "Ann", "email": "ann@acme.test", "company": company.id})
    assert len(smtp_server.messages) == 0  # nothing leaves before the worker takes the row
    assert set(work_all(crm).values()) == {"done"}
    (recipients, message), = smtp_server.messages
    assert recipients == ["ann@acme.test", "desk@acme.test", "ops@example.com"]
    (row,) = email_rows(crm)
    assert message["Message-ID"] == f"<crmkit.outbox.{row['id']}@example.com>"
    assert message["Subject"] == "Welcome, Ann" and message["From"] == "crm@example.com"
    assert message.get_body(("html",)).get_content().strip() == "<p>Hello Ann of Acme &lt;Ltd&gt;</p>"  # autoescaped
    assert body(message).startswith("Hello Ann, from")
    assert "List-Unsubscribe" not in message
    assert (row["status"], row["attempts"], row["last_error"]) == ("done", 1, None)
    assert person.id == row["record_id"]


def test_the_language_variant_is_sent_when_the_action_asks_for_it(mailing, crm, smtp_server):
    person = mailing.records("person").create({"name": "quiet", "email": "li@example.cn"})
    mailing.records("person").update(person.id, {"score": 2}, version=person.version)
    work_all(crm)
    (_, message), = smtp_server.messages
    assert message["Subject"] == "欢迎，quiet" and body(message).strip() == "你好 quiet"


def test_a_worker_killed_after_taking_the_job_and_before_sending_leaves_it_to_another_once(
        mailing, crm, clock, smtp_server, monkeypatch):
    mailing.records("person").create({"name": "Bo", "email": "bo@example.com"})
    (row,) = email_rows(crm)

    def die(self):
        raise Killed()

    with monkeypatch.context() as patched:
        patched.setattr(smtp.SmtpTransaction, "envelope", die)
        with pytest.raises(Killed):
            crm.outbox.work(row["id"])
    assert email_rows(crm)[0]["status"] == "pending" and smtp_server.messages == []
    assert crm.outbox.work(row["id"]) == "skipped"  # another worker: the lease is still the dead worker's
    clock.advance(seconds=LEASE.total_seconds())
    assert crm.outbox.requeue() == [row["id"]]  # the periodic task hands it on
    assert crm.outbox.work(row["id"]) == "done"
    assert crm.outbox.work(row["id"]) == "skipped"
    assert len(smtp_server.messages) == 1


def test_a_worker_killed_after_the_server_took_the_message_never_sends_it_again(
        mailing, crm, clock, smtp_server, monkeypatch):
    mailing.records("person").create({"name": "Cy", "email": "cy@example.com"})
    (row,) = email_rows(crm)
    real_finish = deliveries._finish

    def die(outbox, outbox_id, status, *args, **kwargs):
        if status == "sending":
            raise Killed()
        return real_finish(outbox, outbox_id, status, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(deliveries, "_finish", die)
        with pytest.raises(Killed):
            crm.outbox.work(row["id"])
    assert len(smtp_server.messages) == 1 and email_rows(crm)[0]["status"] == "sending"
    clock.advance(seconds=LEASE.total_seconds() + REQUEUE_AFTER.total_seconds())
    assert crm.outbox.requeue() == [] and work_all(crm) == {}
    (settled,) = email_rows(crm)
    assert settled["status"] == "dead" and "may have been delivered" in settled["last_error"]
    assert f"<crmkit.outbox.{row['id']}@example.com>" in settled["last_error"]
    assert len(smtp_server.messages) == 1


def test_a_crash_after_commit_before_delivery_loses_nothing(mailing, crm, clock, smtp_server):
    crm.queue = None  # the web process died between its commit and handing the ids to the queue
    mailing.records("person").create({"name": "Di", "email": "di@example.com"})
    clock.advance(seconds=REQUEUE_AFTER.total_seconds())
    requeued = crm.outbox.requeue()
    assert [row["id"] for row in email_rows(crm)] == requeued
    work_all(crm)
    assert [recipients for recipients, _ in smtp_server.messages] == [["di@example.com", "ops@example.com"]]


def test_an_unreachable_server_is_retried_with_the_error_visible(mailing, crm, clock, smtp_server, monkeypatch):
    monkeypatch.setenv("CRMKIT_SMTP_PORT", "1")
    mailing.records("person").create({"name": "Ed", "email": "ed@example.com"})
    (row,) = email_rows(crm)
    assert crm.outbox.work(row["id"]) == "retry"
    failed = email_rows(crm)[0]
    assert failed["status"] == "pending" and failed["attempts"] == 1 and "Connection" in failed["last_error"]
    monkeypatch.setenv("CRMKIT_SMTP_PORT", str(smtp_server_port()))
    clock.advance(seconds=30)
    assert crm.outbox.work(row["id"]) == "done" and len(smtp_server.messages) == 1


def test_without_smtp_configured_the_row_is_dead_at_once_with_a_sentence_saying_what_to_set(
        mailing, crm, smtp_server, monkeypatch):
    monkeypatch.delenv("CRMKIT_SMTP_HOST")
    mailing.records("person").create({"name": "Fay", "email": "fay@example.com"})
    (row,) = email_rows(crm)
    assert crm.outbox.work(row["id"]) == "dead"  # retrying cannot help until the configuration changes
    dead = email_rows(crm)[0]
    assert dead["attempts"] == 1
    assert dead["last_error"] == "email is not configured: set CRMKIT_SMTP_HOST (docs/automation.md)."
    assert smtp_server.messages == []


def smtp_server_port() -> int:
    import os

    return int(os.environ["CRMKIT_SMTP_PORT_REAL"])


def test_a_template_that_runs_unbounded_is_stopped_and_the_row_is_dead(mailing, crm, smtp_server, monkeypatch):
    from crmkit.sandbox import templates

    monkeypatch.setattr(templates, "DEFAULT_CPU_SECONDS", 1)
    # The processor-time limit is what this test is about: on a loaded machine one CPU second can
    # take longer than the product's 5 s of wall-clock time, which would stop the template first.
    monkeypatch.setattr(templates, "DEFAULT_WALL_SECONDS", 60)
    mailing.records("person").create({"name": "spin", "email": "spin@example.com"})
    (row,) = email_rows(crm)
    assert crm.outbox.work(row["id"]) == "dead"
    dead = email_rows(crm)[0]
    assert "could not be rendered" in dead["last_error"] and "processor time" in dead["last_error"]
    assert smtp_server.messages == []


def test_marketing_mail_carries_a_signed_one_click_link_and_is_not_sent_after_an_opt_out(
        mailing, crm, smtp_server):
    first = mailing.records("person").create({"name": "offer", "email": "Fay@Example.com"})
    work_all(crm)
    (_, message), = smtp_server.messages
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"  # RFC 8058
    link = message["List-Unsubscribe"].strip("<>")
    assert link.startswith("https://crm.example.com/unsubscribe/") and link in body(message)
    token = link.rsplit("/", 1)[1]
    with pytest.raises(UnsubscribeLinkInvalid):
        record_opt_out(crm, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    record_opt_out(crm, token)
    assert mailing.records("person").get(first.id)["email_opt_out"] is True
    mailing.records("person").create({"name": "offer", "email": "fay@example.com"})  # another record, same person
    outcomes = work_all(crm)
    assert list(outcomes.values()) == ["done"] and len(smtp_server.messages) == 1
    assert email_rows(crm)[0]["last_error"].startswith("not sent: no recipient")


def test_marketing_mail_is_not_sent_to_a_record_marked_opted_out(mailing, crm, smtp_server):
    mailing.records("person").create({"name": "offer", "email": "gus@example.com", "email_opt_out": True})
    work_all(crm)
    assert smtp_server.messages == []


def test_the_owner_is_a_recipient_through_their_account_email(mailing, crm, smtp_server):
    from sqlalchemy import update

    from tests.conftest import add_users

    owner = add_users(crm, [("olga", None, [])])["olga"]
    users = crm.runtime.system_table("crmkit_user")
    with crm.engine.begin() as connection:
        connection.execute(update(users).where(users.c.id == owner).values(email="olga@example.com",
                                                                           display_name="Olga K"))
    mailing.records("person").create({"name": "Ola", "owner_id": owner})
    work_all(crm)
    (recipients, message), = smtp_server.messages
    assert recipients == ["olga@example.com", "ops@example.com"] and body(message).strip() == "Hello Ola, from Olga K"
