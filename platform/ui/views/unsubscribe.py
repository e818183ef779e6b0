"""/unsubscribe/<token>: the link of marketing mail (RFC 8058 one-click), no sign-in needed.

GET shows a page with one button, because mail scanners open links (a GET must change
nothing); POST records the opt-out, and is what a mail client's one-click unsubscribe
sends (`List-Unsubscribe=One-Click`). The signed token is the authority, so the POST carries
no CSRF token (it could not: the mail client makes it).
"""
from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from crmkit.engine.automation.unsubscribe import UnsubscribeLinkInvalid, read_token, record_opt_out
from crmkit.ui import sessions
from crmkit.ui.sessions import public

blueprint = Blueprint("unsubscribe", __name__)


@blueprint.route("/unsubscribe/<token>", methods=["GET", "POST"])
@public
def unsubscribe(token: str) -> ResponseReturnValue:
    crm = sessions.crm()
    try:
        if request.method == "POST":
            opt_out = record_opt_out(crm, token)
            return render_template("unsubscribe/done.html", address=opt_out.address)
        opt_out = read_token(crm, token)
    except UnsubscribeLinkInvalid:
        return render_template("unsubscribe/invalid.html"), 404
    return render_template("unsubscribe/confirm.html", address=opt_out.address, token=token)


@blueprint.record_once
def _exempt_from_csrf(state) -> None:
    state.app.extensions["csrf"].exempt(unsubscribe)
