"""Administration of users: list, create, edit, role, grants, teams, password, (de)activation (/admin/users).

Every address first asks the engine's UserAdministration whether the signed-in user may
manage users (403 otherwise), and every change goes through it, so the engine's rules
(manage_users, only an administrator changes an administrator, nobody deactivates
themselves, the last administrator stays one) hold here as everywhere. Each change is a
POST with the CSRF token that redirects back with a message (post/redirect/get); a refused
one shows the page again with the sentence beside its input (422) or above its form (409),
with what was typed kept. A generated password is the exception: it is shown in the
answer to the POST, once, and kept nowhere (not in the cookie, which is signed, not secret).
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from crmkit.engine.security.administration import UserAdministration
from crmkit.engine.security.passwords import generate_password
from crmkit.engine.security.users import User, UserError
from crmkit.ui import sessions
from crmkit.ui.admin_forms import (
    Problems, labels_of, password_problems, permission_set_choices, refused, role_choices, team_label,
)
from crmkit.ui.i18n import UI_LANGUAGES, label_language
from crmkit.ui.time_zones import time_zone_groups

blueprint = Blueprint("admin", __name__, url_prefix="/admin")

PAGE_SIZE = 50
STATUSES = {"active": True, "inactive": False, "all": None}
USER_INPUTS = ("username", "display_name", "email", "language", "timezone", "role", "password")


def administration() -> UserAdministration:
    """The engine's checked service for the signed-in user (made once per request)."""
    service = g.get("user_administration")
    if service is None:
        service = g.user_administration = UserAdministration(sessions.user_context())
    return service


@blueprint.before_request
def require_manage_users() -> None:
    """403 (the engine's PermissionDenied) on every admin address for a user without manage_users."""
    administration().require()


def known_user(user_id: int) -> User:
    """The user, or 404 for an id no user has."""
    try:
        return administration().user(user_id)
    except UserError:
        abort(404)


def form_text(name: str) -> str:
    return request.form.get(name, "").strip()


def page_context(*extra_zones: str) -> dict[str, Any]:
    """Choices every admin form offers, with labels in the user's language."""
    registry = sessions.user_context().runtime.registry
    roles, sets = role_choices(registry), permission_set_choices(registry)
    zones = [(choice.value, choice.label) for group in time_zone_groups(label_language()) for choice in group.zones]
    chosen = {value for value, _label in zones}
    zones += [(zone, zone) for zone in extra_zones if zone and zone not in chosen]  # a stored zone may stay
    return {"role_options": [(role.name, role.text) for role in roles], "role_labels": labels_of(roles),
            "set_options": [(choice.name, choice.text) for choice in sets], "set_labels": labels_of(sets),
            "language_options": list(UI_LANGUAGES.items()), "zone_options": zones,
            "team_label": team_label}


def language_options(current: str) -> list[tuple[str, str]]:
    """The interface's languages, plus the user's own tag if it is another (zh-CN, de: kept when saving)."""
    options = list(UI_LANGUAGES.items())
    return options if current in UI_LANGUAGES else [(current, current), *options]


def set_label(name: str) -> str:
    """A permission set's label in the user's language (its name if the metadata has no such set)."""
    return labels_of(permission_set_choices(sessions.user_context().runtime.registry)).get(name, name)


def role_label(name: str) -> str:
    """A role's label in the user's language (its name if the metadata has no such role)."""
    return labels_of(role_choices(sessions.user_context().runtime.registry)).get(name, name)


# -- the list ------------------------------------------------------------------------------


@blueprint.route("")
def index() -> Response:
    return redirect(url_for("admin.users"))


@blueprint.route("/users")
def users() -> str:
    """A page of users: `q` searches username, name and email; `status` active/inactive/all; `after` pages."""
    text = request.args.get("q", "")[:200]
    status = request.args.get("status", "active")
    status = status if status in STATUSES else "active"
    after = request.args.get("after") or None
    admin = administration()
    page = admin.find_users(text, active=STATUSES[status], after=after, limit=PAGE_SIZE)
    ids = [user.id for user in page.users]
    return render_template("admin_users.html", page=page, q=text, status=status, after=after,
                           held=admin.permission_sets_held(ids), teams=admin.team_memberships(ids),
                           **page_context())


