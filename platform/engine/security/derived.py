"""Derived values (formulas and rollups) as one user may see them: one rule for every path.

Formulas and rollups are stored, computed with the platform's own reads. A stored value
can tell a user about data they may not read, so for each user every derived field is one
of four kinds (docs/permissions.md, "Derived values"):

- **as stored**: it reads nothing the user cannot read, or is declared `system_visible`;
- **hidden**: it reads a hidden field, or a value the user sees recomputed or masked
  (AccessPolicy.hidden_fields; it does not exist for the user on any path);
- **recomputed**: a rollup whose child records the user cannot all see; its value is the
  same rollup statement (records/propagation.py `rollup_subquery`) restricted to the
  children the user can see;
- **masked**: a formula reading a record through a lookup, when the user may not see
  every record of the lookup's object; its value is the stored one when the lookup is
  empty or points to a record the user can see, and empty otherwise.

`DerivedRules.expression` gives the SQL expression of a recomputed or masked field; the
query layer uses it wherever it resolves the field (filters, lookups' filters, sorts,
cursors, counts, search, selected columns) and `get` reads the same expression, so no
path can drift from another. Users with no restriction keep the stored column (and its
indexes).
"""
from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Mapping

from sqlalchemy import ColumnElement, Connection, Select, and_, bindparam, case, null, or_, select, type_coerce

from crmkit.engine.query.derived_page import DerivedColumns, RollupGroup
from crmkit.engine.records.propagation import grouped_rollup, rollup_subquery
from crmkit.metadata.model import FieldDef, ObjectDef
from crmkit.sandbox import SandboxError, compile_expression

if TYPE_CHECKING:
    from crmkit.engine.security.access import AccessPolicy


@lru_cache(maxsize=4096)
def formula_reads(source: str) -> tuple[frozenset[str], frozenset[tuple[str, str]]]:
    """(names, (lookup, field) pairs) a formula reads; nothing for one that does not compile."""
    try:
        compiled = compile_expression(source)
    except SandboxError:
        return frozenset(), frozenset()
    return frozenset(compiled.names), frozenset((p[0], p[1]) for p in compiled.attribute_paths if len(p) >= 2)


def condition_keys(condition: Any) -> set[str]:
    """Every mapping key in a filter document: the field names it may use (and operators, harmlessly)."""
    if isinstance(condition, Mapping):
        return {str(key).split(".")[0] for key in condition} | {
            name for value in condition.values() for name in condition_keys(value)}
    if isinstance(condition, (list, tuple)):
        return {name for value in condition for name in condition_keys(value)}
    return set()


