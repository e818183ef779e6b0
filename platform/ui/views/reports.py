"""Reports and dashboards: /reports, /reports/<name> (+ JSON and CSV/XLSX export), /dashboards, /dashboards/<name>.

Everything shown comes from the engine's `context.reports` (ReportService: names, run,
drilldown, export) and `context.dashboards` (DashboardService: names, get, widget), which
compute every figure over the rows the user may see and refuse what they may not (a report
on an object they cannot read, a hidden field): the refusal is the engine's sentence with
its status, never a traceback. A dashboard's page draws its grid at once; each widget is
fetched on its own (`/dashboards/<name>/widgets/<i>`, htmx on load), so a slow report does
not hold the others back, and again whenever the dashboard's filters change.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Iterator
from urllib.parse import urlencode

from babel.dates import format_timedelta
from flask import Blueprint, Response, abort, jsonify, render_template, request
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from crmkit.engine.context import UserContext
from crmkit.engine.fieldtypes.presentation import Presentation
from crmkit.engine.fieldtypes.presenter import FieldPresenter
from crmkit.engine.query.errors import QueryError
from crmkit.engine.query.querystring import parse_query_string
from crmkit.engine.security.user_names import UserNames
from crmkit.engine.security.users import Team
from crmkit.errors import CrmkitError
from crmkit.metadata.model import Label
from crmkit.engine.reports.result import ReportResult
from crmkit.metadata.reports import DashboardDef, ReportDef, WidgetDef, widget_title
from crmkit.ui.charts import Link
from crmkit.ui.charts import chart_spec
from crmkit.ui.extension_points import plugin_chart_data
from crmkit.ui.dashboard_filters import PERIODS, DashboardFilters, FilterProblem, dashboard_filters
from crmkit.ui.errors import sentence
from crmkit.ui.i18n import label_language
from crmkit.ui.list_page import visible_columns, with_lookup_choices
from crmkit.ui.record_views import may
from crmkit.ui.report_page import list_address, report_table, result_json
from crmkit.ui.sessions import streamed, user_context

blueprint = Blueprint("reports", __name__)
#: Export formats and their media types.
EXPORTS = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
           "json": "application/json"}
#: The dashboard page's region that its filters replace (htmx), widgets and all.
GRID = "dashboard-grid"


def presentation(context: UserContext) -> Presentation:
    """How the user reads figures: their language and time zone, the organisation's currency."""
    return Presentation.for_actor(context.actor)


def drilldown_links(context: UserContext, report: ReportDef, **filters: Any) -> Link:
    """`link(key, column_key)`: the list of the records behind a group or cell, or None when the engine gives none."""
    def link(key: tuple, column_key: tuple | None = None) -> str | None:
        try:
            found = context.reports.drilldown(report.name, key, column_key, **filters)
        except CrmkitError:
            return None
        return list_address(report.object, found)
    return link


def runnable(context: UserContext) -> dict[str, ReportDef]:
    """{name: ReportDef} of the reports the user may run."""
    return {report.name: report for report in context.reports.names()}


def find_report(context: UserContext, name: str) -> ReportDef:
    """The report `name` if the user may run it; otherwise the engine's refusal (unknown: 404, not allowed: 403)."""
    report = context.reports.get(name)  # ReportError 404 for an unknown one
    if report.name not in runnable(context):
        context.reports.run(report)  # raises the engine's refusal for this user (403)
        abort(403)
    return report


def page_filter_args(report: ReportDef, args: MultiDict) -> MultiDict:
    """The query-string arguments that filter a page filter's field (`stage`, `amount__gte`); the rest are left out."""
    allowed = set(report.page_filters)
    return MultiDict([(key, value) for key, value in args.items(multi=True)
                      if key.split("__")[0] in allowed and value != ""])


@blueprint.route("/reports")
def index() -> Response:
    context = user_context()
    registry = context.runtime.registry
    language = label_language()
    by_object: dict[str, list[ReportDef]] = {}
    for report in context.reports.names():
        by_object.setdefault(report.object, []).append(report)
    groups = sorted(((registry.objects[name].plural_label if name in registry.objects else Label.of(name), reports)
                     for name, reports in by_object.items()), key=lambda pair: pair[0].get(language).lower())
    groups = [(label, sorted(reports, key=lambda report: report.label.get(language).lower()))
              for label, reports in groups]
    return Response(render_template("reports/index.html", groups=groups))


