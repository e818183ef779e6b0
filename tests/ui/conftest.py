"""Fixtures for the web application's Flask test-client tests: one CRM per worker, a fresh client per test."""
from __future__ import annotations

import itertools
import os
import re
from typing import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.webapp import PASSWORD, WebCrm, build_web_crm

SECRET = "test-secret-key-for-the-web-application-tests"


@pytest.fixture(scope="session")
def web_crm(tmp_path_factory: pytest.TempPathFactory) -> WebCrm:
    return build_web_crm(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="session")
def app(web_crm: WebCrm) -> Iterator[Flask]:
    from crmkit.engine import Crm
    from crmkit.ui import create_app

    crm = Crm.open(web_crm.url)
    yield create_app(crm, {"SECRET_KEY": SECRET})
    crm.close()


_ADDRESSES = itertools.count(1)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A browser of its own address, so one test's failed sign-ins never throttle another's."""
    client = app.test_client()
    number = next(_ADDRESSES)
    client.environ_base["REMOTE_ADDR"] = f"10.{os.getpid() % 250}.{number // 250}.{number % 250}"
    return client


def csrf_token(html: str) -> str:
    """The CSRF token a page's forms carry."""
    return re.search(r'name="csrf-token" content="([^"]+)"', html)[1]


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD):
    """Signs `client` in through the login form; returns the POST's response."""
    token = csrf_token(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def post_form(client: FlaskClient, page: str, action: str, data: dict[str, str]):
    """Posts `data` to `action` with the CSRF token of `page`, as the browser would."""
    token = csrf_token(client.get(page).get_data(as_text=True))
    return client.post(action, data={**data, "csrf_token": token})


def signed_in_client(app: Flask, username: str, network: int) -> FlaskClient:
    """A test client of `app` signed in as `username`, from an address of its own in 10.`network`.x.y
    (so one module's sign-ins never throttle another's)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = f"10.{network}.{len(username)}.{sum(map(ord, username)) % 250}"
    assert sign_in(client, username).status_code == 302
    return client


def list_titles(html: str, object_name: str) -> list[str]:
    """The record titles of a list page's rows, in order."""
    return re.findall(rf'<th scope="row" class="fw-normal"><a href="/r/{object_name}/\d+">([^<]*)</a>', html)


@pytest.fixture
def signed_in(client: FlaskClient) -> Callable[[str], FlaskClient]:
    def as_user(username: str) -> FlaskClient:
        response = sign_in(client, username)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return as_user