class DerivedRules:
    """Which derived fields a user sees recomputed or masked, and their SQL; built once per session."""

    def __init__(self, policy: "AccessPolicy") -> None:
        self.policy = policy
        self.registry = policy.registry
        self.recomputed: dict[str, frozenset[str]] = {
            name: frozenset(f.name for f in obj.fields.values() if self._restricted_rollup(obj, f))
            for name, obj in self.registry.objects.items()}
        self.masks = self._masks()
        self._expressions: dict[tuple[str, str], ColumnElement | None] = {}
        self._shown: dict[str, tuple[tuple[str, ...], Select] | None] = {}
        self._columns: dict[str, tuple[tuple[str, ColumnElement], ...]] = {}
        self._pages: dict[Any, DerivedColumns] = {}

    def per_user(self, object_name: str) -> frozenset[str]:
        """Fields of the object whose value this user sees differently from the stored one."""
        return self.recomputed.get(object_name, frozenset()) | frozenset(self.masks.get(object_name, {}))

    def reads_per_user(self, obj: ObjectDef, fdef: FieldDef) -> bool:
        """Whether `fdef` derives from a value this user sees recomputed or masked (so it must be hidden)."""
        if fdef.system_visible:
            return False
        if fdef.rollup is not None:
            rollup = fdef.rollup
            return bool({rollup.field, *condition_keys(rollup.condition)} & self.per_user(rollup.child_object))
        if fdef.type != "formula" or not fdef.formula:
            return False
        names, paths = formula_reads(fdef.formula)
        if names & self.recomputed.get(obj.name, frozenset()):
            return True
        for head, attribute in paths:
            lookup = obj.fields.get(head)
            if lookup is not None and lookup.is_lookup and attribute in self.per_user(lookup.to or ""):
                return True
        return False

    def expression(self, object_name: str, field_name: str) -> ColumnElement | None:
        """The value of a recomputed or masked field for this user, correlated to the object's table; None: stored."""
        key = (object_name, field_name)
        if key not in self._expressions:
            self._expressions[key] = self._build(object_name, field_name)
        return self._expressions[key]

    def shown_values(self, object_name: str) -> tuple[tuple[str, ...], Select] | None:
        """(names, statement) reading this user's value of every recomputed or masked field the user may see,
        for the records whose ids are bound as `ids`; None when every field is as stored.

        Built once per session and object: the statement object is reused, so SQLAlchemy
        finds it compiled without walking its correlated subqueries again (each page of a
        sales rep's list reads it).
        """
        if object_name not in self._shown:
            shown = self.shown_columns(object_name)
            names = tuple(name for name, _ in shown)
            table = self.policy.runtime.table(object_name)
            columns = [expression.label(name) for name, expression in shown]
            statement = select(table.c.id, *columns).where(table.c.id.in_(bindparam("ids", expanding=True)))
            self._shown[object_name] = (names, statement) if names else None
        return self._shown[object_name]

    def shown_columns(self, object_name: str) -> tuple[tuple[str, ColumnElement], ...]:
        """(name, expression) of every recomputed or masked field the user may see (empty: all as stored).

        The same fields and SQL as `shown_values`; a page reads them as `page_columns` arranges
        them (query/sorting.py `fetch_rows`). The tuple is built once per session and
        object, so callers may remember statements made from it by its identity.
        """
        if object_name not in self._columns:
            names = tuple(name for name in sorted(self.per_user(object_name))
                          if name not in self.policy.hidden_fields(object_name))
            self._columns[object_name] = tuple((name, self.expression(object_name, name)) for name in names)
        return self._columns[object_name]

    def page_columns(self, object_name: str, fields: "tuple[str, ...] | None" = None) -> DerivedColumns:
        """`shown_columns` as a page reads them (query/derived_page.py): the rollups over one child object
        through one lookup grouped into one read of that child per page, the other fields correlated.

        The same fields, each with the same value as its `expression`: a grouped rollup is
        `grouped_rollup`'s aggregate over the children this user may see (`row_filter` of the
        child). A group whose read would need another table than the child's beside it (a
        row filter naming the parent outside a subquery) stays correlated. Built once per
        session and object, so page statements made from it may be remembered by its identity.

        `fields`: only the derived fields among these names (a page reading only the columns it shows,
        `RecordService.query(fields=...)`), built once per session, object and names; None: all of them.
        """
        if fields is not None:
            key = (object_name, fields)
            chosen = self._pages.get(key)
            if chosen is None:
                chosen = self._pages[key] = only_fields(self.page_columns(object_name), frozenset(fields))
            return chosen
        if object_name not in self._pages:
            self._pages[object_name] = self._page_columns(object_name)
        return self._pages[object_name]

    def _page_columns(self, object_name: str) -> DerivedColumns:
        runtime = self.policy.runtime
        parent = runtime.table(object_name)
        recomputed = self.recomputed.get(object_name, frozenset())
        correlated, groups = [], {}
        for name, expression in self.shown_columns(object_name):
            grouped = grouped_rollup(runtime, object_name, name) if name in recomputed else None
            if grouped is None:
                correlated.append((name, expression))
            else:
                groups.setdefault((grouped.child_object, grouped.via.key), []).append((name, grouped))
        built = []
        for (child, _), members in groups.items():
            restriction = self.policy.row_filter(child)
            via = members[0][1].via
            measures = tuple((name, grouped.measure, parent.c[name].type, grouped.counts) for name, grouped in members)
            read = select(via, *(measure for _, measure, _, _ in measures))
            if restriction is not None:
                read = read.where(restriction)
            if [table for table in read.get_final_froms()] != [via.table]:
                correlated.extend((name, self.expression(object_name, name)) for name, _ in members)
                continue
            built.append(RollupGroup(via, restriction, measures))
        return DerivedColumns(tuple(correlated), tuple(built))

    def _build(self, object_name: str, field_name: str) -> ColumnElement | None:
        runtime = self.policy.runtime
        column = runtime.table(object_name).c[field_name]
        if field_name in self.recomputed.get(object_name, ()):
            child = self.registry.object(object_name).fields[field_name].rollup.child_object
            subquery = rollup_subquery(runtime, object_name, field_name, self.policy.row_filter(child))
            return type_coerce(subquery.scalar_subquery(), column.type)
        lookups = self.masks.get(object_name, {}).get(field_name)
        if not lookups:
            return None
        table = runtime.table(object_name)
        shown = []
        for name in sorted(lookups):
            target_name = self.registry.object(object_name).fields[name].to
            target = runtime.table(target_name)
            restriction = self.policy.row_filter(target_name)
            visible = select(target.c.id).where(restriction).correlate(None)
            shown.append(or_(table.c[name].is_(None), table.c[name].in_(visible)))
        return type_coerce(case((and_(*shown), column), else_=null()), column.type)

    def _restricted_rollup(self, obj: ObjectDef, fdef: FieldDef) -> bool:
        rollup = fdef.rollup
        if rollup is None or fdef.system_visible:
            return False
        return self._restricts_through(rollup.child_object, rollup.via)

    def _restricts_through(self, object_name: str, lookup: str) -> bool:
        """Whether some records of `object_name` linked to a visible record by `lookup` may be invisible.

        Records whose sharing is controlled by that very lookup are visible exactly when the
        record they point to is, so a user seeing the parent sees them all.
        """
        obj = self.registry.objects.get(object_name)
        if obj is None:
            return False
        if obj.sharing == "controlled_by_parent" and obj.sharing_parent == lookup:
            return False
        return self.policy.restricts(object_name)

    def _masks(self) -> dict[str, dict[str, frozenset[str]]]:
        """object -> formula -> the lookups through which it reads records the user may not all see."""
        masks: dict[str, dict[str, frozenset[str]]] = {}
        for name, obj in self.registry.objects.items():
            direct: dict[str, set[str]] = {}
            for fdef in obj.fields.values():
                if fdef.type != "formula" or not fdef.formula or fdef.system_visible:
                    continue
                _, paths = formula_reads(fdef.formula)
                direct[fdef.name] = {
                    head for head, _ in paths if head in obj.fields and obj.fields[head].is_lookup
                    and obj.fields[head].to and self._restricts_lookup(obj, head)}
            changed = True
            while changed:  # a formula reading a masked formula of its own record is masked the same way
                changed = False
                for field_name, lookups in direct.items():
                    names, _ = formula_reads(obj.fields[field_name].formula or "")
                    for read in names & set(direct):
                        if read != field_name and not direct[read] <= lookups:
                            lookups |= direct[read]
                            changed = True
            masks[name] = {field: frozenset(lookups) for field, lookups in direct.items() if lookups}
        return masks

    def _restricts_lookup(self, obj: ObjectDef, lookup: str) -> bool:
        """Whether a record of `obj` the user sees may point through `lookup` to a record they may not see."""
        if obj.sharing == "controlled_by_parent" and obj.sharing_parent == lookup:
            return False
        return self.policy.restricts(obj.fields[lookup].to or "")


