"""The OpenAPI document: generated from the installed metadata, valid OpenAPI 3.1, and true of the live API.

The schemathesis test serves the app with werkzeug on 127.0.0.1 and sends a few generated
calls to each operation of a few objects: no answer may be a server error or contradict the
document (status, content type, body schema).
"""
from __future__ import annotations

import re
import threading
from typing import Iterator

import pytest
from openapi_spec_validator import validate
from werkzeug.serving import make_server

#: The objects whose operations schemathesis calls (every platform path is called too).
CALLED_OBJECTS = ("account", "contact", "opportunity")
EXAMPLES_PER_OPERATION = 4


def test_the_document_is_valid_openapi_3_1_with_every_installed_object(api):
    document = api("wang").get("/openapi.json").get_json()
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert "/api/v1/objects/account/{record_id}" in document["paths"]
    assert "/api/v1/objects/account/{record_id}/related/contact" in document["paths"]
    account = document["components"]["schemas"]["account"]["properties"]
    assert account["annual_revenue"]["type"] == ["string", "null"]  # money is exact text, never a float
    assert document["components"]["schemas"]["account.input"]["properties"]["industry"]["enum"][0] == "Technology" \
        or "enum" in document["components"]["schemas"]["account.input"]["properties"]["industry"]


def test_the_docs_page_lists_every_operation_without_scripts(api, api_app, api_crm):
    page = api("wang").get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "GET /api/v1/objects/account/{record_id}" in html and "<script" not in html
    assert api_app.test_client().get("/api/v1/docs").status_code == 401  # neither a token nor a signed-in browser
    chinese = api("wang").get("/docs", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "参数" in chinese and "数据结构" in chinese


def test_the_docs_page_renders_markdown_safely_speaks_the_users_language_and_has_an_icon(api, api_app):
    html = api("wang").get("/docs").get_data(as_text=True)
    assert "<code>Authorization: Bearer &lt;API token&gt;</code>" in html  # Markdown, with its HTML escaped
    assert "`Authorization" not in html and "<API token>" not in html
    assert 'rel="icon"' in html and "crmkit/favicon.svg" in html
    profile = api("zh").get("/docs").get_data(as_text=True)  # a zh user's token, no Accept-Language
    assert '<html lang="zh">' in profile and "参数" in profile and "数据结构" in profile
    icon = api_app.test_client().get("/favicon.ico")
    assert icon.status_code == 301 and icon.headers["Location"].endswith("/static/crmkit/favicon.svg")


def test_markdown_in_a_description_cannot_inject_markup():
    from crmkit.api.docs import markdown

    shown = str(markdown("<script>alert(1)</script> [x](javascript:alert(1)) **bold**", inline=True))
    assert "<script" not in shown and 'href="javascript' not in shown and "<strong>bold</strong>" in shown


@pytest.fixture(scope="module")
def live_server(api_app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, api_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_schemathesis_finds_no_server_error_and_no_answer_contradicting_the_document(api, api_crm, live_server):
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,
                                     status_code_conformance)

    client = api("admin")
    for number in range(3):
        client.post("/objects/account", {"name": f"Schemathesis {number}"})
    document = client.get("/openapi.json").get_json()
    schema = schemathesis.openapi.from_dict(document)
    headers = {"Authorization": f"Bearer {api_crm.tokens['admin']}"}
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    called = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        parts = operation.path.split("/")
        if len(parts) > 4 and parts[3] == "objects" and parts[4] not in CALLED_OBJECTS:
            continue
        if len(parts) > 7 and parts[6] == "related" and parts[7] not in CALLED_OBJECTS:
            continue

        @settings(max_examples=EXAMPLES_PER_OPERATION, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def call(case) -> None:
            case.call_and_validate(base_url=live_server, headers=headers, checks=checks)

        call()
        called += 1
    assert called >= 30


def _machine_parts(value, key=None):
    """The document without its human-readable strings (summary, description, title): what no language changes."""
    if isinstance(value, dict):
        return {name: _machine_parts(item, name) for name, item in value.items()
                if name not in ("summary", "description", "title")}
    if isinstance(value, list):
        return [_machine_parts(item) for item in value]
    return value


def _sentences(value):
    """Every human-readable string of the document."""
    if isinstance(value, dict):
        for name, item in value.items():
            if name in ("summary", "description", "title") and isinstance(item, str):
                yield item
            else:
                yield from _sentences(item)
    elif isinstance(value, list):
        for item in value:
            yield from _sentences(item)


def _openapi_msgids() -> set[str]:
    """The catalog texts openapi.py says (its generated sentences), extracted as the catalogs are."""
    from babel.messages.extract import extract_from_file

    from crmkit.ui.catalogs import KEYWORDS
    from tests.api.conftest import REPOSITORY

    path = REPOSITORY / "platform" / "api" / "openapi.py"
    return {message for _, message, _, _ in extract_from_file("python", str(path), keywords=KEYWORDS)}


def test_the_document_speaks_the_callers_language_and_is_the_same_machine_document(api):
    english = api("wang").get("/openapi.json").get_json()
    for chinese in (api("wang").get("/openapi.json", query_string={"lang": "zh"}).get_json(),
                    api("wang").get("/openapi.json", headers={"Accept-Language": "zh-CN"}).get_json(),
                    api("zh").get("/openapi.json").get_json()):
        validate(chinese)
        assert _machine_parts(chinese) == _machine_parts(english)
        assert chinese != english
        assert chinese["paths"]["/api/v1/objects/account"]["get"]["summary"] == "列出客户"
        assert chinese["components"]["schemas"]["account"]["title"] == "客户"
    assert english["paths"]["/api/v1/objects/account"]["get"]["summary"] == "List Accounts"
    msgids = _openapi_msgids()
    assert len(msgids) > 40
    left = {text for text in _sentences(chinese) if text in msgids or re.fullmatch(r"[ -~]*[a-z]{3,}[ -~]*", text)
            and not re.search("[\u4e00-\u9fff]", text)}
    assert left == set()


def test_the_docs_page_in_chinese_leaves_no_generated_english_sentence(api):
    html = api("wang").get("/docs", query_string={"lang": "zh"}).get_data(as_text=True)
    text = re.sub(r"<code>.*?</code>|<[^>]+>", " ", html)
    untranslated = [msgid for msgid in _openapi_msgids() if "%(" not in msgid and f" {msgid} " in f" {text} "]
    untranslated += [msgid for msgid in _openapi_msgids() if "%(" in msgid and
                     re.search(re.escape(msgid).replace(r"%\(object\)s", ".+").replace(r"%\(objects\)s", ".+"), text)]
    assert untranslated == []
    assert "列出客户" in html and "crmkit REST 接口" in html and "客户名称" in html
    english = api("wang").get("/docs").get_data(as_text=True)
    assert "List Accounts" in english and "列出客户" not in english
