"""crmkit.api: the REST API at /api/v1, the engine's services as JSON, described by an OpenAPI document.

    app.register_blueprint(...)   # done by crmkit.ui.create_app through `install(app)`

Every call is authenticated by an API token (`Authorization: Bearer crmkit_...`,
engine/security/tokens.py) and works through the token user's UserContext, so the engine
checks every permission; errors are RFC 9457 problem+json (problems.py); calls are rate
limited per token (limits.py). docs/api.md describes every endpoint.
"""
from __future__ import annotations

from flask import Blueprint, Flask

from crmkit.api.blueprint import COOKIE_READABLE, PREFIX, authenticate, blueprint, is_api_request

__all__ = ["COOKIE_READABLE", "PREFIX", "blueprint", "install", "is_api_request"]


def install(app: Flask) -> None:
    """Registers the API on `app`: its blueprint, rate limits, request ids and problem+json errors.

    Raises ConfigurationError for a setting the API cannot use (CRMKIT_API_RATE_LIMIT,
    CRMKIT_CHANGES_SETTLE_SECONDS), naming it.

    The blueprint is exempt from CSRF (its calls carry a bearer token, never the session cookie).
    """
    from crmkit.api import changes, composite, describe, docs, problems, records, reports  # noqa: F401  (routes, handlers)
    from crmkit.api.limits import install_limits

    app.extensions[changes.SETTLE_EXTENSION] = changes.settle_time(app)  # a bad setting stops the start
    plugins = plugin_blueprint(app)
    limited = frozenset({blueprint.name} | ({plugins.name} if plugins is not None else set()))
    install_limits(app, limited)
    app.register_blueprint(blueprint)
    csrf = app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(blueprint)
    if plugins is not None:
        app.register_blueprint(plugins)
        if csrf is not None:
            csrf.exempt(plugins)


def plugin_blueprint(app: Flask) -> Blueprint | None:
    """A blueprint at the API's prefix holding the endpoints plugins add (hook crmkit_api_routes), or None if none do.

    Made anew for each application (a blueprint takes no routes once registered), with the API's
    token authentication, so plugin endpoints are authenticated, limited and answered as problem+json
    like the built-in ones (docs/plugins.md).
    """
    from crmkit.plugins import add_api_routes

    plugins = Blueprint("api_plugins", __name__, url_prefix=PREFIX)
    plugins.before_request(authenticate)
    add_api_routes(plugins, app.extensions["crmkit"].crm.extensions.plugin_manager)
    return plugins if plugins.deferred_functions else None  # routes are recorded, to be made on registering