# -- creating ------------------------------------------------------------------------------


@blueprint.route("/users/new")
def new_user() -> str:
    return render_template("admin_user_new.html", values={"language": g.user.language if g.user.language in
                                                          UI_LANGUAGES else "en", "timezone": g.user.timezone,
                                                          "password_mode": "generate"},
                           problems=Problems(), **page_context())


@blueprint.route("/users/new", methods=["POST"])
def create_user() -> Response | tuple[str, int]:
    values = {name: form_text(name) for name in ("username", "display_name", "email", "language", "timezone",
                                                 "role")}
    mode = "set" if request.form.get("password_mode") == "set" else "generate"
    values["password_mode"] = mode
    password = request.form.get("password", "")
    problems = password_problems(mode, password, request.form.get("confirm_password", ""))
    missing = {"username": _("Type a username.")} if not values["username"] else {}
    if missing or problems:
        return new_user_page(values, Problems("create", {**missing, **problems}), 422)
    generated = generate_password() if mode == "generate" else None
    try:
        created = administration().create_user(
            values["username"], display_name=values["display_name"] or None, email=values["email"] or None,
            password=generated or password, role=values["role"] or None, language=values["language"] or "en",
            timezone=values["timezone"] or "UTC")
    except UserError as error:
        problems, status = refused("create", error, USER_INPUTS)
        return new_user_page(values, problems, status)
    if generated:
        return render_template("admin_password_shown.html", user=created, password=generated, created=True), 201
    flash(_("User %(name)s was created.", name=created.username), "success")
    return redirect(url_for("admin.user", user_id=created.id))


def new_user_page(values: dict[str, str], problems: Problems, status: int) -> tuple[str, int]:
    return render_template("admin_user_new.html", values=values, problems=problems, **page_context()), status


# -- one user ------------------------------------------------------------------------------


@blueprint.route("/users/<int:user_id>")
def user(user_id: int) -> str:
    return user_page(known_user(user_id))[0]


def user_page(target: User, problems: Problems | None = None, status: int = 200,
              values: dict[str, str] | None = None) -> tuple[str, int]:
    """The user's page: details, role, permission sets, teams, password and state, each its own form."""
    admin = administration()
    member_of = admin.team_memberships([target.id]).get(target.id, [])
    joined = {team.id for team in member_of}
    typed = {"display_name": target.display_name, "email": target.email or "", "language": target.language,
             "timezone": target.timezone, "role": target.role or "", **(values or {})}
    page = render_template("admin_user.html", target=target, held=admin.permission_sets_held([target.id])[target.id],
                           member_of=member_of, team_options=[(team.id, team_label(team.label, team.name))
                                                                for team in admin.teams() if team.id not in joined],
                           problems=problems or Problems(), values=typed,
                           **{**page_context(target.timezone), "language_options": language_options(target.language)})
    return page, status


def changed(target: User, message: str) -> Response:
    flash(message, "success")
    return redirect(url_for("admin.user", user_id=target.id))


@blueprint.route("/users/<int:user_id>/edit", methods=["POST"])
def edit_user(user_id: int) -> Response | tuple[str, int]:
    target = known_user(user_id)
    values = {name: form_text(name) for name in ("display_name", "email", "language", "timezone")}
    if not values["display_name"]:
        return user_page(target, Problems("details", {"display_name": _("Type a display name.")}), 422, values)
    try:
        administration().update_user(target.id, display_name=values["display_name"], email=values["email"],
                                     language=values["language"], timezone=values["timezone"])
    except UserError as error:
        return user_page(target, *refused("details", error, USER_INPUTS), values)
    return changed(target, _("The details of %(name)s were saved.", name=target.username))


