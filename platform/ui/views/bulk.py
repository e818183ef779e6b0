"""Bulk edit and bulk delete of the records chosen on a list page (/o/<object>/bulk/edit, /o/<object>/bulk/delete).

The list's bulk bar sends the chosen rows (`record=<id>:<version>`, the version each row was
read at) with GET to a page that asks for the value (edit) or for confirmation (delete); its
POST calls the engine's `update_many` / `delete_many`, which saves each record on its own
through the normal pipeline (engine/records/bulk_changes.py). When every record was saved the
user goes back to the list with a message; otherwise a report lists the saved records and,
per failure, the engine's sentence (field-level ones with the field's label): status 200 when
some were saved, 422 when none was.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from crmkit.engine.context import UserContext
from crmkit.engine.fieldtypes.presenter import FieldPresenter
from crmkit.engine.records.service import RecordService
from crmkit.engine.records.bulk_changes import MAX_RECORDS, BulkResult
from crmkit.metadata.model import ObjectDef
from crmkit.ui.bulk_page import (bulk_actions, bulk_report, carried_values, selection, selection_values, titles,
                                 value_errors)
from crmkit.ui.sessions import safe_next, user_context

blueprint = Blueprint("bulk", __name__)


def list_address(obj: ObjectDef) -> str:
    """Where to go back to: the list as it was (`next`, a path on this site), else the object's list."""
    return safe_next(request.values.get("next"), url_for("lists.list_view", object_name=obj.name))


def bulk_request(object_name: str, permission: str
                 ) -> tuple[UserContext, RecordService, dict[Any, int | None], Response | None]:
    """The user's context, the object's records (UnknownObject 404; PermissionDenied 403 without
    `permission`), the chosen records, and a 400 page when there are none or too many."""
    context = user_context()
    records = context.records(object_name)
    if context.policy is not None:
        context.refresh_rights()
        context.policy.require(object_name, permission)
    obj = records.obj
    chosen = selection(request.values.getlist("record"))
    problem = None
    if not chosen:
        problem = _("No records were chosen. Tick the records in the list first.")
    elif len(chosen) > MAX_RECORDS:
        problem = _("At most %(num)s records can be changed at once.", num=MAX_RECORDS)
    if problem is None:
        return context, records, chosen, None
    body = render_template("bulk/problem.html", obj=obj, problem=problem, back=list_address(obj))
    return context, records, chosen, Response(body, status=400)


def done_message(kind: str, count: int) -> str:
    if kind == "delete":
        return ngettext("%(num)s record was moved to the recycle bin.",
                        "%(num)s records were moved to the recycle bin.", count)
    return ngettext("%(num)s record was updated.", "%(num)s records were updated.", count)


def finished(obj: ObjectDef, result: BulkResult, kind: str, named: dict[int, str] | None = None) -> Response:
    """Back to the list with a message when every record was saved; otherwise the per-record report.

    `kind` is "edit" or "delete"; `named`: the titles read before a delete.
    """
    if result.complete:
        flash(done_message(kind, len(result.succeeded)), "success")
        return redirect(list_address(obj), 303)
    context = user_context()
    saved, failed = bulk_report(context, FieldPresenter.for_context(context), obj, result, named)
    body = render_template("bulk/result.html", obj=obj, saved=saved, failed=failed, kind=kind,
                           back=list_address(obj))
    return Response(body, status=200 if saved else 422)


@blueprint.route("/o/<object_name>/bulk/edit", methods=["GET", "POST"])
def edit(object_name: str) -> Response:
    """One form: the field to change (`field`; the first the user may change when none is given) and its value.

    GET shows it. POST sets the value on each chosen record; a value every record refused for
    the same reason (a number field given "many") is shown again with that error beside it
    (422). POST with `action=choose` (the field select's change, through htmx, or its button
    without script) shows the form for the chosen field, carrying what was typed for the field
    before (`previous`) where the new field's type takes it (bulk_page.carried_values).
    """
    context, records, chosen, problem = bulk_request(object_name, "edit")
    if problem is not None:
        return problem
    obj = records.obj
    actions = bulk_actions(context, obj)
    editable = dict(actions.fields)
    name = request.values.get("field", "") or (actions.fields[0][0] if actions.fields else "")
    presenter = FieldPresenter.for_context(context, id_prefix="bulk-")
    choosing = request.method == "POST" and request.form.get("action") == "choose"
    typed: list[str] | None = None
    errors: list[str] = []
    if request.method == "POST" and name in editable and not choosing:
        values = presenter.submitted(obj, request.form, names=[name]) or {name: None}
        # PermissionDenied (403) without the edit permission; each record's problem is in the result
        result = records.update_many(chosen, values)
        refused = value_errors(result, name)
        if refused is None:
            return finished(obj, result, "edit")
        typed, errors = request.form.getlist(name), refused
    elif choosing and name in editable:
        previous = request.form.get("previous", "")
        typed = carried_values(presenter, obj, previous, name, request.form.getlist(previous))
    # Every option of a dependent picklist: the chosen records may have different controlling
    # values, and the engine refuses the value for each record it does not fit (a per-record failure).
    widget = presenter.widget(obj.fields[name], None, typed=typed) if name in editable else None
    status = 422 if errors or (name and name not in editable) else 200
    body = render_template("bulk/edit.html", obj=obj, actions=actions, field=name if widget else "", widget=widget,
                           errors=errors, chosen=selection_values(chosen), count=len(chosen),
                           shown=titles(context, obj, list(chosen)), back=list_address(obj),
                           problem=_("Choose a field you may change.") if name and name not in editable else None)
    return Response(body, status=status)


@blueprint.route("/o/<object_name>/bulk/delete", methods=["GET", "POST"])
def delete(object_name: str) -> Response:
    """GET asks for confirmation; POST moves each chosen record (and its cascade) to the recycle bin."""
    context, records, chosen, problem = bulk_request(object_name, "delete")
    if problem is not None:
        return problem
    obj = records.obj
    if request.method == "POST":
        named = titles(context, obj, list(chosen))  # before they go to the recycle bin
        return finished(obj, records.delete_many(chosen), "delete", named)
    body = render_template("bulk/delete.html", obj=obj, chosen=selection_values(chosen), count=len(chosen),
                           shown=titles(context, obj, list(chosen)), back=list_address(obj))
    return Response(body)
