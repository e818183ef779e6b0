"""Finding duplicate records and merging them into one.

    merging = MergeService(crm.as_user(wang_id), "contact")
    merging.find_duplicates("email")          # [[3, 17], [8, 9, 40]]: ids of records alike, lowest first
    merging.merge(3, [17], {"phone": 17})     # 3 survives with 17's phone; 17 goes to the recycle bin

A merge, in one transaction:

1. Every lookup pointing at a merged record (of any object, the object's own lookups too)
   is pointed at the survivor: one UPDATE per lookup field, with the after-write step for
   each re-parented record (its history, rollups on both parents, its search index). A
   unique lookup (or a unique combination holding one) that would then point at the
   survivor twice refuses the merge with a sentence (MergeError), naming no child object.
2. The merged records go to the recycle bin, as a delete does (nothing cascades: their
   children were moved first), so the merge can be looked into and a record restored.
3. The survivor takes the chosen values: {field: id of the merged record whose value it
   keeps} (any field the user may edit); every other field keeps the survivor's value, and
   an empty one takes the first merged record's non-empty value. It is saved after the
   merged records are binned, so a unique value it takes from one (an ERP code) is free;
   through the save pipeline (validation, formulas, history: its field history says what
   the merge changed), with its optimistic lock as it was read.
4. The security log gets `records.merged` (object, survivor, merged ids, fields taken,
   re-parented children per lookup).

Permissions (the engine's): edit on the survivor, delete on each merged record (a
record the user may read but not edit or delete is refused with its sentence).

Duplicates are found by the import's rules (transfer/duplicates.py): email and name are
grouped in SQL; phone numbers are grouped in SQL by their last 8 digits and then compared
in E.164.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from crmkit.engine import messages
from crmkit.engine.records.errors import RecordError
from crmkit.engine.records.events import Operation, RecordEvent, after_write
from crmkit.engine.security.access import PermissionDenied
from crmkit.engine.security.audit import SecurityLog
from crmkit.engine.transfer.duplicates import DEFAULT_REGION, DuplicateRule
from crmkit.engine.security.shaping import stored_withheld

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext

#: The most records merged into one at a time.
MAX_MERGED = 10


class MergeError(RecordError):
    """A merge that cannot be done as asked (the survivor among the merged, too many, a field unknown)."""

    title = "Merge not possible"
    status = 400


@dataclass(frozen=True)
class MergeResult:
    """What a merge did: the survivor, the merged ids, children re-parented per "object.field" (only those the
    user may read are counted), the bin batches."""

    survivor: int
    merged: tuple[int, ...]
    reparented: Mapping[str, int]
    bin_batches: tuple[str, ...]


class MergeService:
    """Duplicates and merges of one object's records for one UserContext (see the module docstring)."""

    def __init__(self, context: "UserContext", object_name: str) -> None:
        self.context = context
        self.records = context.records(object_name)
        self.object_name = object_name

    def find_duplicates(self, rule: str = "email", *, region: str = DEFAULT_REGION, limit: int = 100
                        ) -> list[list[int]]:
        """Groups of ids (lowest first, groups by their first id) of records alike by `rule`, among those the user may read.

        At most `limit` groups. ImportFileError for an unknown rule or an object without its field.
        """
        records = self.records
        found = self._rule(rule, region)
        table = records.table
        column = table.c[found.field]
        with records._reading("read") as connection:
            visible = self.context.row_filter(records.obj.name) if self.context.row_filter else None
            if found.kind == "phone":
                key = _digits(column)
                key = func.right(key, 8) if connection.dialect.name == "postgresql" else func.substr(key, -8)
            elif found.kind == "email":
                key = func.lower(func.trim(column))
            else:
                key = func.lower(column)
            grouped = select(key.label("key")).where(column.is_not(None)).group_by(key).having(func.count() > 1)
            if visible is not None:
                grouped = grouped.where(visible)
            keys = [row[0] for row in connection.execute(grouped.limit(limit * 4)) if row[0] not in (None, "")]
            if not keys:
                return []
            members = select(table.c.id, column).where(key.in_(keys)).order_by(table.c.id)
            if visible is not None:
                members = members.where(visible)
            groups: dict[str, list[int]] = {}
            for record_id, value in connection.execute(members):
                compared = found.key(value)
                if compared is not None:
                    groups.setdefault(compared, []).append(record_id)
        alike = sorted((ids for ids in groups.values() if len(ids) > 1), key=lambda ids: ids[0])
        return alike[:limit]

    def _rule(self, rule: str, region: str) -> DuplicateRule:
        """The rule `rule` of this object; ImportFileError, as for an object without its field, when the
        user may not read that field or sees it recomputed or masked (grouping by its stored value would tell which
        records share a value they cannot see)."""
        found = DuplicateRule.of(self.records.obj, rule, region=region)
        policy = self.context.policy
        if found.field in stored_withheld(policy, self.object_name):  # hidden, or seen recomputed or masked
            from crmkit.engine.transfer.files import ImportFileError

            raise ImportFileError(messages.DUPLICATE_RULE_NO_FIELD(rule=rule, object=self.object_name))
        return found

    def rules(self) -> list[str]:
        """The duplicate rules this object has a field for (email, phone, name), in that order."""
        from crmkit.engine.transfer.duplicates import RULES
        from crmkit.engine.transfer.files import ImportFileError

        found = []
        for rule in RULES:
            try:
                self._rule(rule, DEFAULT_REGION)
            except ImportFileError:
                continue
            found.append(rule)
        return found

    def duplicates_of(self, record_id: int, rule: str = "email", *, region: str = DEFAULT_REGION,
                      limit: int = 20) -> list[int]:
        """Ids of the records alike `record_id` by `rule` that the user may read, lowest first (RecordNotFound)."""
        records = self.records
        found = self._rule(rule, region)
        table = records.table
        column = table.c[found.field]
        with records._reading("read") as connection:
            key = found.key(records._load(connection, record_id).get(found.field))
            if key is None:
                return []
            query = select(table.c.id, column).where(
                found.candidates(column, [key], connection.dialect.name), table.c.id != record_id).order_by(table.c.id)
            visible = self.context.row_filter(records.obj.name) if self.context.row_filter else None
            if visible is not None:
                query = query.where(visible)
            alike = [other for other, value in connection.execute(query) if found.key(value) == key]
        return alike[:limit]

    def merge(self, survivor: int, merged: Sequence[int], values: Mapping[str, int] | None = None) -> MergeResult:
        """Merge `merged` into `survivor`, taking each field of `values` from the merged record it names.

        Raises MergeError (the survivor among the merged, none or more than MAX_MERGED, a value
        taken from a record not merged or from a field the object has not), RecordNotFound,
        PermissionDenied (edit on the survivor, delete on each merged record), RecordValidationError,
        StaleRecordError.
        """
        merged = list(dict.fromkeys(merged))
        if not merged or survivor in merged or len(merged) > MAX_MERGED:
            raise MergeError(messages.MERGE_CHOICE(max=MAX_MERGED))
        records, session = self.records, self.context
        obj = records.obj
        with records._writing("edit", "delete") as connection:
            keeper = records._load(connection, survivor, lock=True, level="edit")
            others = [records._load(connection, record_id, lock=True, level="edit") for record_id in merged]
            policy = session.policy
            for row in others:
                if policy is not None and not policy.may_delete(obj.name, row):
                    raise PermissionDenied(messages.MAY_NOT_DELETE(object=obj.name, id=row["id"]))
            taken = self._taken(keeper, others, values or {})
            reparented, seen = self._reparent(connection, survivor, merged)
            from crmkit.engine.records.recycle import Deleter

            deleter = Deleter(connection, session)
            batches = tuple(deleter.delete(obj.name, records._load(connection, row["id"], level="edit"))
                            for row in others)
            if taken:  # the version as now stored: a self-lookup re-parented above may have moved it
                current = records._load(connection, survivor, level="edit")
                records._update(connection, survivor, taken, current["version"])
            SecurityLog(session.crm).record("records.merged", user_id=session.actor.user_id, connection=connection,
                                            detail={"object": obj.name, "survivor": survivor, "merged": merged,
                                                    "fields": sorted(taken), "reparented": reparented})
        return MergeResult(survivor, tuple(merged), seen, batches)

    def _taken(self, keeper: Mapping[str, Any], others: list[Mapping[str, Any]], values: Mapping[str, int]
               ) -> dict[str, Any]:
        """The values the survivor takes: those chosen, then the first non-empty one for each empty field."""
        obj, field_types = self.records.obj, self.context.runtime.field_types
        writable = [name for name, fdef in obj.fields.items() if field_types[fdef.type].writable]
        policy = self.context.policy
        editable = [name for name in writable if policy is None or policy.can_edit_field(obj.name, name)]
        by_id = {row["id"]: row for row in others}
        taken: dict[str, Any] = {}
        for name, record_id in values.items():
            if name not in editable or record_id not in by_id:
                raise MergeError(messages.MERGE_VALUE(field=name, id=record_id))
            if by_id[record_id].get(name) != keeper.get(name):
                taken[name] = by_id[record_id].get(name)
        for name in editable:
            if name in values or keeper.get(name) not in (None, "", []):
                continue
            filled = next((row.get(name) for row in others if row.get(name) not in (None, "", [])), None)
            if filled is not None:
                taken[name] = filled
        return taken

    def _reparent(self, connection: Any, survivor: int, merged: list[int]) -> tuple[dict[str, int], dict[str, int]]:
        """Point every lookup at a merged record to the survivor.

        Returns ({"object.field": records moved}, the same counting only records the user may
        read through a lookup field they may read): every child is moved, but the user is told
        only of those they may see (the security log keeps the full counts). MergeError when a
        unique lookup would point at the survivor twice.
        """
        runtime, session = self.context.runtime, self.context
        actor, now = session.actor, session.now()
        moved: dict[str, int] = {}
        seen: dict[str, int] = {}
        for child in runtime.registry.objects.values():
            for fdef in child.fields.values():
                if not fdef.is_lookup or fdef.to != self.object_name:
                    continue
                table = runtime.table(child.name)
                column = table.c[fdef.name]
                rows = [dict(row) for row in connection.execute(
                    select(table).where(column.in_(merged)).order_by(table.c.id)).mappings()]
                rows = [row for row in rows if not (child.name == self.object_name and row["id"] in merged)]
                if not rows:
                    continue
                ids = [row["id"] for row in rows]
                visible = session.row_filter(child.name) if session.row_filter else None
                shown = len(ids) if visible is None else connection.scalar(
                    select(func.count()).select_from(table).where(table.c.id.in_(ids), visible))
                policy = session.policy
                if shown and (policy is None or policy.can_read_field(child.name, fdef.name)):
                    seen[f"{child.name}.{fdef.name}"] = shown
                try:
                    connection.execute(update(table).where(table.c.id.in_(ids)).values(
                        {fdef.name: survivor, "version": table.c.version + 1, "updated_at": now,
                         "updated_by": actor.user_id}))
                except IntegrityError:  # a unique lookup, or combination holding it: the transaction is undone
                    raise MergeError(messages.MERGE_UNIQUE_CHILD(object=self.object_name)) from None
                events = [RecordEvent.of(child.name, Operation.UPDATE, row,
                                         {**row, fdef.name: survivor, "version": row["version"] + 1,
                                          "updated_at": now, "updated_by": actor.user_id}, actor, now)
                          for row in rows]
                after_write(connection, session, events)
                moved[f"{child.name}.{fdef.name}"] = len(rows)
        return moved, seen


def _digits(column: Any) -> Any:
    for mark in (" ", "-", "(", ")", ".", "+", "/"):
        column = func.replace(column, mark, "")
    return column
