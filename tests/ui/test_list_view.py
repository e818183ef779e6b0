"""The list view /o/<object>: columns from the layout, sort, filters, search, pages, count, export, permissions.

A CRM of its own (the shared one plus a `gadget` package with a field of every filter kind
and a protected field), so the records here change no other test's counts.
"""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask

from tests.ui.conftest import list_titles, signed_in_client
from tests.webapp import PASSWORD, SCRIPT_PAYLOAD, build_web_crm

GADGETS = json.dumps({
    "package": "gadgets", "version": "1.0.0", "depends_on": ["default_crm"], "label": "Gadgets",
    "permission_sets": {
        "gadget_user": {"roles": ["sales_rep"], "objects": {"gadget": ["create", "read", "edit", "delete", "export", "import"]}},
        "gadget_secrets": {"roles": [], "fields": {"gadget.secret": ["read", "edit"]}},
    },
    "objects": {"gadget": {
        "label": {"en": "Gadget", "zh": "小工具"}, "plural_label": {"en": "Gadgets", "zh": "小工具"},
        "sharing": "private", "title_field": "name",
        "fields": {
            "name": {"type": "text", "required": True, "searchable": True},
            "status": {"type": "picklist", "options": ["New", "Used", "Broken"]},
            "price": {"type": "currency"},
            "made_on": {"type": "date"},
            "account": {"type": "lookup", "to": "account"},
            "secret": {"type": "text"},
        },
        "layouts": {"list": {"columns": ["name", "status", "price", "made_on", "account", "secret", "owner_id"],
                             "sort": ["name"]}},
    }},
})
TODAY = date.today()


@pytest.fixture(scope="module")
def list_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    from crmkit.engine import Crm
    from crmkit.engine.security.users import SystemDirectory
    from crmkit.ui import create_app

    folder: Path = tmp_path_factory.mktemp("lists")
    web = build_web_crm(folder, spare_users=0)
    crm = Crm.open(web.url)
    (folder / "gadgets.json").write_text(GADGETS, encoding="utf-8")
    crm.install(folder / "gadgets.json")
    directory = SystemDirectory(crm)
    zhao = directory.create_user("zhao", display_name="赵敏", password=PASSWORD, role="sales_rep")
    wang = crm.as_user(web.users["wang"])
    acme = wang.records("account").create({"name": "Acme Gadget Buyer"}).id
    rows = [
        {"name": "Alpha gadget", "status": "New", "price": "10.50", "made_on": TODAY, "account": acme},
        {"name": "Beta gadget", "status": "Used", "price": "250", "made_on": TODAY - timedelta(days=400)},
        {"name": "Gamma gadget", "status": "Broken", "price": "99.99", "made_on": TODAY - timedelta(days=3)},
        {"name": f"Payload {SCRIPT_PAYLOAD}", "status": "New"},
    ]
    alpha = [wang.records("gadget").create(row) for row in rows][0]
    crm.as_user(web.users["admin"]).records("gadget").update(alpha.id, {"secret": "alpha-secret"},
                                                              version=alpha.version)
    wang.records("gadget").bulk_create([{"name": f"Bulk {number:03d}"} for number in range(120)])
    crm.as_user(zhao.id).records("gadget").create({"name": "Zhao private gadget", "status": "New"})
    app = create_app(crm, {"SECRET_KEY": "list-view-test-secret-key-0123456789"})
    app.config["acme"] = acme
    yield app
    crm.close()


@pytest.fixture
def as_user(list_app: Flask):
    return lambda username: signed_in_client(list_app, username, 9)


def names(html: str) -> list[str]:
    """The record titles of the list's rows, in order."""
    return list_titles(html, "gadget")


