"""The pages of the web application's foundation: home and navigation, search, settings, language."""
from __future__ import annotations

import html
import re

import pytest

from tests.ui.conftest import post_form
from tests.webapp import PASSWORD, SCRIPT_PAYLOAD


def test_home_lists_the_objects_the_user_may_read_grouped_by_package(signed_in):
    html = signed_in("wang").get("/").get_data(as_text=True)
    assert "Welcome, 王伟" in html
    assert "Standard CRM" in html and 'href="/o/account">Accounts<' in html and 'href="/o/opportunity"' in html
    assert 'href="/o/probe"' in html  # the probe package grants sales reps read on it


def test_navigation_leaves_out_objects_without_read_access(app, signed_in, web_crm):
    from crmkit.engine.security.users import SystemDirectory

    directory = SystemDirectory(app.extensions["crmkit"].crm)
    nobody = directory.create_user("nobody", password=PASSWORD)
    client = signed_in("nobody")
    html = client.get("/").get_data(as_text=True)
    assert 'href="/o/' not in html
    assert "You have no access to any records yet." in html
    directory.grant("sales_user", user_id=nobody.id)  # the navigation is kept per set of rights: this is a new one
    assert 'href="/o/account">Accounts<' in client.get("/").get_data(as_text=True)


def test_a_detail_object_is_no_tab_and_is_reached_from_its_masters_related_list(app, signed_in):
    from crmkit.ui.navigation import build_apps, detail_master

    client = signed_in("admin")
    home = client.get("/").get_data(as_text=True)
    assert 'href="/o/quote"' in home and 'href="/o/quote_line"' not in home  # quote line items: details of a quote
    crm = app.extensions["crmkit"].crm
    quote = crm.as_system().records("quote").create({"name": "Navigation Quote"})
    registry = crm.registry
    assert detail_master(registry, "quote_line") == "quote"
    assert detail_master(registry, "contact") is None  # its account lookup is not required
    assert detail_master(registry, "quote") is None  # its opportunity lookup cascades but is not required
    assert client.get("/o/quote_line").status_code == 200  # the address still works
    tabs = {tab.object for built in build_apps(registry, lambda name: name != "quote") for tab in built.tabs}
    assert "quote_line" in tabs  # a master the user may not read leaves the details nowhere else to be found
    detail = client.get(f"/r/quote/{quote.id}").get_data(as_text=True)
    assert f'href="/o/quote_line/new?quote={quote.id}"' in detail and f'href="/o/quote_line?quote={quote.id}"' in detail


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


@pytest.fixture(scope="module")
def searched(app, web_crm) -> None:
    """Two accounts under a word no other test writes (the database is shared by the worker's UI
    tests, so a count of hits for a common word would depend on which tests ran before):
    wang's, and li's private one."""
    crm = app.extensions["crmkit"].crm
    crm.as_user(web_crm.users["wang"]).records("account").create({"name": "Wang Quillwort Partners"})
    crm.as_user(web_crm.users["li"]).records("account").create({"name": "Li Quillwort Partners"})


def test_search_finds_what_the_user_may_see_grouped_by_object_and_links_to_the_record(signed_in, searched):
    page = signed_in("wang").get("/search?q=quillwort").get_data(as_text=True)
    assert "Wang Quillwort Partners" in text_of(page)
    assert "Li Quillwort Partners" not in text_of(page)  # li's private account
    assert '<h2 class="h5" id="hits-account">Accounts' in page
    assert "1 record found for “quillwort”." in text_of(page)
    assert 'href="/r/account/' in page


def test_the_administrator_finds_every_record(signed_in, searched):
    page = text_of(signed_in("admin").get("/search?q=quillwort").get_data(as_text=True))
    assert "Wang Quillwort Partners" in page and "Li Quillwort Partners" in page
    assert "2 records found" in page


def test_a_full_page_of_hits_shows_them_with_the_count_and_a_link_to_the_rest(app, signed_in, searched, monkeypatch):
    """The page once said "the best 1 matches are shown" and then showed none of them."""
    monkeypatch.setitem(app.config, "CRMKIT_SEARCH_PER_OBJECT", 1)
    page = signed_in("admin").get("/search?q=quillwort").get_data(as_text=True)
    assert "2 records found for “quillwort”." in text_of(page)
    assert len(re.findall(r'<a class="fw-semibold" href="/r/account/\d+">[^<]*<mark>Quillwort</mark>[^<]*</a>',
                          page)) == 1
    assert 'href="/o/account?q=quillwort">See all Accounts found (2)</a>' in page


def test_a_search_without_hits_or_without_text_says_so(signed_in):
    client = signed_in("li")
    assert "Nothing found for “zzzqqq”." in client.get("/search?q=zzzqqq").get_data(as_text=True)
    assert 'id="search-summary"' not in client.get("/search").get_data(as_text=True)
    assert 'id="search-hint"' in client.get("/search").get_data(as_text=True)


def test_an_overlong_search_is_refused_with_a_sentence(signed_in):
    response = signed_in("li").get("/search", query_string={"q": "x" * 201})
    assert response.status_code == 400
    assert "A search is at most 200 characters." in response.get_data(as_text=True)


