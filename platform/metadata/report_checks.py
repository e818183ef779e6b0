"""Do the merged reports and dashboards make sense? Every mistake is reported where it was written.

Reports: the object exists and the report's package may read it; every field path
(columns, group_by, columns_by, aggregates, filter, page_filters, date_field) names a
field of the object or `lookup.field` through one of its lookups (as the filter compiler
reads them, docs/query.md); a bucket groups a date, ranges a number (ascending); sum and
avg add numbers, days_between counts between dates; formulas use only aggregate names,
numbers, + - * / and parentheses; the kind has what it needs (columns, levels within
MAX_GROUP_LEVELS / MAX_MATRIX_LEVELS, columns_by for a matrix); names are unique.

Dashboards: each widget names a report its package may draw, an aggregate or formula of it
as `value`, a target for a gauge, a series only over a second grouping level; a dashboard
filtering by date range draws only reports with a `date_field`.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

from crmkit.metadata.catalog import Catalog, ChartKind
from crmkit.metadata.clock import DATE_KINDS, SYSTEM_MOMENTS
from crmkit.metadata.derived_layout import is_numeric
from crmkit.metadata.errors import did_you_mean
from crmkit.metadata.model import SYSTEM_FIELDS, FieldDef, Label, ObjectDef
from crmkit.metadata.package_reports import report_object_problem
from crmkit.metadata.reports import (
    MAX_GROUP_LEVELS,
    MAX_MATRIX_LEVELS,
    Analytics,
    DashboardDef,
    Grouping,
    ReportDef,
    WidgetDef,
)
from crmkit.metadata.semantic import Reporter

#: The system fields as reports see them: their value types (owner_id and the like are users).
SYSTEM_FIELD_TYPES = {"id": "integer", "created_at": "datetime", "updated_at": "datetime", "version": "integer",
                      "owner_id": "lookup", "created_by": "lookup", "updated_by": "lookup", "formula_errors": "textarea"}
FILTER_WORDS = ("and", "or", "not")
#: Charts that draw series: the report's second grouping level.
SERIES_CHARTS = frozenset({"stacked_bar", "line", "area"})
#: Charts that draw one figure of the whole report rather than its groups.
TOTAL_CHARTS = frozenset({"kpi", "gauge"})
_FORMULA_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Name, ast.Constant, ast.Load,
                  ast.Add, ast.Sub, ast.Mult, ast.Div, ast.USub, ast.UAdd)


def check_analytics(analytics: Analytics, objects: Mapping[str, ObjectDef], catalog: Catalog,
                    visible: Mapping[str, set[str]], report: Reporter) -> None:
    """Report every problem of `analytics` against the merged `objects`."""
    for definition in analytics.reports.values():
        problem = report_object_problem(definition, objects, visible)
        if problem:
            report.at(definition.location, problem, "object")
            continue
        _ReportCheck(definition, objects[definition.object], objects, catalog, report).run()
    for board in analytics.dashboards.values():
        check_dashboard(board, analytics.reports, visible, report, catalog)


def formula_names(expression: str) -> tuple[set[str], str | None]:
    """The names a summary formula uses, and why it is not a formula (None when it is one).

    Only names, numbers, + - * / and parentheses are allowed; the expression is parsed with
    Python's ast and never evaluated.
    """
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        return set(), "does not parse"
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, _FORMULA_NODES):
            return set(), f"uses '{ast.unparse(node) if isinstance(node, ast.expr) else type(node).__name__}'"
        if isinstance(node, ast.Constant) and (isinstance(node.value, bool) or not isinstance(node.value, (int, float))):
            return set(), f"uses {node.value!r}, which is not a number"
        if isinstance(node, ast.Name):
            names.add(node.id)
    return names, None


@dataclass
class _ReportCheck:
    definition: ReportDef
    obj: ObjectDef
    objects: Mapping[str, ObjectDef]
    catalog: Catalog
    report: Reporter

    def at(self, message: str, *path: str | int) -> None:
        self.report.at(self.definition.location, f"the report '{self.definition.name}': {message}", *path)

    def run(self) -> None:
        definition = self.definition
        self.check_kind()
        for index, path in enumerate(definition.columns):
            self.field(path, "columns", index)
        for key, levels in (("group_by", definition.group_by), ("columns_by", definition.columns_by)):
            for index, grouping in enumerate(levels):
                self.grouping(grouping, key, index)
        for index, path in enumerate(definition.page_filters):
            self.field(path, "page_filters", index)
        if definition.date_field:
            fdef = self.field(definition.date_field, "date_field")
            if fdef is not None and not self.is_date(fdef):
                self.at(f"date_field '{definition.date_field}' is a {fdef.value_type} field; name a date or "
                        f"date-time field{self.suggest(self.is_date)}.", "date_field")
        self.filter(definition.filter, ("filter",))
        self.aggregates()
        self.formulas()
        self.sort()

    def check_kind(self) -> None:
        definition = self.definition
        kind = definition.kind
        if kind == "tabular":
            if not definition.columns:
                self.at("a tabular report needs 'columns': the fields it lists, such as [name, amount].")
            for key in ("group_by", "columns_by"):
                if getattr(definition, key):
                    self.at(f"a tabular report has no '{key}'; use kind: summary (or matrix) to group records.", key)
            return
        if definition.columns:
            self.at(f"a {kind} report has no 'columns' (they list records in a tabular report); "
                    "group with 'group_by' instead.", "columns")
        if definition.limit is not None:
            self.at(f"'limit' is for tabular reports; a {kind} report shows every group.", "limit")
        if kind == "summary":
            if definition.columns_by:
                self.at("'columns_by' is for a matrix; use kind: matrix, or add the level to group_by.", "columns_by")
            if len(definition.group_by) > MAX_GROUP_LEVELS:
                self.at(f"a summary groups by at most {MAX_GROUP_LEVELS} levels, not {len(definition.group_by)}; "
                        "remove a level or filter instead.", "group_by")
            return
        if not definition.group_by:
            self.at("a matrix needs 'group_by': its row levels (1-2), such as [{field: stage}].")
        if not definition.columns_by:
            self.at("a matrix needs 'columns_by': its column levels (1-2), such as [{field: owner_id}]; "
                    "without them use kind: summary.")
        for key in ("group_by", "columns_by"):
            levels = getattr(definition, key)
            if len(levels) > MAX_MATRIX_LEVELS:
                self.at(f"a matrix has at most {MAX_MATRIX_LEVELS} levels in '{key}', not {len(levels)}; "
                        "remove a level.", key)

    # -- fields ---------------------------------------------------------------------------------

    def resolve(self, path: str) -> tuple[FieldDef | None, str]:
        """The field `path` names (None) and, when it names none, why."""
        head, _, tail = path.partition(".")
        fdef = self.own_field(self.obj, head)
        if fdef is None:
            names = [*self.obj.fields, *SYSTEM_FIELDS]
            hint = did_you_mean(head, names) or f" Its fields: {', '.join(sorted(self.obj.fields))}."
            return None, f"'{path}' is not a field of {self.obj.name}.{hint}"
        if not tail:
            return fdef, ""
        lookups = sorted(f.name for f in self.obj.fields.values() if f.is_lookup and f.to)
        if not (fdef.is_lookup and fdef.to in self.objects):
            return None, (f"'{path}' goes through '{head}', which is not a lookup of {self.obj.name}; "
                          f"lookups it may go through: {', '.join(lookups) or 'none'}.")
        if "." in tail:
            return None, (f"'{path}' goes through more than one lookup; a report reads fields of the record "
                          f"a lookup points to, such as '{head}.{tail.split('.')[0]}'.")
        target = self.objects[fdef.to]
        found = self.own_field(target, tail)
        if found is None:
            hint = did_you_mean(tail, [*target.fields, *SYSTEM_FIELDS]) or (
                f" Its fields: {', '.join(sorted(target.fields))}.")
            return None, f"'{path}': '{tail}' is not a field of {target.name}.{hint}"
        return found, ""

    @staticmethod
    def own_field(obj: ObjectDef, name: str) -> FieldDef | None:
        if name in obj.fields:
            return obj.fields[name]
        if name in SYSTEM_FIELD_TYPES:
            return FieldDef(name, SYSTEM_FIELD_TYPES[name], Label.of(name))
        return None

    def field(self, path: str, *where: str | int) -> FieldDef | None:
        fdef, problem = self.resolve(path)
        if fdef is None:
            self.at(problem, *where)
        return fdef

    def is_date(self, fdef: FieldDef) -> bool:
        if fdef.name in SYSTEM_MOMENTS and fdef.name not in self.obj.fields:
            return True
        rollup = fdef.rollup
        if rollup is not None:
            child = self.objects.get(rollup.child_object)
            source = child.fields.get(rollup.field or "") if child is not None else None
            return rollup.aggregate in ("min", "max") and source is not None and self.is_date(source)
        kind = self.catalog.kind(fdef.value_type)
        return kind is not None and kind.value_kind in DATE_KINDS

    def is_number(self, fdef: FieldDef) -> bool:
        if fdef.name in ("id", "version") and fdef.name not in self.obj.fields:
            return False
        return is_numeric(fdef, self.catalog, self.objects)

    def suggest(self, test) -> str:
        names = [name for name, fdef in self.obj.fields.items() if test(fdef)]
        return f" ({', '.join(names)})" if names else ""

    def grouping(self, grouping: Grouping, key: str, index: int) -> None:
        fdef = self.field(grouping.field, key, index, "field")
        if fdef is None:
            return
        if grouping.bucket and grouping.ranges:
            self.at("a level groups by a date bucket or by ranges, not both; split them into two levels.",
                    key, index, "ranges")
        if grouping.bucket and not self.is_date(fdef):
            self.at(f"bucket '{grouping.bucket}' groups dates, but '{grouping.field}' is a {fdef.value_type} field; "
                    f"remove the bucket or group a date field{self.suggest(self.is_date)}.", key, index, "bucket")
        if grouping.ranges:
            if not self.is_number(fdef):
                self.at(f"ranges group numbers, but '{grouping.field}' is a {fdef.value_type} field; remove the "
                        f"ranges or group a number field{self.suggest(self.is_number)}.", key, index, "ranges")
            elif any(low >= high for low, high in zip(grouping.ranges, grouping.ranges[1:])):
                shown = ", ".join(str(value) for value in grouping.ranges)
                self.at(f"the ranges [{shown}] must be ascending boundaries, each greater than the one before.",
                        key, index, "ranges")
        if grouping.fiscal_year_start_month is not None and grouping.bucket not in ("fiscal_quarter", "fiscal_year"):
            self.at("fiscal_year_start_month applies to the buckets fiscal_quarter and fiscal_year; "
                    "remove it or use one of them.", key, index, "fiscal_year_start_month")
        if grouping.bucket is None and fdef.value_type in ("datetime",):
            self.at(f"'{grouping.field}' is a date-time field: group it by a bucket (day, week, month, quarter, "
                    "year, fiscal_quarter or fiscal_year), not by each moment.", key, index, "field")

    def filter(self, node: Any, where: tuple[str | int, ...]) -> None:
        """The field names of a filter in the engine's language; values are checked when it runs."""
        if isinstance(node, (list, tuple)):
            for item in node:
                self.filter(item, where)
            return
        if not isinstance(node, Mapping):
            return
        for key, value in node.items():
            if key in FILTER_WORDS:
                self.filter(value, where)
            elif isinstance(key, str):
                fdef, problem = self.resolve(key)
                if fdef is None:
                    self.at(f"in the filter, {problem}", *where)

    # -- figures --------------------------------------------------------------------------------

    def aggregates(self) -> None:
        seen: set[str] = set()
        for index, aggregate in enumerate(self.definition.aggregates):
            where = ("aggregates", index)
            if aggregate.name in seen:
                self.at(f"two aggregates are named '{aggregate.name}'; rename one.", *where, "name")
            seen.add(aggregate.name)
            function = aggregate.function
            if aggregate.field and aggregate.days_between:
                self.at(f"the aggregate '{aggregate.name}' has both 'field' and 'days_between'; keep one.",
                        *where, "days_between")
            if aggregate.days_between:
                if function not in ("sum", "avg", "min", "max"):
                    self.at(f"days_between is summed, averaged, or its min or max taken, not {function}; "
                            "use function: avg.", *where, "function")
                for position, path in enumerate(aggregate.days_between):
                    fdef = self.field(path, *where, "days_between", position)
                    if fdef is not None and not self.is_date(fdef):
                        self.at(f"days_between counts the days between two dates, but '{path}' is a "
                                f"{fdef.value_type} field{self.suggest(self.is_date)}.", *where, "days_between",
                                position)
            elif aggregate.field:
                fdef = self.field(aggregate.field, *where, "field")
                kind = self.catalog.kind(fdef.value_type) if fdef is not None else None
                if kind is not None and kind.value_kind == "list" and function in ("count", "count_distinct"):
                    self.at(f"cannot {function} '{aggregate.field}', a {fdef.value_type} field holding several "
                            "values; count records instead (no field).", *where, "field")
                if fdef is not None and function in ("sum", "avg") and not self.is_number(fdef):
                    self.at(f"cannot {function} '{aggregate.field}', a {fdef.value_type} field; {function} adds "
                            f"numbers{self.suggest(self.is_number)}, or use count.", *where, "field")
                if fdef is not None and function in ("min", "max") and not (self.is_number(fdef) or self.is_date(fdef)):
                    self.at(f"cannot take the {function} of '{aggregate.field}', a {fdef.value_type} field; "
                            "min and max are for numbers and dates.", *where, "field")
            elif function != "count":
                self.at(f"a {function} aggregate needs 'field' (or 'days_between'): what it is taken over.",
                        *where, "function")
            if aggregate.where is not None:
                self.filter(aggregate.where, where + ("where",))

    def formulas(self) -> None:
        aggregates = [aggregate.name for aggregate in self.definition.aggregates]
        seen = set(aggregates)
        for index, formula in enumerate(self.definition.formulas):
            where = ("formulas", index)
            if formula.name in seen:
                self.at(f"'{formula.name}' already names an aggregate or formula of this report; rename the formula.",
                        *where, "name")
            seen.add(formula.name)
            names, problem = formula_names(formula.expression)
            if problem:
                self.at(f"the formula '{formula.expression}' {problem}; write aggregate names, numbers, "
                        "+ - * / and parentheses, such as \"won / closed\".", *where, "expression")
                continue
            for name in sorted(names - set(aggregates)):
                hint = did_you_mean(name, aggregates) or (
                    f" Its aggregates: {', '.join(aggregates)}." if aggregates else "")
                self.at(f"the formula '{formula.expression}' uses '{name}', which is not an aggregate of the "
                        f"report.{hint}", *where, "expression")

    def sort(self) -> None:
        definition = self.definition
        if definition.kind == "tabular":
            allowed = list(definition.columns)
            what = "one of its columns"
        else:
            allowed = [a.name for a in definition.aggregates] + [f.name for f in definition.formulas]
            what = "an aggregate or formula of the report (groups are otherwise in their natural order)"
        for index, key in enumerate(definition.sort):
            name = key.removeprefix("-")
            if name not in allowed:
                hint = did_you_mean(name, allowed) or (f" It may sort by: {', '.join(allowed)}." if allowed else "")
                self.at(f"sort '{key}' is not {what}.{hint}", "sort", index)


