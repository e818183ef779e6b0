"""Who a send_email action writes to, and what its template sees: read by the worker, as the platform.

A recipient in `to` is one of (docs/automation.md):
    email            an email field of the record         -> its value at the save
    account.email    a lookup, then an email field of the record it points to, as it is now
    owner            the record owner's user account's email
    ops@example.com  a fixed address

The template sees `record` (the record's fields at the save; each lookup as the related
record's fields, one step, as they are now, with `id`), `owner` ({name, email}) and, for
marketing mail, `unsubscribe_url`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, NamedTuple, Sequence

from crmkit.engine.automation.unsubscribe import OPT_OUT_FIELD
from crmkit.engine.fieldtypes import to_json
from crmkit.engine.records.errors import RecordNotFound
from crmkit.engine.security.access import PermissionDenied
from crmkit.metadata.model import ObjectDef

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext

OWNER = "owner"


class Recipient(NamedTuple):
    address: str
    #: The record the address was read from (None: the owner, a fixed address), and whether it opted out.
    object: str | None = None
    record_id: int | None = None
    opted_out: bool = False
    #: The user of the CRM the address belongs to (the owner), whose field-level security the message follows.
    user_id: int | None = None


def _related(context: "UserContext", obj: ObjectDef, lookup: str, record_id: Any) -> Mapping[str, Any] | None:
    if record_id is None:
        return None
    try:
        return context.records(obj.fields[lookup].to).get(record_id)
    except (RecordNotFound, PermissionDenied):  # rendered for the owner: an object they may not read is left out
        return None


def _current(context: "UserContext", obj: ObjectDef, record: Mapping[str, Any]) -> Mapping[str, Any]:
    """The record as it is now (an opt-out since the save counts), else as it was saved."""
    try:
        return context.records(obj.name).get(record["id"])
    except (RecordNotFound, KeyError):
        return record


def recipients(context: "UserContext", obj: ObjectDef, record: Mapping[str, Any],
               to: Sequence[str]) -> list[Recipient]:
    """The addresses `to` names for `record` (its values at the save), each once, blanks left out."""
    found: dict[str, Recipient] = {}
    for entry in to:
        if "@" in entry:
            candidates = [Recipient(entry)]
        elif entry == OWNER:
            candidates = [Recipient(_owner(context, record).get("email") or "", user_id=record.get("owner_id"))]
        elif "." in entry:
            lookup, field = entry.split(".", 1)
            related = _related(context, obj, lookup, record.get(lookup))
            candidates = [] if related is None else [Recipient(
                related.get(field) or "", obj.fields[lookup].to, related["id"], bool(related.get(OPT_OUT_FIELD)))]
        else:
            current = _current(context, obj, record)
            candidates = [Recipient(record.get(entry) or "", obj.name, record.get("id"),
                                    bool(current.get(OPT_OUT_FIELD)))]
        for candidate in candidates:
            if candidate.address and candidate.address.lower() not in found:
                found[candidate.address.lower()] = candidate
    return list(found.values())


def _owner(context: "UserContext", record: Mapping[str, Any]) -> dict[str, Any]:
    from crmkit.engine.security.users import SystemDirectory, UserError

    owner_id = record.get("owner_id")
    if owner_id is None:
        return {}
    try:
        user = SystemDirectory(context.crm).get(owner_id)
    except UserError:
        return {}
    return {"name": user.display_name or user.username, "email": user.email}


def template_variables(context: "UserContext", obj: ObjectDef, record: Mapping[str, Any]) -> dict[str, Any]:
    """`record` (lookups as their records' fields) and `owner`, as JSON values."""
    values: dict[str, Any] = dict(record)
    for name, fdef in obj.fields.items():
        if fdef.is_lookup and record.get(name) is not None:
            related = _related(context, obj, name, record.get(name))
            values[name] = None if related is None else {key: to_json(value) for key, value in related.items()}
    return {"record": values, "owner": _owner(context, record)}
