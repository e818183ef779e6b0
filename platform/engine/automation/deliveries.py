"""send_email and call_webhook: outbox rows that reach outside the database, delivered once.

A database action commits with its `done` mark; a message cannot, so these rows go
claim -> deliver -> done (docs/automation.md, "Email and webhooks: delivered once"):

1. **Claim** (outbox.work, in the claiming transaction): the row's `next_attempt_at` moves
   LEASE ahead, so no other worker takes it meanwhile; it stays `pending`. A worker killed
   from here on, before the message is handed over, leaves it pending: when the lease ends
   the periodic requeue hands it to another worker, which sends it once.
2. **Envelope** (email): connect, MAIL FROM, RCPT TO. Nothing exists at the server yet.
3. **Mark `sending`**, committed, only while the lease is still this worker's.
4. **DATA**: the server takes the message when it answers the final ".".
5. **Done**, committed.

A worker killed between 3 and 5 (or a connection lost during DATA) leaves it unknown
whether the server took the message. Such a row is never sent again by the platform: when
its lease ends, `settle_abandoned` makes it `dead` with a sentence saying so, for an admin
to check and replay. At most one message per outbox row, then; exactly one unless a worker
dies inside that window of one SMTP reply. Every message carries Message-ID
`<crmkit.outbox.ID@sender-domain>` (the same on every attempt), so a replayed or doubled
message can be recognised by the receiving side.

Webhooks have no such step: a worker killed after the POST and before `done` posts again
when the lease ends (at least once), with the same `webhook-id`, which Standard Webhooks
receivers use to drop the copy.
"""
from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, Mapping

from sqlalchemy import Connection, update
from standardwebhooks import Webhook

from crmkit.engine import messages
from crmkit.engine.automation import runlog
from crmkit.engine.automation.actions import ActionRefused
from crmkit.engine.automation.recipients import Recipient, recipients, template_variables
from crmkit.engine.automation.smtp import DataRefused, MailNotConfigured, SmtpSettings, SmtpTransaction
from crmkit.engine.automation.tables import SENDING
from crmkit.engine.automation.unsubscribe import opted_out, unsubscribe_url
from crmkit.engine.automation.webhooks import post_webhook
from crmkit.engine.records.changes import change_payload
from crmkit.engine.fieldtypes import to_json
from crmkit.engine.security.access import UnknownUser
from crmkit.engine.security.shaping import stored_withheld
from crmkit.metadata.automation import AutomationAction
from crmkit.metadata.model import ObjectDef
from crmkit.sandbox import SandboxError
from crmkit.sandbox.templates import render_parts

if TYPE_CHECKING:
    from crmkit.engine.automation.outbox import Outbox
    from crmkit.engine.context import UserContext
    from crmkit.engine.crm import Crm
    from crmkit.engine.records.events import RecordEvent

logger = logging.getLogger("crmkit.automation")

#: How long a claimed row is left to its worker before another may take it (longer than an SMTP
#: attempt's timeouts, a template's render and a webhook's timeouts together).
LEASE = timedelta(minutes=5)


def delivery_payload(obj: ObjectDef, action: AutomationAction, event: "RecordEvent") -> dict[str, Any]:
    """What the worker needs, computed at the save: the record's fields as stored (webhooks: only
    the action's `fields`), so the message says what the record said when it was saved."""
    values = dict(event.current if event.current is not None else event.previous or {})
    base = {"object": obj.name, "record_id": event.record_id, "event": event.operation.value}
    if action.type == "call_webhook":  # `at`: the change's time, the body's timestamp as in the change feed
        fields = {name: to_json(values.get(name)) for name in action.fields}
        return {**base, "url": action.url, "secret_env": action.secret_env, "fields": fields,
                "at": event.at.isoformat()}
    return {**base, "template": action.template, "to": list(action.to), "language": action.language or "en",
            "record": {name: to_json(value) for name, value in values.items()}}


def message_id(outbox_id: int, domain: str) -> str:
    """The Message-ID of outbox row `outbox_id`'s message (RFC 5322 section 3.6.4): the same on every attempt."""
    return f"<crmkit.outbox.{outbox_id}@{domain}>"