@blueprint.route("/reports/<name>")
def report_page(name: str) -> Response:
    context = user_context()
    report = find_report(context, name)
    obj = context.runtime.registry.objects[report.object]
    presenter = FieldPresenter.for_context(context, id_prefix="filter-")
    given = page_filter_args(report, request.args)
    filters_shown = []
    for fdef in visible_columns(context, presenter, obj, report.page_filters):
        field_filter = presenter.list_filter(fdef, given)
        if any(control.control == "lookup" for control in field_filter.controls):
            field_filter = with_lookup_choices(context, fdef, field_filter, presenter.show.text("any"))
        filters_shown.append(field_filter)
    # The run and the drill-down filter of every group and cell share one connection (docs/ui.md, "Speed").
    with context.snapshot():
        try:
            filters = parse_query_string(given).filter
            result = context.reports.run(name, filters=filters)
        except (QueryError, CrmkitError) as error:
            if not isinstance(error, QueryError) and error.status not in (400, 422):
                raise  # not allowed, unknown: the error page
            problem = sentence(error.message, subject=obj.name)
            status = 400 if isinstance(error, QueryError) else error.status
        else:
            if request.args.get("format") == "json":
                return jsonify(result_json(result))
            show = presentation(context)
            link = drilldown_links(context, report, filters=filters)
            table = report_table(result, show, link=link,
                                 record_link=lambda record_id: f"/r/{report.object}/{record_id}",
                                 total_label=_("Total"))
            export_query = urlencode(list(given.items(multi=True)))
            return Response(render_template(
                "reports/report.html", report=report, obj=obj, table=table, problem=None, filters=filters_shown,
                filtered=bool(given), export_query=export_query, result=result, updated=updated_text(result, show),
                may_export=may(context, obj.name, "export"), spec=report_chart(result, show, link)))
    # Outside the snapshot: a refused run may have ended its transaction (PostgreSQL).
    if request.args.get("format") == "json":
        return Response(json.dumps({"error": problem}, ensure_ascii=False), status=status,
                        mimetype="application/json")
    return Response(render_template("reports/report.html", report=report, obj=obj, table=None, problem=problem,
                                    filters=filters_shown, filtered=True, export_query="", result=None),
                    status=status)


def report_chart(result: ReportResult, show: Presentation, link: Link) -> dict[str, Any] | None:
    """A report page's chart: its first value over the first grouping level as bars (a matrix's column groups
    stacked); None for a tabular report or one without groups."""
    if result.kind == "tabular" or not result.value_columns or not any(group.level == 1 for group in result.groups):
        return None
    chart = "stacked_bar" if result.kind == "matrix" else "bar"
    return chart_spec(result, WidgetDef(report=result.report, chart=chart), show, link=link)


