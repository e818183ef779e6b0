"""The web application's protections: CSRF, the Content Security Policy, cookie flags, error pages, escaping."""
from __future__ import annotations

from html.parser import HTMLParser

import pytest
from flask import Flask

from crmkit.engine.security.access import PermissionDenied
from tests.ui.conftest import SECRET, csrf_token, sign_in
from tests.webapp import IMAGE_PAYLOAD, PASSWORD, SCRIPT_PAYLOAD

PAGES = ["/", "/search?q=wang", "/search?q=probe", "/settings", "/no/such/page"]


def test_a_state_changing_request_without_the_csrf_token_is_refused(signed_in):
    client = signed_in("wang")
    for action, data in [("/logout", {}), ("/language", {"language": "zh"}),
                         ("/settings/preferences", {"language": "zh", "timezone": "UTC"})]:
        response = client.post(action, data=data)
        assert response.status_code == 400, action
        assert "The form had expired or did not come from this site." in response.get_data(as_text=True)
    assert client.get("/").status_code == 200  # still signed in: the refused sign-out did nothing
    assert 'lang="en"' in client.get("/").get_data(as_text=True)


def test_a_sign_in_without_the_csrf_token_is_refused(client):
    response = client.post("/login", data={"username": "wang", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_htmx_requests_send_the_token_in_a_header_which_is_accepted(signed_in):
    client = signed_in("wang")
    token = csrf_token(client.get("/").get_data(as_text=True))
    response = client.post("/language", data={"language": "en", "next": "/"},
                           headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert response.status_code == 303
    with client.get("/static/crmkit/app.js") as response:
        script = response.get_data(as_text=True)
    assert "htmx:configRequest" in script and "X-CSRFToken" in script


class InlineCode(HTMLParser):
    """Collects what a strict policy would block: inline scripts, event-handler attributes, style attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("inline <script>")
        self.found.extend(f"{name} on <{tag}>" for name in names if name.startswith("on") or name == "style")


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.found


def test_every_page_has_a_content_security_policy_without_inline_script_or_eval(signed_in):
    client = signed_in("wang")
    for page in PAGES + ["/login"]:
        response = client.get(page)
        policy = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
        assert policy["script-src"] == "'self'", page
        assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
        assert "unsafe" not in response.headers["Content-Security-Policy"]
        assert inline_code(response.get_data(as_text=True)) == [], page
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_no_template_has_a_style_attribute_an_event_handler_or_an_inline_script():
    """Every template of the UI and the API, read as source: the CSP blocks these, so a page would silently break."""
    import re
    from pathlib import Path

    import crmkit.ui

    root = Path(crmkit.ui.__file__).parent.parent
    pattern = re.compile(r"<[a-zA-Z][^>]*\s(style|on[a-z]+)\s*=|<script(?![^>]*\ssrc=)[^>]*>")
    found = [f"{path.relative_to(root)}: {match.group(0)[:60]}"
             for path in sorted(root.rglob("templates/**/*.html"))
             for match in pattern.finditer(re.sub(r"\{#.*?#\}", "", path.read_text(encoding="utf-8"), flags=re.S))]
    assert list(root.rglob("templates/**/*.html")), "no template found"
    assert found == []


def test_the_session_cookie_is_http_only_same_site_lax_and_secure_over_https(app):
    http = app.test_client()
    cookie = sign_in(http, "li").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    https = app.test_client()
    token = csrf_token(https.get("/login", base_url="https://localhost").get_data(as_text=True))
    response = https.post("/login", base_url="https://localhost", headers={"Referer": "https://localhost/login"},
                          data={"username": "li", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    assert all(flag in response.headers["Set-Cookie"] for flag in ("HttpOnly", "SameSite=Lax", "Secure"))


def test_strict_transport_security_is_sent_over_https_only_however_requests_alternate(app):
    client = app.test_client()
    for base in ("https://localhost", "http://localhost", "https://localhost", "http://localhost"):
        response = client.get("/login", base_url=base)
        assert ("Strict-Transport-Security" in response.headers) == base.startswith("https"), base
        assert response.headers["X-Frame-Options"] == "DENY" and response.headers["Referrer-Policy"] == "same-origin"
    behind_proxy = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert behind_proxy.headers["Strict-Transport-Security"].startswith("max-age=")


def test_an_api_call_with_a_token_neither_reads_nor_rewrites_the_browsers_session_cookie(app, signed_in):
    from flask import request

    client = signed_in("wang")
    answer = client.get("/api/v1/objects", headers={"Authorization": "Bearer crmkit_unknown"})
    assert answer.status_code == 401 and "Set-Cookie" not in answer.headers
    assert client.get("/o/account").status_code == 200  # the browser is still signed in
    sessions = app.session_interface
    with app.test_request_context("/api/v1/objects", headers={"Authorization": "Bearer x"}):
        assert sessions.is_null_session(sessions.open_session(app, request))
    with app.test_request_context("/o/account", headers={"Authorization": "Bearer x"}):
        assert not sessions.is_null_session(sessions.open_session(app, request))


def test_secure_cookies_can_be_required_even_over_http(web_crm):
    from crmkit.engine import Crm
    from crmkit.ui import create_app

    crm = Crm.open(web_crm.url)
    try:
        app = create_app(crm, {"SECRET_KEY": SECRET, "SESSION_COOKIE_SECURE": True})
        assert "Secure" in app.test_client().get("/login").headers["Set-Cookie"]
    finally:
        crm.close()


@pytest.fixture(scope="module")
def failing_app(web_crm) -> Flask:
    """An application with routes that fail, to see the error pages."""
    from crmkit.engine import Crm
    from crmkit.ui import create_app

    crm = Crm.open(web_crm.url)
    app = create_app(crm, {"SECRET_KEY": SECRET})

    @app.route("/test/denied")
    def denied():
        raise PermissionDenied("you do not have permission to delete Accounts.")

    @app.route("/test/bug")
    def bug():
        raise ZeroDivisionError("secret internals of the server")

    yield app
    crm.close()


def assert_friendly(response, status: int, *texts: str) -> None:
    page = response.get_data(as_text=True)
    assert response.status_code == status
    for text in texts:
        assert text in page
    for leak in ("Traceback", "secret internals", "ZeroDivisionError", 'File "', "werkzeug"):
        assert leak not in page


def test_error_pages_are_friendly_have_the_right_status_and_never_show_a_traceback(failing_app, caplog):
    client = failing_app.test_client()
    assert sign_in(client, "wang").status_code == 302
    assert_friendly(client.get("/no/such/page"), 404, "Not found", "There is no page at this address")
    assert_friendly(client.get("/test/denied"), 403, "Not allowed", "You do not have permission to delete Accounts.")
    assert_friendly(client.get("/test/bug"), 500, "Something went wrong", "It has been logged")
    assert "secret internals of the server" in caplog.text  # the server's log has the details
    assert_friendly(client.post("/settings/password"), 400, "The form had expired")  # no CSRF token
    assert_friendly(client.post("/"), 405, "This page cannot be used that way.")


def test_htmx_requests_get_the_error_as_a_partial_for_the_message_area(failing_app):
    client = failing_app.test_client()
    sign_in(client, "wang")
    response = client.get("/test/denied", headers={"HX-Request": "true"})
    assert response.status_code == 403
    assert response.headers["HX-Retarget"] == "#messages"
    page = response.get_data(as_text=True)
    assert "<html" not in page and 'role="alert"' in page and "You do not have permission" in page


def test_error_pages_speak_the_users_language(failing_app):
    client = failing_app.test_client()
    sign_in(client, "wang")
    response = client.get("/no/such/page", headers={"Accept-Language": "zh-CN"})
    assert "Not found" in response.get_data(as_text=True)  # wang's profile says English
    anonymous = failing_app.test_client()
    response = anonymous.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "登录" in response.get_data(as_text=True)


def test_payloads_in_record_names_and_object_labels_are_escaped_on_every_page(signed_in):
    client = signed_in("wang")
    seen = set()
    for page in PAGES + ["/search?q=" + "%3Cscript%3E"]:
        html = client.get(page).get_data(as_text=True)
        for payload in (SCRIPT_PAYLOAD, IMAGE_PAYLOAD):
            assert payload not in html, page
        for escaped in ("&lt;script&gt;alert(", "&lt;img src=x onerror=alert(1)&gt;"):
            if escaped in html:
                seen.add(escaped)
    assert seen == {"&lt;script&gt;alert(", "&lt;img src=x onerror=alert(1)&gt;"}  # the payloads were shown


def test_the_search_text_itself_is_escaped(signed_in):
    client = signed_in("wang")
    html = client.get("/search", query_string={"q": SCRIPT_PAYLOAD}).get_data(as_text=True)
    assert SCRIPT_PAYLOAD not in html
    assert "&lt;script&gt;" in html


SECURITY_HEADERS = ("Content-Security-Policy", "Strict-Transport-Security", "X-Frame-Options", "Referrer-Policy",
                    "Permissions-Policy", "X-Content-Type-Options", "Feature-Policy", "Document-Policy")


def test_the_kept_security_headers_are_talismans_own_on_every_kind_of_answer_however_requests_alternate(
        web_crm, monkeypatch):
    """Error pages, redirects, static files, HEAD, API problems, https and http in turn, and a view with options of
    its own (as `@talisman(...)` sets them): each answer carries exactly the headers Talisman itself would set."""
    from flask_talisman import Talisman

    import crmkit.ui.app
    from crmkit.engine import Crm
    from crmkit.ui import create_app

    def build() -> Flask:
        built = create_app(crm, {"SECRET_KEY": SECRET, "PROPAGATE_EXCEPTIONS": False})

        def failing() -> str:
            raise RuntimeError("a fault")

        def framed() -> str:
            return "framed"

        for view in (failing, framed):
            view.crmkit_public = True  # type: ignore[attr-defined]
            built.add_url_rule(f"/test/{view.__name__}", view.__name__, view)
        framed.talisman_view_options = {"frame_options": "SAMEORIGIN",  # type: ignore[attr-defined]
                                        "content_security_policy": {"default-src": "'self'"}}
        return built

    crm = Crm.open(web_crm.url)
    try:
        kept = build()
        monkeypatch.setattr(crmkit.ui.app, "SecurityHeaders", Talisman)
        talisman = build()
        requests = [("GET", "/login", {}), ("GET", "/test/framed", {}), ("GET", "/no/such/page", {}),
                    ("GET", "/test/failing", {}), ("GET", "/favicon.ico", {}), ("GET", "/static/crmkit/favicon.svg", {}),
                    ("HEAD", "/login", {}), ("GET", "/api/v1/objects", {"Authorization": "Bearer crmkit_unknown"}),
                    ("GET", "/api/v1/no/such/path", {}), ("GET", "/", {}), ("GET", "/login", {"X-Forwarded-Proto": "https"})]
        ours, theirs = kept.test_client(), talisman.test_client()
        for base in ("https://localhost", "http://localhost", "http://localhost", "https://localhost"):
            for method, path, headers in requests:
                with ours.open(path, method=method, headers=headers, base_url=base) as answer, \
                        theirs.open(path, method=method, headers=headers, base_url=base) as expected:
                    assert answer.status_code == expected.status_code
                    assert {name: answer.headers.getlist(name) for name in SECURITY_HEADERS} == \
                        {name: expected.headers.getlist(name) for name in SECURITY_HEADERS}, (base, method, path)
        framed = ours.get("/test/framed")
        assert framed.headers["X-Frame-Options"] == "SAMEORIGIN" and ours.get("/login").headers["X-Frame-Options"] == "DENY"
        assert ours.get("/test/failing").status_code == 500
    finally:
        crm.close()


def test_a_signed_in_browser_reads_the_api_docs_with_its_cookie_which_no_api_call_changes(app, web_crm, signed_in):
    from crmkit.engine import Crm
    from crmkit.engine.security.tokens import TokenStore

    client = signed_in("wang")
    crm = Crm.open(web_crm.url)
    try:
        token = TokenStore(crm).create(web_crm.users["wang"], "browser test").token
    finally:
        crm.close()
    for path in ("/api/v1/docs", "/api/v1/openapi.json", "/api/v1/docs?lang=zh"):
        assert client.get(path).status_code == 200, path  # the browser's cookie, no token
        assert client.head(path).status_code == 200, path
    assert client.get("/api/v1/objects").status_code == 401  # the cookie opens only the read-only docs
    assert client.post("/api/v1/docs").status_code in (401, 405)
    for authorization in (f"Bearer {token}", "Bearer crmkit_unknown", "Basic d2FuZzpzZWNyZXQ="):
        answer = client.get("/api/v1/docs", headers={"Authorization": authorization})
        assert answer.status_code == (200 if authorization.endswith(token) else 401), authorization
        assert "Set-Cookie" not in answer.headers  # the call's answer neither rewrites nor clears the cookie
    assert client.get("/o/account").status_code == 200 and client.get("/api/v1/docs").status_code == 200
