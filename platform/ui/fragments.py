"""Parts of a page that depend only on who reads it, kept rendered: the navigation (`navigation_html`).

    {{ navigation_html() }}          in base.html, where `{% include "navigation.html" %}` was

Every full page draws the navigation: the apps and tabs the user may read, the user menu,
the language choice, about 15 `_()` and as many `url_for` calls (docs/ui.md, "Speed"). Its
markup changes only with the user's compiled rights (the engine's AccessPolicy, a new object
whenever the rights version or the metadata generation moves: Crm.as_user, security/rights.py),
the user (name, language, time zone), the page's language and the script root. So it is
rendered once per such key and kept in a small bounded LRU of the application; a revoked
grant, a changed language or renamed user is a new key, never a stale menu.

What differs from request to request inside it is filled in after: the CSRF token (both
forms) and the page's address (the language form's `next`) are rendered as markers and
replaced, escaped as autoescape does; the global search box's `q` is part of the key.

The template is rendered through a context that notes what it reads: when it reads a name
or an attribute of `g` or `request` that the key does not cover (a later change of
navigation.html that shows, say, a count read from the database), that fragment is not kept
and is rendered on every request as before: never stale, only slower.
"""
from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Any, Hashable

from flask import current_app, g, request
from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from jinja2.utils import missing
from markupsafe import Markup

from crmkit.ui.display_html import escaped

#: Entries an application keeps (users x languages x search texts); the least recently used goes first.
MAX_FRAGMENTS = 512
#: Markers standing for the request's own values in a kept fragment (no template or value writes NUL).
CSRF_MARK = "\x00crmkit-csrf\x00"
#: The page's address (`request.full_path`, which ends in "?" without a query string); `rstrip("?")` leaves NEXT_MARK.
FULL_PATH_MARK = "\x00crmkit-next\x00?"
NEXT_MARK = FULL_PATH_MARK.rstrip("?")
#: Names navigation.html may read that the key covers (or the markers stand for); globals that are pure functions.
COVERED_NAMES = frozenset({
    "g", "request", "nav_apps", "nav_administration", "page_language", "ui_languages", "q", "csrf_token",
    "url_for", "_", "gettext", "ngettext", "pgettext", "npgettext", "range", "dict", "lipsum", "cycler", "joiner",
    "namespace",
})


class FragmentCache:
    """A bounded, thread-safe LRU of rendered fragments: key -> what was kept (gunicorn's gthread threads share it)."""

    def __init__(self, size: int = MAX_FRAGMENTS) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        with self._lock:
            text = self._entries.get(key)
            if text is not None:
                self._entries.move_to_end(key)
            return text

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class _Noting(dict):
    """A template's variables that note every name looked up outside COVERED_NAMES (Jinja's Context reads its
    parent with `in` and `[]`)."""

    uncovered: bool = False
    covered: frozenset[str] = COVERED_NAMES

    def __contains__(self, key: object) -> bool:
        if key not in self.covered and dict.__contains__(self, key):
            self.uncovered = True
        return dict.__contains__(self, key)


class _Attributes:
    """`g` or `request` for the kept render: the covered attributes answer (`values`), any other is noted and read
    from the real object (so the render is right, and not kept)."""

    def __init__(self, real: Any, values: dict[str, Any], noting: _Noting) -> None:
        self._real, self._values, self._noting = real, values, noting

    def __getattr__(self, name: str) -> Any:
        if name in self._values:
            return self._values[name]
        self._noting.uncovered = True
        return getattr(self._real, name)


def fragment_cache() -> FragmentCache:
    """The application's cache (made with it)."""
    return current_app.extensions["crmkit_fragments"]


def _key(context: Context) -> tuple[Hashable, Any] | None:
    """(what the navigation's markup depends on for this request, the compiled rights it was drawn for); None when
    it is not kept (no signed-in user's compiled rights: the system context, a page about a database that is down).

    The rights are the policy object itself (a new one whenever the rights version or the metadata generation
    moves); the entry holds it, so its id names no other policy while the entry lives.
    """
    user = g.get("user")
    engine_context = g.get("user_context")
    policy = getattr(engine_context, "policy", None)
    if user is None or policy is None:
        return None
    search = context.resolve_or_missing("q")
    search = None if search is missing else search
    try:
        hash(search)
    except TypeError:
        return None
    return ("navigation", id(policy), user, str(context.get("page_language")), request.script_root,
            type(search).__name__, search), policy