def test_a_list_drawn_again_shows_what_changed_since_in_the_row_and_in_the_records_it_points_at(as_user, list_app):
    """Shown values and rows' markup are kept across requests (docs/ui.md, "Speed"): never what was there before."""
    crm = list_app.extensions["crmkit"].crm
    client = as_user("admin")
    page = "/o/gadget?name__contains=alpha"
    assert "Acme Gadget Buyer</a>" in client.get(page).get_data(as_text=True)
    accounts = crm.as_system().records("account")
    acme = accounts.get(list_app.config["acme"])
    accounts.update(acme.id, {"name": "Acme Renamed"}, version=acme.version)  # the gadget row itself is unchanged
    try:
        html = client.get(page).get_data(as_text=True)
        assert "Acme Renamed</a>" in html and "Acme Gadget Buyer" not in html
    finally:
        acme = accounts.get(acme.id)
        accounts.update(acme.id, {"name": "Acme Gadget Buyer"}, version=acme.version)
    gadgets = crm.as_system().records("gadget")
    alpha = gadgets.query({"name": "Alpha gadget"}).records[0]
    gadgets.update(alpha.id, {"price": "11.25"}, version=alpha.version)
    try:
        html = client.get(page).get_data(as_text=True)
        assert "$11.25" in html and "$10.50" not in html
    finally:
        alpha = gadgets.get(alpha.id)
        gadgets.update(alpha.id, {"price": "10.50"}, version=alpha.version)
    # A kept row is used for equal values only, not merely the same version: a change that kept the version
    # (written by hand in the database) is shown too.
    table = crm.runtime.table("gadget")
    with crm.engine.begin() as connection:
        connection.execute(table.update().where(table.c.id == alpha.id).values(status="Used"))
    try:
        html = client.get(page).get_data(as_text=True)
        row = html.split("Alpha gadget", 1)[1].split("</tr>", 1)[0]
        assert ">Used<" in row and ">New<" not in row, row
    finally:
        with crm.engine.begin() as connection:
            connection.execute(table.update().where(table.c.id == alpha.id).values(status="New"))


def test_columns_come_from_the_layout_and_titles_link_to_the_record(as_user):
    html = as_user("admin").get("/o/gadget").get_data(as_text=True)
    headers = re.findall(r'<th scope="col"[^>]*>(?:<a [^>]*>)?\s*([^<]+?)\s*<', html)
    assert headers == ["Name", "Status", "Price", "Made on", "Account", "Secret", "Owner"]
    assert names(html)[:3] == ["Alpha gadget", "Beta gadget", "Bulk 000"]  # the layout's sort: name
    assert 'aria-sort="ascending"' in html


def test_a_lookup_shows_its_records_title_and_links_to_it_and_the_owner_shows_a_name(as_user, list_app):
    html = as_user("wang").get("/o/gadget?name__contains=alpha").get_data(as_text=True)
    assert f'<a href="/r/account/{list_app.config["acme"]}">Acme Gadget Buyer</a>' in html
    assert "<td>王伟</td>" in html


def test_a_header_sorts_and_a_second_click_sorts_the_other_way(as_user):
    client = as_user("wang")
    html = client.get("/o/gadget").get_data(as_text=True)
    assert 'href="/o/gadget?sort=price"' in html
    html = client.get("/o/gadget?price__is_null=false&sort=price").get_data(as_text=True)
    assert names(html) == ["Alpha gadget", "Gamma gadget", "Beta gadget"]
    assert 'aria-sort="ascending"' in html and 'href="/o/gadget?price__is_null=false&amp;sort=-price"' in html
    html = client.get("/o/gadget?price__is_null=false&sort=-price").get_data(as_text=True)
    assert names(html) == ["Beta gadget", "Gamma gadget", "Alpha gadget"] and 'aria-sort="descending"' in html


@pytest.mark.parametrize("query, expected", [
    ("status__in=Used&status__in=Broken", ["Beta gadget", "Gamma gadget"]),
    ("price__gte=50&price__lte=100", ["Gamma gadget"]),
    ("made_on=last_n_days:7", ["Alpha gadget", "Gamma gadget"]),
    (f"made_on__gte={TODAY - timedelta(days=500)}&made_on__lte={TODAY - timedelta(days=100)}", ["Beta gadget"]),
    ("name__contains=GAMMA", ["Gamma gadget"]),
    ("status__is_null=false&price__is_null=true", [f"Payload {SCRIPT_PAYLOAD}".replace("<", "&lt;")
                                                   .replace(">", "&gt;").replace("'", "&#39;")]),
])
def test_each_kind_of_filter_round_trips_through_the_query_string(as_user, query, expected):
    html = as_user("wang").get(f"/o/gadget?{query}").get_data(as_text=True)
    assert names(html) == expected
    assert "<details class=\"mb-3 list-filters\" open>" in html  # the panel shows what is filtered


