"""Fixtures of the REST API tests: the standard CRM on SQLite and on PostgreSQL, users with API tokens.

Users: admin (permission set admin), wang and li (sales reps who see only their own
accounts), and zh (a rep whose profile language is Chinese). `api(user)` is a test client
sending that user's token; rate limits are off unless a test builds its own app.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

REPOSITORY = Path(__file__).resolve().parent.parent.parent
SECRET = "test-secret-key-for-the-api-tests-0123456789"


@dataclass(frozen=True)
class ApiCrm:
    crm: Any
    users: dict[str, int]
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def api_crm(module_database_url: str) -> Iterator[ApiCrm]:
    from crmkit.engine import Crm
    from crmkit.engine.security.tokens import TokenStore
    from crmkit.engine.security.users import SystemDirectory

    crm = Crm.open(module_database_url)
    crm.install(REPOSITORY / "apps" / "default_crm.yaml")
    directory = SystemDirectory(crm)
    users = {"admin": directory.create_user("admin", display_name="Admin", permission_sets=["admin"]).id}
    for name, language in (("wang", "en"), ("li", "en"), ("zh", "zh-CN")):
        users[name] = directory.create_user(name, display_name=name, role="sales_rep", language=language).id
    tokens = {name: TokenStore(crm).create(user_id, "tests").token for name, user_id in users.items()}
    yield ApiCrm(crm, users, tokens)
    crm.close()


def make_app(crm: Any, **config: Any) -> Flask:
    from crmkit.ui import create_app

    return create_app(crm, {"SECRET_KEY": SECRET, "CRMKIT_API_RATE_LIMIT": "", **config})


@pytest.fixture(scope="module")
def api_app(api_crm: ApiCrm) -> Flask:
    return make_app(api_crm.crm)


class ApiClient:
    """A Flask test client that sends one user's bearer token with every call."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client = client
        self.token = token

    def call(self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any):
        sent = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        return self.client.open(f"/api/v1{path}", method=method, headers=sent, **kwargs)

    def get(self, path: str, **kwargs: Any):
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any):
        return self.call("POST", path, json=body, **kwargs)

    def patch(self, path: str, body: Any, version: Any = None, **kwargs: Any):
        headers = {"If-Match": f'"{version}"'} if version is not None else {}
        return self.call("PATCH", path, json=body, headers=headers, **kwargs)

    def delete(self, path: str, **kwargs: Any):
        return self.call("DELETE", path, **kwargs)


@pytest.fixture
def api(api_app: Flask, api_crm: ApiCrm) -> Callable[[str], ApiClient]:
    def client_of(username: str) -> ApiClient:
        return ApiClient(api_app.test_client(), api_crm.tokens[username])

    return client_of
