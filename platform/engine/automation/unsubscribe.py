"""Unsubscribe from marketing mail: signed links (RFC 8058 one-click), and the opt-outs they record.

    link = unsubscribe_url(crm, "ann@example.com", "contact", 7)   # CRMKIT_BASE_URL + /unsubscribe/<token>
    record_opt_out(crm, token)      # the web route (crmkit.ui): the address joins crmkit_email_opt_out,
                                    # and the record's `email_opt_out` field (if it has one) becomes true
                                    # while an email field of the record still holds the address
    opted_out(connection, addresses) -> the addresses that opted out

The token is signed with the same key as the web sessions (CRMKIT_SECRET_KEY, or the SQLite
database's own key), so only crmkit can make one, and it names the address and the record
the message was about: nothing in it can be changed without breaking the signature.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Iterable, NamedTuple

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from crmkit.engine import messages
from crmkit.engine.database import sqlite_file
from crmkit.engine.secret_key import secret_key
from crmkit.engine.records.errors import RecordError, RecordNotFound, StaleRecordError

if TYPE_CHECKING:
    from crmkit.engine.crm import Crm

#: The field of a record that says its person wants no marketing mail (contact and lead in the standard CRM).
OPT_OUT_FIELD = "email_opt_out"
BASE_URL_VARIABLE = "CRMKIT_BASE_URL"
_SALT = "crmkit.unsubscribe"


class UnsubscribeLinkInvalid(RecordError):
    """A link whose token is not one crmkit signed (altered, or from another installation)."""

    status = 404
    title = "Unsubscribe link not valid"


class OptOut(NamedTuple):
    address: str
    object: str | None
    record_id: int | None


def _serializer(crm: "Crm") -> URLSafeSerializer:
    return URLSafeSerializer(secret_key(sqlite_file(crm.engine.url)), salt=_SALT)


def unsubscribe_url(crm: "Crm", address: str, object_name: str | None, record_id: int | None) -> str:
    """The one-click unsubscribe link for `address`. ActionRefused without CRMKIT_BASE_URL."""
    from crmkit.engine.automation.actions import ActionRefused

    base = (os.environ.get(BASE_URL_VARIABLE) or "").rstrip("/")
    if not base:
        raise ActionRefused(messages.EMAIL_NEEDS_BASE_URL(variable=BASE_URL_VARIABLE))
    token = _serializer(crm).dumps([address.lower(), object_name, record_id])
    return f"{base}/unsubscribe/{token}"


def read_token(crm: "Crm", token: str) -> OptOut:
    """What a link's token names; UnsubscribeLinkInvalid when it was not signed here."""
    try:
        address, object_name, record_id = _serializer(crm).loads(token)
    except (BadSignature, ValueError, TypeError):
        raise UnsubscribeLinkInvalid(messages.UNSUBSCRIBE_LINK_INVALID()) from None
    return OptOut(str(address), object_name, record_id)


def record_opt_out(crm: "Crm", token: str) -> OptOut:
    """Record the opt-out a link's token names (again: nothing changes); returns it."""
    opt_out = read_token(crm, token)
    context = crm.as_system()
    table = crm.runtime.system_table("crmkit_email_opt_out")
    with context.writing() as connection:
        # Two requests at once (a mail client's one-click POST and the person's click): the second insert does nothing.
        dialect_insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
        connection.execute(dialect_insert(table).values(
            address=opt_out.address, object=opt_out.object, record_id=opt_out.record_id, created_at=crm.clock())
            .on_conflict_do_nothing(index_elements=[table.c.address]))
    obj = crm.runtime.registry.objects.get(opt_out.object or "")
    if obj is not None and OPT_OUT_FIELD in obj.fields and opt_out.record_id is not None:
        records = context.records(obj.name)
        for _ in range(2):  # a concurrent save of the record (the same opt-out, or an edit): read it again once
            try:
                record = records.get(opt_out.record_id)
                if not record[OPT_OUT_FIELD] and _still_holds(obj, record, opt_out.address):
                    records.update(record.id, {OPT_OUT_FIELD: True}, version=record.version)
                break
            except RecordNotFound:
                break
            except StaleRecordError:
                continue
    return opt_out


def _still_holds(obj, record, address: str) -> bool:
    """Whether an email field of `record` still holds `address` (any case): a link of mail sent before the
    record's address changed opts out that address, not the person the record now names."""
    return any(fdef.type == "email" and str(record[name] or "").lower() == address
               for name, fdef in obj.fields.items())


def opted_out(connection: Connection, crm: "Crm", addresses: Iterable[str]) -> set[str]:
    """Those of `addresses` (any case) in crmkit_email_opt_out, lower-cased."""
    wanted = {address.lower() for address in addresses}
    if not wanted:
        return set()
    table = crm.runtime.system_table("crmkit_email_opt_out")
    return set(connection.execute(select(table.c.address).where(table.c.address.in_(sorted(wanted)))).scalars())