@pass_context
def navigation_html(context: Context) -> Markup:
    """navigation.html rendered with the page's variables, kept per user, rights, language and search text."""
    keyed = _key(context)
    return kept_render(context, "navigation.html", fragment_cache(),
                       None if keyed is None else (keyed[0], (keyed[1],)))


def kept_render(context: Context, template_name: str, cache: FragmentCache,
                keyed: tuple[Hashable, tuple[Any, ...]] | None, covered: frozenset[str] = frozenset(),
                attributes: dict[str, dict[str, Any]] | None = None) -> Markup:
    """`template_name` rendered with the page's variables, kept in `cache` under keyed = (key, held objects).

    A kept text is used only while its entry holds the very same objects (`held`, compared by identity: their
    ids may be part of the key, and the entry keeps them alive so no other object takes their id). The render
    is kept only when it read nothing the key does not cover (`_render`); None: rendered, not kept. The CSRF
    token and the page's address are filled in for this request either way.
    """
    kept = cache.get(keyed[0]) if keyed is not None else None
    if kept is not None and len(kept[0]) == len(keyed[1]) and all(
            mine is theirs for mine, theirs in zip(kept[0], keyed[1])):
        pieces = kept[1]
    else:
        text, keep = _render(context, template_name, covered, attributes)
        pieces = _pieces(text)
        if keyed is not None and keep:
            cache.put(keyed[0], (keyed[1], pieces))
    return Markup(_filled(pieces))


def _render(context: Context, template_name: str = "navigation.html", covered: frozenset[str] = frozenset(),
            attributes: dict[str, dict[str, Any]] | None = None) -> tuple[str, bool]:
    """`template_name` rendered with the page's variables, markers for the CSRF token and the page's address;
    whether it read only covered things: COVERED_NAMES and `covered`, and of `g`, `request` and the names in
    `attributes` ({name: {attribute: value}}) only the attributes given (`g.user`, `request.full_path`)."""
    environment: Environment = context.environment
    template = environment.get_template(template_name)
    variables = _Noting(context.get_all())
    variables.covered = COVERED_NAMES | covered
    variables["csrf_token"] = lambda: CSRF_MARK
    variables["g"] = _Attributes(g._get_current_object(), {"user": g.get("user")}, variables)
    variables["request"] = _Attributes(request._get_current_object(), {"full_path": FULL_PATH_MARK}, variables)
    for name, values in (attributes or {}).items():
        variables[name] = _Attributes(variables[name], values, variables)
    text = "".join(template.root_render_func(template.new_context(variables, shared=True)))
    return text, not variables.uncovered


#: The markers, the page's address with its "?" first (NEXT_MARK is its beginning).
_MARKERS = re.compile(f"({re.escape(CSRF_MARK)}|{re.escape(FULL_PATH_MARK)}|{re.escape(NEXT_MARK)})")


def _pieces(text: str) -> tuple[str, ...]:
    """A rendered fragment cut at its markers: texts at even places, markers at odd ones (re.split)."""
    return tuple(_MARKERS.split(text))


def _filled(pieces: tuple[str, ...]) -> str:
    """A kept fragment (`_pieces`) with this request's CSRF token and address in place of the markers."""
    if len(pieces) == 1:
        return pieces[0]
    values: dict[str, str] = {}
    parts = list(pieces)
    for place in range(1, len(parts), 2):
        marker = parts[place]
        value = values.get(marker)
        if value is None:
            if marker == CSRF_MARK:
                from crmkit.ui.csrf_tokens import csrf_token

                value = escaped(csrf_token())
            else:
                full_path = request.full_path
                value = escaped(full_path if marker == FULL_PATH_MARK else full_path.rstrip("?"))
            values[marker] = value
        parts[place] = value
    return "".join(parts)


def install(app: Any) -> None:
    """Gives `app` its fragment cache and templates the `navigation_html()` global."""
    app.extensions["crmkit_fragments"] = FragmentCache()
    app.jinja_env.globals["navigation_html"] = navigation_html
