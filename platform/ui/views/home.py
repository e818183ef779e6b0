"""The home page: the apps and objects the signed-in user may open."""
from __future__ import annotations

from flask import Blueprint, render_template

from crmkit.ui.navigation import navigation
from crmkit.ui.sessions import user_context

blueprint = Blueprint("home", __name__)


@blueprint.route("/")
def index() -> str:
    return render_template("home.html", apps=navigation(user_context()))