def deliver(outbox: "Outbox", row: Any, lease: datetime, started: float) -> str:
    """Deliver claimed row `row` (leased until `lease`); "done", "retry", "dead" or "skipped".

    `started` (a time.perf_counter() reading) times the run log entry its ending writes.
    """
    try:
        if row.kind == "call_webhook":
            _call_webhook(outbox, row)
            return _finish(outbox, row, "pending", lease, started)
        return _send_email(outbox, row, lease, started)
    except _Unknown as unknown:
        now = outbox.crm.clock()
        _set(outbox, row.id, SENDING, None, runlog.outbox_entry(row, now, "dead", runlog.elapsed_ms(started),
                                                                str(unknown)),
             status="dead", finished_at=now, attempts=row.attempts + 1, last_error=str(unknown))
        logger.error("outbox row %s (%s): %s", row.id, row.rule, unknown)
        return "dead"
    except Exception as error:  # recorded on the row, retried or dead (Outbox._failed)
        _set(outbox, row.id, SENDING, None, status="pending")
        return outbox._failed(row.id, error, started)


class _Unknown(Exception):
    """It cannot be known whether the SMTP server took the message."""


def _send_email(outbox: "Outbox", row: Any, lease: datetime, started: float) -> str:
    crm, payload = outbox.crm, row.payload
    obj = crm.runtime.registry.objects.get(payload["object"])
    template = obj.email_templates.get(payload["template"]) if obj is not None else None
    if template is None:
        raise ActionRefused(messages.EMAIL_TEMPLATE_GONE(template=payload["template"], object=payload["object"]))
    context = crm.as_system()
    found = recipients(context, obj, payload["record"], payload["to"])
    if template.marketing:
        found = _not_opted_out(outbox, found)
    viewer, record, found = _viewer(crm, obj, payload["record"], found)
    if not found:
        return _finish(outbox, row, "pending", lease, started, note=messages.EMAIL_NO_RECIPIENT())
    settings = SmtpSettings.from_environment()
    variables = template_variables(viewer, obj, record)
    link = None
    if template.marketing:
        link = unsubscribe_url(crm, found[0].address, found[0].object, found[0].record_id)
        variables["unsubscribe_url"] = link
    language = payload.get("language") or "en"
    sources = {part: template.part(part, language) for part in ("subject", "html", "text") if template.part(part, language)}
    try:
        parts = render_parts(sources, variables)
    except SandboxError as error:
        raise ActionRefused(messages.EMAIL_NOT_RENDERED(template=template.name, reason=str(error))) from None
    message = _message(settings, row.id, [item.address for item in found], parts, link, crm.clock())
    with SmtpTransaction(settings, [item.address for item in found]) as smtp:
        smtp.envelope()
        if not _set(outbox, row.id, "pending", lease, status=SENDING):
            return "skipped"  # the lease ran out and another worker has the row now
        try:
            smtp.data(message)
        except DataRefused:
            raise
        except Exception as error:
            logger.error("outbox row %s: SMTP DATA failed without an answer: %s: %s", row.id, type(error).__name__,
                         error)
            raise _Unknown(messages.EMAIL_MAY_HAVE_BEEN_DELIVERED(message_id=message["Message-ID"])) from None
    return _finish(outbox, row, SENDING, None, started)


def _viewer(crm: "Crm", obj: Any, record: Mapping[str, Any],
            found: list[Recipient]) -> tuple["UserContext", dict[str, Any], list[Recipient]]:
    """(context, record, recipients) an email's template is rendered with and sent to: as the system, unless it goes
    to a user of the CRM (the owner), who is mailed only what they may be given (their field-level security, the
    values they see masked or recomputed left out, related records as they may read them), as a notification tells
    them; the message is one for all its recipients, so the others get the same. An owner no longer active gets
    none: they are left out of the recipients, and the others get the message rendered as the system."""
    users = [item.user_id for item in found if item.user_id is not None]
    if not users:
        return crm.as_system(), dict(record), found
    try:
        viewer = crm.as_user(users[0])
    except UnknownUser:
        return crm.as_system(), dict(record), [item for item in found if item.user_id is None]
    withheld = stored_withheld(viewer.policy, obj.name)
    return viewer, {name: value for name, value in record.items() if name not in withheld}, found


def _not_opted_out(outbox: "Outbox", found: list[Recipient]) -> list[Recipient]:
    with outbox.crm.engine.connect() as connection:
        out = opted_out(connection, outbox.crm, [item.address for item in found])
    return [item for item in found if item.address.lower() not in out and not item.opted_out]