def test_the_filter_controls_hold_the_values_of_the_query_string(as_user, list_app):
    acme = list_app.config["acme"]
    html = as_user("wang").get(f"/o/gadget?status__in=Used&price__gte=5&made_on=this_year&account__eq={acme}"
                               ).get_data(as_text=True)
    assert '<option value="Used" selected>Used</option>' in html
    assert 'name="price__gte" value="5"' in html
    assert '<option value="this_year" selected>' in html
    assert f'<option value="{acme}" selected>Acme Gadget Buyer</option>' in html
    assert names(html) == []  # acme's gadget is New and made today: nothing has all four


def test_a_plain_field_in_the_address_such_as_a_related_lists_view_all_shows_in_the_filter_panel(as_user, list_app):
    acme = list_app.config["acme"]
    html = as_user("wang").get(f"/o/gadget?account={acme}").get_data(as_text=True)
    assert names(html) == ["Alpha gadget"]
    assert "<details class=\"mb-3 list-filters\" open>" in html
    assert f'<option value="{acme}" selected>Acme Gadget Buyer</option>' in html  # so the next search keeps it
    html = as_user("wang").get("/o/gadget?status=Used").get_data(as_text=True)
    assert '<option value="Used" selected>Used</option>' in html


def test_a_lookup_filter_finds_the_records_pointing_at_the_chosen_one(as_user, list_app):
    html = as_user("wang").get(f"/o/gadget?account__eq={list_app.config['acme']}").get_data(as_text=True)
    assert names(html) == ["Alpha gadget"]
    assert ">1 record<" in html


