"""The home page: the apps and objects the signed-in user may open."""
from __future__ import annotations

from flask import Blueprint, render_template

from crmkit.ui.navigation import navigation
from crmkit.ui.sessions import user_context
from crmkit.ui.views.recent import recent_items

blueprint = Blueprint("home", __name__)


@blueprint.route("/")
def index() -> str:
    context = user_context()
    # The page only reads: its engine calls (recent items, the navigation's rights, the menu's) share one
    # connection and one operation read (docs/ui.md, "Speed").
    with context.snapshot():
        items = recent_items(context)
        labels = {item.object: context.runtime.registry.object(item.object).label for item in items}
        return render_template("home.html", apps=navigation(context), recent=items, labels=labels)
