"""Signing in and out of the web application: /login, /logout, and who may see which page."""
from __future__ import annotations

import re

from tests.ui.conftest import csrf_token, post_form, sign_in
from tests.webapp import PASSWORD


def test_pages_send_a_signed_out_visitor_to_the_sign_in_page_and_back_after_it(client):
    response = client.get("/search?q=traders")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/search?q%3Dtraders"
    token = csrf_token(client.get(response.headers["Location"]).get_data(as_text=True))
    signed = client.post("/login", data={"username": "wang", "password": PASSWORD, "csrf_token": token,
                                         "next": "/search?q=traders"})
    assert signed.status_code == 302 and signed.headers["Location"] == "/search?q=traders"
    page = client.get("/search?q=traders").get_data(as_text=True)
    assert "Wang Visible Traders" in re.sub(r"<[^>]+>", "", page)  # the matched word is marked


def test_a_wrong_password_says_so_without_telling_whether_the_user_exists(client):
    for username in ("rep0", "nobody-by-this-name"):
        response = sign_in(client, username, "not the password at all")
        page = response.get_data(as_text=True)
        assert response.status_code == 401
        assert "The username or password is incorrect." in page
        assert f'value="{username}"' in page  # what was typed stays, the password does not
        assert "not the password at all" not in page
    assert client.get("/").status_code == 302


def test_an_attacker_is_throttled_but_cannot_lock_the_user_out_from_another_address(app):
    attacker, user = app.test_client(), app.test_client()
    attacker.environ_base["REMOTE_ADDR"], user.environ_base["REMOTE_ADDR"] = "192.0.2.66", "192.0.2.67"
    pages = {}
    for username in ("rep1", "nobody-by-this-name"):  # a real and an unknown username answer alike
        for _ in range(5):
            assert sign_in(attacker, username, "wrong password again").status_code == 401
        response = sign_in(attacker, username, PASSWORD)
        assert response.status_code == 429
        pages[username] = response.get_data(as_text=True).replace(username, "USERNAME")
        assert "Too many failed sign-in attempts. Try again in 1 minute (after" in pages[username]
    assert pages["rep1"] == pages["nobody-by-this-name"].replace(csrf_token(pages["nobody-by-this-name"]),
                                                               csrf_token(pages["rep1"]))
    assert sign_in(user, "rep1").status_code == 302  # the real user, at their own address


def test_the_next_address_never_leaves_the_site(client):
    token = csrf_token(client.get("/login").get_data(as_text=True))
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)", "https:evil.example",
                   "/%2F%2Fevil.example", "/%5Cevil.example", "/\t/evil.example", "/\n/evil.example", "%2F%2Fevil.example",
                   "///evil.example", "/%252F%252Fevil.example/../", "\\\\evil.example",
                   # pages a browser cannot open with GET, and the sign-in pages themselves
                   "/logout", "/language", "/login", "/login?next=/o/account", "/no-such-page"):
        response = client.post("/login", data={"username": "li", "password": PASSWORD, "csrf_token": token,
                                               "next": target})
        assert response.headers["Location"] == "/", target
        client.delete_cookie("crmkit_session")
        token = csrf_token(client.get("/login").get_data(as_text=True))


def test_signing_out_ends_the_login_session_on_the_server(app, client, signed_in):
    signed_in("wang")
    old_cookie = client.get_cookie("crmkit_session").value
    response = post_form(client, "/", "/logout", {})
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert "You have signed out." in client.get("/login").get_data(as_text=True)
    # The cookie from before sign-out, replayed (the Back button, a copied cookie), opens nothing.
    replay = app.test_client()
    replay.environ_base["REMOTE_ADDR"] = client.environ_base["REMOTE_ADDR"]
    replay.set_cookie("crmkit_session", old_cookie)
    response = replay.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_pages_of_a_signed_in_user_are_never_cached(signed_in):
    client = signed_in("wang")
    for page in ("/", "/search?q=wang", "/settings"):
        assert client.get(page).headers["Cache-Control"] == "no-store", page


def test_an_htmx_request_without_a_session_is_told_where_to_sign_in(client):
    response = client.get("/search?q=x", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login")


def test_a_signed_in_user_opening_the_sign_in_page_goes_home(signed_in):
    client = signed_in("wang")
    response = client.get("/login")
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_a_deactivated_user_is_signed_out_at_their_next_request(app, signed_in, web_crm):
    from crmkit.engine.security.users import SystemDirectory

    client = signed_in("rep2")
    assert client.get("/").status_code == 200
    SystemDirectory(app.extensions["crmkit"].crm).deactivate(web_crm.users["rep2"])
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_signing_in_again_ends_the_previous_login_session(app, client, signed_in):
    signed_in("rep7")
    first = client.get_cookie("crmkit_session").value
    token = csrf_token(client.get("/settings").get_data(as_text=True))
    response = client.post("/login", data={"username": "rep7", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    replay = app.test_client()
    replay.environ_base["REMOTE_ADDR"] = client.environ_base["REMOTE_ADDR"]
    replay.set_cookie("crmkit_session", first)
    assert replay.get("/").status_code == 302
    assert client.get("/").status_code == 200


def test_a_user_who_signs_out_keeps_the_language_they_worked_in(app, client, signed_in):
    from crmkit.engine.security.users import SystemDirectory

    directory = SystemDirectory(app.extensions["crmkit"].crm)
    user = directory.create_user("zh_signout", password=PASSWORD)
    directory.set_preferences(user.id, language="zh")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en-US,en;q=0.9"  # the browser asks for English
    signed_in("zh_signout")
    post_form(client, "/", "/logout", {})
    assert "您已退出登录。" in client.get("/login").get_data(as_text=True)


def test_after_signing_in_the_next_page_is_kept_when_it_is_a_page_of_the_site(client):
    for target in ("/o/account?q=traders&sort=-name", "/settings", "/search?q=%E7%8E%8B"):
        token = csrf_token(client.get(f"/login?next={target}").get_data(as_text=True))
        response = client.post("/login", data={"username": "li", "password": PASSWORD, "csrf_token": token,
                                               "next": target})
        assert response.headers["Location"] == target
        client.delete_cookie("crmkit_session")


def test_a_signed_in_user_sent_to_login_with_next_logout_goes_home(signed_in):
    client = signed_in("li")
    response = client.get("/login?next=/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/"