def test_search_is_live_and_answers_htmx_with_the_results_only(as_user):
    client = as_user("wang")
    page = client.get("/o/gadget").get_data(as_text=True)
    assert 'hx-push-url="true"' in page and "delay:400ms" in page and 'id="list-search"' in page
    response = client.get("/o/gadget?q=gamma", headers={"HX-Request": "true", "HX-Target": "list-results"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert names(html) == ["Gamma gadget"]


def test_pages_follow_the_engines_cursor_forward_and_back(as_user):
    client = as_user("wang")
    first = client.get("/o/gadget").get_data(as_text=True)
    assert len(names(first)) == 50 and ">124 records<" in first and 'rel="prev"' not in first
    next_link = re.search(r'rel="next" href="([^"]+)"', first)[1].replace("&amp;", "&")
    assert "after=" in next_link and "offset" not in next_link
    second = client.get(next_link).get_data(as_text=True)
    assert len(names(second)) == 50 and not set(names(second)) & set(names(first))
    third = client.get(re.search(r'rel="next" href="([^"]+)"', second)[1].replace("&amp;", "&")).get_data(as_text=True)
    assert len(names(third)) == 24 and 'rel="next"' not in third
    back = client.get(re.search(r'rel="prev" href="([^"]+)"', third)[1].replace("&amp;", "&")).get_data(as_text=True)
    assert names(back) == names(second)
    again = client.get(re.search(r'rel="prev" href="([^"]+)"', back)[1].replace("&amp;", "&")).get_data(as_text=True)
    assert names(again) == names(first)


def test_the_count_says_when_it_is_not_exact(list_app, as_user, monkeypatch):
    import crmkit.ui.list_page as list_page

    monkeypatch.setattr(list_page, "COUNT_CAP", 10)
    html = as_user("wang").get("/o/gadget").get_data(as_text=True)
    assert ">More than 10 records<" in html


def test_export_streams_the_current_view_as_csv(as_user):
    response = as_user("wang").get("/o/gadget/export.csv?status__in=New&sort=-name")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="gadget.csv"'
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert [row["Name"] for row in rows] == [f"Payload {SCRIPT_PAYLOAD}", "Alpha gadget"]
    assert "Secret" not in rows[0]  # a field hidden from the rep is not a column
    page = as_user("wang").get("/o/gadget?status__in=New&sort=-name").get_data(as_text=True)
    assert 'href="/o/gadget/export.csv?status__in=New&amp;sort=-name"' in page


def test_an_export_is_logged_with_the_users_name_and_the_address_it_came_from(as_user, list_app):
    from crmkit.engine.security.audit import SecurityLog

    client = as_user("wang")
    assert client.get("/o/gadget/export.csv?sort=name").status_code == 200
    entry = SecurityLog(list_app.extensions["crmkit"].crm).entries(event="records.exported", limit=1)[0]
    assert entry["username"] == "wang" and entry["detail"]["object"] == "gadget"
    assert entry["address"] == client.environ_base["REMOTE_ADDR"]


def test_export_without_the_export_permission_is_refused_with_a_sentence_and_not_offered(as_user):
    response = as_user("wang").get("/o/account/export.csv")
    assert response.status_code == 403
    assert "Traceback" not in response.get_data(as_text=True)
    assert 'id="list-export"' not in as_user("wang").get("/o/account").get_data(as_text=True)
    assert 'id="list-export"' in as_user("wang").get("/o/gadget").get_data(as_text=True)


def test_export_streams_the_current_view_as_xlsx_with_typed_cells_and_text_never_a_formula(as_user, tmp_path):
    from python_calamine import CalamineWorkbook

    response = as_user("wang").get("/o/gadget/export.xlsx?status__in=New&sort=-name")
    assert response.status_code == 200 and response.headers["Content-Disposition"] == \
        'attachment; filename="gadget.xlsx"'
    path = tmp_path / "gadget.xlsx"
    path.write_bytes(response.get_data())
    header, *rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    assert "Name" in header and "Secret" not in header
    assert [row[header.index("Name")] for row in rows] == [f"Payload {SCRIPT_PAYLOAD}", "Alpha gadget"]
    page = as_user("wang").get("/o/gadget?status__in=New&sort=-name").get_data(as_text=True)
    assert 'href="/o/gadget/export.xlsx?status__in=New&amp;sort=-name"' in page


def test_export_streams_the_current_view_as_json_for_programs(as_user):
    response = as_user("wang").get("/o/gadget/export.json?status__in=New&sort=-name")
    assert response.status_code == 200 and response.mimetype == "application/json"
    rows = response.get_json()
    assert [row["name"] for row in rows] == [f"Payload {SCRIPT_PAYLOAD}", "Alpha gadget"]
    assert all("secret" not in row for row in rows)
    assert as_user("wang").get("/o/account/export.json").status_code == 403


def test_a_rep_sees_only_their_rows_and_no_hidden_field(as_user):
    html = as_user("wang").get("/o/gadget?limit=200").get_data(as_text=True)
    assert "Zhao private gadget" not in html and "Alpha gadget" in html
    assert ">Secret<" not in html and "alpha-secret" not in html and 'name="secret__contains"' not in html
    admin = as_user("admin").get("/o/gadget?limit=200").get_data(as_text=True)
    assert "Zhao private gadget" in admin and "alpha-secret" in admin
    zhao = as_user("zhao").get("/o/gadget").get_data(as_text=True)
    assert names(zhao) == ["Zhao private gadget"]


def test_filtering_on_a_hidden_field_is_refused_like_an_unknown_one(as_user):
    response = as_user("wang").get("/o/gadget?secret__contains=alpha")
    assert response.status_code == 400
    assert "This list could not be shown:" in response.get_data(as_text=True)


def test_stored_script_is_escaped_in_cells(as_user):
    html = as_user("wang").get("/o/gadget?name__contains=payload").get_data(as_text=True)
    assert SCRIPT_PAYLOAD not in html
    assert "Payload &lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in html


def test_a_bad_filter_value_is_a_sentence_beside_the_filters_not_a_500(as_user):
    client = as_user("wang")
    for query, words in [("price__gte=abc", "is not a valid value for Price"),
                         ("after=garbage", "cursor"), ("sort=nosuchfield", "nosuchfield"),
                         ("price__between=1", "takes two values")]:
        response = client.get(f"/o/gadget?{query}")
        html = response.get_data(as_text=True)
        assert response.status_code == 400, query
        assert words in html and 'id="list-problem"' in html and 'id="list-search"' in html, query
    partial = client.get("/o/gadget?price__gte=abc", headers={"HX-Request": "true", "HX-Target": "list-results"})
    assert partial.status_code == 400 and "<html" not in partial.get_data(as_text=True)


def test_a_bad_filter_value_names_the_field_by_its_label_on_every_page_of_the_object(as_user):
    client = as_user("wang")
    for address in ("/o/gadget?price__gte=abc", "/o/gadget?made_on__gte=someday", "/o/gadget/export.csv?price__gt=x"):
        text = client.get(address).get_data(as_text=True)
        assert re.search(r"for (Price|Made on)|on (Price|Made on)", text), address
        assert not re.search(r"for (price|made_on)\b|on (price|made_on)\b", text), address


def test_an_empty_list_and_a_view_without_matches_say_so(as_user):
    client = as_user("wang")
    assert "No records match this view." in client.get("/o/gadget?q=zzzqqq").get_data(as_text=True)
    assert "There are no Campaigns yet." in as_user("admin").get("/o/campaign").get_data(as_text=True)


def test_an_unknown_object_is_not_found(as_user):
    assert as_user("wang").get("/o/nosuchobject").status_code == 404


def test_the_list_speaks_chinese(list_app, as_user):
    from crmkit.engine.security.users import SystemDirectory

    SystemDirectory(list_app.extensions["crmkit"].crm).set_preferences(
        SystemDirectory(list_app.extensions["crmkit"].crm).by_username("zhao").id, language="zh")
    html = as_user("zhao").get("/o/gadget").get_data(as_text=True)
    assert "1 条记录" in html and "导出 CSV" in html and "筛选" in html and "搜索小工具" in html


def test_a_list_page_reads_the_rights_once_for_all_its_engine_calls(as_user, list_app):
    """The page's reads share one connection and one operation read (UserContext.snapshot; docs/ui.md, "Speed")."""
    from sqlalchemy import event

    client = as_user("wang")
    client.get("/o/gadget")  # what a policy reads once and keeps (access.py) is read before counting
    engine = list_app.extensions["crmkit"].crm.engine
    statements: list[str] = []

    def executed(connection, cursor, statement, *rest) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", executed)
    try:
        html = client.get("/o/gadget?status=New").get_data(as_text=True)
    finally:
        event.remove(engine, "before_cursor_execute", executed)
    assert "Alpha gadget" in html and "Zhao private gadget" not in html and "alpha-secret" not in html
    operation_reads = [sql for sql in statements if "crmkit_metadata_state" in sql]
    assert len(operation_reads) == 1, statements  # the page's snapshot: the request's context is made lazily
    assert len([sql for sql in statements if sql != "BEGIN"]) <= 9, statements


def test_a_streamed_exports_entries_carry_its_address_and_an_entry_after_the_request_none(as_user, list_app):
    """engine/security/audit.py `client_address`: the export's entries, the one written when its stream is read to
    the end too (after the view returned), say where the request came from; an entry written after the request, in
    the same thread but outside any request, has no address (the request's is not left behind)."""
    from crmkit.engine.security.audit import SecurityLog

    log = SecurityLog(list_app.extensions["crmkit"].crm)
    client = as_user("wang")
    streamed = client.get("/o/gadget/export.csv?sort=name", buffered=False)
    assert b"".join(streamed.response).count(b"\n") > 1
    streamed.close()
    log.record("attack15.outside")
    entries = [(entry["event"], entry["username"], entry["address"]) for entry in log.entries(limit=3)]
    address = client.environ_base["REMOTE_ADDR"]
    assert entries == [("attack15.outside", None, None), ("records.export_completed", "wang", address),
                       ("records.exported", "wang", address)]
