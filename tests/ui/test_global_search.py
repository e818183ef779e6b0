"""The global search page /search?q= and the header box's preview /search/preview?q=.

A CRM of its own (the shared one plus a `dossier` package whose `secret` field is searchable
but readable only by holders of `dossier_secrets`), so its records change no other test's
counts. Users: admin (every field), wang (a sales rep, English), zhou (a sales rep, Chinese).
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask

from tests.ui.conftest import signed_in_client
from tests.webapp import IMAGE_PAYLOAD, PASSWORD, SCRIPT_PAYLOAD, build_web_crm

DOSSIERS = json.dumps({
    "package": "dossiers", "version": "1.0.0", "depends_on": ["default_crm"], "label": "Dossiers",
    "permission_sets": {
        "dossier_user": {"roles": ["sales_rep"], "objects": {"dossier": ["create", "read", "edit", "delete"]}},
        "dossier_secrets": {"roles": [], "fields": {"dossier.secret": ["read", "edit"]}},
    },
    "objects": {"dossier": {
        "label": {"en": "Dossier", "zh": "档案"}, "plural_label": {"en": "Dossiers", "zh": "档案"},
        "sharing": "public_read", "title_field": "name",
        "fields": {
            "name": {"type": "text", "required": True, "searchable": True},
            "summary": {"type": "textarea", "searchable": True, "label": {"en": "Summary", "zh": "摘要"}},
            "secret": {"type": "text", "searchable": True, "label": {"en": "Secret", "zh": "机密"}},
        },
    }},
}, ensure_ascii=False)
LONG_SUMMARY = "Background " * 30 + "the Marrowfield contract " + "and more " * 30


@pytest.fixture(scope="module")
def search_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    from crmkit.engine import Crm
    from crmkit.engine.security.users import SystemDirectory
    from crmkit.ui import create_app

    folder: Path = tmp_path_factory.mktemp("search")
    web = build_web_crm(folder, spare_users=0)
    crm = Crm.open(web.url)
    (folder / "dossiers.json").write_text(DOSSIERS, encoding="utf-8")
    crm.install(folder / "dossiers.json")
    zhou = SystemDirectory(crm).create_user("zhou", display_name="周杰", password=PASSWORD, role="sales_rep",
                                            language="zh")
    crm.as_user(zhou.id).records("account").create({"name": "星辰物流"})
    wang, admin = crm.as_user(web.users["wang"]), crm.as_user(web.users["admin"])
    zephyr = wang.records("account").create({"name": "Zephyrine Robotics Ltd"}).id
    xingchen = wang.records("account").create({"name": "星辰科技有限公司"}).id
    contacts = wang.records("contact")
    contacts.create({"first_name": "Mara", "last_name": "Quillon", "account": zephyr,
                     "email": "mara@zephyrine.example"})
    contacts.create({"first_name": "伟", "last_name": "张", "account": xingchen, "email": "zw@xingchen.example"})
    for number in range(3):
        wang.records("account").create({"name": f"Quillfeather Supply {number}"})
    wang.records("account").create({"name": f"{SCRIPT_PAYLOAD} Quasar Holdings"})
    dossiers = admin.records("dossier")
    dossiers.create({"name": "Tern report", "summary": "Notes on the nightjar survey", "secret": "nightjar informant"})
    dossiers.create({"name": "Heron report", "summary": "Nothing of note", "secret": "nightjar source"})
    dossiers.create({"name": "Long dossier", "summary": LONG_SUMMARY})
    dossiers.create({"name": "张伟档案", "summary": "Met in Shanghai", "secret": "zhangwei"})
    dossiers.create({"name": "Plain dossier", "summary": f"Quoted {SCRIPT_PAYLOAD} and {IMAGE_PAYLOAD} Quasar"})
    app = create_app(crm, {"SECRET_KEY": "global-search-test-secret-key-0123456789"})
    yield app
    crm.close()


@pytest.fixture
def as_user(search_app: Flask):
    return lambda username: signed_in_client(search_app, username, 11)


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def group(page: str, object_name: str) -> str:
    """The HTML of one object's section of the search page ('' when it has none)."""
    found = re.search(rf'<section[^>]*data-object="{object_name}".*?</section>', page, re.S)
    return found[0] if found else ""


def hit(page: str, title_text: str) -> str:
    """The HTML of the hit whose title reads `title_text` (marks left out)."""
    for item in re.findall(r'<li class="list-group-item search-hit">.*?</li>', page, re.S):
        link = re.search(r'<a class="fw-semibold"[^>]*>(.*?)</a>', item, re.S)[1]
        if html.unescape(re.sub(r"<[^>]+>", "", link)) == title_text:
            return item
    raise AssertionError(f"no hit titled {title_text!r}")


