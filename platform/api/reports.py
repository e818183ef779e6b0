"""Reports and dashboards as JSON: the engine's results (engine/reports/result.py), shaped for a program.

    GET /api/v1/reports                                    -> the reports the caller may run
    GET /api/v1/reports/<name>?from=2026-01-01&to=2026-03-31&owner=7&team=2&filter={...}
    GET /api/v1/dashboards                                 -> the dashboards the caller may see
    GET /api/v1/dashboards/<name>                          -> its widgets
    GET /api/v1/dashboards/<name>/widgets/<i>?from=&to=&owner=&team=

Values are JSON: decimals as text (exact), dates ISO 8601; labels in the caller's language.
"""
from __future__ import annotations

from decimal import Decimal
import json
from dataclasses import asdict
from datetime import date
from typing import Any

from flask import Response, request

from crmkit.engine import messages
from crmkit.api.blueprint import blueprint, context
from crmkit.api.problems import Problem
from crmkit.api.requests import json_response
from crmkit.engine.fieldtypes import to_json
from crmkit.engine.reports.result import ReportResult
from crmkit.metadata.reports import widget_title


def _value(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_value(item) for item in value]
    return to_json(value)


def result_json(result: ReportResult) -> dict[str, Any]:
    """A report result as JSON: columns, groups (summary, matrix), rows (tabular), cells and totals."""
    body: dict[str, Any] = {
        "report": result.report, "kind": result.kind, "label": result.label,
        "computed_at": to_json(result.computed_at), "truncated": result.truncated,
        "group_columns": [asdict(column) for column in result.group_columns],
        "value_columns": [asdict(column) for column in result.value_columns],
        "grand_total": _value(result.grand_total),
    }
    if result.kind == "tabular":
        body["columns"] = [asdict(column) for column in result.columns]
        body["rows"] = [{"id": row.record_id, "values": _value(row.values)} for row in result.rows]
    else:
        body["groups"] = [{"level": group.level, "key": _value(group.key), "labels": list(group.labels),
                           "values": _value(group.values)} for group in result.groups]
    if result.kind == "matrix":
        body["column_group_columns"] = [asdict(column) for column in result.column_group_columns]
        body["column_keys"] = [_value(key) for key in result.column_keys]
        body["column_labels"] = [list(labels) for labels in result.column_labels]
        body["cells"] = [{"row": _value(row), "column": _value(column), "values": _value(values)}
                         for (row, column), values in result.cells.items()]
        body["column_totals"] = [{"column": _value(column), "values": _value(values)}
                                 for column, values in result.column_totals.items()]
    return body


def _date(name: str) -> date | None:
    text = (request.args.get(name) or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Problem(messages.API_DATE(name=name, value=repr(text))) from None


def _whole(name: str) -> int | None:
    text = (request.args.get(name) or "").strip()
    if not text:
        return None
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise Problem(messages.API_WHOLE_NUMBER(name=name, value=repr(text)))
    return int(text)


def run_filters() -> dict[str, Any]:
    """The keyword arguments of a run from the query string: from/to, owner (repeatable), team."""
    owners = [int(text) for text in request.args.getlist("owner") if text.isascii() and text.isdigit()]
    if len(owners) != len(request.args.getlist("owner")):
        raise Problem(messages.API_OWNER())
    start, end = _date("from"), _date("to")
    arguments: dict[str, Any] = {"date_range": (start, end) if start or end else None,
                                 "owner_ids": owners or None, "team_id": _whole("team")}
    return arguments


@blueprint.get("/reports")
def reports_view() -> Response:
    user = context()
    language = user.actor.language
    return json_response({"data": [{"name": report.name, "label": report.label.get(language),
                                    "object": report.object, "kind": report.kind}
                                   for report in user.reports.names()]})


@blueprint.get("/reports/<name>")
def report_view(name: str) -> Response:
    filters = None
    given = request.args.get("filter")
    if given:
        try:
            filters = json.loads(given, parse_float=Decimal)  # numbers exact, as in bodies
        except ValueError:
            raise Problem(messages.API_REPORT_FILTER()) from None
        if not isinstance(filters, dict):
            raise Problem(messages.API_REPORT_FILTER())
    return json_response(result_json(context().reports.run(name, filters=filters, **run_filters())))


@blueprint.get("/dashboards")
def dashboards_view() -> Response:
    user = context()
    language = user.actor.language
    return json_response({"data": [{"name": board.name, "label": board.label.get(language),
                                    "widgets": len(board.widgets)} for board in user.dashboards.names()]})


@blueprint.get("/dashboards/<name>")
def dashboard_view(name: str) -> Response:
    user = context()
    language = user.actor.language
    dashboards = user.dashboards
    board = dashboards.get(name)
    reports = user.runtime.registry.reports
    return json_response({"name": board.name, "label": board.label.get(language), "filters": list(board.filters),
                          "widgets": [{"index": index, "report": widget.report, "chart": widget.chart,
                                       # The heading the web page shows (metadata/reports.py widget_title).
                                       "title": widget_title(widget, reports.get(widget.report)).get(language) or None,
                                       "available": dashboards.available(name, index)}
                                      for index, widget in enumerate(board.widgets)]})


@blueprint.get("/dashboards/<name>/widgets/<int:index>")
def widget_view(name: str, index: int) -> Response:
    return json_response(result_json(context().dashboards.widget(name, index, **run_filters())))
