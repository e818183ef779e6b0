"""Merging duplicates from a record's page: /r/<object>/<id>/merge.

    GET  /r/<object>/<id>/merge?rule=email               the record's duplicates by a rule, to choose from
    GET  /r/<object>/<id>/merge?rule=email&with=17       the fields that differ, a value to keep for each
    POST /r/<object>/<id>/merge                          merges the chosen records into this one

The engine finds, checks and merges (engine/transfer/merge.py): edit on this record, delete
on the merged ones, children re-parented, the merged records in the recycle bin, the merge
in the security log. A refused merge is shown as the engine's sentence on the page.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for

from crmkit.engine.fieldtypes.presenter import FieldPresenter
from crmkit.engine.records.errors import RecordError
from crmkit.engine.transfer.merge import MAX_MERGED, MergeService
from crmkit.errors import CrmkitError
from crmkit.ui import record_views as views
from crmkit.ui.errors import sentence
from crmkit.ui.sessions import user_context

blueprint = Blueprint("merges", __name__)


def chosen_ids(values: list[str], record_id: int) -> list[int]:
    """The record ids among `values` (whole numbers in ASCII digits: "²" is a digit to str.isdigit, not to int),
    without `record_id`, at most MAX_MERGED."""
    return [int(value) for value in values if _is_id(value) and int(value) != record_id][:MAX_MERGED]


def _is_id(value: str) -> bool:
    return value.isascii() and value.isdigit()


def differing_fields(context: Any, presenter: FieldPresenter, obj: Any, records: list[Any]) -> list[dict[str, Any]]:
    """The editable fields whose values differ among `records`: their label and each record's shown value."""
    types = context.runtime.field_types
    fields = []
    for name, fdef in obj.fields.items():
        if not types[fdef.type].writable or not views.may_edit_field(context, obj, name):
            continue
        values = [record.get(name) for record in records]
        if len({repr(value) for value in values}) < 2:
            continue
        titles = views.lookup_titles(context, obj, records) if fdef.is_lookup else {}
        shown = [presenter.display_value(fdef, value, titles.get((fdef.to, value)) if fdef.is_lookup else None)
                 if value is not None else None for value in values]
        fields.append({"name": name, "label": presenter.label(fdef), "values": list(zip(records, shown))})
    return fields


@blueprint.route("/r/<object_name>/<int:record_id>/merge", methods=["GET", "POST"])
def merge(object_name: str, record_id: int) -> Response:
    context = user_context()
    merging = MergeService(context, object_name)
    obj = merging.records.obj
    problem, status = None, 200
    if request.method == "POST":
        merged = chosen_ids(request.form.getlist("with"), record_id)
        values = {name[len("keep-"):]: int(value) for name, value in request.form.items()
                  if name.startswith("keep-") and _is_id(value) and int(value) != record_id}
        try:
            merging.merge(record_id, merged, values)
        except CrmkitError as error:
            problem, status = sentence(error.message), error.status
        else:
            return redirect(url_for("records.detail", object_name=object_name, record_id=record_id), code=303)
    rules = merging.rules()
    rule = request.values.get("rule") if request.values.get("rule") in rules else (rules[0] if rules else None)
    record = merging.records.get(record_id)  # RecordNotFound: 404
    candidates = [merging.records.get(other) for other in merging.duplicates_of(record_id, rule)] if rule else []
    merged = chosen_ids(request.values.getlist("with"), record_id)
    chosen = []
    for other in merged:
        try:
            chosen.append(merging.records.get(other))
        except RecordError:
            continue
    presenter = FieldPresenter.for_context(context)
    body = render_template(
        "merges/merge.html", obj=obj, record=record, title=views.record_title(obj, record), rules=rules, rule=rule,
        candidates=[(other, views.record_title(obj, other)) for other in candidates],
        chosen=[(other, views.record_title(obj, other)) for other in chosen],
        fields=differing_fields(context, presenter, obj, [record, *chosen]) if chosen else [], problem=problem)
    return Response(body, status=status)
