"""Privacy requests (GDPR, CCPA): export everything stored about a person, or erase it.

Erasure anonymises the person's personal fields and the history entries of those fields,
removes the record's copies from the recycle bin and from every user's recent items, and scrubs
the values from the change log, notifications and the history of records whose formulas quoted
them (security/erasure_traces.py);
numbers, picklists and links stay, so aggregate figures (pipeline totals, counts) do not change.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterator

from types import MappingProxyType

from sqlalchemy import select, update

from crmkit.engine import messages
from crmkit.engine.fieldtypes import to_json
from crmkit.engine.records.events import Operation, RecordEvent, after_write
from crmkit.engine.records.propagation import Propagator
from crmkit.engine.records.record import Record
from crmkit.engine.security.access import PermissionDenied
from crmkit.engine.security.audit import SecurityLog
from crmkit.engine.security.erasure_traces import ERASED, erase_copies, merged_copies
from crmkit.metadata.model import FieldDef, ObjectDef

if TYPE_CHECKING:
    from crmkit.engine.runtime import Runtime
    from crmkit.engine.context import UserContext

PERSONAL_TYPES = frozenset({"text", "textarea", "email", "phone", "url", "date", "datetime"})
#: Related records read per query in a privacy export.
RELATED_PAGE = 500


def personal_fields(obj: ObjectDef) -> list[FieldDef]:
    """Fields marked `personal`, or if none is marked, every text, contact and date field."""
    marked = [fdef for fdef in obj.fields.values() if fdef.personal]
    if marked:
        return marked
    return [fdef for fdef in obj.fields.values() if fdef.type in PERSONAL_TYPES]


class Privacy:
    def __init__(self, session: "UserContext") -> None:
        self.session = session
        policy = session.policy
        if policy is not None and "manage_privacy" not in policy.system and not policy.is_admin:
            raise PermissionDenied(messages.PRIVACY_PERMISSION_NEEDED())

    @property
    def runtime(self) -> "Runtime":
        """The session's current runtime (it follows upgrades: Crm.ensure_current)."""
        return self.session.runtime

    def export(self, object_name: str, record_id: int) -> dict[str, Any]:
        """One JSON document: the record, its field history, and the records that point to it.

        Shape: {"object", "record", "history": [entry], "related": {child object: [record]},
        "exported_at"}. Everything is read as the acting user reads it (get, history, lists):
        fields they may not read are left out, and related records are those they may see
        through a lookup they may read. Needs read access to the record, as `get` does: raises
        PermissionDenied without the object's read permission, RecordNotFound for a record they cannot see.
        """
        records = self.session.records(object_name)
        record = records.get(record_id)
        related: dict[str, list[dict[str, Any]]] = {}
        for child, via in self.runtime.registry.children.get(object_name, ()):
            for found in self._pointing(child, via, record_id):
                related.setdefault(child, []).append(found.to_json())
        document = {
            "object": object_name,
            "record": record.to_json(),
            "history": [{k: to_json(v) for k, v in entry.items()} for entry in records.history(record_id)],
            "related": related,
            "exported_at": datetime.now(timezone.utc).isoformat(),
        }
        self._log("privacy.exported", object_name, record_id)
        return document

    def _pointing(self, child: str, via: str, record_id: int) -> Iterator[Record]:
        """The `child` records whose lookup `via` points at the record, as the user sees them, page by page."""
        policy = self.session.policy
        if policy is not None and (not policy.can(child, "read") or via in policy.hidden_fields(child)):
            return
        records = self.session.records(child)
        page = records.query({via: record_id}, sort=("id",), limit=RELATED_PAGE)
        while True:
            yield from page.records
            if not page.has_more:
                return
            page = records.query({via: record_id}, sort=("id",), limit=RELATED_PAGE, after=page.next_cursor)

    def erase(self, object_name: str, record_id: int) -> list[str]:
        """Anonymise the person; returns the names of the fields cleared that the user may read.

        An erasure is an edit: it needs the object's edit permission and edit access to the
        stored record, as an update does (`modify_all` gives both). Raises RecordNotFound for a
        record the user cannot see, PermissionDenied for one they may see but not change.
        """
        obj = self.runtime.object(object_name)
        table = self.runtime.table(object_name)
        fields = personal_fields(obj)
        records = self.session.records(object_name)
        records._require("edit")
        with self.session.writing() as connection:
            before = records._load(connection, record_id, lock=True, level="edit")  # exists, visible and editable
            now = self.session.now()
            values = {fdef.name: (ERASED if fdef.required and fdef.type in ("text", "textarea") else None)
                      for fdef in fields}
            # A new version, so an edit begun before the erasure cannot write the personal data back.
            connection.execute(update(table).where(table.c.id == record_id).values(
                {**values, "updated_at": now, "updated_by": self.session.actor.user_id,
                 "version": table.c.version + 1}))
            Propagator(connection, self.runtime).recompute_formulas(object_name, [record_id])
            erased = {fdef.name for fdef in fields} | {
                fdef.name for fdef in obj.fields.values() if fdef.type == "formula" and fdef.returns in PERSONAL_TYPES}
            current = dict(connection.execute(select(table).where(table.c.id == record_id)).one()._mapping)
            # The event carries no previous values: they are what was erased.
            after_write(connection, self.session, [RecordEvent(
                object_name, Operation.ERASE, record_id, None, MappingProxyType(current), frozenset(erased),
                self.session.actor, now)])
            # Its history, bin copies and recent items, its copies elsewhere (security/erasure_traces.py), and the
            # same of the duplicates merged into it.
            erase_copies(connection, self.runtime, object_name, record_id, before, erased)
            for merged_id, values in merged_copies(connection, self.runtime, object_name, record_id):
                erase_copies(connection, self.runtime, object_name, merged_id, values, erased)
            self._log("privacy.erased", object_name, record_id, connection=connection, fields=sorted(erased))
        hidden = self.session.policy.hidden_fields(object_name) if self.session.policy is not None else frozenset()
        return sorted(erased - hidden)

    def _log(self, event: str, object_name: str, record_id: int, connection=None, **detail: Any) -> None:
        SecurityLog(self.session.crm).record(event, connection=connection, detail={
            "by": self.session.actor.user_id, "object": object_name, "record_id": record_id, **detail})
