"""The signed-in user's own settings: password, language and time zone (/settings).

Each form posts to an address that also answers GET with the settings page
(/settings/preferences, /settings/password), so a failed form (422, re-rendered with what
was typed, never a password) leaves the browser on a page that reloads and bookmarks
without a 405. A saved form redirects with 303 See Other to /settings (redirect after post).
"""
from __future__ import annotations

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _, refresh

from crmkit.engine.security.authentication import CurrentPasswordWrong, LoginThrottled
from crmkit.engine.security.account import MyAccount
from crmkit.engine.security.users import PasswordRefused, UserError
from crmkit.ui import sessions
from crmkit.ui.errors import sentence
from crmkit.ui.i18n import UI_LANGUAGES, label_language, ui_language
from crmkit.ui.password_feedback import refusal_sentence
from crmkit.ui.time_zones import time_zone_groups
from crmkit.ui.views.auth import throttled_message

blueprint = Blueprint("settings", __name__, url_prefix="/settings")


def settings_page(status: int = 200, *, language: str | None = None, timezone: str | None = None,
                  **problems: str) -> Response:
    """The settings page; `language` and `timezone` are the values to show chosen (what was typed, else the stored)."""
    chosen_zone = timezone if timezone is not None else g.user.timezone
    groups = time_zone_groups(label_language())
    known = {choice.value for group in groups for choice in group.zones}
    page = render_template("settings.html", languages=UI_LANGUAGES,
                           current_language=language if language in UI_LANGUAGES else ui_language(g.user.language),
                           zone_groups=groups, chosen_zone=chosen_zone,
                           unlisted_zone=g.user.timezone if g.user.timezone not in known else None,
                           problems=problems)
    return Response(page, status=status)


@blueprint.route("")
def show() -> Response:
    return settings_page()


def saved(message: str) -> Response:
    flash(message, "success")
    return redirect(url_for("settings.show"), code=303)


@blueprint.route("/password", methods=["GET", "POST"])
def change_password() -> Response:
    if request.method == "GET":
        return settings_page()
    current, new = request.form.get("current_password", ""), request.form.get("new_password", "")
    if new != request.form.get("confirm_password", ""):
        return settings_page(422, confirm=_("The new password and its confirmation differ."))  # beside the repeat box
    try:
        sessions.authenticator().change_password(sessions.login_token() or "", current, new,
                                                 address=sessions.client_address(),
                                                 context=sessions.user_context())
    except CurrentPasswordWrong:
        return settings_page(422, password=_("The current password is incorrect."))
    except LoginThrottled as error:
        return settings_page(429, password=throttled_message(error))
    except PasswordRefused as error:
        return settings_page(422, password=refusal_sentence(error))
    except UserError as error:
        return settings_page(422, password=sentence(error.message))
    return saved(_("Your password has been changed. Your other sessions have been signed out."))


@blueprint.route("/preferences", methods=["GET", "POST"])
def change_preferences() -> Response:
    if request.method == "GET":
        return settings_page()
    language, timezone = request.form.get("language", ""), request.form.get("timezone", "")
    if language not in UI_LANGUAGES:
        return settings_page(422, language=language, timezone=timezone,
                             preferences=_("That language is not available."))
    try:
        g.user = MyAccount(sessions.user_context()).set_preferences(language=language, timezone=timezone)
    except UserError:
        return settings_page(422, language=language, timezone=timezone,
                             preferences=_("That time zone is not known. Choose one from the list."))
    refresh()  # the confirmation in the new language
    return saved(_("Your settings have been saved."))
