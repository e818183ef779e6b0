"""`context.reports`: the reports a user may run, run with page and dashboard filters, drilled down and exported.

    >>> reports = crm.as_user(7).reports
    >>> result = reports.run("pipeline_by_stage", filters={"stage": "Won"}, date_range=(date(2026, 1, 1), None))
    >>> reports.drilldown("pipeline_by_stage", ("Won",))      # the list view's filter for that group
    {'and': [{'stage': {'not_in': ['Closed Lost']}}, {'stage': 'Won'}, {'close_date': {'gte': '2026-01-01'}}]}
    >>> b"".join(reports.export("pipeline_by_stage", "xlsx"))

Reports are looked up by name in the installed metadata (`registry.reports`); a ReportDef
may also be given directly. Each run is one read operation (the user's current rights,
one connection): the user must be allowed to read the report's object, and every figure is
over the rows their row filter lets them see (query/aggregate.py). A field they may not
read cannot be grouped, aggregated, shown or filtered: the run is refused with a
ReportError naming the report. Exports need the export permission and are written to the
security log, as record exports are.

Filters, all optional, each combined with the report's own filter (AND):
- `filters`: page filters in the engine's filter language, only on fields the report
  names in `page_filters` (ReportError otherwise);
- `date_range`: (first day, last day), both included, either None for open, on the
  report's `date_field` (a report without one ignores it);
- `owner_ids`: records owned by these users; `team_id`: records owned by the team's members.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Sequence

from sqlalchemy import select

from crmkit.engine import messages
from crmkit.engine.query.aggregate import KeySpec, bucket_end
from crmkit.engine.query.errors import QueryError
from crmkit.engine.query.filters import QueryContext
from crmkit.engine.reports.compiler import _key, check_report, run_report
from crmkit.engine.reports.errors import ReportError
from crmkit.engine.reports.labels import range_bounds, range_index
from crmkit.engine.reports.result import ReportResult
from crmkit.engine.security.access import PermissionDenied
from crmkit.metadata.reports import ReportDef

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext

EXPORT_FORMATS = ("csv", "xlsx", "json")
#: Owners named per query (security/user_names.py takes at most 1,000 at once).
NAMES_AT_ONCE = 1000


class ReportService:
    """The reports of one UserContext (see the module docstring)."""

    def __init__(self, context: "UserContext") -> None:
        self.context = context

    # -- which reports ---------------------------------------------------------------------

    def names(self) -> list[ReportDef]:
        """The installed reports this user may run (`may_run`), by label."""
        self.context.refresh_rights()
        language = self.context.actor.language
        found = [report for report in _installed(self.context).values() if self.may_run(report)]
        return sorted(found, key=lambda report: report.label.get(language).casefold())

    def may_run(self, report: ReportDef) -> bool:
        """Whether this user may run `report`: they may read its object, and its definition reads no field hidden
        from them (its rows or groups would tell that field's values: such a report is neither listed nor run
        for them, and its refusal names no field)."""
        policy = self.context.policy
        if policy is None:
            return True
        return policy.can(report.object, "read") and not self._reads_hidden(report)

    def _reads_hidden(self, report: ReportDef) -> bool:
        """Whether `report`'s definition reads a field this user may not read (one it could run without that).

        Kept per rights and report (`_HIDDEN_READS`, like the run's plans): asked for every report a list shows."""
        policy = self.context.policy
        if policy is None:
            return False
        key = (id(policy), id(report))
        kept = _HIDDEN_READS.get(key)
        if kept is not None and kept[1] == (policy, report):
            return kept[0]
        ctx = self._query_context()
        made = dict(language=self.context.actor.language, fiscal_start=_fiscal_start(self.context.runtime.registry),
                    dialect=self.context.runtime.engine.dialect.name)
        try:
            check_report(ctx, report, **made)
            hidden = False
        except QueryError:
            try:  # refused to everyone alike (a definition the installed fields no longer fit): the run says why
                check_report(replace(ctx, hidden_fields=None, derived=None), report, **made)
                hidden = True
            except QueryError:
                hidden = False
        if len(_HIDDEN_READS) >= REMEMBERED_CHECKS:
            _HIDDEN_READS.clear()
        _HIDDEN_READS[key] = (hidden, (policy, report))
        return hidden

    def get(self, name: str | ReportDef) -> ReportDef:
        """The report named `name`; ReportError (404) for none."""
        if isinstance(name, ReportDef):
            return name
        reports = _installed(self.context)
        if name not in reports:
            self.context.refresh_rights()  # another process may have installed it since
            reports = _installed(self.context)
        if not isinstance(name, str) or name not in reports:
            raise ReportError(messages.NO_REPORT(name=name), status=404, title="Unknown report")
        return reports[name]

    # -- running ---------------------------------------------------------------------------

    def run(self, name: str | ReportDef, *, filters: Mapping[str, Any] | None = None,
            date_range: tuple[date | None, date | None] | None = None, owner_ids: Sequence[int] | None = None,
            team_id: int | None = None) -> ReportResult:
        """The report computed now for this user (result.py gives the shapes); ReportError when it cannot be."""
        report = self.get(name)
        context = self.context
        with self._refusals(report), context.snapshot(), context.reading() as connection:
            self._require(report, "read")
            combined = self._parts(connection, report, filters, date_range, owner_ids, team_id)
            runtime, policy = context.runtime, context.policy
            # The statement is kept per rights (the policy: one user's, at one metadata and rights version).
            return run_report(connection, self._query_context(), report, combined,
                              language=context.actor.language, fiscal_start=_fiscal_start(runtime.registry),
                              user_names=self._user_names, rights=policy if policy is not None else runtime)

    def drilldown(self, name: str | ReportDef, key: Sequence[Any], column_key: Sequence[Any] | None = None, *,
                  filters: Mapping[str, Any] | None = None, date_range: tuple[date | None, date | None] | None = None,
                  owner_ids: Sequence[int] | None = None, team_id: int | None = None) -> dict[str, Any]:
        """The engine filter (JSON-ready) selecting exactly the records behind a group, or a matrix cell.

        `key` is a ResultGroup's key (one value per level down to the group's level, as the
        result gives it), `column_key` a matrix column key (a prefix of it for a column
        subtotal). The filter holds the report's filter, the page and dashboard filters and
        one condition per key value: a date bucket as a gte/lt date range, a numeric range as
        gte/lt, no value as "is empty", a lookup as its record id. ReportError for a key the
        report has no level for.
        """
        report = self.get(name)
        context = self.context
        with self._refusals(report), context.snapshot(), context.reading() as connection:
            self._require(report, "read")
            parts = self._parts(connection, report, filters, date_range, owner_ids, team_id)
            ctx = self._query_context()
            fiscal_start = _fiscal_start(context.runtime.registry)
            dialect = connection.dialect.name
            key, column_key = tuple(key or ()), tuple(column_key or ())
            levels = [(report.group_by, key)]
            if report.kind == "matrix":
                levels.append((report.columns_by, column_key))
            elif column_key:
                raise ReportError(messages.REPORT_KEY(report=report.name, key=repr(column_key)), status=422)
            for groupings, values in levels:
                if len(values) > len(groupings):
                    raise ReportError(messages.REPORT_KEY(report=report.name, key=repr(values)), status=422)
                for grouping, value in zip(groupings, values):
                    spec = _key(ctx, report.object, grouping, fiscal_start, dialect)
                    parts.append(_condition(report, spec, value))
            return {"and": parts}

    def export(self, name: str | ReportDef, format: str = "csv", *, filters: Mapping[str, Any] | None = None,
               date_range: tuple[date | None, date | None] | None = None, owner_ids: Sequence[int] | None = None,
               team_id: int | None = None, bom: bool = True) -> Iterator[bytes]:
        """The run's table as CSV (UTF-8, a byte order mark unless bom=False, formula-like text neutralised),
        XLSX (XlsxWriter, constant memory, text never read as a formula) or JSON (reports/export.py
        `json_chunks`), as chunks of bytes.

        Needs the export permission on the report's object; written to the security log
        ("reports.exported"). ReportError for another format.
        """
        from crmkit.engine.reports.export import csv_chunks, json_chunks, xlsx_chunks

        if format not in EXPORT_FORMATS:
            raise ReportError(messages.REPORT_EXPORT_FORMAT(format=format), status=422)
        report = self.get(name)
        with self._refusals(report):
            self.context.refresh_rights()
            self._require(report, "export")
        result = self.run(report, filters=filters, date_range=date_range, owner_ids=owner_ids, team_id=team_id)
        from crmkit.engine.security.audit import SecurityLog

        SecurityLog(self.context.crm).record("reports.exported", user_id=self.context.actor.user_id, detail={
            "report": report.name, "object": report.object, "format": format, "filters": _json(filters),
            "date_range": _json(list(date_range) if date_range else None), "owner_ids": _json(owner_ids),
            "team_id": team_id})
        language = self.context.actor.language
        if format == "json":
            return json_chunks(result, language)
        return csv_chunks(result, language, bom) if format == "csv" else xlsx_chunks(result, language)

    # -- helpers ---------------------------------------------------------------------------

    def _refusals(self, report: ReportDef):
        return _Refusals(report)

    def _require(self, report: ReportDef, permission: str) -> None:
        """PermissionDenied unless the user has `permission` on the report's object and may read what it reads."""
        policy = self.context.policy
        if policy is not None:
            policy.require(report.object, permission)
            if self._reads_hidden(report):
                raise ReportError(messages.REPORT_READS_HIDDEN(report=report.name), status=403, title="Not allowed")

    def _query_context(self) -> QueryContext:
        """The caller's query context (as RecordService builds it): row filter, hidden fields, derived values, zone."""
        context, policy = self.context, self.context.policy
        runtime, actor = context.runtime, context.actor
        return QueryContext(runtime.registry, runtime.schema, runtime.field_types, today=context.today(),
                            timezone=actor.timezone, language=actor.language, row_filter=context.row_filter,
                            hidden_fields=policy.hidden_fields if policy is not None else None,
                            derived=policy.derived_expression if policy is not None else None)

    def _user_names(self, ids: Iterable[int]) -> dict[int, str]:
        wanted = sorted({i for i in ids if isinstance(i, int)})
        names: dict[int, str] = {}
        for start in range(0, len(wanted), NAMES_AT_ONCE):
            names.update(self.context.user_names(wanted[start:start + NAMES_AT_ONCE]))
        return names

    def _parts(self, connection, report: ReportDef, filters: Mapping[str, Any] | None,
               date_range: tuple[date | None, date | None] | None, owner_ids: Sequence[int] | None,
               team_id: int | None) -> list[Any]:
        """The report's filter, the page's and the dashboard's, as a list of filter-language conditions (AND)."""
        parts: list[Any] = []
        if report.filter:
            parts.append(_json(dict(report.filter)))
        if filters:
            _check_page_filters(report, filters)
            parts.append(_json(dict(filters)))
        if date_range is not None and report.date_field:
            if not isinstance(date_range, (list, tuple)) or len(date_range) != 2:
                raise ReportError(messages.REPORT_DATE_RANGE(value=repr(date_range)), status=422)
            first, last = date_range
            bounds = {}
            if first is not None:
                bounds["gte"] = _json(first)
            if last is not None:
                bounds["lte"] = _json(last)
            if bounds:
                parts.append({report.date_field: bounds})
        if owner_ids is not None:
            parts.append({"owner_id": {"in": [int(i) for i in owner_ids]}})
        if team_id is not None:
            parts.append({"owner_id": {"in": self._team_members(connection, team_id)}})
        return parts

    def _team_members(self, connection, team_id: int) -> list[int]:
        runtime = self.context.runtime
        teams, members = runtime.system_table("crmkit_team"), runtime.system_table("crmkit_team_member")
        if type(team_id) is not int or connection.scalar(select(teams.c.id).where(teams.c.id == team_id)) is None:
            raise ReportError(messages.REPORT_NO_TEAM(id=team_id), status=404, title="Unknown team")
        return sorted(connection.scalars(select(members.c.user_id).where(members.c.team_id == team_id)))


class _Refusals:
    """Turns what a run may raise into a ReportError naming the report (QueryError 422, PermissionDenied 403)."""

    def __init__(self, report: ReportDef) -> None:
        self.report = report

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> None:
        if isinstance(error, QueryError):
            refusal = ReportError(messages.REPORT_NOT_RUNNABLE(report=self.report.name, reason=error.message),
                                  status=422)
        elif isinstance(error, PermissionDenied):
            refusal = ReportError(messages.REPORT_NOT_READABLE(report=self.report.name, reason=error.message),
                                  status=403, title="Not allowed")
        else:
            return
        refusal.subject = self.report.object  # the reason's fields are the report's object's (named by their labels)
        raise refusal from error


#: `ReportService._reads_hidden` answers kept per (rights, report), with both kept alive so neither id is reused.
REMEMBERED_CHECKS = 1024
_HIDDEN_READS: dict[tuple[int, int], tuple[bool, tuple[Any, ReportDef]]] = {}


def _installed(context: "UserContext") -> Mapping[str, ReportDef]:
    return getattr(context.runtime.registry, "reports", None) or {}


def _fiscal_start(registry: Any) -> int:
    return getattr(registry, "fiscal_year_start_month", None) or 1


def _check_page_filters(report: ReportDef, node: Any) -> None:
    """Every field a page filter names must be one of the report's `page_filters`."""
    if isinstance(node, (list, tuple)):
        for item in node:
            _check_page_filters(report, item)
        return
    if not isinstance(node, Mapping):
        raise ReportError(messages.NOT_A_DICTIONARY(node=repr(node)), status=422)
    for key, value in node.items():
        if key in ("and", "or") and isinstance(value, (list, tuple)):
            _check_page_filters(report, value)
        elif key == "not":
            _check_page_filters(report, value)
        elif key not in report.page_filters:
            allowed = ", ".join(report.page_filters) or "nothing"
            raise ReportError(messages.REPORT_PAGE_FILTER(report=report.name, allowed=allowed, field=key), status=422)


def _condition(report: ReportDef, spec: KeySpec, value: Any) -> dict[str, Any]:
    """The filter-language condition selecting the records of one key value of one grouping level."""
    path = spec.value.path
    if value is None:
        if spec.value.lookup is not None:  # no target, a target the user cannot read, or one without the value
            return {"not": {path: {"is_null": False}}}
        return {path: None}
    if spec.bucket:
        try:
            start = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
        except ValueError:
            raise ReportError(messages.REPORT_KEY(report=report.name, key=repr(value)), status=422) from None
        if isinstance(start, datetime):
            start = start.date()
        end = bucket_end(start, spec.bucket)  # None for the last bucket a date can hold: no upper bound
        return {path: {"gte": start.isoformat(), "lt": end.isoformat()} if end is not None else {"gte": start.isoformat()}}
    if spec.ranges:
        index = range_index(value, spec.ranges)
        if index is None:
            raise ReportError(messages.REPORT_KEY(report=report.name, key=repr(value)), status=422)
        lower, upper = range_bounds(index, spec.ranges)
        bounds = {}
        if lower is not None:
            bounds["gte"] = _json(lower)
        if upper is not None:
            bounds["lt"] = _json(upper)
        return {path: bounds}
    return {path: _json(value)}


def _json(value: Any) -> Any:
    """A filter value as JSON can carry it (the list view takes drill-downs as ?filter=<json>)."""
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)
