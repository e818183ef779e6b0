"""The recycle bin: /recycle-bin lists what the user deleted (or may restore), and puts it back.

    GET  /recycle-bin?object=<name>&before=<entry id>   entries, newest first, 25 a page
    POST /recycle-bin/<batch>/restore                    back, then a link to the restored record
    GET  /recycle-bin/<batch>/purge                      asks first; POST deletes it for good

The engine's RecycleBin decides who sees what (a user their own deletions; modify_all on an
object, as administrators have, every deletion of it) and who may purge (`delete` on the
object). A restore the engine refuses (a unique value taken meanwhile) is shown as its
sentence with the status it carries (409), never as a traceback.
"""
from __future__ import annotations

from typing import Any, Mapping

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from crmkit.engine.context import UserContext
from crmkit.engine.fieldtypes.presenter import FieldPresenter
from crmkit.engine.query.inputs import is_record_id, ascii_whole_number
from crmkit.engine.query.filters import SYSTEM_DEFS
from crmkit.engine.records.errors import RecordError
from crmkit.metadata.model import Label
from crmkit.ui.errors import sentence
from crmkit.ui.record_views import record_title
from crmkit.ui.sessions import user_context

blueprint = Blueprint("recycle_bin", __name__)
#: Entries per page.
PAGE_SIZE = 25


def bin_entries(context: UserContext, presenter: FieldPresenter, entries: list[Mapping[str, Any]]
                ) -> list[dict[str, Any]]:
    """The engine's entries with what the page shows: object label, title, when (user's time zone) and by whom."""
    registry = context.runtime.registry
    names = context.user_names(entry["deleted_by"] for entry in entries)
    shown = []
    for entry in entries:
        obj = registry.objects.get(entry["object"])
        shown.append({**entry, "label": obj.label if obj else Label.of(entry["object"]),
                      "title": entry["title"] or _("Record %(id)s", id=entry["record_id"]),
                      "when": presenter.display_value(SYSTEM_DEFS["updated_at"], entry["deleted_at"]),
                      "by": names.get(entry["deleted_by"])})
    return shown


def restored_record(context: UserContext) -> dict[str, Any] | None:
    """The record named by ?restored=<object>/<id> (after a restore), if the user may read it."""
    object_name, _slash, record_id = request.args.get("restored", "").partition("/")
    if object_name not in context.runtime.registry.objects or ascii_whole_number(record_id) is None \
            or not is_record_id(int(record_id)):
        return None
    obj = context.runtime.registry.object(object_name)
    try:
        record = context.records(object_name).get(int(record_id))
    except RecordError:
        return None
    return {"object": object_name, "id": record.id, "title": record_title(obj, record)}


def bin_page(context: UserContext, *, problem: str | None = None, status: int = 200) -> Response:
    """The bin's page for the request's filter and page, with `problem` (a refused restore) at its top."""
    presenter = FieldPresenter.for_context(context)
    bin = context.recycle_bin
    object_name = request.args.get("object") or None
    before = request.args.get("before", "")
    before_id = ascii_whole_number(before)
    before_id = before_id if is_record_id(before_id) else None
    found = bin.entries(object_name, limit=PAGE_SIZE + 1, before=before_id)
    entries = bin_entries(context, presenter, found[:PAGE_SIZE])
    registry = context.runtime.registry
    objects = [(name, registry.objects[name].plural_label if name in registry.objects else Label.of(name))
               for name in bin.objects()]
    older = url_for("recycle_bin.show", object=object_name, before=found[PAGE_SIZE - 1]["id"]) \
        if len(found) > PAGE_SIZE else None
    page = render_template("recycle_bin/list.html", entries=entries, objects=objects, object_name=object_name,
                           older_url=older, first_url=url_for("recycle_bin.show", object=object_name)
                           if before_id else None, problem=problem, restored=restored_record(context))
    return Response(page, status=status)


@blueprint.route("/recycle-bin")
def show() -> Response:
    return bin_page(user_context())


@blueprint.route("/recycle-bin/<batch>/restore", methods=["POST"])
def restore(batch: str) -> Response:
    context = user_context()
    try:
        restored = context.recycle_bin.restore(batch)
    except RecordError as error:  # taken unique value (409), gone meanwhile (404): the engine's sentence
        return bin_page(context, problem=sentence(error.message), status=error.status)
    object_name, record_id = restored[0]
    return redirect(url_for("recycle_bin.show", restored=f"{object_name}/{record_id}"), 303)


@blueprint.route("/recycle-bin/<batch>/purge", methods=["GET", "POST"])
def purge(batch: str) -> Response:
    """GET asks for confirmation; POST deletes the entry for good (only users who may purge it)."""
    context = user_context()
    entry = bin_entries(context, FieldPresenter.for_context(context), [context.recycle_bin.entry(batch)])[0]
    if not entry["may_purge"]:
        abort(403)
    if request.method == "GET":
        return Response(render_template("recycle_bin/purge.html", entry=entry))
    context.recycle_bin.purge(batch)
    flash(_("“%(title)s” was deleted permanently.", title=entry["title"]), "success")
    return redirect(url_for("recycle_bin.show"), 303)
