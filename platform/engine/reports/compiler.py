"""A ReportDef run for one caller: its statement built by query/aggregate.py, its answer shaped as a ReportResult.

    >>> run_report(connection, ctx, report, {"stage": "Won"}, language="en", fiscal_start=4, user_names=names)

Every figure comes from the database: a summary or matrix report is ONE grouped statement
(detail groups, subtotals and grand total together), a tabular report one select of at
most `limit` + 1 rows and one aggregate statement for its total row. What Python does after
is per group, never per record: finishing averages (sum / count), summary formulas,
labels and the order of groups.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Any, Mapping, Sequence

from sqlalchemy import Connection, select

from crmkit.engine.query.aggregate import (GroupedRow, KeySpec, Measure, field_value, group_key, grouped_rows,
                                           grouped_statement, measure, read_grouped)
from crmkit.engine.fieldtypes.presenter import SYSTEM_LABELS
from crmkit.engine.query.filters import QueryContext
from crmkit.engine.query.querystring import QuerySpec
from crmkit.engine.query.search import where_clause
from crmkit.engine.reports.formulas import formula_value
from crmkit.engine.reports.labels import KeyLabeller, UserNames, lookup_target, range_key, titles
from crmkit.engine.reports.result import ReportResult, ResultColumn, ResultGroup, ResultRow, result_group
from crmkit.metadata.model import Label
from crmkit.metadata.reports import DEFAULT_TABULAR_LIMIT, MAX_TABULAR_LIMIT, Aggregate, Grouping, ReportDef

DEFAULT_AGGREGATES = (Aggregate("record_count", "count", label=Label.of({"en": "Record count", "zh": "记录数"})),)

#: The `format` of a field's values by value type (others: "text").
FORMATS = {"currency": "money", "percent": "percent", "integer": "number", "decimal": "number", "number": "number",
           "date": "date", "datetime": "datetime"}


def aggregates_of(report: ReportDef) -> tuple[Aggregate, ...]:
    return report.aggregates or DEFAULT_AGGREGATES


def run_report(connection: Connection, ctx: QueryContext, report: ReportDef, filter: Any, *, language: str,
               fiscal_start: int, user_names: UserNames, rights: object | None = None) -> ReportResult:
    """Run `report` with `filter` (the report's own filter and the page's, in the filter language) for `ctx`'s caller.

    `rights`: the object standing for the caller's rights in `ctx` (their AccessPolicy, one per
    user, metadata and rights version; the runtime for the system context): given, a summary or
    matrix report's statement is built once per rights, report, filter, language, zone and day
    and reused (`_plan`); None: built for this run only.

    Raises QueryError for a field the caller cannot read (refused as unknown) or cannot be
    grouped or aggregated as declared, and for a malformed filter.
    """
    dialect = connection.dialect.name
    if report.kind == "tabular":
        object_name = report.object
        base = ctx.schema.table(object_name)
        where = where_clause(ctx, object_name, QuerySpec(filter=filter))
        aggregates = aggregates_of(report)
        measures = [measure(ctx, object_name, a.name, a.function, field=a.field, where=a.where,
                            days_between=a.days_between, dialect=dialect) for a in aggregates]
        value_columns = _value_columns(ctx, report, aggregates, language)
        rows, truncated = _tabular_rows(connection, ctx, report, where, language, user_names)
        total = grouped_rows(connection, [], measures, [()], base, where)
        return ReportResult(report=report.name, kind=report.kind, label=report.label.get(language),
                            value_columns=value_columns, group_columns=(), columns=tabular_columns(ctx, report, language),
                            rows=rows, grand_total=_with_formulas(report, total[0].values),
                            truncated=truncated, computed_at=_now())
    plan = _plan(ctx, report, filter, language, fiscal_start, dialect, rights)
    keys, sets, n, m = plan.keys, plan.sets, plan.n, plan.m
    common = dict(report=report.name, kind=report.kind, label=report.label.get(language),
                  value_columns=plan.value_columns)
    found = read_grouped(connection, len(keys), plan.measures, plan.statement)
    # The key values of each level, for the labels that read names (lookups); other levels need none.
    seen = [{row.keys[i] for row in found} if lookup_target(key) is not None else set() for i, key in enumerate(keys)]
    labeller = KeyLabeller(connection, ctx, keys, seen, language, user_names)
    groups = _groups(report, found, sets, labeller, n, m)
    group_columns = plan.group_columns
    grand = next((row.values for row in found if sets[row.set_index] == ()), None)
    grand_total = _with_formulas(report, grand if grand is not None else _empty(plan.measures))
    if report.kind != "matrix":
        return ReportResult(group_columns=group_columns, groups=groups, grand_total=grand_total,
                            computed_at=_now(), **common)
    finest_columns = [row for row in found if sets[row.set_index] == tuple(n + j for j in range(m))]
    ordered = sorted(finest_columns, key=lambda row: tuple(
        labeller.order(n + j, row.keys[n + j], labeller.label(n + j, row.keys[n + j])) for j in range(m)))
    column_keys = tuple(tuple(_shown_key(keys[n + j], row.keys[n + j]) for j in range(m)) for row in ordered)
    column_labels = tuple(tuple(labeller.label(n + j, row.keys[n + j]) for j in range(m)) for row in ordered)
    cells: dict[tuple, dict[str, Any]] = {}
    column_totals: dict[tuple, dict[str, Any]] = {}
    for row in found:
        members = sets[row.set_index]
        row_part = tuple(_shown_key(keys[i], row.keys[i]) for i in range(n) if i in members)
        column_part = tuple(_shown_key(keys[n + j], row.keys[n + j]) for j in range(m) if n + j in members)
        if column_part and row_part:
            cells[(row_part, column_part)] = _with_formulas(report, row.values)
        elif column_part:
            column_totals[column_part] = _with_formulas(report, row.values)
    column_group_columns = plan.column_group_columns
    return ReportResult(group_columns=group_columns, groups=groups, grand_total=grand_total,
                        column_group_columns=column_group_columns, column_keys=column_keys,
                        column_labels=column_labels, cells=cells, column_totals=column_totals,
                        computed_at=_now(), **common)


def check_report(ctx: QueryContext, report: ReportDef, *, language: str, fiscal_start: int, dialect: str) -> None:
    """Build from `report`'s own definition (its filter, columns, sort, groupings, measures) what a run builds,
    reading nothing: QueryError where `ctx`'s caller cannot run it, such as a field they may not read (refused as
    unknown, as everywhere). The date field is read only by a run given a date range, which is refused then."""
    object_name = report.object
    if report.kind != "tabular":
        _Plan(ctx, report, report.filter, language, fiscal_start, dialect)
        return
    where_clause(ctx, object_name, QuerySpec(filter=report.filter))
    for a in aggregates_of(report):
        measure(ctx, object_name, a.name, a.function, field=a.field, where=a.where, days_between=a.days_between,
                dialect=dialect)
    tabular_columns(ctx, report, language)
    for item in report.sort:
        field_value(ctx, object_name, item.lstrip("-"))


class _Plan:
    """What a summary or matrix run builds before it reads: its keys, measures, grouping sets, columns and statement.

    Made from the report, the filter and the caller's query context only (nothing read from
    the database), so a plan made for the same of these serves again (`_plan`).
    The statement of each `exact` (query/aggregate.py `grouped_statement`) is built on
    first use and kept: reusing the statement object also saves SQLAlchemy's walk over it
    for its compiled-cache key (memoised on the object).
    """

    __slots__ = ("keys", "measures", "sets", "n", "m", "value_columns", "group_columns", "column_group_columns",
                 "_base", "_where", "_dialect", "_statements")

    def __init__(self, ctx: QueryContext, report: ReportDef, filter: Any, language: str, fiscal_start: int,
                 dialect: str) -> None:
        object_name = report.object
        self._base = ctx.schema.table(object_name)
        self._where = where_clause(ctx, object_name, QuerySpec(filter=filter))
        aggregates = aggregates_of(report)
        self.measures = tuple(measure(ctx, object_name, a.name, a.function, field=a.field, where=a.where,
                                      days_between=a.days_between, dialect=dialect) for a in aggregates)
        self.value_columns = _value_columns(ctx, report, aggregates, language)
        rows_by = list(report.group_by)
        columns_by = list(report.columns_by) if report.kind == "matrix" else []
        self.keys = tuple(_key(ctx, object_name, g, fiscal_start, dialect) for g in rows_by + columns_by)
        n, m = self.n, self.m = len(rows_by), len(columns_by)
        self.sets = tuple(tuple(range(k)) + tuple(n + j for j in range(c))
                          for k in range(n, -1, -1) for c in range(m, -1, -1))
        self.group_columns = tuple(_group_column(ctx, object_name, g, k, language) for g, k in zip(rows_by, self.keys))
        self.column_group_columns = tuple(_group_column(ctx, object_name, g, k, language)
                                          for g, k in zip(columns_by, self.keys[n:]))
        self._dialect = dialect
        self._statements: dict[bool, Any] = {}

    def statement(self, exact: bool) -> Any:
        made = self._statements.get(exact)
        if made is None:
            made = self._statements[exact] = grouped_statement(self.keys, self.measures, self.sets, self._base,
                                                               self._where, self._dialect, exact)
        return made


#: Plans kept for reuse (see `_plan`); emptied when it holds this many.
REMEMBERED_PLANS = 256
_PLANS: dict[tuple, tuple[_Plan, tuple]] = {}


def _plan(ctx: QueryContext, report: ReportDef, filter: Any, language: str, fiscal_start: int, dialect: str,
          rights: object | None) -> _Plan:
    """The plan of this run: one made before for the same rights, report, filter and context, else a new one.

    The key holds everything a plan is made from: `rights` (the caller's AccessPolicy: their
    row filters, hidden fields and derived values, for one user at one rights version and
    metadata), the report, the metadata objects of `ctx`, by identity; the filter (as JSON),
    both languages, the time zone, the day (relative dates) and the fiscal year start, by
    value. Objects named by id() are kept alive beside the plan (`anchors`), so no other
    object can take one of their ids while the entry lives: a plan is never served to
    another user, nor after their rights or the metadata changed. Without `rights`, or with
    a filter JSON cannot hold, the plan is made for this run only.
    """
    if rights is None:
        return _Plan(ctx, report, filter, language, fiscal_start, dialect)
    try:
        shown = json.dumps(filter, sort_keys=True)
    except (TypeError, ValueError):
        return _Plan(ctx, report, filter, language, fiscal_start, dialect)
    anchors = (rights, report, ctx.registry, ctx.schema, ctx.field_types)
    key = (*(id(anchor) for anchor in anchors), shown, language, ctx.language, ctx.timezone, ctx.today,
           fiscal_start, dialect)
    entry = _PLANS.get(key)
    if entry is None:
        plan = _Plan(ctx, report, filter, language, fiscal_start, dialect)
        if len(_PLANS) >= REMEMBERED_PLANS:
            _PLANS.clear()
        entry = _PLANS[key] = (plan, anchors)
    return entry[0]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _key(ctx: QueryContext, object_name: str, grouping: Grouping, fiscal_start: int, dialect: str) -> KeySpec:
    return group_key(ctx, object_name, grouping.field, bucket=grouping.bucket, ranges=grouping.ranges,
                     fiscal_start=grouping.fiscal_year_start_month or fiscal_start, dialect=dialect)


def _shown_key(key: KeySpec, value: Any) -> Any:
    """A key as results give it: a bucket's first day as a date, a range as its lower bound (`labels.range_key`)."""
    if value is None:
        return None
    if key.bucket:
        return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    if key.ranges:
        return range_key(int(value), key.ranges)
    return value