def shown_derived(connection: Connection, policy: "AccessPolicy", obj: ObjectDef, rows: list[dict[str, Any]]) -> None:
    """Replace, in `rows` (dicts with "id"), each recomputed or masked field by the user's value.

    One query for the page, reading `DerivedRules.expression`: the very SQL that filters,
    sorts and counts use, so what `get` shows is what a filter matches.
    """
    if not rows:
        return
    shown = policy.derived.shown_values(obj.name)
    if shown is None:
        return
    names, statement = shown
    found = {values[0]: values for values in connection.execute(statement, {"ids": [row["id"] for row in rows]}).all()}
    for row in rows:
        values = found.get(row["id"])
        for position, name in enumerate(names, 1):
            row[name] = values[position] if values is not None else None


def only_fields(derived: DerivedColumns, names: frozenset[str]) -> DerivedColumns:
    """`derived` with only the fields among `names` (a group whose fields are all left out is not read); `derived`
    itself when it has none to leave out."""
    if derived.names <= names:
        return derived
    groups = []
    for group in derived.grouped:
        measures = tuple(measure for measure in group.measures if measure[0] in names)
        if measures:
            groups.append(group if len(measures) == len(group.measures) else replace(group, measures=measures))
    return DerivedColumns(tuple((name, expression) for name, expression in derived.correlated if name in names),
                          tuple(groups))
