"""`create_app`: the Flask application over one Crm, with a blueprint per concern."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping
from weakref import WeakKeyDictionary

from flask import Flask, Response, current_app, g, redirect, request, url_for
from flask_babel import get_locale
from flask_wtf.csrf import CSRFProtect
from markupsafe import Markup, escape
from werkzeug.middleware.proxy_fix import ProxyFix

from crmkit import api
from crmkit.engine.automation.queue import AutomationQueue
from crmkit.engine.crm import Crm
from crmkit.engine.database import default_database_url, sqlite_file
from crmkit.engine.security.administration import UserAdministration
from crmkit.engine.security.audit import reset_client_address, set_client_address
from crmkit.engine.security.authentication import Authenticator
from crmkit.errors import CrmkitError
from crmkit.ui.logs import log_to_stderr
from crmkit.ui import sessions
from crmkit.ui.config import merged_settings, secret_key
from crmkit.ui import csrf_tokens, display_html, extension_points, filter_html, fragments, list_html, list_parts
from crmkit.ui.errors import register_error_handlers
from crmkit.ui.security_headers import SecurityHeaders
from crmkit.ui.i18n import init_i18n
from crmkit.ui.navigation import navigation

#: The Content Security Policy: scripts and styles only from this site's files, no inline
#: script, no eval; images may be data: URIs (Bootstrap draws its icons that way).
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


class CrmkitFlask(Flask):
    """Flask, with `ensure_sync`'s answer kept per function: Flask asks it of every hook and view on every request
    (about 13 an API call), and each asks `inspect.iscoroutinefunction` again of the same functions."""

    #: Plain functions found so far; emptied if it ever holds MAX_SYNC (functions made anew per request).
    MAX_SYNC = 4096

    def ensure_sync(self, func: Any) -> Any:
        known = self.__dict__.get("_crmkit_sync")
        if known is None:
            known = self._crmkit_sync = set()
        try:
            if func in known:
                return func
        except TypeError:  # not hashable
            return super().ensure_sync(func)
        made = super().ensure_sync(func)
        if made is func:  # not a coroutine function: Flask hands it back as it is
            if len(known) >= self.MAX_SYNC:
                known.clear()
            known.add(func)
        return made


@dataclass(frozen=True)
class UiState:
    """What the application keeps for its lifetime: app.extensions["crmkit"]."""

    crm: Crm
    authenticator: Authenticator


def create_app(crm: Crm | None = None, config: Mapping[str, Any] | None = None) -> Flask:
    """The web application over `crm` (default: Crm.open() on CRMKIT_DATABASE_URL or instance/crmkit.db).

    When it opens the CRM itself, saves hand their automation (outbox ids) to the task queue
    (engine/automation/queue.py) for `crmkit worker`; a given `crm` keeps its own `queue`.
    `config` overrides Flask and crmkit settings (crmkit/ui/config.py): for example
    {"SECRET_KEY": ..., "SESSION_COOKIE_SECURE": True, "CRMKIT_PROXY_COUNT": 1}. Raises
    ConfigurationError (a CrmkitError) when a server database has no secret key, and the
    engine's DatabaseError when the database cannot be opened.
    """
    settings = merged_settings(config)
    log_to_stderr()  # CRMKIT_LOG_LEVEL: crmkit's lines, request ids in them, where the process configured none
    if crm is None:  # a production server (gunicorn): saves hand their automation to `crmkit worker`
        crm = Crm.open(settings.get("CRMKIT_DATABASE_URL") or default_database_url(), create=False)
        crm.queue = AutomationQueue.open(crm)
    settings["SECRET_KEY"] = secret_key(sqlite_file(crm.engine.url), settings.get("SECRET_KEY"))
    app = CrmkitFlask("crmkit.ui.app")  # the name Flask(__name__) gave it: templates, static files and logger
    app.config.update(settings)
    app.session_interface = sessions.CookieSessions()
    if app.config["CRMKIT_PROXY_COUNT"]:
        count = app.config["CRMKIT_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)  # type: ignore[method-assign]
    app.extensions["crmkit"] = UiState(crm, Authenticator(crm, session_idle=app.config["CRMKIT_SESSION_IDLE"]))
    init_i18n(app)
    CSRFProtect(app)
    csrf_tokens.install(app)  # generate_csrf's tokens, signed once a second
    SecurityHeaders(app, force_https=False, session_cookie_secure=False, session_cookie_http_only=True,
                    content_security_policy=CONTENT_SECURITY_POLICY, referrer_policy="same-origin",
                    frame_options="DENY", permissions_policy={"camera": "()", "microphone": "()", "geolocation": "()"})
    register_error_handlers(app)
    app.add_url_rule("/favicon.ico", "favicon", favicon)
    app.before_request(remember_client_address)  # first: the security log's entries of this request say where from
    app.teardown_request(forget_client_address)
    app.before_request(require_sign_in)
    app.after_request(no_store)
    app.teardown_request(sessions.release_read_connection)
    app.context_processor(page_context)
    app.jinja_env.globals["url_for"] = template_url_for
    app.jinja_env.globals["static_tags"] = static_tags
    display_html.install(app.jinja_env)
    list_html.install(app.jinja_env)
    filter_html.install(app.jinja_env)
    fragments.install(app)
    list_parts.install(app)
    register_blueprints(app)
    extension_points.install(app, crm)  # plugins' routes, form widgets and widget scripts; then crmkit_startup
    return app


def remember_client_address() -> None:
    """The request's address for the security log (engine/security/audit.py `client_address`)."""
    g.client_address_token = set_client_address(sessions.client_address())


