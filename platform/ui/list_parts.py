"""The two parts of the list page (`/o/<object>`), kept rendered: `list_chrome_html()` and `list_results_html()`.

    {{ list_chrome_html() }}      title, view switch, saved views, search and filter form, bulk bar (list_chrome.html)
    {{ list_results_html() }}     count, exports, the table, pages (list_results.html)

Each part is rendered once per key and kept in a bounded LRU of the application, as the
navigation is (fragments.py, whose markers fill in the CSRF token and the page's address on
every request). The chrome (the saved views' menu and forms, the column chooser, the filter
panel, the bulk bar: some 60 `_()` and 20 `url_for` calls) is the same from request to request
for one user, object and view. The results change with the data, and are kept under the very
rows they show: `list_page.page_rows` hands out the same Row object for a record read again
at the same version with the same shown values, so a page whose rows are all unchanged has
the same rows, and any changed, added or removed row (or count) is a new key.

Both keys start with the user's compiled rights: the AccessPolicy object, a new one whenever
the rights version or the metadata generation moves (Crm.as_user), so a revoked permission
(bulk delete, export, import, a field's read right in the filters, columns or column chooser),
an added manual rule or a relabelled object is a new key. An entry holds the objects whose
identity its key names (fragments.kept_render), so no other object takes their ids. Then the
user (name, language, time zone), the page's language and the script root, and what each part
reads of the view (`_chrome_key`, `_results_key`).

A page with a saved view open draws its chrome every time (its forms show the view itself); an
error page (no list) draws both. If a template reads a name outside its part's NAMES, or a
`g`/`request` attribute or an attribute of `page` or `views` its key does not cover
(`*_ATTRIBUTES`), the render is not kept (drawn every time: never stale, only slower).
"""
from __future__ import annotations

from typing import Any, Hashable

from flask import current_app, g, request
from jinja2 import pass_context
from jinja2.runtime import Context
from jinja2.utils import missing
from markupsafe import Markup

from crmkit.ui.fragments import FragmentCache, kept_render

CHROME, RESULTS = "list_chrome.html", "list_results.html"
#: Kept renders per application and part (users x objects x views, and x pages of rows for the results).
MAX_KEPT = 256
#: Names list_chrome.html and its includes read that its key covers (beside fragments.COVERED_NAMES); `query_url`,
#: `filter_html` and `column_choices_html` are pure functions of their arguments, `manual_rules_for` of the rights.
CHROME_NAMES = frozenset({
    "obj", "board_link", "args", "views", "page", "search", "bulk", "column_choices", "columns_chosen", "partial",
    "query_url", "manual_rules_for", "filter_html", "column_choices_html",
})
#: What of `page` the chrome reads: the filter panel and whether it filters (never the rows or the count).
CHROME_PAGE_ATTRIBUTES = ("filters", "filtered")
#: What of `views` (ListViewState) the chrome reads: all but the arguments with paging (`args`), through the
#: list arguments a "Save" stores (`saved_args`), so the pages of one view share their chrome.
VIEWS_ATTRIBUTES = ("view", "saved_args", "choices", "columns", "modified", "withheld", "may_change", "sharing",
                    "default_id")
#: Names list_results.html reads on a full page that its key covers (`rows_html`, `select_cell_html`: pure).
#: `board_link` and `views` are shown only by the htmx partial (`partial`), which is never kept; Jinja looks every
#: name of a template up as it starts, so they are named here.
RESULTS_NAMES = frozenset({
    "obj", "page", "args", "problem", "partial", "may_import", "may_export", "bulk", "query_url", "record_url",
    "rows_html", "select_cell_html", "board_link", "views",
})
#: What of `page` the results read: its rows (held), count, columns (their labels, sort states and addresses),
#: pages' arguments and whether it filters or searches; not the filter panel.
RESULTS_PAGE_ATTRIBUTES = ("rows", "count", "columns", "previous_args", "next_args", "first_args", "filtered",
                           "search")


def _items(args: Any) -> tuple[tuple[str, str], ...] | None:
    return None if args is None else tuple(args.items(multi=True))