def test_switching_to_chinese_changes_the_texts_the_labels_and_the_profile(app, signed_in, web_crm):
    from crmkit.engine.security.users import SystemDirectory

    client = signed_in("rep3")
    response = post_form(client, "/", "/language", {"language": "zh", "next": "/search?q=traders"})
    assert response.headers["Location"] == "/search?q=traders"
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="zh">' in html
    assert "标准 CRM" in html and ">客户<" in html and "退出登录" in html
    assert f"探针们 {SCRIPT_PAYLOAD}" not in html and "探针们 &lt;script&gt;" in html
    assert SystemDirectory(app.extensions["crmkit"].crm).get(web_crm.users["rep3"]).language == "zh"
    post_form(client, "/", "/language", {"language": "en"})
    assert ">Accounts<" in client.get("/").get_data(as_text=True)


def test_before_sign_in_the_language_choice_is_kept_in_the_cookie(client):
    post_form(client, "/login", "/language", {"language": "zh", "next": "/login"})
    assert "用户名" in client.get("/login").get_data(as_text=True)


def test_settings_change_language_and_time_zone(signed_in):
    client = signed_in("rep4")
    response = post_form(client, "/settings", "/settings/preferences", {"language": "zh", "timezone": "Asia/Shanghai"})
    assert response.status_code == 303 and response.headers["Location"] == "/settings"  # redirect after post
    html = client.get("/settings").get_data(as_text=True)
    assert "您的设置已保存。" in html
    assert '<option value="Asia/Shanghai" selected>(UTC+08:00) 上海</option>' in html
    assert '<optgroup label="亚洲">' in html


@pytest.mark.parametrize("zone", ["Mars/Base", "localtime", "Factory", "posixrules", "Etc/GMT+8", "US/Pacific"])
def test_settings_refuse_a_zone_that_names_no_place_and_keep_the_old_one(signed_in, zone):
    client = signed_in("rep5")
    response = post_form(client, "/settings", "/settings/preferences", {"language": "zh", "timezone": zone})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "That time zone is not known. Choose one from the list." in page
    assert '<option value="zh" lang="zh" selected>' in page  # what was chosen stays chosen
    assert '<option value="UTC" selected>(UTC+00:00) UTC</option>' in client.get("/settings").get_data(as_text=True)
    assert ">localtime<" not in page and ">Factory<" not in page


def test_a_failed_settings_form_leaves_the_browser_on_an_address_that_reloads(signed_in):
    client = signed_in("rep5")
    for action, data in [("/settings/preferences", {"language": "xx", "timezone": "UTC"}),
                         ("/settings/password", {"current_password": "x", "new_password": "y",
                                                 "confirm_password": "z"})]:
        assert post_form(client, "/settings", action, data).status_code == 422
        reloaded = client.get(action)  # what reload (or opening the address again) does
        assert reloaded.status_code == 200 and 'id="timezone"' in reloaded.get_data(as_text=True)


@pytest.mark.parametrize("weak, why", [
    ("password1234", "This is a very common password."),
    ("aaaaaaaaaaaa", 'Repeats like &#34;aaa&#34; are easy to guess.'),
    ("rep7rep7rep7rep7", "The password contains your username"),
])
def test_a_weak_new_password_is_refused_saying_why_and_how_to_choose_better(signed_in, weak, why):
    client = signed_in("rep7")
    response = post_form(client, "/settings", "/settings/password", {
        "current_password": PASSWORD, "new_password": weak, "confirm_password": weak})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and why in page
    assert "Add another word or two. Uncommon words are better." in page or "unrelated words" in page
    assert weak not in page  # a password is never sent back


def test_a_weak_password_is_refused_in_chinese_too(signed_in):
    client = signed_in("rep7")
    post_form(client, "/settings", "/language", {"language": "zh", "next": "/settings"})
    response = post_form(client, "/settings", "/settings/password", {
        "current_password": PASSWORD, "new_password": "password1234", "confirm_password": "password1234"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "密码太容易被猜到。" in page and "这是一个非常常见的密码。" in page
    post_form(client, "/settings", "/language", {"language": "en", "next": "/settings"})


def test_changing_the_password_needs_the_current_one_and_keeps_this_session(app, client, signed_in):
    signed_in("rep6")
    wrong = post_form(client, "/settings", "/settings/password", {
        "current_password": "not it at all", "new_password": "a new long passphrase",
        "confirm_password": "a new long passphrase"})
    assert wrong.status_code == 422 and "The current password is incorrect." in wrong.get_data(as_text=True)
    differ = post_form(client, "/settings", "/settings/password", {
        "current_password": PASSWORD, "new_password": "a new long passphrase", "confirm_password": "another"})
    assert differ.status_code == 422
    beside = re.search(r'id="confirm_password-problem" class="invalid-feedback"[^>]*>([^<]+)<', differ.get_data(as_text=True))
    assert beside and "differ" in beside[1]  # beside the repeat box, not above the form
    weak = post_form(client, "/settings", "/settings/password", {
        "current_password": PASSWORD, "new_password": "short", "confirm_password": "short"})
    assert weak.status_code == 422 and "The password needs at least 12 characters." in weak.get_data(as_text=True)
    done = post_form(client, "/settings", "/settings/password", {
        "current_password": PASSWORD, "new_password": "a new long passphrase",
        "confirm_password": "a new long passphrase"})
    assert done.status_code == 303
    assert "Your password has been changed." in client.get("/settings").get_data(as_text=True)
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "10.99.0.1"
    from tests.ui.conftest import sign_in

    assert sign_in(other, "rep6", PASSWORD).status_code == 401
    assert sign_in(other, "rep6", "a new long passphrase").status_code == 302
