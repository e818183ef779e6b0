"""The list page's saved views: save as a new view, save over the open one, rename, delete, set as my default.

Each is a POST from the list page (CSRF-checked) that calls the engine's SavedViews and goes
back to the list with a 303: to the view (`?view=<id>`) after saving, to the plain list after a
delete. The list's state travels in the form as `list_args` (the list's query string: filter,
sort, search) and `columns`. The engine decides everything: a name it refuses, sharing wider
than the user may (PermissionDenied, 403), a view that is not theirs (SavedViewNotFound, 404,
for another user's private view exactly as for a missing one); its sentence is the error page.
"""
from __future__ import annotations

from urllib.parse import parse_qsl

from flask import Blueprint, Response, flash, redirect, request, url_for
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from crmkit.engine.list_query import ListQuery
from crmkit.engine.query.inputs import ascii_whole_number
from crmkit.engine.saved_views import SavedViewNotFound, SavedViews
from crmkit.ui.list_views import NO_VIEW, chosen_columns, list_query
from crmkit.ui.sessions import user_context

blueprint = Blueprint("saved_views", __name__)


def submitted_query() -> ListQuery:
    """The list's filter, sort, search (`list_args`) and columns as the form sent them; QueryError for a bad one."""
    args = MultiDict(parse_qsl(request.form.get("list_args", ""), keep_blank_values=True))
    query = list_query(args)
    return ListQuery(query.filter, query.sort, query.search, chosen_columns(request.form))


def to_view(object_name: str, view_id: int | str) -> Response:
    return redirect(url_for("lists.list_view", object_name=object_name, view=view_id), 303)


def views_of(object_name: str) -> SavedViews:
    context = user_context()
    context.records(object_name)  # UnknownObject (404) for a name not installed
    return SavedViews(context)


def view_in_address(views: SavedViews, object_name: str, view_id: int) -> None:
    """SavedViewNotFound (404) unless the view is one of `object_name`'s, as its address says."""
    if views.get(view_id).object != object_name:
        raise SavedViewNotFound(view_id)


@blueprint.route("/o/<object_name>/views", methods=["POST"])
def create(object_name: str) -> Response:
    """Save the list as a new view ("Save as"): name, sharing (private, role, everyone)."""
    views = views_of(object_name)
    query = submitted_query()
    sharing = request.form.get("shared_with", "private")
    role = views.context.policy.user.role if sharing == "role" else None
    view = views.create(object_name, request.form.get("name", ""), filter=query.filter, columns=query.columns,
                        sort=query.sort, search=query.search, shared_with=sharing, role=role)
    flash(_("The view “%(name)s” was saved.", name=view.name(views.context.actor.language)), "success")
    return to_view(object_name, view.id)


@blueprint.route("/o/<object_name>/views/<int:view_id>/save", methods=["POST"])
def save(object_name: str, view_id: int) -> Response:
    """Save the list over the open view (its owner; an administrator for a shared one)."""
    views = views_of(object_name)
    view_in_address(views, object_name, view_id)
    query = submitted_query()
    view = views.update(view_id, filter=query.filter, columns=query.columns, sort=query.sort, search=query.search)
    flash(_("The view “%(name)s” was saved.", name=view.name(views.context.actor.language)), "success")
    return to_view(object_name, view.id)


@blueprint.route("/o/<object_name>/views/<int:view_id>/rename", methods=["POST"])
def rename(object_name: str, view_id: int) -> Response:
    views = views_of(object_name)
    view_in_address(views, object_name, view_id)
    view = views.rename(view_id, request.form.get("name", ""))
    flash(_("The view was renamed to “%(name)s”.", name=view.name(views.context.actor.language)), "success")
    return to_view(object_name, view.id)


@blueprint.route("/o/<object_name>/views/<int:view_id>/delete", methods=["POST"])
def delete(object_name: str, view_id: int) -> Response:
    views = views_of(object_name)
    view_in_address(views, object_name, view_id)
    name = views.get(view_id).name(views.context.actor.language)
    views.delete(view_id)
    flash(_("The view “%(name)s” was deleted.", name=name), "success")
    return to_view(object_name, NO_VIEW)


@blueprint.route("/o/<object_name>/views/default", methods=["POST"])
def set_default(object_name: str) -> Response:
    """Make a view (`view`) the user's default of the object; no `view`: the plain list again."""
    views = views_of(object_name)
    given = request.form.get("view", "")
    view_id = ascii_whole_number(given)
    views.set_default(object_name, view_id)
    if view_id is None:
        flash(_("The list opens without a view from now on."), "success")
        return to_view(object_name, NO_VIEW)
    flash(_("This view is now your default."), "success")
    return to_view(object_name, view_id)
