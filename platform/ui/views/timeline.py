"""A record's timeline: /r/<object>/<id>/timeline?after=<cursor>, the entries older than a cursor.

The detail page shows the first page itself (`first_page`); its "Older" button asks this view
through htmx for the next entries (a partial of list items that replaces the button), and
without script the same address is a page of its own. A damaged cursor is the engine's
sentence with status 400.
"""
from __future__ import annotations

from flask import Blueprint, Response, render_template, request

from crmkit.ui.record_views import record_title
from crmkit.ui.timeline_view import timeline_page
from crmkit.ui.views.records import is_htmx, parts, record_url

blueprint = Blueprint("timeline", __name__)


@blueprint.route("/r/<object_name>/<int:record_id>/timeline")
def older(object_name: str, record_id: int) -> Response:
    context, obj, presenter = parts(object_name)
    after = request.args.get("after") or None
    items, older_url = timeline_page(context, presenter, obj, record_id, after)  # QueryError: 400, a sentence
    if is_htmx():
        return Response(render_template("records/timeline_items.html", items=items, older_url=older_url,
                                        record_url=record_url, focus_first=True))
    record = context.records(object_name).get(record_id)
    return Response(render_template("records/timeline_page.html", obj=obj, record=record, items=items,
                                    older_url=older_url, record_url=record_url, title=record_title(obj, record)))
