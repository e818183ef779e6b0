"""Keeping computed values current after a write: rollups and formulas that read other records.

Rollups are recomputed in SQL (one correlated UPDATE per rollup for the affected parents),
so they are exact and never drift. Formulas that read a changed record through a lookup
are recomputed for the records pointing at it. Each change may cause further changes
(a rollup feeding a formula feeding another rollup); the chain is followed to a fixed depth.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import Connection, Select, func, select, update
from sqlalchemy.sql.util import ClauseAdapter

from crmkit.engine.columns import ExactSum, exact_average
from crmkit.engine.query import QueryContext, compile_filter
from crmkit.engine.records.evaluation import Evaluator, load_related
from crmkit.engine.records.rollup_range import RangeGuard
from crmkit.engine.runtime import Runtime
from crmkit.metadata.registry import RollupLink

MAX_DEPTH = 8
BATCH = 500

#: Exact in any read order on both databases (columns.ExactSum): a rollup decides whether a save is refused.
AGGREGATES = {"sum": ExactSum, "min": func.min, "max": func.max, "count": func.count}


class Propagator:
    def __init__(self, connection: Connection, runtime: Runtime) -> None:
        self.connection = connection
        self.runtime = runtime
        self.registry = runtime.registry
        #: object -> ids of the records whose stored formulas this propagator rewrote (for the search index).
        self.rewritten: dict[str, set[int]] = {}
        #: object -> ids of the records whose stored rollups or formulas this propagator changed (for the change
        #: log: records/changes.py `write_derived_changes`), in the order found.
        self.derived: dict[str, set[int]] = {}

    def record_written(self, object_name: str, previous: Mapping[str, Any] | None, current: Mapping[str, Any] | None) -> None:
        """A record was created (previous None), updated, or deleted (current None)."""
        self.records_written(object_name, [(previous, current)])

    def records_written(self, object_name: str,
                        pairs: Sequence[tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]]) -> None:
        """Records of one object were written: (previous, current) each, None for the missing side.

        Parents' rollups are recomputed once for all of them; formulas reading the changed
        records through a lookup are recomputed for the records pointing at them.
        """
        parent_ids: dict[RollupLink, set[int]] = {}
        readers: dict[int, set[str]] = {}
        links = [(link, self.registry.object(link.parent).fields[link.field].rollup)
                 for link in self.registry.rollups_by_child.get(object_name, ())]
        for previous, current in pairs:
            if previous is None or current is None:
                changed = None  # everything
            else:
                changed = {name for name, value in current.items() if previous.get(name) != value}
                if not changed:
                    continue
                readers.setdefault(current["id"], set()).update(changed)
            for link, rollup in links:
                if changed is not None and not changed & _rollup_inputs(rollup):
                    continue
                ids = {values.get(rollup.via) for values in (previous, current) if values is not None} - {None}
                if ids:
                    parent_ids.setdefault(link, set()).update(ids)
        self.refresh_rollups(parent_ids, depth=0)
        by_fields: dict[frozenset[str], list[int]] = {}
        for record_id, changed in readers.items():
            by_fields.setdefault(frozenset(changed), []).append(record_id)
        for changed, ids in by_fields.items():
            self._refresh_readers(object_name, ids, set(changed), depth=0)

    def refresh_records(self, object_name: str, ids: Sequence[int]) -> None:
        """Recompute every rollup and stored formula of these records from the database (e.g. after a restore)."""
        obj = self.registry.object(object_name)
        for fdef in obj.fields.values():
            if fdef.rollup is not None:
                self.recompute_rollup(object_name, fdef.name, ids)
        self.recompute_formulas(object_name, ids)

    def refresh_rollups(self, parent_ids: Mapping[RollupLink, set[int]], depth: int) -> None:
        changed_by_parent: dict[str, tuple[set[int], set[str]]] = {}
        for link, ids in parent_ids.items():
            changed = self.recompute_rollup(link.parent, link.field, ids)
            if changed:
                self.derived.setdefault(link.parent, set()).update(changed)
            entry = changed_by_parent.setdefault(link.parent, (set(), set()))
            entry[0].update(ids)
            entry[1].add(link.field)
        for parent, (ids, fields) in changed_by_parent.items():
            self.fields_changed(parent, sorted(ids), fields, depth + 1)

    def recompute_rollup(self, parent: str, field: str, ids: Iterable[int] | None) -> set[int]:
        """Set the rollup from the children in SQL; `ids` None means every parent record.

        Returns the ids of the given records whose stored value changed (none for `ids` None).
        """
        parent_table = self.runtime.table(parent)
        rollup = self.registry.object(parent).fields[field].rollup
        subquery = rollup_subquery(self.runtime, parent, field)
        statement = update(parent_table).values({field: subquery.scalar_subquery()})
        guard = RangeGuard(self.connection, self.runtime.is_sqlite, f"{parent}.{field}", rollup.aggregate,
                           parent_table, subquery)
        if ids is None:
            guard.check(None)
            self.connection.execute(statement)
            return set()
        changed: set[int] = set()
        column = parent_table.c[field]
        id_list = sorted(ids)
        for start in range(0, len(id_list), BATCH):
            chunk = id_list[start:start + BATCH]
            before = self._lock(parent_table, chunk, column)
            guard.check(chunk)
            after = self.connection.execute(statement.where(parent_table.c.id.in_(chunk))
                                            .returning(parent_table.c.id, column)).all()
            changed.update(record_id for record_id, value in after if before.get(record_id) != value)
        return changed

    def _lock(self, table, ids: list[int], column) -> dict[int, Any]:
        """Lock the parent rows before recomputing their rollups (PostgreSQL); returns {id: stored `column`}.

        Under READ COMMITTED an UPDATE that waited for another transaction's lock still
        computes its subquery from the snapshot taken before it waited, missing that
        transaction's child. Waiting in a statement of its own first makes the UPDATE
        that follows take a fresh snapshot, which sees every committed child. FOR NO KEY
        UPDATE does not conflict with the KEY SHARE lock a child's foreign key takes, so
        two transactions adding children to one parent queue instead of deadlocking.
        SQLite needs no lock: its write transactions run one at a time. The values read
        (the rollup before the UPDATE) tell which parents' stored value the UPDATE changed.
        """
        statement = select(table.c.id, column).where(table.c.id.in_(ids)).order_by(table.c.id)
        if not self.runtime.is_sqlite:
            statement = statement.with_for_update(key_share=True)
        return {record_id: value for record_id, value in self.connection.execute(statement)}

    def query_context(self) -> QueryContext:
        return QueryContext(self.runtime.registry, self.runtime.schema, self.runtime.field_types)

    def fields_changed(self, object_name: str, ids: list[int], fields: set[str], depth: int) -> None:
        """Computed fields of `ids` changed: recompute formulas reading them, then follow on."""
        if depth > MAX_DEPTH or not ids:
            return
        formula_fields = self.formulas_reading(object_name, fields)
        if formula_fields:
            self.recompute_formulas(object_name, ids, formula_fields)
        all_changed = set(fields) | formula_fields
        parent_ids: dict[RollupLink, set[int]] = {}
        for link in self.registry.rollups_by_child.get(object_name, ()):
            rollup = self.registry.object(link.parent).fields[link.field].rollup
            if all_changed & _rollup_inputs(rollup):
                table = self.runtime.table(object_name)
                rows = self.connection.execute(select(table.c[rollup.via]).where(table.c.id.in_(ids))).scalars()
                parent_ids[link] = {value for value in rows if value is not None}
        if parent_ids:
            self.refresh_rollups(parent_ids, depth)
        self._refresh_readers(object_name, ids, all_changed, depth)

    def formulas_reading(self, object_name: str, fields: set[str]) -> set[str]:
        """Formulas of the object that depend, directly or through other formulas, on `fields`."""
        reads = self.registry.formula_reads.get(object_name, {})
        affected: set[str] = set()
        for name in self.registry.formula_order.get(object_name, ()):
            if reads.get(name, frozenset()) & (set(fields) | affected):
                affected.add(name)
        return affected

    def _refresh_readers(self, object_name: str, ids: list[int], changed: set[str], depth: int) -> None:
        """Formulas on other objects that read `object_name`'s changed fields through a lookup."""
        if depth > MAX_DEPTH:
            return
        for readers in self.registry.related_formulas.get(object_name, ()):
            if not readers.reads & changed:
                continue
            table = self.runtime.table(readers.obj)
            child_ids = list(self.connection.execute(select(table.c.id).where(table.c[readers.via].in_(ids))).scalars())
            if child_ids:
                self.recompute_formulas(readers.obj, child_ids, set(readers.formulas))
                self.fields_changed(readers.obj, child_ids, set(readers.formulas), depth + 1)

    def recompute_formulas(self, object_name: str, ids: Iterable[int] | None, only: set[str] | None = None) -> None:
        """Recompute stored formulas of the given records (None: every record), in batches."""
        obj = self.registry.object(object_name)
        evaluator = Evaluator(self.runtime, obj)
        if not evaluator.formula_fields:
            return
        table = self.runtime.table(object_name)
        selection = frozenset(only) if only else None
        for rows in self._batches(table, ids):
            for row in rows:
                values = dict(row._mapping)
                before = dict(values)  # formula values and formula_errors, compared below
                related = load_related(self.connection, self.runtime, obj, values)
                results = evaluator.compute_formulas(values, related, None, selection)
                changes = {name: value for name, value in results.items() if before.get(name) != value}
                if changes:
                    self.connection.execute(update(table).where(table.c.id == values["id"]).values(changes))
                    self.rewritten.setdefault(object_name, set()).add(values["id"])
                    self.derived.setdefault(object_name, set()).add(values["id"])

    def _batches(self, table, ids: Iterable[int] | None):
        if ids is not None:
            id_list = sorted(ids)
            for start in range(0, len(id_list), BATCH):
                yield self.connection.execute(select(table).where(table.c.id.in_(id_list[start:start + BATCH]))).all()
            return
        last = 0
        while True:
            rows = self.connection.execute(select(table).where(table.c.id > last).order_by(table.c.id).limit(BATCH)).all()
            if not rows:
                return
            yield rows
            last = rows[-1].id