def check_dashboard(board: DashboardDef, reports: Mapping[str, ReportDef], visible: Mapping[str, set[str]],
                    report: Reporter, catalog: Catalog | None = None) -> None:
    """Problems of one dashboard's widgets, each at the widget's key.

    A widget of a plugin's kind (`catalog.chart_kinds`) gets the checks every widget gets and
    then the kind's own (ChartKind.problems)."""
    plugin_kinds = catalog.chart_kinds if catalog is not None else {}
    allowed = visible.get(board.package, {board.package})
    names = sorted(name for name, item in reports.items() if item.package in allowed)
    for widget in board.widgets:
        target = reports.get(widget.report)
        if target is None or target.package not in allowed:
            hint = did_you_mean(widget.report, names) or (f" Reports it may draw: {', '.join(names)}." if names else "")
            report.at(widget.location, f"the widget draws the report '{widget.report}', which is not a report "
                                       f"of this package or of one it depends on.{hint}", "report")
            continue
        kind = plugin_kinds.get(widget.chart)
        problems = _widget_problems(board, widget, target, kind)
        for message, key in problems if kind is None else [*problems, *kind.problems(widget, target)]:
            report.at(widget.location, message, key)


def _widget_problems(board: DashboardDef, widget: WidgetDef, target: ReportDef,
                     kind: ChartKind | None = None) -> Iterator[tuple[str, str]]:
    figures = [a.name for a in target.aggregates] + [f.name for f in target.formulas]
    if widget.value is not None and widget.value not in figures:
        yield _unknown_figure(widget.value, target, figures), "value"
    if target.kind == "tabular" and widget.chart != "table":
        yield (f"the report '{target.name}' is tabular, so it is drawn as chart: table; a {widget.chart} draws "
               "a summary or matrix report."), "chart"
    elif (target.kind != "tabular" and widget.chart not in TOTAL_CHARTS and widget.chart != "table"
          and (kind is None or kind.groups) and not target.group_by):
        yield (f"a {widget.chart} draws the groups of a report, and '{target.name}' has no group_by; "
               "use chart: kpi, or group the report."), "chart"
    if widget.chart == "gauge":
        if widget.target is None:
            yield "a gauge needs 'target': a number such as 1000000, or {aggregate: name} of the report.", "chart"
        elif isinstance(widget.target, Mapping) and widget.target.get("aggregate") not in figures:
            yield _unknown_figure(str(widget.target.get("aggregate")), target, figures), "target"
    elif widget.target is not None:
        yield "'target' is drawn by a gauge; remove it, or use chart: gauge.", "target"
    if widget.series is not None:
        if widget.chart not in SERIES_CHARTS:
            yield (f"'series' is for {', '.join(sorted(SERIES_CHARTS))} charts, not {widget.chart}; "
                   "remove it."), "series"
        elif len(target.group_by) < 2:
            yield (f"'series' draws the report's second grouping level, and '{target.name}' groups by "
                   f"{len(target.group_by)} level(s); add a second level to its group_by."), "series"
        elif widget.series != target.group_by[1].field:
            yield (f"'series' is the report's second grouping level, '{target.group_by[1].field}', "
                   f"not '{widget.series}'."), "series"
    if widget.compare is not None:
        if widget.chart != "kpi":
            yield f"'compare' is for chart: kpi, not {widget.chart}; remove it.", "compare"
        elif "date_range" not in board.filters:
            yield ("compare: previous_period compares with the period before the dashboard's date range; "
                   "add date_range to the dashboard's filters."), "compare"
    if "date_range" in board.filters and not target.date_field:
        yield (f"the dashboard filters by date range, but the report '{target.name}' has no date_field; "
               "add date_field: (the date the range filters, such as close_date) to the report."), "report"


def _unknown_figure(name: str, target: ReportDef, figures: Sequence[str]) -> str:
    hint = did_you_mean(name, figures) or f" Its aggregates and formulas: {', '.join(figures)}."
    return f"'{name}' is not an aggregate or formula of the report '{target.name}'.{hint}"
