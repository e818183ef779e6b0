"""Recent items: the records the signed-in user opened or saved lately (/recent), read through the engine's RecentItems.

The navigation's "Recent" menu loads `/recent` (an htmx request gets the menu's items only)
when it is opened, so no other page pays for it; without script the menu's link opens the
full page. Titles are read now, through the user's permissions (engine/recent_items.py): a
record they can no longer see is left out, title and all.
"""
from __future__ import annotations

from flask import Blueprint, Response, render_template, request

from crmkit.engine.recent_items import RecentItem, RecentItems
from crmkit.engine.context import UserContext
from crmkit.engine.records.record import Record
from crmkit.errors import CrmkitError
from crmkit.ui.sessions import user_context

blueprint = Blueprint("recent", __name__)
#: Items in the navigation's menu and on the home page.
MENU_ITEMS = 10


def recent_items(context: UserContext, limit: int = MENU_ITEMS) -> list[RecentItem]:
    """The user's recent records they may still see, newest first."""
    return RecentItems(context).items(limit=limit)


def record_touched(context: UserContext, object_name: str, record: int | Record, action: str = "viewed") -> None:
    """Put the record at the top of the user's recent items; a problem recording it never spoils the page.

    `record`: its id, or the Record the engine returned (`get`), which spares the engine reading it again.
    """
    try:
        RecentItems(context).touch(object_name, record, action)
    except CrmkitError:
        pass  # the record was just shown or saved; a lost "recent" entry is no reason to fail that


@blueprint.route("/recent")
def menu() -> Response:
    context = user_context()
    partial = request.headers.get("HX-Request") == "true"
    items = recent_items(context, MENU_ITEMS if partial else 50)
    labels = {item.object: context.runtime.registry.object(item.object).label for item in items}
    template = "recent/menu.html" if partial else "recent/page.html"
    return Response(render_template(template, items=items, labels=labels))