def rollup_subquery(runtime: Runtime, parent: str, field: str, restriction: Any = None) -> Select:
    """The SELECT computing rollup `parent.field` for the parent row of the enclosing statement.

    The one definition of a rollup's value: the stored value (`restriction` None, every
    child) and the value a user sees (`restriction`: the user's row filter on the child
    object, security/derived.py) are both this statement, and `grouped_rollup` is the same
    aggregate, condition and restriction read for many parents at once. Correlated to the
    parent table; a rollup over the same object (employee.manager) reads its children
    through an alias.
    """
    rollup = runtime.registry.object(parent).fields[field].rollup
    parent_table = runtime.table(parent)
    child = runtime.table(rollup.child_object)
    condition = _rollup_condition(runtime, rollup)
    if child is parent_table:
        # The children must be an alias, or the subquery would compare each row with itself.
        child = child.alias("rollup_child")
        adapter = ClauseAdapter(child)
        condition = adapter.traverse(condition) if condition is not None else None
        restriction = adapter.traverse(restriction) if restriction is not None else None
    measure = rollup_measure(rollup.aggregate, child.c[rollup.field] if rollup.field else None,
                             parent_table.c[field].type)
    subquery = select(measure).where(child.c[rollup.via] == parent_table.c.id)
    for clause in (condition, restriction):
        if clause is not None:
            subquery = subquery.where(clause)
    return subquery.correlate(parent_table)