def search(client, text: str) -> str:
    response = client.get("/search", query_string={"q": text})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_an_english_company_name_is_found_in_accounts_and_contacts_with_the_words_marked(as_user):
    page = search(as_user("wang"), "zephyrine")
    assert "2 records found for “zephyrine”." in text_of(page)
    account = hit(group(page, "account"), "Zephyrine Robotics Ltd")
    assert '<a class="fw-semibold" href="/r/account/' in account and "<mark>Zephyrine</mark> Robotics Ltd" in account
    contact = hit(group(page, "contact"), "Mara Quillon")
    assert re.search(r'<dt>Email:</dt><dd>mara@<mark>zephyrine</mark>\.example</dd>', contact)


def test_a_two_character_chinese_name_and_a_chinese_company_are_found(as_user):
    page = search(as_user("wang"), "张伟")
    assert "<mark>张伟</mark>" in hit(group(page, "contact"), "张伟")
    assert "search-pinyin" not in hit(group(page, "contact"), "张伟")  # found by its characters
    company = search(as_user("wang"), "星辰")
    assert "<mark>星辰</mark>科技有限公司" in hit(group(company, "account"), "星辰科技有限公司")


def test_a_search_in_chinese_is_answered_in_chinese(as_user):
    page = search(as_user("zhou"), "星辰")
    assert "找到 1 条与“星辰”匹配的记录。" in text_of(page)  # zhou's own account; wang's is private to wang
    assert '<h2 class="h5" id="hits-account">客户' in page
    assert "查看全部客户结果（1）" in text_of(page)


def test_a_match_by_pinyin_is_flagged(as_user):
    for username, title, badge in [("wang", "星辰科技有限公司", "Pinyin match"), ("zhou", "星辰物流", "拼音匹配")]:
        found = hit(group(search(as_user(username), "xingchen"), "account"), title)
        assert f"<mark>星辰</mark>{title[2:]}" in found and badge in found
    page = search(as_user("wang"), "zephyrine")
    assert "Pinyin match" not in page


def test_each_object_shows_its_count_its_best_hits_and_a_link_to_its_list(search_app, as_user, monkeypatch):
    monkeypatch.setitem(search_app.config, "CRMKIT_SEARCH_PER_OBJECT", 2)
    page = search(as_user("wang"), "quillfeather")
    accounts = group(page, "account")
    assert '<span class="badge text-bg-secondary search-count">3</span>' in accounts
    assert len(re.findall(r'class="list-group-item search-hit"', accounts)) == 2
    assert 'href="/o/account?q=quillfeather">See all Accounts found (3)</a>' in accounts
    assert 'href="#hits-account">Accounts <span class="badge text-bg-secondary">3</span>' in page
    assert "3 records found for “quillfeather”." in text_of(page)


def test_a_count_beyond_the_cap_says_more_than(search_app, as_user, monkeypatch):
    monkeypatch.setitem(search_app.config, "CRMKIT_SEARCH_COUNT_CAP", 2)
    monkeypatch.setitem(search_app.config, "CRMKIT_SEARCH_PER_OBJECT", 1)
    page = search(as_user("wang"), "quillfeather")
    assert '<span class="badge text-bg-secondary search-count">2+</span>' in group(page, "account")
    assert "More than 2 records found for “quillfeather”." in text_of(page)


def test_a_field_the_user_may_not_read_never_shows_nor_finds_nor_chooses_the_snippet(as_user):
    rep = search(as_user("wang"), "nightjar")
    assert "Secret" not in rep and "informant" not in rep and "source" not in rep
    assert "Heron report" not in rep  # only its secret holds the word
    tern = hit(group(rep, "dossier"), "Tern report")
    assert "<dt>Summary:</dt><dd>Notes on the <mark>nightjar</mark> survey</dd>" in tern
    admin = search(as_user("admin"), "nightjar")
    assert "<dt>Secret:</dt><dd><mark>nightjar</mark> informant</dd>" in hit(group(admin, "dossier"), "Tern report")
    assert "<dt>Secret:</dt><dd><mark>nightjar</mark> source</dd>" in hit(group(admin, "dossier"), "Heron report")


def test_a_hidden_field_does_not_decide_the_pinyin_flag(as_user):
    """The secret holds "zhangwei" as a word: for the admin the search matched it plainly; the
    rep, who may not read it, sees the match the search made for them, through the name's pinyin."""
    admin = hit(group(search(as_user("admin"), "zhangwei"), "dossier"), "张伟档案")
    rep = hit(group(search(as_user("wang"), "zhangwei"), "dossier"), "张伟档案")
    assert "Pinyin match" not in admin and "<mark>zhangwei</mark>" in admin
    assert "Pinyin match" in rep and "<mark>张伟</mark>档案" in rep and "zhangwei" not in rep


def test_a_long_value_is_cut_around_its_first_match(as_user):
    found = hit(group(search(as_user("wang"), "marrowfield"), "dossier"), "Long dossier")
    snippet = re.search(r"<dd>(.*?)</dd>", found, re.S)[1]
    assert snippet.startswith("…") and snippet.endswith("…") and "the <mark>Marrowfield</mark> contract" in snippet
    assert len(html.unescape(re.sub(r"<[^>]+>", "", snippet))) <= 122


