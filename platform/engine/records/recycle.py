"""Deleting honours each lookup's on_delete, and everything deleted can be restored from the bin.

A delete is one batch: the record, the records it cascades to, and the lookups it
cleared (set_null). Restoring the batch puts all of it back, with the same ids.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping

from sqlalchemy import Connection, and_, case, delete, func, insert, or_, select, update

from crmkit.engine import messages
from crmkit.engine.fieldtypes import from_json, to_json
from crmkit.engine.records.constraints import constraint_errors
from crmkit.engine.records.errors import CascadeDeleteError, DeleteRestrictedError, RecordNotFound, RestoreError
from crmkit.engine.records.events import Operation, RecordEvent, after_write
from crmkit.engine.records.propagation import Propagator
from crmkit.engine.security.access import PermissionDenied
from crmkit.engine.security.readable import readable_ids
from crmkit.engine.security.shaping import hidden_fields, quotable_field, readable_field, shown_deleted, shown_title

if TYPE_CHECKING:
    from crmkit.engine.runtime import Runtime
    from crmkit.engine.context import UserContext

BATCH = 500


class Deleter:
    def __init__(self, connection: Connection, session: "UserContext") -> None:
        self.connection = connection
        self.session = session
        self.runtime = session.runtime
        self.registry = self.runtime.registry
        self.bin = self.runtime.system_table("crmkit_recycle_bin")
        self.now = session.now()
        #: The records the cascade check found the user may delete ({object: ids}); None: no check.
        self._deletable: dict[str, set[int]] | None = None
        self._root: tuple[str, int] | None = None

    def delete(self, object_name: str, row: Mapping[str, Any]) -> str:
        batch = str(uuid.uuid4())
        self._root = (object_name, row["id"])
        self._check_cascade(object_name, row["id"])
        self._delete(object_name, row, batch, is_root=True)
        return batch

    def _check_cascade(self, object_name: str, record_id: int) -> None:
        """Refuse, before anything is written, a delete that would cascade to a record the user may not delete.

        Walks the on_delete: cascade lookups down from the record a level at a time (each
        record once, so a cycle ends) and counts in SQL, per level, the records reached that
        are outside the user's delete rights (AccessPolicy.delete_filter), as for the record
        itself. The refusal (CascadeDeleteError)
        names neither those records nor how many there are. set_null children are cleared
        whoever may edit them: the link points at a record that is gone, the rest of the
        child is kept, and restoring the batch puts the link back (docs/permissions.md).
        """
        if self.session.policy is None:
            return
        reached: dict[str, set[int]] = {object_name: {record_id}}
        level: dict[str, set[int]] = {object_name: {record_id}}
        while level:
            found: dict[str, set[int]] = {}
            for parent, ids in level.items():
                for child, via in self.registry.children.get(parent, ()):
                    if self.registry.object(child).fields[via].on_delete == "cascade":
                        found.setdefault(child, set()).update(self._cascaded(child, via, sorted(ids), object_name,
                                                                             record_id))
            level = {child: ids - reached.get(child, set()) for child, ids in found.items()}
            level = {child: ids for child, ids in level.items() if ids}
            for child, ids in level.items():
                reached.setdefault(child, set()).update(ids)
        self._deletable = reached

    def _cascaded(self, child: str, via: str, parent_ids: list[int], root: str, root_id: int) -> set[int]:
        """Ids of the `child` records pointing at `parent_ids` through `via`, all of which the user may delete."""
        policy = self.session.policy
        table = self.runtime.table(child)
        deletable = policy.delete_filter(child)
        found: set[int] = set()
        for start in range(0, len(parent_ids), BATCH):
            pointing = table.c[via].in_(parent_ids[start:start + BATCH])
            if deletable is not None:
                total, allowed = self.connection.execute(
                    select(func.count(), func.count(case((deletable, 1)))).where(pointing)).one()
                if allowed < total:
                    raise CascadeDeleteError(root, root_id)
            found.update(self.connection.execute(select(table.c.id).where(pointing)).scalars())
        return found

    def _delete(self, object_name: str, row: Mapping[str, Any], batch: str, *, is_root: bool) -> None:
        record_id = row["id"]
        self._check_restrict(object_name, record_id)
        cleared: dict[str, dict[str, list[int]]] = {}
        for child, via in self.registry.children.get(object_name, ()):
            rule = self.registry.object(child).fields[via].on_delete
            if rule == "cascade":
                self._cascade(child, via, record_id, batch)
            elif rule == "set_null":
                ids = self._clear_links(child, via, record_id, batch)
                if ids:
                    cleared.setdefault(child, {})[via] = ids
        obj = self.registry.object(object_name)
        title = row.get(obj.title_field) if obj.title_field else None
        self.connection.execute(insert(self.bin).values(
            batch=batch, object=object_name, record_id=record_id, title=None if title is None else str(title),
            data={name: to_json(value) for name, value in row.items()}, cleared_links=cleared or None,
            is_root=1 if is_root else 0, deleted_at=self.now, deleted_by=self.session.actor.user_id,
        ))
        table = self.runtime.table(object_name)
        self.connection.execute(delete(table).where(table.c.id == record_id))
        after_write(self.connection, self.session, [
            RecordEvent.of(object_name, Operation.DELETE, row, None, self.session.actor, self.now, batch)])

    def _check_restrict(self, object_name: str, record_id: int) -> None:
        """Refuse while restrict lookups point here; the message counts only records the user may see."""
        blockers: dict[str, int] = {}
        unseen = False
        for child, via in self.registry.children.get(object_name, ()):
            if self.registry.object(child).fields[via].on_delete != "restrict":
                continue
            total, seen = self._pointing(child, via, record_id)
            if seen:
                label = self.registry.object(child).plural_label.get(self.session.actor.language)
                blockers[f"{label} ({child}.{via})"] = seen
            unseen = unseen or seen < total
        if blockers or unseen:
            raise DeleteRestrictedError(object_name, record_id, blockers, unseen=unseen)

    def _pointing(self, child: str, via: str, record_id: int) -> tuple[int, int]:
        """How many `child` records point here through `via`, and how many of them the user may see."""
        table = self.runtime.table(child)
        policy = self.session.policy
        pointing = table.c[via] == record_id
        if policy is None:
            total = self.connection.execute(select(func.count()).where(pointing)).scalar_one()
            return total, total
        if not policy.can(child, "read") or not readable_field(policy, child, via):
            return self.connection.execute(select(func.count()).where(pointing)).scalar_one(), 0
        restriction = policy.row_filter(child)
        seen = func.count() if restriction is None else func.count(case((restriction, 1)))
        total, shown = self.connection.execute(select(func.count(), seen).where(pointing)).one()
        return total, shown

    def _cascade(self, child: str, via: str, record_id: int, batch: str) -> None:
        table = self.runtime.table(child)
        while True:
            rows = self.connection.execute(select(table).where(table.c[via] == record_id).limit(BATCH)).all()
            if not rows:
                return
            for row in rows:
                if self._deletable is not None and row.id not in self._deletable.get(child, ()):
                    raise CascadeDeleteError(*self._root)  # pointed here after the check: not checked
                self._delete(child, dict(row._mapping), batch, is_root=False)

    def _clear_links(self, child: str, via: str, record_id: int, batch: str) -> list[int]:
        """Empty `via` on the children pointing at the deleted record: each an update with its own event."""
        table = self.runtime.table(child)
        cleared: list[int] = []
        while True:
            rows = self.connection.execute(select(table).where(table.c[via] == record_id).order_by(table.c.id)
                                           .limit(BATCH)).all()
            if not rows:
                return cleared
            relink(self.connection, self.session, child, [dict(row._mapping) for row in rows], via, None, self.now,
                   batch)
            cleared.extend(row.id for row in rows)


def relink(connection: Connection, session: "UserContext", object_name: str, rows: list[dict[str, Any]], via: str,
           target: int | None, at: datetime, batch: str) -> None:
    """Point `rows` (stored rows of `object_name`) at `target` through the lookup `via` (None clears it).

    Each row is an update: version bumped, its formulas reading `via` recomputed, then
    the after-write step (history, propagation, the after-save hook) with the rows as stored.
    """
    table = session.runtime.table(object_name)
    ids = [row["id"] for row in rows]
    connection.execute(update(table).where(table.c.id.in_(ids)).values(
        {via: target, "updated_at": at, "updated_by": session.actor.user_id, "version": table.c.version + 1}))
    propagator = Propagator(connection, session.runtime)
    formulas = propagator.formulas_reading(object_name, {via})
    if formulas:
        propagator.recompute_formulas(object_name, ids, formulas)
    current = {row.id: dict(row._mapping) for row in connection.execute(select(table).where(table.c.id.in_(ids)))}
    after_write(connection, session, [RecordEvent.of(object_name, Operation.UPDATE, row, current[row["id"]],
                                                     session.actor, at, batch) for row in rows])


class RecycleBin:
    """What was deleted, and the way back."""

    def __init__(self, session: "UserContext") -> None:
        self.session = session
        self.table = self.runtime.system_table("crmkit_recycle_bin")

    @property
    def runtime(self) -> "Runtime":
        """The session's current runtime (it follows upgrades: Crm.ensure_current)."""
        return self.session.runtime

    def entries(self, object_name: str | None = None, *, limit: int = 50, before: int | None = None
                ) -> list[dict[str, Any]]:
        """Deleted records (those deleted directly, not by cascade) the user may see, newest first.

        Who sees what (`_visible`): a user sees what they deleted themselves, and every deletion
        of the objects on which they have `modify_all` (administrators: all). `before` is the
        `id` of the last entry of the previous page (a keyset: pass it for the next page).

        Each entry: id (its place in the bin), batch, object, record_id, title, data (the
        record's values as JSON), cleared_links ({child object: {lookup: [ids]}}), deleted_at,
        deleted_by, may_purge (whether `purge` would be allowed), may_restore (whether `restore` would be). What the user may not read is
        left out as in `get` (security/shaping.py): hidden fields, a hidden title, rollups over
        children the user cannot all see, and cleared links the user cannot see (a hidden
        lookup, or records outside their row filter).
        """
        query = select(self.table).where(self.table.c.is_root == 1, *self._visible())
        if object_name:
            query = query.where(self.table.c.object == object_name)
        if before is not None:
            query = query.where(self.table.c.id < before)
        query = query.order_by(self.table.c.id.desc()).limit(limit)
        with self.session.reading() as connection:
            return [{**self._shown_entry(connection, dict(row._mapping)), "may_purge": self.may_purge(row.object),
                     "may_restore": self.may_restore(row.object)} for row in connection.execute(query)]

    def entry(self, batch: str) -> dict[str, Any]:
        """The entry of `batch`, shaped as `entries` gives it; RecordNotFound for one the user may not see."""
        query = select(self.table).where(self.table.c.batch == str(batch)[:64], self.table.c.is_root == 1,
                                         *self._visible())
        with self.session.reading() as connection:
            row = connection.execute(query).first()
            if row is None:
                raise RecordNotFound("recycle bin", batch)
            return {**self._shown_entry(connection, dict(row._mapping)), "may_purge": self.may_purge(row.object),
                    "may_restore": self.may_restore(row.object)}

    def objects(self) -> list[str]:
        """The objects of which the bin holds entries the user may see (by name), for a filter."""
        query = select(self.table.c.object).where(self.table.c.is_root == 1, *self._visible()).distinct()
        with self.session.reading() as connection:
            return sorted(connection.execute(query).scalars())

    def may_purge(self, object_name: str) -> bool:
        """Whether the user may delete entries of `object_name` for good: it needs `delete` on the object
        (besides seeing the entry); the system session may."""
        policy = self.session.policy
        return policy is None or (object_name in self.runtime.registry.objects and policy.can(object_name, "delete"))

    def may_restore(self, object_name: str) -> bool:
        """Whether the user may put records of `object_name` back (besides seeing the entry, which needs `read`):
        a restore makes the record exist again, so it needs `create` on the object; the system session may."""
        policy = self.session.policy
        return policy is None or (object_name in self.runtime.registry.objects and policy.can(object_name, "create"))

    def _shown_entry(self, connection: Connection, entry: dict[str, Any]) -> dict[str, Any]:
        policy = self.session.policy
        if policy is None:
            return entry
        obj = self.runtime.registry.objects.get(entry["object"])
        if obj is None:  # no longer installed: its field rules are gone with it, so only the id is shown
            return {**entry, "title": None, "data": {"id": entry["record_id"]}, "cleared_links": None}
        links = {}
        for child, by_lookup in (entry["cleared_links"] or {}).items():
            for via, ids in by_lookup.items():
                shown = self._readable_ids(connection, child, via, ids)
                if shown:
                    links.setdefault(child, {})[via] = shown
        return {**entry, "title": shown_title(policy, obj, entry["title"]),
                "data": shown_deleted(policy, obj, entry["data"] or {}), "cleared_links": links or None}

    def _readable_ids(self, connection: Connection, child: str, via: str, ids: list[int]) -> list[int]:
        """Which of the live `child` records cleared through `via` the user may see (none if `via` is hidden)."""
        policy = self.session.policy
        if child not in self.runtime.registry.objects or via not in self.runtime.registry.objects[child].fields \
                or not readable_field(policy, child, via) or not policy.can(child, "read"):
            return []
        readable = readable_ids(connection, self.runtime, policy, child, ids)
        return [record_id for record_id in ids if record_id in readable]

    def restore(self, batch: str) -> list[tuple[str, int]]:
        """Put a deleted batch back: records with their ids, cascaded records, cleared lookups.

        Returns (object, id) of every record restored, the one deleted directly first.
        RecordNotFound for a batch the user may not see (`_visible`); RestoreError (409) when
        a unique value is taken meanwhile or the object is no longer installed.
        """
        with self.session.writing() as connection:
            root = connection.execute(select(self.table.c.id).where(
                self.table.c.batch == batch, self.table.c.is_root == 1, *self._visible())).first()
            rows = connection.execute(select(self.table).where(self.table.c.batch == batch)
                                      .order_by(self.table.c.is_root.desc(), self.table.c.id.desc())).all()
            if not rows or root is None:
                raise RecordNotFound("recycle bin", batch)
            refused = next((row.object for row in rows if not self.may_restore(row.object)), None)
            if refused is not None:  # the record and what its delete cascaded: each object's create permission
                raise PermissionDenied(messages.RESTORE_REFUSED(object=refused))
            now = self.session.now()
            restored = [self._restore_row(connection, dict(row._mapping), now) for row in rows]
            for row in rows:
                self._relink(connection, row.record_id, row.cleared_links or {}, now, batch)
            connection.execute(delete(self.table).where(self.table.c.batch == batch))
            return restored

    def batch_of(self, object_name: str, record_id: int) -> str:
        """The bin batch in which `record_id` of `object_name` was deleted directly (not by a cascade).

        RecordNotFound when the bin holds no such entry the user may see (`_visible`).
        """
        query = (select(self.table.c.batch).where(self.table.c.object == object_name,
                                                  self.table.c.record_id == record_id,
                                                  self.table.c.is_root == 1, *self._visible())
                 .order_by(self.table.c.id.desc()).limit(1))
        with self.session.reading() as connection:
            batch = connection.execute(query).scalar()
        if batch is None:
            raise RecordNotFound(object_name, record_id)
        return batch

    def purge(self, batch: str) -> int:
        """Delete a batch from the bin for good; returns how many records it held.

        RecordNotFound for a batch the user may not see (as for one that is not there);
        PermissionDenied unless they may delete records of its object (`may_purge`).
        """
        with self.session.writing() as connection:
            root = connection.execute(select(self.table.c.object).where(
                self.table.c.batch == batch, self.table.c.is_root == 1, *self._visible())).first()
            if root is None:
                raise RecordNotFound("recycle bin", batch)
            if not self.may_purge(root.object):
                raise PermissionDenied(messages.PURGE_REFUSED(object=root.object))
            return connection.execute(delete(self.table).where(self.table.c.batch == batch)).rowcount

    def _visible(self) -> list:
        """Users see what they deleted themselves, of the objects they may still read; modify-all on an object
        shows all of its deletions. A user who lost the read permission on an object since sees none of its
        entries (they hold its stored values)."""
        policy = self.session.policy
        if policy is None:
            return []
        objects = self.runtime.registry.objects
        readable = [name for name in objects if policy.can(name, "read")]
        everything = [name for name in objects if policy.can(name, "modify_all")]
        return [or_(and_(self.table.c.deleted_by == self.session.actor.user_id, self.table.c.object.in_(readable)),
                    self.table.c.object.in_(everything))]

    def _restore_row(self, connection: Connection, entry: dict[str, Any], now: datetime) -> tuple[str, int]:
        object_name = entry["object"]
        if object_name not in self.runtime.registry.objects:
            raise RestoreError(messages.RESTORE_UNINSTALLED(object=object_name))
        obj = self.runtime.object(object_name)
        table = self.runtime.table(object_name)
        values = {name: from_json(table.c[name].type, value) for name, value in entry["data"].items() if name in table.c}
        for fdef in obj.fields.values():
            if fdef.is_lookup and values.get(fdef.name) is not None:
                target = self.runtime.table(fdef.to)
                if connection.execute(select(target.c.id).where(target.c.id == values[fdef.name])).first() is None:
                    values[fdef.name] = None
            if fdef.unique and values.get(fdef.name) is not None:
                if connection.execute(select(table.c.id).where(table.c[fdef.name] == values[fdef.name])).first():
                    raise RestoreError(_unique_conflict(self.session.policy, object_name, entry["record_id"], fdef.name,
                                                        values[fdef.name]))
        values["version"] = (values.get("version") or 0) + 1
        values["updated_at"] = now
        with constraint_errors(obj, values, hidden_fields(self.session.policy, object_name)):
            connection.execute(insert(table).values(values))
        # What the record reads may have changed while it was in the bin (a renamed account,
        # a child added or removed): its own rollups and formulas are recomputed, not restored.
        Propagator(connection, self.runtime).refresh_records(object_name, [values["id"]])
        current = dict(connection.execute(select(table).where(table.c.id == values["id"])).one()._mapping)
        after_write(connection, self.session, [RecordEvent.of(object_name, Operation.RESTORE, None, current,
                                                              self.session.actor, now, entry["batch"])])
        return object_name, values["id"]

    def _relink(self, connection: Connection, record_id: int, cleared: Mapping[str, Mapping[str, list[int]]],
                now: datetime, batch: str) -> None:
        for child, links in cleared.items():
            if child not in self.runtime.registry.objects:
                continue
            table = self.runtime.table(child)
            for via, ids in links.items():
                if via not in table.c:
                    continue
                for start in range(0, len(ids), BATCH):
                    rows = connection.execute(select(table).where(
                        table.c.id.in_(ids[start:start + BATCH]), table.c[via].is_(None))).all()
                    if rows:
                        relink(connection, self.session, child, [dict(row._mapping) for row in rows], via, record_id,
                               now, batch)


def _unique_conflict(policy: Any, object_name: str, record_id: int, field_name: str, value: Any) -> str:
    """Why a restore clashes with a unique value; a field the user may not read is named by neither name nor value."""
    if quotable_field(policy, object_name, field_name):
        return messages.RESTORE_UNIQUE(object=object_name, id=record_id, value=repr(value), field=field_name)
    return messages.RESTORE_UNIQUE_UNSEEN(object=object_name, id=record_id)
