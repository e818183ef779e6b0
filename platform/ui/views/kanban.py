"""The kanban board of an object (/o/<object>/kanban) and moving a card (POST /r/<object>/<id>/move).

A move is an ordinary update of the board's `group_by` field through the engine, carrying the
version the card was shown with (optimistic lock): the engine's validation rules, required
fields, dependent picklists and permissions all apply. The board's script (static/crmkit/
kanban.js) posts with `Accept: application/json` and gets the card as saved and the columns'
new counts and totals, or the engine's sentence with 422 (refused), 409 (changed meanwhile), 403 or 404, and puts
the card back. Without script the "Move to" form posts and the board is shown again.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import format_decimal, get_translations, gettext as _
from werkzeug.datastructures import MultiDict

from crmkit.engine.fieldtypes.presenter import FieldPresenter
from crmkit.engine.query.errors import QueryError
from crmkit.engine.records.errors import RecordValidationError, StaleRecordError
from crmkit.engine.records.record import Record
from crmkit.errors import CrmkitError
from crmkit.ui import record_views as views
from crmkit.ui.errors import error_response, field_sentences, sentence
from crmkit.ui.i18n import label_text
from crmkit.ui.kanban_page import NO_VALUE, board_layout, build_board, card_of, may_move
from crmkit.ui.sessions import user_context
from crmkit.ui.views.lists import query_url, record_url

blueprint = Blueprint("kanban", __name__)


def board_url(object_name: str, args: MultiDict | None = None) -> str:
    """The board's address with the view's arguments (filters, search, sort)."""
    return query_url(object_name, args, "kanban.board")


def no_value_label() -> str:
    return _("No value")


@blueprint.route("/o/<object_name>/kanban")
def board(object_name: str) -> Response:
    """The board; to htmx with `column`, that column's next cards only (its "more")."""
    context = user_context()
    partial = request.headers.get("HX-Request") == "true" and "column" in request.args
    # The page only reads: the board and the page around it share one snapshot (docs/ui.md, "Speed").
    with context.snapshot():
        records = context.records(object_name)  # UnknownObject: 404 first
        try:
            shown = build_board(context, object_name, request.args, none_label=no_value_label(),
                                only=request.args.get("column") if partial else None)
        except LookupError:
            abort(404)
        except QueryError as error:
            problem = sentence(error.message)
        else:
            if partial:
                if not shown.columns:
                    abort(404)
                return Response(render_template("kanban_cards.html", board=shown, column=shown.columns[0],
                                                board_url=board_url, record_url=record_url))
            return Response(render_template("kanban.html", board=shown, obj=shown.obj, problem=None,
                                            search=shown.search, args=shown.args, query_url=query_url,
                                            board_url=board_url, record_url=record_url))
    # Outside the snapshot: a refused query may have ended its transaction (PostgreSQL).
    if partial:  # a "more" whose cursor the engine refuses: the sentence in the page's message area
        return error_response(400, problem)
    body = render_template("kanban.html", board=None, obj=records.obj, problem=problem,
                           search=request.args.get("q", ""), args=request.args, query_url=query_url,
                           board_url=board_url, record_url=record_url)
    return Response(body, status=400)


def wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def refused(status: int, message: str, *, fix_url: str | None = None) -> Response:
    """A refused move: JSON for the board's script (`fix`: where to change the record so it may
    move), else the error page; always with `status`."""
    if wants_json():
        response = jsonify({"message": message, **({"fix": {"url": fix_url, "text": _("Edit the record")}}
                                                   if fix_url else {})})
        response.status_code = status
        return response
    return error_response(status, message)


def after_move(object_name: str, view: MultiDict, record: Record) -> dict[str, Any]:
    """What the board's script needs after a move: the card as saved now (HTML) and every column's
    count and total for the board's view (none for a view the engine refuses: the move is saved)."""
    context = user_context()
    try:
        shown = build_board(context, object_name, view, none_label=no_value_label(), with_cards=False)
    except QueryError:
        return {}
    card = card_of(context, shown, record)
    columns = [{"key": column.key, "total": column.total, "count": get_translations().ngettext(
        "%(num)s record", "%(num)s records", column.count) % {"num": format_decimal(column.count)}}
        for column in shown.columns]
    return {"columns": columns, "card": render_template("kanban_moved.html", board=shown, moved=card,
                                                         record_url=record_url)}


@blueprint.route("/r/<object_name>/<int:record_id>/move", methods=["POST"])
def move(object_name: str, record_id: int) -> Response:
    """Set the board's `group_by` field of one record to `value` ("" : none) at `version`."""
    context = user_context()
    records = context.records(object_name)
    obj = records.obj
    layout = board_layout(context, object_name)
    if layout is None:
        abort(404)
    presenter = FieldPresenter.for_context(context)
    if not may_move(context, presenter, obj, layout.group_by):  # the policy's answer; the engine checks again
        return refused(403, _("You may not change the %(field)s of %(objects)s.",
                              field=presenter.label(obj.fields[layout.group_by]), objects=label_text(obj.plural_label)))
    view = MultiDict(parse_qsl(request.form.get("view", ""), keep_blank_values=True))
    value = request.form.get("value", NO_VALUE)
    try:
        version = int(request.form.get("version", ""))
    except ValueError:
        return refused(400, _("The card's version is missing; reload the board."))
    try:
        updated = records.update(record_id, {layout.group_by: value or None}, version=version)
    except RecordValidationError as error:
        reasons = " ".join(views.error_lists(obj, presenter, field_sentences(error.errors), []))
        title = views.record_title(obj, records.get(record_id))  # it was read for the update: visible
        return refused(422, _("“%(title)s” was not moved: %(reason)s", title=title, reason=reasons),
                       fix_url=url_for("records.edit", object_name=object_name, record_id=record_id))
    except StaleRecordError:
        return refused(409, _("Someone changed this record since the board was shown, so it was not moved. "
                              "Reload the board to see it as it is now."))
    except CrmkitError as error:  # PermissionDenied (403: row access), RecordNotFound (404), ...
        return refused(error.status, sentence(error.message))
    title = views.record_title(obj, updated)
    column = presenter.display_value(obj.fields[layout.group_by], updated.get(layout.group_by)).text \
        if updated.get(layout.group_by) else no_value_label()
    message = _("“%(title)s” moved to %(column)s.", title=title, column=column)
    if wants_json():
        return jsonify({"message": message, "version": updated.version, **after_move(object_name, view, updated)})
    flash(message, "success")
    return redirect(board_url(object_name, view), 303)