def forget_client_address(_error: BaseException | None = None) -> None:
    token = g.pop("client_address_token", None)
    if token is not None:
        reset_client_address(token)


#: Addresses built by templates and views, by application, script root, endpoint and arguments: the same for every
#: request (the app has no url_defaults), built once instead of on each of a page's ~20 url_for calls. Bounded: a
#: record's address is kept too (its id is an argument), so the table is emptied when it reaches MAX_ADDRESSES.
_KEPT_ADDRESSES: "WeakKeyDictionary[Flask, dict[tuple[Any, ...], str]]" = WeakKeyDictionary()
MAX_ADDRESSES = 4096


def template_url_for(endpoint: str, **values: Any) -> str:
    """Templates' `url_for`: Flask's, with the address kept per application, script root, endpoint and arguments.

    Kept only for arguments that are plain texts or whole numbers (an object's name, a record id, a
    static file) and none of Flask's own (`_external`, `_anchor`, `_method`, `_scheme`): those, other
    values (a list, an object) and a blueprint-relative endpoint (".index": its address depends on the
    request's blueprint) go to Flask's url_for each time. BuildError is raised as Flask raises it.
    """
    if endpoint.startswith("."):
        return url_for(endpoint, **values)
    key: tuple[Any, ...]
    if not values:
        key = (request.script_root, endpoint)
    else:
        parts = []
        for name, value in values.items():
            kind = value.__class__
            if name.startswith("_") or (kind is not str and kind is not int):
                return url_for(endpoint, **values)
            parts.append((name, kind, value))
        parts.sort()
        key = (request.script_root, endpoint, *parts)
    app = current_app._get_current_object()
    kept = _KEPT_ADDRESSES.get(app)
    if kept is None:
        kept = _KEPT_ADDRESSES.setdefault(app, {})
    address = kept.get(key)
    if address is None:
        address = url_for(endpoint, **values)
        if not app.url_default_functions:
            if len(kept) >= MAX_ADDRESSES:
                kept.clear()
            kept[key] = address
    return address


#: The tag of a static file by its ending: `{}` is its escaped address.
_STATIC_TAGS = {".css": '<link rel="stylesheet" href="{}">', ".js": '<script src="{}" defer></script>',
                ".svg": '<link rel="icon" type="image/svg+xml" href="{}">'}
