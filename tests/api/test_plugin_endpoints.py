"""Endpoints a plugin adds through crmkit_api_routes are API endpoints like the built-in ones:
token authentication, the caller's context, problem+json refusals (docs/plugins.md)."""
from __future__ import annotations

import pytest
from flask import jsonify

from crmkit.api.blueprint import context
from crmkit.engine import Crm
from crmkit.engine.extensions import Extensions
from crmkit.hookspecs import hookimpl
from crmkit.plugins import make_plugin_manager
from tests.api.conftest import make_app


class WhoAmI:
    @hookimpl
    def crmkit_api_routes(self, blueprint):
        @blueprint.route("/whoami")
        def whoami():
            return jsonify({"user": context().actor.user_id})


@pytest.fixture(scope="module")
def plugin_client(api_crm, module_database_url):
    extensions = Extensions.from_plugins(make_plugin_manager(load_entry_points=False, extra_plugins=[WhoAmI()]))
    crm = Crm.open(module_database_url, extensions=extensions)
    yield make_app(crm).test_client()
    crm.close()


def test_a_plugin_endpoint_answers_the_token_holder_as_themselves(plugin_client, api_crm):
    answer = plugin_client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {api_crm.tokens['wang']}"})
    assert answer.status_code == 200
    assert answer.get_json() == {"user": api_crm.users["wang"]}
    assert answer.headers["X-Request-Id"]


def test_a_plugin_endpoint_refuses_a_caller_without_a_token_as_problem_json(plugin_client):
    answer = plugin_client.get("/api/v1/whoami")
    assert answer.status_code == 401
    assert answer.mimetype == "application/problem+json"


def test_an_application_without_plugin_endpoints_has_no_plugin_blueprint(api_app):
    assert "api_plugins" not in api_app.blueprints


def test_a_plugin_endpoint_counts_against_the_tokens_rate_limit(api_crm, module_database_url):
    extensions = Extensions.from_plugins(make_plugin_manager(load_entry_points=False, extra_plugins=[WhoAmI()]))
    crm = Crm.open(module_database_url, extensions=extensions)
    try:
        client = make_app(crm, CRMKIT_API_RATE_LIMIT="2 per minute").test_client()
        headers = {"Authorization": f"Bearer {api_crm.tokens['wang']}"}
        answers = [client.get(path, headers=headers) for path in ("/api/v1/whoami", "/api/v1/objects", "/api/v1/whoami")]
        assert [answer.status_code for answer in answers] == [200, 200, 429]
        assert answers[2].headers["Content-Type"] == "application/problem+json"
    finally:
        crm.close()