@blueprint.route("/users/<int:user_id>/role", methods=["POST"])
def set_role(user_id: int) -> Response | tuple[str, int]:
    target = known_user(user_id)
    role = form_text("role")
    try:
        administration().set_role(target.id, role or None)
    except UserError as error:
        return user_page(target, *refused("role", error, ("role",)), {"role": role})
    return changed(target, _("The role of %(name)s was changed.", name=target.username))


@blueprint.route("/users/<int:user_id>/grant", methods=["POST"])
def grant(user_id: int) -> Response | tuple[str, int]:
    target = known_user(user_id)
    name = form_text("permission_set")
    if not name:
        return user_page(target, Problems("grant", {"permission_set": _("Choose a permission set.")}), 422)
    try:
        administration().grant(name, user_id=target.id)
    except UserError as error:
        return user_page(target, *refused("grant", error, ("permission_set",)), {"permission_set": name})
    return changed(target, _("%(name)s now holds the permission set %(set)s.", name=target.username,
                             set=set_label(name)))


@blueprint.route("/users/<int:user_id>/revoke", methods=["POST"])
def revoke(user_id: int) -> Response | tuple[str, int]:
    target = known_user(user_id)
    name = form_text("permission_set")
    try:
        administration().revoke(name, user_id=target.id)
    except UserError as error:
        return user_page(target, *refused("grants", error, ()))
    return changed(target, _("The permission set %(set)s was revoked from %(name)s.", name=target.username,
                             set=set_label(name)))


@blueprint.route("/users/<int:user_id>/deactivate", methods=["POST"])
def deactivate(user_id: int) -> Response | tuple[str, int]:
    target = known_user(user_id)
    try:
        administration().deactivate(target.id)
    except UserError as error:
        return user_page(target, *refused("state", error, ()))
    return changed(target, _("%(name)s was deactivated and signed out.", name=target.username))


@blueprint.route("/users/<int:user_id>/activate", methods=["POST"])
def activate(user_id: int) -> Response | tuple[str, int]:
    target = known_user(user_id)
    administration().activate(target.id)
    return changed(target, _("%(name)s was activated.", name=target.username))


@blueprint.route("/users/<int:user_id>/password", methods=["POST"])
def reset_password(user_id: int) -> Response | tuple[str, int]:
    target = known_user(user_id)
    mode = "set" if request.form.get("password_mode") == "set" else "generate"
    password = request.form.get("password", "")
    problems = password_problems(mode, password, request.form.get("confirm_password", ""))
    if problems:
        return user_page(target, Problems("password", problems), 422, {"password_mode": mode})
    try:
        generated = administration().reset_password(target.id, password if mode == "set" else None)
    except UserError as error:
        return user_page(target, *refused("password", error, ("password",)), {"password_mode": mode})
    if generated:
        return render_template("admin_password_shown.html", user=target, password=generated, created=False), 200
    return changed(target, _("The password of %(name)s was changed; their sessions have ended.", name=target.username))


@blueprint.route("/users/<int:user_id>/teams", methods=["POST"])
def join_team(user_id: int) -> Response | tuple[str, int]:
    target = known_user(user_id)
    try:
        team = administration().team(int(form_text("team_id") or 0))
        administration().add_to_team(team.id, target.id)
    except (UserError, ValueError):
        return user_page(target, Problems("teams", {"team_id": _("Choose a team.")}), 422)
    return changed(target, _("%(name)s joined the team %(team)s.", name=target.username,
                             team=team_label(team.label, team.name)))


@blueprint.route("/users/<int:user_id>/teams/remove", methods=["POST"])
def leave_team(user_id: int) -> Response | tuple[str, int]:
    target = known_user(user_id)
    try:
        team = administration().team(int(form_text("team_id") or 0))
    except (UserError, ValueError):
        abort(404)
    administration().remove_from_team(team.id, target.id)
    return changed(target, _("%(name)s left the team %(team)s.", name=target.username,
                             team=team_label(team.label, team.name)))