def test_script_in_records_is_shown_as_text_around_the_marks(as_user):
    page = search(as_user("admin"), "quasar")
    assert SCRIPT_PAYLOAD not in page and IMAGE_PAYLOAD not in page
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt; <mark>Quasar</mark> Holdings" in page
    plain = hit(group(page, "dossier"), "Plain dossier")
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt; and &#34;&gt;&lt;img src=x onerror=alert(1)&gt; " \
           "<mark>Quasar</mark>" in plain
    probes = group(search(as_user("wang"), "probe record"), "probe")  # an object label holding a payload
    assert SCRIPT_PAYLOAD not in probes and IMAGE_PAYLOAD not in probes
    assert "See all Probes &lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt; found (1)" in probes
    assert "<mark>Probe</mark> <mark>record</mark> &#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in probes
    marked_tag = search(as_user("admin"), "script")
    assert "&lt;<mark>script</mark>&gt;alert(&#39;xss&#39;)&lt;/<mark>script</mark>&gt;" in marked_tag
    assert "<script>" not in marked_tag.replace('<script src="', "")


def test_no_text_or_too_little_text_asks_for_more_without_searching(as_user):
    client = as_user("wang")
    empty = search(client, "")
    assert "Type a name, a company, an email address or a phone number" in text_of(empty)
    for text in ["a", "7", "a b", "%"]:
        page = search(client, text)
        assert "Type at least two letters or digits, or one Chinese character." in text_of(page), text
        assert "search-hit" not in page and 'id="search-summary"' not in page
    assert "search-hit" in search(client, "张")  # one Chinese character is a search
    assert "输入至少两个字母或数字，或一个汉字。" in text_of(search(as_user("zhou"), "a"))


def test_the_preview_lists_the_best_hits_and_all_results_last(as_user):
    client = as_user("wang")
    response = client.get("/search/preview", query_string={"q": "zephyrine"}, headers={"HX-Request": "true"})
    partial = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in partial
    options = re.findall(r'<a class="list-group-item[^"]*" role="option"[^>]*href="([^"]+)"', partial)
    assert [re.sub(r"\d+$", "", address) for address in options] == ["/r/account/", "/r/contact/",
                                                                      "/search?q=zephyrine"]
    assert "<mark>Zephyrine</mark> Robotics Ltd" in partial and "All results for “zephyrine”" in text_of(partial)
    chinese = client.get("/search/preview", query_string={"q": "xingchen"}, headers={"HX-Request": "true"})
    assert "<mark>星辰</mark>" in chinese.get_data(as_text=True) and "Pinyin match" in chinese.get_data(as_text=True)


def test_the_preview_is_empty_for_too_little_text_and_says_when_nothing_matches(as_user):
    client = as_user("zhou")
    for text in ["", "a"]:
        response = client.get("/search/preview", query_string={"q": text}, headers={"HX-Request": "true"})
        assert response.status_code == 200 and response.get_data(as_text=True) == ""
    none = client.get("/search/preview", query_string={"q": "zzqqxx"}, headers={"HX-Request": "true"})
    assert "没有找到与“zzqqxx”匹配的记录。" in text_of(none.get_data(as_text=True))
    assert "“zzqqxx”的全部结果" in text_of(none.get_data(as_text=True))
    refused = client.get("/search/preview", query_string={"q": " ".join(["ww"] * 40)}, headers={"HX-Request": "true"})
    assert "搜索内容有 40 个词；最多" in text_of(refused.get_data(as_text=True))  # the engine's sentence, in the list


def test_the_preview_follows_the_users_permissions_and_escapes(as_user):
    client = as_user("wang")
    secret = client.get("/search/preview", query_string={"q": "informant"}, headers={"HX-Request": "true"})
    assert "Tern report" not in secret.get_data(as_text=True)
    payload = client.get("/search/preview", query_string={"q": "quasar"}, headers={"HX-Request": "true"})
    assert SCRIPT_PAYLOAD not in payload.get_data(as_text=True)
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt; <mark>Quasar</mark>" in payload.get_data(as_text=True)


def test_the_preview_opened_without_htmx_goes_to_the_search_page(as_user):
    response = as_user("wang").get("/search/preview?q=zephyrine")
    assert response.status_code == 302 and response.headers["Location"] == "/search?q=zephyrine"


def test_the_header_box_asks_for_the_preview_as_the_user_types(as_user):
    page = as_user("wang").get("/").get_data(as_text=True)
    box = re.search(r'<input id="global-search"[^>]*>', page)[0]
    assert 'hx-get="/search/preview"' in box and "delay:250ms" in box and 'role="combobox"' in box
    assert 'aria-controls="search-preview"' in box
    assert re.search(r'<div id="search-preview"[^>]*role="listbox"[^>]*hidden>', page)
