"""The list view of every object: /o/<object> (filters, sort, search and page in the query string) and its exports
(CSV and XLSX for people, JSON for programs).

An htmx request (the live search, the filter form, a sort header, a page link) gets the
results part only (`list_results.html`), and pushes the full address into the history,
so what is on screen is always a bookmarkable URL. Errors the user can cause (a bad filter
value, a cursor made for another sort) are shown as the engine's sentence with status 400,
beside the filters, never as a 500.
"""
from __future__ import annotations

from typing import Iterator
from urllib.parse import urlencode

from flask import Blueprint, Response, g, render_template, request
from werkzeug.datastructures import MultiDict

from crmkit.engine.fieldtypes.presenter import FieldPresenter
from crmkit.engine.query.errors import QueryError
from crmkit.engine.query.querystring import parse_query_string
from crmkit.ui.csv_export import readable_csv
from crmkit.ui.list_export import json_lines, readable_xlsx
from crmkit.ui.errors import sentence
from crmkit.ui.app import template_url_for
from crmkit.ui.bulk_page import bulk_actions
from crmkit.ui.kanban_page import board_layout
from crmkit.ui.list_page import PAGING_KEYS, build_list_page, effective_sort, engine_args, without
from crmkit.ui.list_views import column_choices, open_list_view
from crmkit.ui.record_views import may
from crmkit.ui.sessions import streamed, user_context

blueprint = Blueprint("lists", __name__)


def query_url(object_name: str, args: MultiDict | None, endpoint: str = "lists.list_view") -> str:
    """The list's (or its export's) address with `args` as its query string (repeated keys kept)."""
    addresses = g.setdefault("crmkit_list_addresses", {})  # a page links its list a dozen times: built once
    base = addresses.get((endpoint, object_name))
    if base is None:
        base = addresses[(endpoint, object_name)] = template_url_for(endpoint, object_name=object_name)
    if not args:
        return base
    built = g.setdefault("crmkit_list_queries", {})  # a sort header and a page link give theirs twice (href, hx-get)
    kept = built.get((endpoint, object_name, id(args)))
    if kept is not None and kept[0] is args:
        return kept[1]
    address = f"{base}?{urlencode(list(args.items(multi=True)))}"
    built[(endpoint, object_name, id(args))] = (args, address)
    return address


def may_import(context, object_name: str) -> bool:
    """Whether the list offers an import (the engine checks again when it runs)."""
    return may(context, object_name, "create") and may(context, object_name, "import")


def board_link(object_name: str) -> str | None:
    """The board's address for the list page's view switcher; None when the object has no board for the user."""
    return template_url_for("kanban.board", object_name=object_name) if board_layout(user_context(), object_name) \
        else None


def record_url(object_name: str | None, record_id: int) -> str | None:
    """A record's detail page; None for users (owner_id, created_by), who have no record page."""
    return f"/r/{object_name}/{record_id}" if object_name else None


@blueprint.route("/o/<object_name>")
def list_view(object_name: str) -> Response:
    context = user_context()
    partial = request.headers.get("HX-Request") == "true" and request.headers.get("HX-Target") == "list-results"
    state = None
    template = "list_results.html" if partial else "list.html"
    # The page only reads: its engine calls share one connection and one operation read (docs/ui.md, "Speed").
    with context.snapshot():
        records = context.records(object_name)  # UnknownObject: 404 before anything else
        try:
            state = open_list_view(context, object_name, request.args)  # SavedViewNotFound 404, SavedViewUnusable 409
            page = build_list_page(context, object_name, state.args, with_filters=not partial, columns=state.columns)
        except QueryError as error:
            problem = sentence(error.message)
        else:
            return Response(render_template(
                template, page=page, obj=page.obj, problem=None, args=page.args, partial=partial,
                query_url=query_url, record_url=record_url, search=page.search, views=state,
                board_link=board_link(page.obj.name), bulk=bulk_actions(context, page.obj),
                may_export=may(context, page.obj.name, "export"), may_import=may_import(context, page.obj.name),
                columns_chosen=bool(request.args.getlist("columns")),
                column_choices=column_choices(context, FieldPresenter.for_context(context), page.obj,
                                              [column.field.name for column in page.columns])))
    # Outside the snapshot: a refused query may have ended its transaction (PostgreSQL).
    obj = records.obj
    body = render_template(template, page=None, obj=obj, problem=problem, partial=partial,
                           args=without(request.args, PAGING_KEYS), query_url=query_url, record_url=record_url,
                           search=request.args.get("q", ""), board_link=board_link(obj.name), views=state,
                           bulk=None, column_choices=[], columns_chosen=bool(request.args.getlist("columns")),
                           may_export=may(context, obj.name, "export"),
                           may_import=may_import(context, obj.name))
    return Response(body, status=400)


@blueprint.route("/o/<object_name>/export.csv")
def export_csv(object_name: str) -> Response:
    """The current view (filter, search, sort; every page) as CSV for people (labels, titles; csv_export.py),
    streamed through the engine's export (the export permission)."""
    context = user_context()
    records = context.records(object_name)
    spec = parse_query_string(engine_args(without(request.args, PAGING_KEYS)))
    layout = context.runtime.registry.layout(records.obj.name)
    sort = effective_sort(spec, layout.list.sort if layout.list is not None else (), context, records.obj.name)
    # Labels, titles and option labels as the user reads them (csv_export.py); PermissionDenied, QueryError: sentences.
    text = readable_csv(context, records, spec.filter, sort=sort, search=spec.search)

    def lines() -> Iterator[bytes]:
        for piece in text:
            yield piece.encode("utf-8")

    response = Response(streamed(lines()), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{records.obj.name}.csv"'
    return response



@blueprint.route("/o/<object_name>/export.xlsx")
def export_xlsx(object_name: str) -> Response:
    """The current view as an XLSX workbook for people (list_export.py), through the engine's export."""
    return _export(object_name, "xlsx", lambda context, records, spec, sort: readable_xlsx(
        context, records, spec.filter, sort=sort, search=spec.search),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@blueprint.route("/o/<object_name>/export.json")
def export_json(object_name: str) -> Response:
    """The current view as a JSON array for programs (API names, stored values; list_export.py)."""
    return _export(object_name, "json", lambda context, records, spec, sort: json_lines(
        records, spec.filter, sort=sort, search=spec.search), "application/json")


def _export(object_name: str, kind: str, write, mimetype: str) -> Response:
    """An export of the current view (filter, search, sort; every page), streamed; the export permission,
    the row filter and field access as for CSV. PermissionDenied, QueryError: sentences, before any byte."""
    context = user_context()
    records = context.records(object_name)
    spec = parse_query_string(engine_args(without(request.args, PAGING_KEYS)))
    layout = context.runtime.registry.layout(records.obj.name)
    sort = effective_sort(spec, layout.list.sort if layout.list is not None else (), context, records.obj.name)
    chunks = write(context, records, spec, sort)
    response = Response(streamed(chunks), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{records.obj.name}.{kind}"'
    return response