_KEPT_STATIC_TAGS: "WeakKeyDictionary[Flask, dict[tuple[str, ...], Markup]]" = WeakKeyDictionary()


def static_tags(*filenames: str) -> Markup:
    """Templates' `static_tags('crmkit/app.css', 'crmkit/app.js', ...)`: a stylesheet link, a deferred script or the
    favicon for each static file, in order; kept per application and script root (a page's head links the same
    files on every request: one call instead of one `url_for` each). ValueError for another kind of file."""
    app = current_app._get_current_object()
    kept = _KEPT_STATIC_TAGS.get(app)
    if kept is None:
        kept = _KEPT_STATIC_TAGS.setdefault(app, {})
    key = (request.script_root, *filenames)
    tags = kept.get(key)
    if tags is None:
        pieces = []
        for filename in filenames:
            tag = _STATIC_TAGS.get(filename[filename.rfind("."):])
            if tag is None:
                raise ValueError(f"static_tags: no tag for {filename!r}")
            pieces.append(tag.format(escape(template_url_for("static", filename=filename))))
        tags = Markup("\n  ".join(pieces))
        if not app.url_default_functions:  # as template_url_for: addresses the same for every request
            if len(kept) >= MAX_ADDRESSES:
                kept.clear()
            kept[key] = tags
    return tags


def page_context() -> dict[str, Any]:
    """What every page's layout needs: its language and, for a signed-in user, the navigation."""
    apps: tuple = ()
    if g.get("user") is not None:
        try:
            apps = navigation(sessions.user_context())
        except CrmkitError:  # the page is already about a problem (the database is down): no navigation then
            apps = ()
    return {"page_language": str(get_locale() or "en"), "nav_apps": apps, "nav_administration": may_administer}


def may_administer() -> bool:
    """Whether the user menu links the admin pages: asked of the engine only when a full page's menu is drawn."""
    if g.get("user") is None:
        return False
    try:
        return UserAdministration(sessions.user_context()).allowed()
    except CrmkitError:
        return False


def register_blueprints(app: Flask) -> None:
    from crmkit.ui.views import (admin, admin_access, auth, bulk, home, kanban, lists, recent, records, recycle_bin,
                                 reports, saved_views, search, settings, timeline, unsubscribe, users)
    from crmkit.ui.views import automation, imports, merges

    for module in (auth, home, kanban, lists, records, search, settings, bulk, saved_views, recent, admin,
                   admin_access, recycle_bin, timeline, users, automation, reports, imports, merges):
        app.register_blueprint(module.blueprint)
    app.register_blueprint(unsubscribe.blueprint)  # marketing mail's one-click link (no sign-in)
    api.install(app)  # /api/v1: bearer tokens, problem+json, rate limits (docs/api.md)


def favicon() -> Response:
    """/favicon.ico, which browsers ask for on any page (the API's and plugins' too): the SVG icon, for a day."""
    response = redirect(url_for("static", filename="crmkit/favicon.svg"), code=301)
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


def require_sign_in() -> Response | None:
    """Loads the signed-in user; a page that needs one sends everyone else to /login (htmx: HX-Redirect)."""
    if request.endpoint in ("static", "favicon"):  # the same files for everyone: no database read for them
        g.user = None
        return None
    if api.is_api_request():  # a bearer token signs API calls in (crmkit/api); the docs also open to a browser
        g.user = None
        if request.endpoint in api.COOKIE_READABLE and "Authorization" not in request.headers:
            sessions.load_signed_in_user()
        return None
    sessions.load_signed_in_user()
    if g.user is not None or sessions.is_public(request.endpoint):
        return None
    target = url_for("auth.login", next=request.full_path.rstrip("?")) if request.method == "GET" \
        else url_for("auth.login")
    if request.headers.get("HX-Request") == "true":
        response = Response(status=401)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


def no_store(response: Response) -> Response:
    """Pages are never cached (the static files may be), so Back after sign-out shows nothing of a user's data."""
    if request.endpoint not in ("static", "favicon"):
        response.headers["Cache-Control"] = "no-store"
    return response
