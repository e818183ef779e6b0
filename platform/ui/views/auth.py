"""Signing in and out, and choosing the language: /login, /logout, /language."""
from __future__ import annotations

from datetime import datetime, timezone

from babel.dates import format_time
from flask import Blueprint, Response, flash, g, redirect, render_template, request, session, url_for
from flask_babel import get_locale, gettext as _, ngettext, refresh

from crmkit.engine.security.authentication import LoginFailed, LoginThrottled
from crmkit.engine.security.account import MyAccount
from crmkit.ui import sessions
from crmkit.ui.i18n import UI_LANGUAGES
from crmkit.ui.sessions import public

blueprint = Blueprint("auth", __name__)


def throttled_message(error: LoginThrottled) -> str:
    """The engine's lockout as a sentence in the page's language, its time in UTC on every page.

    Babel's own format_time, not Flask-Babel's: that one converts to the signed-in user's time
    zone, and the sentence says UTC.
    """
    seconds = (error.retry_at - datetime.now(timezone.utc)).total_seconds()
    minutes = max(1, -(-int(seconds) // 60))
    return ngettext("Too many failed sign-in attempts. Try again in %(num)d minute (after %(time)s UTC).",
                    "Too many failed sign-in attempts. Try again in %(num)d minutes (after %(time)s UTC).",
                    minutes, time=format_time(error.retry_at, "HH:mm", tzinfo=timezone.utc, locale=get_locale()))


@blueprint.route("/login", methods=["GET", "POST"])
@public
def login() -> Response | str:
    target = sessions.safe_next(request.values.get("next"))
    if g.user is not None and request.method == "GET":
        return redirect(target)
    username, status, message = request.form.get("username", ""), 200, None
    if request.method == "POST":
        try:
            info = sessions.authenticator().login(username, request.form.get("password", ""),
                                                  address=sessions.client_address(),
                                                  user_agent=request.user_agent.string)
        except LoginThrottled as error:
            status, message = 429, throttled_message(error)
        except LoginFailed:
            status, message = 401, _("The username or password is incorrect.")
        else:
            sessions.sign_in(info.token, info.user)
            return redirect(target)
    return Response(render_template("login.html", username=username, message=message, next=target), status=status)


@blueprint.route("/logout", methods=["POST"])
def logout() -> Response:
    sessions.sign_out()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"), code=303)


@blueprint.route("/language", methods=["POST"])
@public
def language() -> Response:
    """Switches the language: the signed-in user's profile, or (before sign-in) this browser's cookie."""
    chosen = request.form.get("language", "")
    target = sessions.safe_next(request.form.get("next"))
    if chosen not in UI_LANGUAGES:
        flash(_("That language is not available."), "warning")
        return redirect(target, code=303)
    if g.user is not None:
        g.user = MyAccount(sessions.user_context()).set_preferences(language=chosen)
    else:
        session["language"] = chosen
    refresh()
    return redirect(target, code=303)
