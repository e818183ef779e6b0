"""Administration of roles' permission sets and of teams (/admin/roles, /admin/teams).

The same rules as views/admin.py: 403 without manage_users (asked of the engine), every
change through UserAdministration as a POST with the CSRF token, redirected back with a
message; a refused one shown again with its sentence and what was typed (422 or 409).
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from crmkit.engine.security.users import Team, UserError
from crmkit.ui.errors import sentence
from crmkit.ui.admin_forms import Problems, refused, team_label
from crmkit.ui.views.admin import (
    administration, form_text, page_context, require_manage_users, role_label, set_label,
)

blueprint = Blueprint("admin_access", __name__, url_prefix="/admin")
blueprint.before_request(require_manage_users)


# -- roles ---------------------------------------------------------------------------------


@blueprint.route("/roles")
def roles() -> str:
    return roles_page()[0]


def roles_page(problems: Problems | None = None, status: int = 200, typed_set: str = "") -> tuple[str, int]:
    return render_template("admin_roles.html", role_list=administration().roles(), problems=problems or Problems(),
                           typed_set=typed_set, **page_context()), status


@blueprint.route("/roles/<role>/grant", methods=["POST"])
def grant_to_role(role: str) -> Response | tuple[str, int]:
    name = form_text("permission_set")
    if not name:
        return roles_page(Problems(f"role-{role}", {"permission_set": _("Choose a permission set.")}), 422)
    try:
        administration().grant(name, role=role)
    except UserError as error:
        if error.field == "role":  # no installed package defines it: there is no such page to grant on
            abort(404)
        return roles_page(*refused(f"role-{role}", error, ("permission_set",)), typed_set=name)
    flash(_("Everyone with the role %(role)s now holds the permission set %(set)s.", role=role_label(role), set=set_label(name)),
          "success")
    return redirect(url_for("admin_access.roles"))


@blueprint.route("/roles/<role>/revoke", methods=["POST"])
def revoke_from_role(role: str) -> Response | tuple[str, int]:
    name = form_text("permission_set")
    try:
        administration().revoke(name, role=role)
    except UserError as error:
        return roles_page(*refused(f"role-{role}", error, ()))
    flash(_("The permission set %(set)s was revoked from the role %(role)s.", role=role_label(role), set=set_label(name)),
          "success")
    return redirect(url_for("admin_access.roles"))


# -- teams ---------------------------------------------------------------------------------


@blueprint.route("/teams")
def teams() -> str:
    return teams_page()[0]


def teams_page(problems: Problems | None = None, status: int = 200,
               values: dict[str, str] | None = None) -> tuple[str, int]:
    return render_template("admin_teams.html", team_list=administration().teams(), problems=problems or Problems(),
                           values=values or {}, **page_context()), status


@blueprint.route("/teams", methods=["POST"])
def create_team() -> Response | tuple[str, int]:
    values = {name: form_text(name) for name in ("name", "label_en", "label_zh")}
    if not values["name"]:
        return teams_page(Problems("team", {"name": _("Type a name for the team.")}), 422, values)
    label = {language: values[f"label_{language}"] for language in ("en", "zh") if values[f"label_{language}"]}
    try:
        team_id = administration().create_team(values["name"], label or None)
    except UserError as error:  # a name too long, or taken: both about the name
        return teams_page(Problems("team", {"name": sentence(error.message)}), 422, values)
    flash(_("The team %(team)s was created.", team=team_label(label, values["name"])), "success")
    return redirect(url_for("admin_access.team", team_id=team_id))


def known_team(team_id: int) -> Team:
    try:
        return administration().team(team_id)
    except UserError:
        abort(404)


@blueprint.route("/teams/<int:team_id>")
def team(team_id: int) -> str:
    return team_page(known_team(team_id))[0]


def team_page(found: Team, problems: Problems | None = None, status: int = 200,
              values: dict[str, str] | None = None) -> tuple[str, int]:
    return render_template("admin_team.html", team=found, members=administration().team_members(found.id),
                           problems=problems or Problems(), values=values or {}, **page_context()), status


@blueprint.route("/teams/<int:team_id>/members", methods=["POST"])
def add_member(team_id: int) -> Response | tuple[str, int]:
    found = known_team(team_id)
    username = form_text("username")
    member = administration().by_username(username) if username else None
    if member is None:
        return team_page(found, Problems("member", {"username": _("There is no user with that username.")}), 422,
                         {"username": username})
    administration().add_to_team(found.id, member.id)
    flash(_("%(name)s joined the team %(team)s.", name=member.username, team=team_label(found.label, found.name)),
          "success")
    return redirect(url_for("admin_access.team", team_id=found.id))


@blueprint.route("/teams/<int:team_id>/members/remove", methods=["POST"])
def remove_member(team_id: int) -> Response:
    found = known_team(team_id)
    try:
        user_id = int(form_text("user_id"))
        member = administration().user(user_id)
    except (UserError, ValueError):
        abort(404)
    administration().remove_from_team(found.id, member.id)
    flash(_("%(name)s left the team %(team)s.", name=member.username, team=team_label(found.label, found.name)),
          "success")
    return redirect(url_for("admin_access.team", team_id=found.id))