def _values(context: Context, names: tuple[str, ...]) -> dict[str, Any] | None:
    """The page's variables `names`, with the signed-in user and their compiled rights; None when a part of them is
    missing: no signed-in user's compiled rights (the system context), an error page (no list)."""
    values = {name: context.resolve_or_missing(name) for name in names}
    values["user"] = g.get("user")
    values["policy"] = getattr(g.get("user_context"), "policy", None)
    if values["user"] is None or values["policy"] is None or values["page"] is None or values["partial"] or \
            any(value is missing for value in values.values()):
        return None
    return values


def _hashable(key: tuple[Any, ...], held: tuple[Any, ...]) -> tuple[Hashable, tuple[Any, ...]] | None:
    try:
        hash(key)
    except TypeError:
        return None
    return key, held


def _chrome_key(context: Context) -> tuple[Hashable, tuple[Any, ...]] | None:
    """(what the chrome's markup depends on, the objects it was drawn with); None when it is not kept: no list, no
    user's rights, or a saved view open."""
    values = _values(context, ("obj", "page", "views", "bulk", "board_link", "args", "search", "column_choices",
                               "columns_chosen", "partial", "page_language"))
    if values is None or values["views"] is None or values["views"].view is not None:
        return None
    page, views = values["page"], values["views"]
    held = (values["policy"], values["obj"], page.filters, values["bulk"])
    return _hashable((CHROME, *map(id, held), values["user"], str(values["page_language"]), request.script_root,
                      values["board_link"], values["search"], page.filtered, _items(values["args"]),
                      _items(views.saved_args), views.choices, views.columns, views.modified, views.withheld,
                      views.may_change, views.sharing, views.default_id, tuple(values["column_choices"]),
                      bool(values["columns_chosen"])), held)


def _results_key(context: Context) -> tuple[Hashable, tuple[Any, ...]] | None:
    """(what the results' markup depends on, the objects they were drawn with: the rights, object, bulk actions and
    each row); None when they are not kept: no list, no user's rights, or a problem shown instead."""
    values = _values(context, ("obj", "page", "bulk", "args", "problem", "partial", "may_import", "may_export",
                               "page_language"))
    if values is None or values["problem"]:
        return None
    page = values["page"]
    held = (values["policy"], values["obj"], values["bulk"], *page.rows)
    columns = tuple((column.label, column.sorted, _items(column.sort_args)) for column in page.columns)
    return _hashable((RESULTS, *map(id, held), values["user"], str(values["page_language"]), request.script_root,
                      page.count, columns, _items(page.previous_args), _items(page.next_args),
                      _items(page.first_args), page.filtered, page.search, _items(values["args"]),
                      bool(values["may_import"]), bool(values["may_export"])), held)


def _page_attributes(context: Context, names: tuple[str, ...]) -> dict[str, Any]:
    page = context.resolve_or_missing("page")
    return {name: getattr(page, name) for name in names}


@pass_context
def list_chrome_html(context: Context) -> Markup:
    """list_chrome.html rendered with the page's variables, kept per user, rights, language, object and view."""
    keyed = _chrome_key(context)
    attributes = {}
    if keyed is not None:
        views = context.resolve_or_missing("views")
        attributes = {"page": _page_attributes(context, CHROME_PAGE_ATTRIBUTES),
                      "views": {name: getattr(views, name) for name in VIEWS_ATTRIBUTES}}
    return kept_render(context, CHROME, part_cache(CHROME), keyed, CHROME_NAMES, attributes)


@pass_context
def list_results_html(context: Context) -> Markup:
    """list_results.html rendered with the page's variables, kept per user, rights, language, view, count and rows."""
    keyed = _results_key(context)
    attributes = {"page": _page_attributes(context, RESULTS_PAGE_ATTRIBUTES)} if keyed is not None else {}
    return kept_render(context, RESULTS, part_cache(RESULTS), keyed, RESULTS_NAMES, attributes)


def part_cache(template_name: str) -> FragmentCache:
    """The application's cache of one part (made with it)."""
    return current_app.extensions["crmkit_list_parts"][template_name]


def install(app: Any) -> None:
    """Gives `app` its caches of the list page's parts and templates `list_chrome_html()` and `list_results_html()`."""
    app.extensions["crmkit_list_parts"] = {CHROME: FragmentCache(MAX_KEPT), RESULTS: FragmentCache(MAX_KEPT)}
    app.jinja_env.globals["list_chrome_html"] = list_chrome_html
    app.jinja_env.globals["list_results_html"] = list_results_html
