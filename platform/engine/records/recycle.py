"""Deleting honours each lookup's on_delete, and everything deleted can be restored from the bin.

A delete is one batch: the record, the records it cascades to, and the lookups it
cleared (set_null). Restoring the batch puts all of it back, with the same ids.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Mapping

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from crmkit.engine.fieldtypes import to_json
from crmkit.engine.records.constraints import constraint_errors
from crmkit.engine.records.errors import DeleteRestrictedError, RecordNotFound, RestoreError
from crmkit.engine.records.history import history_rows, write_history
from crmkit.engine.records.propagation import Propagator

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext

BATCH = 500


class Deleter:
    def __init__(self, connection: Connection, session: "UserContext") -> None:
        self.connection = connection
        self.session = session
        self.runtime = session.runtime
        self.registry = self.runtime.registry
        self.bin = self.runtime.system_table("crmkit_recycle_bin")
        self.now = datetime.now(timezone.utc)

    def delete(self, object_name: str, row: Mapping[str, Any]) -> str:
        batch = str(uuid.uuid4())
        self._delete(object_name, row, batch, is_root=True)
        return batch

    def _delete(self, object_name: str, row: Mapping[str, Any], batch: str, *, is_root: bool) -> None:
        record_id = row["id"]
        self._check_restrict(object_name, record_id)
        cleared: dict[str, dict[str, list[int]]] = {}
        for child, via in self.registry.children.get(object_name, ()):
            rule = self.registry.object(child).fields[via].on_delete
            if rule == "cascade":
                self._cascade(child, via, record_id, batch)
            elif rule == "set_null":
                ids = self._clear_links(child, via, record_id)
                if ids:
                    cleared.setdefault(child, {})[via] = ids
        obj = self.registry.object(object_name)
        if obj.track_history:
            write_history(self.connection, self.runtime,
                          history_rows(object_name, record_id, "delete", None, None, self.session.actor.user_id, self.now))
        title = row.get(obj.title_field) if obj.title_field else None
        self.connection.execute(insert(self.bin).values(
            batch=batch, object=object_name, record_id=record_id, title=None if title is None else str(title),
            data={name: to_json(value) for name, value in row.items()}, cleared_links=cleared or None,
            is_root=1 if is_root else 0, deleted_at=self.now, deleted_by=self.session.actor.user_id,
        ))
        table = self.runtime.table(object_name)
        self.connection.execute(delete(table).where(table.c.id == record_id))
        Propagator(self.connection, self.runtime).record_written(object_name, row, None)

    def _check_restrict(self, object_name: str, record_id: int) -> None:
        blockers: dict[str, int] = {}
        for child, via in self.registry.children.get(object_name, ()):
            if self.registry.object(child).fields[via].on_delete != "restrict":
                continue
            table = self.runtime.table(child)
            count = self.connection.execute(select(func.count()).where(table.c[via] == record_id)).scalar_one()
            if count:
                label = self.registry.object(child).plural_label.get(self.session.actor.language)
                blockers[f"{label} ({child}.{via})"] = count
        if blockers:
            raise DeleteRestrictedError(object_name, record_id, blockers)

    def _cascade(self, child: str, via: str, record_id: int, batch: str) -> None:
        table = self.runtime.table(child)
        while True:
            rows = self.connection.execute(select(table).where(table.c[via] == record_id).limit(BATCH)).all()
            if not rows:
                return
            for row in rows:
                self._delete(child, dict(row._mapping), batch, is_root=False)

    def _clear_links(self, child: str, via: str, record_id: int) -> list[int]:
        table = self.runtime.table(child)
        ids = list(self.connection.execute(select(table.c.id).where(table.c[via] == record_id)).scalars())
        if ids:
            self.connection.execute(
                update(table).where(table.c[via] == record_id)
                .values({via: None, "updated_at": self.now, "version": table.c.version + 1})
            )
            Propagator(self.connection, self.runtime).fields_changed(child, ids, {via}, depth=0)
        return ids


class RecycleBin:
    """What was deleted, and the way back."""

    def __init__(self, session: "UserContext") -> None:
        self.session = session
        self.runtime = session.runtime
        self.table = self.runtime.system_table("crmkit_recycle_bin")

    def entries(self, object_name: str | None = None, *, limit: int = 50) -> list[dict[str, Any]]:
        """Deleted records (those deleted directly, not by cascade), newest first."""
        query = select(self.table).where(self.table.c.is_root == 1, *self._visible())
        if object_name:
            query = query.where(self.table.c.object == object_name)
        query = query.order_by(self.table.c.id.desc()).limit(limit)
        with self.session.reading() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def restore(self, batch: str) -> list[tuple[str, int]]:
        """Put a deleted batch back: records with their ids, cascaded records, cleared lookups."""
        with self.session.writing() as connection:
            root = connection.execute(select(self.table.c.id).where(
                self.table.c.batch == batch, self.table.c.is_root == 1, *self._visible())).first()
            rows = connection.execute(select(self.table).where(self.table.c.batch == batch).order_by(self.table.c.id.desc())).all()
            if not rows or root is None:
                raise RecordNotFound("recycle bin", batch)
            restored = [self._restore_row(connection, dict(row._mapping)) for row in rows]
            for row in rows:
                self._relink(connection, row.record_id, row.cleared_links or {})
            connection.execute(delete(self.table).where(self.table.c.batch == batch))
            return restored

    def purge(self, batch: str) -> int:
        """Delete a batch from the bin for good; returns how many records it held."""
        with self.session.writing() as connection:
            root = connection.execute(select(self.table.c.id).where(
                self.table.c.batch == batch, self.table.c.is_root == 1, *self._visible())).first()
            if root is None:
                raise RecordNotFound("recycle bin", batch)
            return connection.execute(delete(self.table).where(self.table.c.batch == batch)).rowcount

    def _visible(self) -> list:
        """Users see what they deleted themselves; modify-all on an object shows all of its deletions."""
        policy = self.session.policy
        if policy is None:
            return []
        everything = [name for name in self.runtime.registry.objects if policy.can(name, "modify_all")]
        return [or_(self.table.c.deleted_by == self.session.actor.user_id, self.table.c.object.in_(everything))]

    def _restore_row(self, connection: Connection, entry: dict[str, Any]) -> tuple[str, int]:
        object_name = entry["object"]
        if object_name not in self.runtime.registry.objects:
            raise RestoreError(f"{object_name} records cannot be restored: the object is no longer installed.")
        obj = self.runtime.object(object_name)
        table = self.runtime.table(object_name)
        values = {name: _from_json(table.c[name].type, value) for name, value in entry["data"].items() if name in table.c}
        for fdef in obj.fields.values():
            if fdef.is_lookup and values.get(fdef.name) is not None:
                target = self.runtime.table(fdef.to)
                if connection.execute(select(target.c.id).where(target.c.id == values[fdef.name])).first() is None:
                    values[fdef.name] = None
            if fdef.unique and values.get(fdef.name) is not None:
                if connection.execute(select(table.c.id).where(table.c[fdef.name] == values[fdef.name])).first():
                    raise RestoreError(f"{object_name} {entry['record_id']} cannot be restored: another record now "
                                       f"uses {values[fdef.name]!r} in '{fdef.name}', which must be unique.")
        values["version"] = (values.get("version") or 0) + 1
        values["updated_at"] = datetime.now(timezone.utc)
        with constraint_errors(obj, values):
            connection.execute(insert(table).values(values))
        if obj.track_history:
            write_history(connection, self.runtime, history_rows(
                object_name, values["id"], "restore", None, None, self.session.actor.user_id, values["updated_at"]))
        Propagator(connection, self.runtime).record_written(object_name, None, values)
        return object_name, values["id"]

    def _relink(self, connection: Connection, record_id: int, cleared: Mapping[str, Mapping[str, list[int]]]) -> None:
        for child, links in cleared.items():
            if child not in self.runtime.registry.objects:
                continue
            table = self.runtime.table(child)
            for via, ids in links.items():
                if via not in table.c:
                    continue
                for start in range(0, len(ids), BATCH):
                    chunk = ids[start:start + BATCH]
                    connection.execute(update(table).where(table.c.id.in_(chunk), table.c[via].is_(None)).values({via: record_id}))
                Propagator(connection, self.runtime).fields_changed(child, ids, {via}, depth=0)


def _from_json(column_type: Any, value: Any) -> Any:
    """A JSON value from the bin back into what the column stores."""
    if value is None:
        return None
    try:
        python_type = column_type.python_type
    except NotImplementedError:
        return value
    if python_type is datetime:
        return datetime.fromisoformat(value)
    if python_type is date:
        return date.fromisoformat(value)
    if python_type is Decimal:
        return Decimal(value)
    return value