@blueprint.route("/reports/<name>/export.<fmt>")
def export(name: str, fmt: str) -> Response:
    """The report as a CSV, XLSX or JSON file, streamed from the engine's export with the page's filters."""
    if fmt not in EXPORTS:
        abort(404)
    context = user_context()
    report = find_report(context, name)
    obj = context.runtime.registry.objects[report.object]
    try:
        filters = parse_query_string(page_filter_args(report, request.args)).filter
    except QueryError as error:
        problem = sentence(error.message, subject=obj.name)
        return Response(render_template("errors/page.html", status=400, heading=_("Request not possible"),
                                        message=problem), status=400)
    chunks = context.reports.export(name, fmt, filters=filters)

    def body() -> Iterator[bytes]:
        yield from chunks

    response = Response(streamed(body()), mimetype=EXPORTS[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{report.name}.{fmt}"'
    return response


@blueprint.route("/dashboards")
def dashboards() -> Response:
    context = user_context()
    language = label_language()
    boards = sorted(context.dashboards.names(), key=lambda board: board.label.get(language).lower())
    return Response(render_template("reports/dashboards.html", boards=boards))


def chosen_filters(context: UserContext) -> tuple[DashboardFilters, str | None]:
    """The dashboard filters of the address, or none and the sentence saying what is wrong with them."""
    try:
        return dashboard_filters(request.args, context.today()), None
    except FilterProblem as problem:
        return DashboardFilters(), str(problem)


@blueprint.route("/dashboards/<name>")
def dashboard(name: str) -> Response:
    context = user_context()
    board = context.dashboards.get(name)
    chosen, problem = chosen_filters(context)
    reports = context.runtime.registry.reports
    widgets = [(index, widget, widget_title(widget, reports.get(widget.report)))
               for index, widget in enumerate(board.widgets)]
    query = urlencode(chosen.args)
    status = 400 if problem else 200
    if request.headers.get("HX-Request") == "true" and request.headers.get("HX-Target") == GRID:
        return Response(render_template("reports/dashboard_grid.html", board=board, widgets=widgets, query=query,
                                        problem=problem), status=status)
    owner_name = None
    if chosen.owner_id is not None:
        owner_name = UserNames(context).names([chosen.owner_id]).get(chosen.owner_id)
        owner_name = owner_name.display_name if owner_name is not None else str(chosen.owner_id)
    teams = UserNames(context).teams() if "team" in board.filters else []
    return Response(render_template("reports/dashboard.html", board=board, widgets=widgets, query=query,
                                    problem=problem, chosen=chosen, periods=PERIODS, owner_name=owner_name,
                                    teams=teams, team_label=team_label), status=status)


def team_label(team: Team) -> str:
    """A team's label in the user's language, else its name."""
    return Label.of(team.label).get(label_language()) or team.name


def updated_text(result: ReportResult, show: Presentation) -> str:
    """"Updated 30 seconds ago" from the result's `computed_at` (a cached widget's age); "" without it."""
    if result.computed_at is None:
        return ""
    moment = result.computed_at if result.computed_at.tzinfo else result.computed_at.replace(tzinfo=timezone.utc)
    age = datetime.now(timezone.utc) - moment
    if age.total_seconds() < 5:
        return _("Updated just now")
    return _("Updated %(age)s", age=format_timedelta(-age, add_direction=True, locale=show.locale))


@blueprint.route("/dashboards/<name>/widgets/<int:index>")
def widget(name: str, index: int) -> Response:
    context = user_context()
    board = context.dashboards.get(name)
    if not 0 <= index < len(board.widgets):
        abort(404)
    definition = board.widgets[index]
    chosen, problem = chosen_filters(context)
    if problem:
        return Response(render_template("reports/widget_error.html", message=problem), status=400)
    show = presentation(context)
    with context.snapshot():  # the widget's run and its elements' drill-down filters: one connection
        try:
            result = context.dashboards.widget(name, index, **chosen.engine_filters())
            previous = context.dashboards.previous(name, index, **chosen.engine_filters()) \
                if definition.chart == "kpi" and definition.compare else None
        except CrmkitError as error:
            refused = error
        else:
            return widget_response(context, board, index, definition, result, previous, chosen, show)
    return Response(render_template("reports/widget_error.html", message=sentence(refused.message)),
                    status=refused.status)


def widget_response(context: UserContext, board: DashboardDef, index: int, definition: WidgetDef,
                    result: ReportResult, previous: ReportResult | None, chosen: DashboardFilters,
                    show: Presentation) -> Response:
    """The widget's body: its chart data (or KPI, or table), a link to its report and the figures' age."""
    report = context.runtime.registry.reports.get(definition.report)
    link = drilldown_links(context, report, **chosen.engine_filters()) if report is not None else None
    try:
        spec = plugin_chart_data(context.runtime.extensions, chart_spec(
            result, definition, show, link=link, previous=previous, target_label=_("Target")), result, definition, show)
    except KeyError as missing:
        return Response(render_template("reports/widget_error.html", message=_(
            "The widget plots “%(value)s”, which report %(report)s does not have.", value=missing.args[0],
            report=definition.report)), status=422)
    table = report_table(result, show, link=link or (lambda key, column_key=None: None),
                         record_link=lambda record_id: f"/r/{result_object(report)}/{record_id}",
                         total_label=_("Total")) if definition.chart == "table" else None
    title = widget_title(definition, report) if report is not None or definition.title else Label.of(result.label)
    return Response(render_template("reports/widget.html", board=board, index=index, widget=definition, spec=spec,
                                    table=table, result=result, updated=updated_text(result, show), title=title,
                                    report=report, compare=bool(definition.compare), chosen=chosen))


def result_object(report: ReportDef | None) -> str:
    return report.object if report is not None else ""
