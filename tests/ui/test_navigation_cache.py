"""The navigation is kept rendered per user, rights and language (crmkit/ui/fragments.py): never a stale menu."""
from __future__ import annotations

import re

from tests.ui.conftest import csrf_token, post_form
from tests.webapp import PASSWORD


def navigation(html: str) -> str:
    return html[html.index("<header>"):html.index("</header>")]


def test_a_user_who_loses_a_right_no_longer_sees_its_tab_in_the_kept_navigation(app, signed_in):
    from crmkit.engine.security.users import SystemDirectory

    directory = SystemDirectory(app.extensions["crmkit"].crm)
    user = directory.create_user("losing", password=PASSWORD)
    directory.grant("sales_user", user_id=user.id)
    client = signed_in("losing")
    kept = len(app.extensions["crmkit_fragments"])
    assert 'href="/o/account">Accounts<' in navigation(client.get("/").get_data(as_text=True))
    assert len(app.extensions["crmkit_fragments"]) == kept + 1  # drawn once and kept...
    assert 'href="/o/account">Accounts<' in navigation(client.get("/search?q=").get_data(as_text=True))
    directory.revoke("sales_user", user_id=user.id)
    html = client.get("/").get_data(as_text=True)
    assert 'href="/o/' not in navigation(html)  # ...and not shown once the right is gone
    assert "You have no access to any records yet." in html


def test_the_kept_navigation_follows_the_users_language(signed_in):
    client = signed_in("rep5")
    assert "Sign out" in navigation(client.get("/").get_data(as_text=True))
    post_form(client, "/", "/language", {"language": "zh", "next": "/"})
    chinese = navigation(client.get("/").get_data(as_text=True))
    assert "退出登录" in chinese and ">客户<" in chinese and "Sign out" not in chinese
    post_form(client, "/", "/language", {"language": "en", "next": "/"})
    assert "Sign out" in navigation(client.get("/").get_data(as_text=True))


def test_the_kept_navigation_carries_each_pages_address_and_csrf_token(signed_in):
    client = signed_in("rep6")
    client.get("/o/account")
    html = client.get("/o/account?q=%22%3Cb%3E&sort=name").get_data(as_text=True)
    menu = navigation(html)
    assert '<input type="hidden" name="next" value="/o/account?q=%22%3Cb%3E&amp;sort=name">' in menu
    tokens = set(re.findall(r'name="csrf_token" value="([^"]+)"', menu))
    assert tokens == {csrf_token(html)}
    assert 'name="next" value="/o/account">' in navigation(client.get("/o/account").get_data(as_text=True))


def test_the_global_search_box_keeps_the_text_searched_for(signed_in):
    client = signed_in("rep7")
    for text in ("traders", "<i>acme</i>"):
        menu = navigation(client.get("/search", query_string={"q": text}).get_data(as_text=True))
        assert f'name="q" value="{text.replace("<", "&lt;").replace(">", "&gt;")}"' in menu
