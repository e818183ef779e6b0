"""The list page above its results (`list_chrome.html`), kept rendered: `list_chrome_html()` in list.html.

    {{ list_chrome_html() }}      title, view switch, saved views, search and filter form, bulk bar

That part of `/o/<object>` (about two thirds of its markup: the saved views' menu and forms, the
column chooser, the filter panel, the bulk bar, some 60 `_()` and 20 `url_for` calls) is the same
from request to request for one user, object and view; only the list's rows, count and pages
below it change with the data. So it is rendered once per key and kept in a bounded LRU of the
application, as the navigation is (fragments.py, whose markers fill in the CSRF token and the
page's address on every request).

The key is everything the template reads (`CHROME_NAMES`):
- the user's compiled rights: the AccessPolicy object, a new one whenever the rights version or
  the metadata generation moves (Crm.as_user), so a revoked permission (bulk delete, export, a
  field's read right in the filters or the column chooser), an added manual rule or a relabelled
  object is a new key; the entry holds it, and the object, filter panel and bulk actions it was
  drawn with, compared by identity;
- the user (name, language, time zone), the page's language and the script root;
- the view: the query string's arguments, the search text, the saved views' menu as read this
  request (so a view saved, renamed or shared by someone else is a new key), the column choices
  and whether the address chose columns, the board link.

A page with a saved view open is drawn every time (its forms show the view itself). If the
template reads a name outside CHROME_NAMES, or a `g`/`request`/`page` attribute the key does not
cover, the render is not kept (drawn every time: never stale, only slower); so is a `page` or `views` attribute
outside PAGE_ATTRIBUTES and VIEWS_ATTRIBUTES.
"""
from __future__ import annotations

from typing import Any, Hashable

from flask import current_app, g, request
from jinja2 import pass_context
from jinja2.runtime import Context
from jinja2.utils import missing
from markupsafe import Markup

from crmkit.ui.fragments import FragmentCache, kept_render

TEMPLATE = "list_chrome.html"
#: Kept renders per application (users x objects x views); the least recently used goes first.
MAX_KEPT = 256
#: Names list_chrome.html and its includes read that the key covers (beside fragments.COVERED_NAMES); `query_url`,
#: `filter_html` and `column_choices_html` are pure functions of their arguments, `manual_rules_for` of the rights.
CHROME_NAMES = frozenset({
    "obj", "board_link", "args", "views", "page", "search", "bulk", "column_choices", "columns_chosen", "partial",
    "query_url", "manual_rules_for", "filter_html", "column_choices_html",
})
#: What of `page` the template reads: the filter panel and whether it filters (never the rows or the count).
PAGE_ATTRIBUTES = ("filters", "filtered")
#: What of `views` (ListViewState) the template reads: all but the arguments with paging (`args`), through the
#: list arguments a "Save" stores (`saved_args`), so the pages of one view share their chrome.
VIEWS_ATTRIBUTES = ("view", "saved_args", "choices", "columns", "modified", "withheld", "may_change", "sharing",
                    "default_id")


def _items(args: Any) -> tuple[tuple[str, str], ...]:
    return tuple(args.items(multi=True))


def _key(context: Context) -> tuple[Hashable, tuple[Any, ...]] | None:
    """(what the chrome's markup depends on, the objects it was drawn with); None when it is not kept: no signed-in
    user's compiled rights, an error page (no list), a saved view open, or a value that cannot be a key."""
    user = g.get("user")
    policy = getattr(g.get("user_context"), "policy", None)
    values = {name: context.resolve_or_missing(name) for name in
              ("obj", "page", "views", "bulk", "board_link", "args", "search", "column_choices", "columns_chosen",
               "partial", "page_language")}
    page, views = values["page"], values["views"]
    if user is None or policy is None or any(value is missing for value in values.values()) or page is None \
            or views is None or views.view is not None or values["partial"]:
        return None
    held = (policy, values["obj"], page.filters, values["bulk"])
    key = (TEMPLATE, *map(id, held), user, str(values["page_language"]), request.script_root,
           values["board_link"], values["search"], page.filtered, _items(values["args"]), _items(views.saved_args),
           views.choices, views.columns, views.modified, views.withheld, views.may_change, views.sharing,
           views.default_id, tuple(values["column_choices"]), bool(values["columns_chosen"]))
    try:
        hash(key)
    except TypeError:
        return None
    return key, held


@pass_context
def list_chrome_html(context: Context) -> Markup:
    """list_chrome.html rendered with the page's variables, kept per user, rights, language, object and view."""
    keyed = _key(context)
    attributes = {}
    if keyed is not None:
        page, views = context.resolve_or_missing("page"), context.resolve_or_missing("views")
        attributes = {"page": {name: getattr(page, name) for name in PAGE_ATTRIBUTES},
                      "views": {name: getattr(views, name) for name in VIEWS_ATTRIBUTES}}
    return kept_render(context, TEMPLATE, chrome_cache(), keyed, CHROME_NAMES, attributes)


def chrome_cache() -> FragmentCache:
    """The application's cache (made with it)."""
    return current_app.extensions["crmkit_list_chrome"]


def install(app: Any) -> None:
    """Gives `app` its cache of list chromes and templates the `list_chrome_html()` global."""
    app.extensions["crmkit_list_chrome"] = FragmentCache(MAX_KEPT)
    app.jinja_env.globals["list_chrome_html"] = list_chrome_html