@dataclass(frozen=True)
class GroupedRollup:
    """A rollup as one aggregate column of a grouped read over its child table (`grouped_rollup`)."""

    child_object: str
    #: The child's lookup column to the parent: the read is grouped by it.
    via: Any
    #: The aggregate, its rollup's condition as its FILTER (WHERE ...): the children the condition leaves out count for nothing.
    measure: Any
    #: A count: a parent no child row reaches has 0, not NULL (the other aggregates of no rows are NULL).
    counts: bool


def grouped_rollup(runtime: Runtime, parent: str, field: str) -> GroupedRollup | None:
    """Rollup `parent.field` as an aggregate for `SELECT via, <measure> FROM child WHERE <restriction> GROUP BY via`.

    The value it gives each parent equals `rollup_subquery`'s over the same restriction:
    both aggregate the children meeting the rollup's condition (a WHERE there, the
    aggregate's FILTER here) and the restriction; a parent without any such child gets the
    aggregate over no rows (0 for a count, which the caller fills in for a parent the grouped
    read has no row for, NULL otherwise). None where that form does not apply: a rollup
    over its own object (read through an alias) and an average (its SQL is not a single
    aggregate call a FILTER can follow).
    """
    rollup = runtime.registry.object(parent).fields[field].rollup
    if rollup.child_object == parent or rollup.aggregate not in AGGREGATES:
        return None
    child = runtime.table(rollup.child_object)
    measure = rollup_measure(rollup.aggregate, child.c[rollup.field] if rollup.field else None,
                             runtime.table(parent).c[field].type)
    condition = _rollup_condition(runtime, rollup)
    if condition is not None:
        measure = measure.filter(condition)
    return GroupedRollup(rollup.child_object, child.c[rollup.via], measure, rollup.aggregate == "count")


def _rollup_condition(runtime: Runtime, rollup) -> Any:
    """The rollup's condition on its child object as SQL; None without one."""
    if not rollup.condition:
        return None
    return compile_filter(QueryContext(runtime.registry, runtime.schema, runtime.field_types),
                          rollup.child_object, dict(rollup.condition))


def rollup_measure(aggregate: str, column: Any, result_type: Any) -> Any:
    """The SQL aggregate of a rollup: COUNT(*), SUM, MIN, MAX, or an exact average of the result type."""
    if aggregate == "count":
        return func.count()
    if aggregate == "avg":
        return exact_average(column, result_type)
    return AGGREGATES[aggregate](column)


def _rollup_inputs(rollup) -> set[str]:
    """Fields of the child whose change can change the rollup."""
    fields = {rollup.via}
    if rollup.field:
        fields.add(rollup.field)
    return fields | _condition_fields(rollup.condition)


def _condition_fields(condition: Any) -> set[str]:
    if isinstance(condition, Mapping):
        found: set[str] = set()
        for key, value in condition.items():
            if key in ("and", "or", "not"):
                found |= _condition_fields(value)
            else:
                found.add(key.split(".")[0])
        return found
    if isinstance(condition, (list, tuple)):
        return set().union(*(_condition_fields(item) for item in condition)) if condition else set()
    return set()