def _message(settings: SmtpSettings, outbox_id: int, to: list[str], parts: Mapping[str, str], link: str | None,
             now: datetime) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = ", ".join(to)
    message["Subject"] = " ".join(parts.get("subject", "").split())  # one line: no header injection
    message["Message-ID"] = message_id(outbox_id, settings.domain)
    message["Date"] = format_datetime(now.astimezone(timezone.utc))
    if link is not None:  # RFC 2369 and RFC 8058 (one-click: a POST to the link unsubscribes)
        message["List-Unsubscribe"] = f"<{link}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(parts.get("text") or "")
    if parts.get("html"):
        message.add_alternative(parts["html"], subtype="html")
    return message


def _call_webhook(outbox: "Outbox", row: Any) -> None:
    payload = row.payload
    secret = os.environ.get(payload["secret_env"] or "")
    if not secret:
        raise ActionRefused(messages.WEBHOOK_SECRET_MISSING(variable=payload["secret_env"]))
    now = outbox.crm.clock()
    # The change feed's payload (GET /api/v1/changes), the change's time included: one receiver handles both, and
    # every attempt sends the same body. Only the signature's webhook-timestamp is the attempt's (replay checks).
    body = json.dumps(change_payload(payload["object"], payload["event"], payload["record_id"], payload["fields"],
                                     _change_time(payload, row)),
                      separators=(",", ":"), ensure_ascii=False)
    webhook_id = f"crmkit-outbox-{row.id}"
    signature = Webhook(secret).sign(webhook_id, now, body)
    post_webhook(payload["url"], body.encode(), {
        "content-type": "application/json", "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature,
        "user-agent": "crmkit-webhooks"})


def _change_time(payload: Mapping[str, Any], row: Any) -> datetime:
    """When the change a webhook tells of was saved: the payload's `at` (the change log's changed_at); a row
    queued before payloads kept it falls back on the time it was queued, in the same transaction as the change."""
    at = payload.get("at")
    return datetime.fromisoformat(at) if at else row.created_at


def _set(outbox: "Outbox", outbox_id: int, current: str, lease: datetime | None,
         logged: Mapping[str, Any] | None = None, **values: Any) -> bool:
    """Update the row with `values` if it is still `current` (and, given `lease`, still leased until then);
    when it was, write the run log entry `logged` in the same transaction."""
    table = outbox.table
    query = update(table).where(table.c.id == outbox_id, table.c.status == current)
    if lease is not None:
        query = query.where(table.c.next_attempt_at == lease)
    with outbox.crm.as_system().writing() as connection:
        changed = connection.execute(query.values(**values)).rowcount == 1
        if changed and logged is not None:
            runlog.write(connection, outbox.crm, [logged])
        return changed


def _finish(outbox: "Outbox", row: Any, status: str, lease: datetime | None, started: float,
            note: str | None = None) -> str:
    """Step 5: the row is done (`note`: why nothing was sent, when nothing was), and so logged."""
    now = outbox.crm.clock()
    _set(outbox, row.id, status, lease, runlog.outbox_entry(row, now, "done", runlog.elapsed_ms(started), note),
         status="done", attempts=outbox.table.c.attempts + 1, finished_at=now, last_error=note)
    return "done"


def take_lease(connection: Connection, outbox: "Outbox", row: Any, now: datetime) -> datetime:
    """Step 1: the claimed row is this worker's until the returned moment (in the claiming transaction)."""
    lease = now + LEASE
    connection.execute(update(outbox.table).where(outbox.table.c.id == row.id).values(next_attempt_at=lease))
    return lease


def settle_abandoned(outbox: "Outbox") -> list[int]:
    """Rows left `sending` by a worker that died (their lease over): dead, with the sentence, never resent."""
    table, now = outbox.table, outbox.crm.clock()
    with outbox.crm.as_system().writing() as connection:
        rows = connection.execute(table.select().where(table.c.status == SENDING, table.c.next_attempt_at <= now)).all()
        domain = _domain()
        for row in rows:
            error = messages.EMAIL_MAY_HAVE_BEEN_DELIVERED(message_id=message_id(row.id, domain))
            connection.execute(update(table).where(table.c.id == row.id, table.c.status == SENDING).values(
                status="dead", attempts=row.attempts + 1, finished_at=now, last_error=error))
            runlog.write(connection, outbox.crm, [runlog.outbox_entry(row, now, "dead", 0, error)])
            logger.error("outbox row %s (%s): its worker stopped during SMTP DATA; not sent again", row.id, row.rule)
    return [row.id for row in rows]


def _domain() -> str:
    try:
        return SmtpSettings.from_environment().domain
    except MailNotConfigured:
        return "crmkit.invalid"
