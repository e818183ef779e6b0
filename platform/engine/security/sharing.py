"""Manual sharing: one record shared with one user or team, for reading or editing.

Only users with full access to a record (its owner, users above the owner, `modify_all`)
share it, remove its shares or list them; edit access alone, through a share or a sharing
rule, lets a user change the record, not pass it on (Salesforce: "Full Access" shares).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select

from crmkit.engine import messages
from crmkit.engine.records.errors import RecordError, RecordNotFound
from crmkit.engine.security.access import EDIT, READ, PermissionDenied
from crmkit.engine.security.audit import SecurityLog
from crmkit.engine.security.rights import rights_changed

if TYPE_CHECKING:
    from crmkit.engine.runtime import Runtime
    from crmkit.engine.context import UserContext


class Sharing:
    def __init__(self, session: "UserContext") -> None:
        self.session = session
        self.table = self.runtime.system_table("crmkit_share")

    @property
    def runtime(self) -> "Runtime":
        """The session's current runtime (it follows upgrades: Crm.ensure_current)."""
        return self.session.runtime

    def share(self, object_name: str, record_id: int, *, user_id: int | None = None, team_id: int | None = None,
              access: str = READ) -> int:
        """Share a record the acting user may edit and has full access to; returns the share's id."""
        if (user_id is None) == (team_id is None):
            raise RecordError(messages.SHARE_WITH_ONE())
        if access not in (READ, EDIT):
            raise RecordError(f"access must be '{READ}' or '{EDIT}', not {access!r}.")
        with self.session.writing() as connection:
            self._require_full_access(connection, object_name, record_id)
            share_id = connection.execute(insert(self.table).values(
                object=object_name, record_id=record_id, user_id=user_id, team_id=team_id, access=access,
                granted_by=self.session.actor.user_id, granted_at=datetime.now(timezone.utc),
            ).returning(self.table.c.id)).scalar_one()
            self._log(connection, "record.shared", object=object_name, record_id=record_id, user_id=user_id,
                      team_id=team_id, access=access)
            rights_changed(connection, self.runtime)  # contexts remember whether any share reaches their user
            return share_id

    def unshare(self, share_id: int) -> None:
        with self.session.writing() as connection:
            row = connection.execute(select(self.table).where(self.table.c.id == share_id)).first()
            if row is None:
                raise RecordNotFound("share", share_id)
            self._require_full_access(connection, row.object, row.record_id)
            connection.execute(delete(self.table).where(self.table.c.id == share_id))
            self._log(connection, "record.unshared", object=row.object, record_id=row.record_id, share_id=share_id)
            rights_changed(connection, self.runtime)  # what was kept under the old rights (widgets) is not served

    def shares(self, object_name: str, record_id: int) -> list[dict[str, Any]]:
        with self.session.reading() as connection:
            self._require_full_access(connection, object_name, record_id)
            rows = connection.execute(select(self.table).where(
                self.table.c.object == object_name, self.table.c.record_id == record_id).order_by(self.table.c.id))
            return [dict(row._mapping) for row in rows]

    def _require_full_access(self, connection, object_name: str, record_id: int) -> None:
        """RecordNotFound unless the user may read the record; PermissionDenied unless they may edit it and
        own it, are above its owner, or may modify all records of the object."""
        table = self.runtime.table(object_name)
        policy = self.session.policy
        query = select(table.c.id, table.c.owner_id).where(table.c.id == record_id)
        readable = policy.row_filter(object_name) if policy else None
        row = connection.execute(query.where(readable) if readable is not None else query).first()
        if row is None:
            raise RecordNotFound(object_name, record_id)
        if policy is None:
            return
        editable = policy.row_filter(object_name, EDIT)
        if not policy.can(object_name, EDIT) or (
                editable is not None and connection.execute(query.where(editable)).first() is None):
            raise PermissionDenied(messages.SHARE_EDITORS_ONLY(object=object_name, id=record_id))
        if not policy.has_full_access(object_name, row.owner_id):
            raise PermissionDenied(messages.SHARE_OWNERS_ONLY(object=object_name, id=record_id))

    def _log(self, connection, event: str, **detail: Any) -> None:
        SecurityLog(self.session.crm).record(event, connection=connection,
                                             detail={"by": self.session.actor.user_id, **detail})
