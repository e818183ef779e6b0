"""The signed-in user's own settings: password, language and time zone (/settings)."""
from __future__ import annotations

import zoneinfo
from functools import lru_cache

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _, refresh

from crmkit.engine.security.authentication import CurrentPasswordWrong, LoginThrottled
from crmkit.engine.security.account import MyAccount
from crmkit.engine.security.users import UserError
from crmkit.ui import sessions
from crmkit.ui.errors import sentence
from crmkit.ui.i18n import UI_LANGUAGES, ui_language
from crmkit.ui.views.auth import throttled_message

blueprint = Blueprint("settings", __name__, url_prefix="/settings")


@lru_cache(maxsize=1)
def time_zones() -> tuple[str, ...]:
    """IANA time zone names, sorted; the legacy aliases (US/Pacific, Etc/GMT+8) left out of the list."""
    return tuple(sorted(name for name in zoneinfo.available_timezones()
                        if "/" in name and not name.startswith(("Etc/", "SystemV/", "US/")) or name == "UTC"))


def settings_page(status: int = 200, **problems: str) -> Response:
    page = render_template("settings.html", languages=UI_LANGUAGES, current_language=ui_language(g.user.language),
                           time_zones=sorted({*time_zones(), g.user.timezone}), problems=problems)
    return Response(page, status=status)


@blueprint.route("")
def show() -> Response:
    return settings_page()


@blueprint.route("/password", methods=["POST"])
def change_password() -> Response:
    current, new = request.form.get("current_password", ""), request.form.get("new_password", "")
    if new != request.form.get("confirm_password", ""):
        return settings_page(422, password=_("The new password and its confirmation differ."))
    try:
        sessions.authenticator().change_password(sessions.login_token() or "", current, new,
                                                 address=sessions.client_address())
    except CurrentPasswordWrong:
        return settings_page(403, password=_("The current password is incorrect."))
    except LoginThrottled as error:
        return settings_page(429, password=throttled_message(error))
    except UserError as error:
        return settings_page(422, password=sentence(error.message))
    flash(_("Your password has been changed. Your other sessions have been signed out."), "success")
    return redirect(url_for("settings.show"))


@blueprint.route("/preferences", methods=["POST"])
def change_preferences() -> Response:
    language, timezone = request.form.get("language", ""), request.form.get("timezone", "")
    if language not in UI_LANGUAGES:
        return settings_page(422, preferences=_("That language is not available."))
    try:
        g.user = MyAccount(sessions.user_context()).set_preferences(language=language, timezone=timezone)
    except UserError:
        return settings_page(422, preferences=_("That time zone is not known."))
    refresh()  # the confirmation in the new language
    flash(_("Your settings have been saved."), "success")
    return redirect(url_for("settings.show"))