def _empty(measures: Sequence[Measure]) -> dict[str, Any]:
    return {m.name: 0 if m.finish == "count" else None for m in measures}


def _with_formulas(report: ReportDef, values: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(values)
    for formula in report.formulas:
        result[formula.name] = formula_value(formula.expression, result, formula.format)
    return result


def _groups(report: ReportDef, found: Sequence[GroupedRow], sets: Sequence[tuple[int, ...]], labeller: KeyLabeller,
            n: int, m: int) -> tuple[ResultGroup, ...]:
    """The row groups of every level (no column key), depth first: each group, then its subgroups.

    Per group the work is a few dictionary lookups: a key value's shown form, label and sort
    key are worked out once per level and value (a month or a stage recurs in many groups).
    """
    keys = labeller.keys
    row_sets = {index: len(members) for index, members in enumerate(sets)
                if members == tuple(range(len(members))) and len(members) <= n and len(members) > 0}
    made: dict[tuple, ResultGroup] = {}
    order: dict[tuple, tuple] = {}
    children: dict[tuple, list[tuple]] = {}
    parents: dict[tuple, tuple[tuple, tuple]] = {(): ((), ())}  # raw key -> (shown key, labels), coarsest first
    by_level: list[list[GroupedRow]] = [[] for _ in range(n + 1)]
    for row in found:
        level = row_sets.get(row.set_index)
        if level is not None:
            by_level[level].append(row)
    formulas = bool(report.formulas)
    for level in range(1, n + 1):
        last, spec = level - 1, keys[level - 1]
        deepest = level == n  # its groups are no one's parent: not remembered in `parents`
        seen: dict[Any, tuple[Any, str, tuple]] = {}  # value -> (shown, label, order)
        for row in by_level[level]:
            row_keys = row.keys
            value = row_keys[last]
            try:
                shown, label, position = seen[value]
            except KeyError:
                label = labeller.label(last, value)
                shown, position = _shown_key(spec, value), labeller.order(last, value, label)
                seen[value] = (shown, label, position)
            except TypeError:  # an unhashable value: worked out each time
                label = labeller.label(last, value)
                shown, position = _shown_key(spec, value), labeller.order(last, value, label)
            parent_key, parent_labels = parents.get(row_keys[:last]) or ((), ())
            key, labels = parent_key + (shown,), parent_labels + (label,)
            if not deepest:
                parents[row_keys[:level]] = (key, labels)
            if key not in made:
                children.setdefault(parent_key, []).append(key)
            made[key] = result_group(level, key, labels, _with_formulas(report, row.values) if formulas else row.values)
            order[key] = position
    value_names = {a.name for a in aggregates_of(report)} | {f.name for f in report.formulas}
    sort = [item for item in report.sort if item.lstrip("-") in value_names]

    def sibling_order(key: tuple) -> tuple:
        values = made[key].values
        parts = []
        for item in sort:
            name, descending = item.lstrip("-"), item.startswith("-")
            value = values.get(name)
            parts.append((value is None, _negated(value) if descending and value is not None else value))
        return (*parts, order[key])

    result: list[ResultGroup] = []

    def walk(parent: tuple) -> None:
        for key in sorted(children[parent], key=sibling_order if sort else order.__getitem__):
            result.append(made[key])
            if key in children:
                walk(key)

    if () in children:
        walk(())
    return tuple(result)


def _negated(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return -value.toordinal() if isinstance(value, date) and not isinstance(value, datetime) else -value.timestamp()
    if isinstance(value, str):
        return tuple(-ord(c) for c in value)
    return -value


# ---- columns --------------------------------------------------------------------------------

def _own_label(obj: Any, name: str, language: str) -> str:
    """A field's label in `language`; a system field's (owner_id: "Owner", "负责人") from the field presenter's table."""
    if name in obj.fields:
        return obj.fields[name].label.get(language)
    return SYSTEM_LABELS[name].get(language) if name in SYSTEM_LABELS else name


def _field_label(ctx: QueryContext, object_name: str, path: str, language: str) -> str:
    value = field_value(ctx, object_name, path)
    own = ctx.object(value.info.object_name)
    label = _own_label(own, value.info.name, language)
    if value.lookup is None:
        return label
    head = _own_label(ctx.object(object_name), value.lookup.name, language)
    return f"{head} › {label}"


def _group_column(ctx: QueryContext, object_name: str, grouping: Grouping, key: KeySpec, language: str) -> ResultColumn:
    value_type = key.value.info.value_type
    if grouping.bucket:
        return ResultColumn(grouping.field, _field_label(ctx, object_name, grouping.field, language), value_type,
                            "date", grouping.bucket)
    if grouping.ranges:
        return ResultColumn(grouping.field, _field_label(ctx, object_name, grouping.field, language), value_type,
                            "text", "range")
    return ResultColumn(grouping.field, _field_label(ctx, object_name, grouping.field, language), value_type,
                        FORMATS.get(value_type, "text") if lookup_target(key) is None else "text")


def _value_columns(ctx: QueryContext, report: ReportDef, aggregates: Sequence[Aggregate],
                   language: str) -> tuple[ResultColumn, ...]:
    columns = []
    for a in aggregates:
        label = a.label.get(language) or a.name
        if a.days_between:
            columns.append(ResultColumn(a.name, label, "number", "duration_days"))
        elif a.field is None or a.function in ("count", "count_distinct"):
            columns.append(ResultColumn(a.name, label, "count", "number"))
        else:
            value_type = field_value(ctx, report.object, a.field).info.value_type
            columns.append(ResultColumn(a.name, label, value_type, FORMATS.get(value_type, "text")))
    for f in report.formulas:
        columns.append(ResultColumn(f.name, f.label.get(language) or f.name, "formula", f.format))
    return tuple(columns)


# ---- tabular --------------------------------------------------------------------------------

def tabular_columns(ctx: QueryContext, report: ReportDef, language: str) -> tuple[ResultColumn, ...]:
    columns = []
    for path in report.columns:
        value = field_value(ctx, report.object, path)
        value_type = value.info.value_type
        shown = "text" if value.info.value_kind == "reference" else FORMATS.get(value_type, "text")
        columns.append(ResultColumn(path, _field_label(ctx, report.object, path, language), value_type, shown))
    return tuple(columns)


def tabular_limit(report: ReportDef) -> int:
    return min(report.limit or DEFAULT_TABULAR_LIMIT, MAX_TABULAR_LIMIT)


def _tabular_rows(connection: Connection, ctx: QueryContext, report: ReportDef, where: Any, language: str,
                  user_names: UserNames) -> tuple[tuple[ResultRow, ...], bool]:
    """At most `limit` records in the report's sort; lookups shown by their target's title (or owner's name)."""
    object_name = report.object
    base = ctx.schema.table(object_name)
    values = [field_value(ctx, object_name, path) for path in report.columns]
    order = []
    for item in report.sort:
        value = field_value(ctx, object_name, item.lstrip("-"))
        expression = value.expression
        order.append(expression.desc().nulls_last() if item.startswith("-") else expression.asc().nulls_last())
    limit = tabular_limit(report)
    statement = select(base.c.id, *(v.expression.label(f"c{i}") for i, v in enumerate(values))) \
        .select_from(base).where(where).order_by(*order, base.c.id).limit(limit + 1)
    fetched = connection.execute(statement).all()
    truncated = len(fetched) > limit
    fetched = fetched[:limit]
    names: list[Mapping[Any, str] | None] = []
    for i, v in enumerate(values):
        key = KeySpec(v)
        target = lookup_target(key)
        seen = {row[i + 1] for row in fetched}
        if target == "user":
            names.append(dict(user_names([s for s in seen if s is not None])))
        elif target is not None:
            names.append(titles(connection, ctx, target, seen))
        else:
            names.append(None)
    rows = []
    for row in fetched:
        shown = {}
        for i, v in enumerate(values):
            value = row[i + 1]
            if names[i] is not None and value is not None:
                value = names[i].get(value, f"#{value}")
            shown[v.path] = value
        rows.append(ResultRow(row[0], shown))
    return tuple(rows), truncated
