"""Every flow of the web application over a field of every field type (tests/packages/every_field_type.yaml).

A CRM of its own: the shared one plus the package, whose `specimen` object holds a field of
every registered field type, a layout with sections, `visible_when`, a dependent picklist
and a validation rule. Sales reps get the package's permission set, which hides `secret`.
"""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Callable, Iterator

import pytest
import yaml
from flask import Flask
from markupsafe import escape
from flask.testing import FlaskClient

from tests.ui.conftest import csrf_token, list_titles, signed_in_client
from tests.ui.test_record_pages import input_value, post, record_id, text_of
from tests.webapp import EVERY_FIELD_TYPE, IMAGE_PAYLOAD, PASSWORD, SCRIPT_PAYLOAD, build_every_field_type_crm

CREDIT_CODE = "91350100M000100Y43"
TODAY = date.today()
#: What a person types into every widget of the new-record form (multi-picklists: several values).
TYPED = {
    "name": "Complete specimen", "notes": "Line one\nLine two", "headcount": "42", "score": "3.142",
    "budget": "1234.5", "discount": "12.5", "active": "true", "starts_on": "2026-03-01",
    "kickoff": "2026-03-01T09:30:00", "email": "complete@example.com", "phone": "+86 10 8888 8888",
    "website": "example.com", "stage": "Lost", "loss_reason": "Price", "tags": ["Red", "Blue"],
    "mobile": "138 1234 5678", "credit_code": CREDIT_CODE, "secret": "kept from reps",
}


@pytest.fixture(scope="module")
def specimen_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    from crmkit.engine import Crm
    from crmkit.engine.security.users import SystemDirectory
    from crmkit.ui import create_app

    web = build_every_field_type_crm(tmp_path_factory.mktemp("specimens"))
    crm = Crm.open(web.url)
    zhou = SystemDirectory(crm).create_user("zhou", display_name="周杰", password=PASSWORD, role="sales_rep",
                                            language="zh", timezone="Asia/Shanghai")
    wang, li = crm.as_user(web.users["wang"]), crm.as_user(web.users["li"])
    group = wang.records("specimen_group").create({"name": "North group"}).id
    rows = [
        {"name": "Apple specimen", "headcount": 5, "budget": "100", "discount": "10", "starts_on": TODAY,
         "kickoff": "2026-01-05T08:00:00Z", "stage": "Working", "tags": ["Red"], "group": group, "active": True,
         "email": "apple@example.com", "mobile": "13800000001"},
        {"name": "Berry specimen", "headcount": 500, "budget": "9000", "starts_on": TODAY - timedelta(days=400),
         "stage": "Lost", "loss_reason": "Timing", "tags": ["Green", "Blue"], "active": False},
        {"name": "Cherry specimen", "score": "7.5", "starts_on": TODAY - timedelta(days=3), "notes": "=1+2",
         "website": "https://cherry.example.com", "phone": "+1 555 0100"},
    ]
    ids = [wang.records("specimen").create(row).id for row in rows]
    wang.records("specimen_item").create({"name": "Apple item", "specimen": ids[0]})
    li.records("specimen").create({"name": "Li private specimen"})
    crm.as_user(zhou.id).records("specimen").create(
        {"name": "周的样本", "stage": "Lost", "loss_reason": "Price", "tags": ["Red", "Blue"], "group": group,
         "budget": "-5", "score": "1234567.125", "kickoff": "2026-01-05T20:30:00Z", "starts_on": "2026-02-28",
         "active": False, "notes": "+86 starts like a formula"})
    app = create_app(crm, {"SECRET_KEY": "every-field-type-test-secret-key-0123456789"})
    app.config.update(group=group, specimens=ids, users=web.users)
    yield app
    crm.close()


@pytest.fixture
def as_user(specimen_app: Flask) -> Callable[[str], FlaskClient]:
    return lambda username: signed_in_client(specimen_app, username, 8)


def names(html: str) -> list[str]:
    """The record titles of the list's rows, in order."""
    return list_titles(html, "specimen")


def test_the_package_has_a_field_of_every_registered_field_type(catalog):
    package = yaml.safe_load(EVERY_FIELD_TYPE.read_text(encoding="utf-8"))
    used = {fdef["type"] for fdef in package["objects"]["specimen"]["fields"].values()}
    assert set(catalog.kinds) - used == set(), f"add a field of each new type to {EVERY_FIELD_TYPE.name}"


def test_a_record_with_every_widget_filled_is_created_shown_edited_and_edited_in_place(as_user, specimen_app):
    client = as_user("wang")
    typed = {**TYPED, "group": str(specimen_app.config["group"])}
    del typed["secret"]  # hidden from reps: not in their form
    form = client.get("/o/specimen/new").get_data(as_text=True)
    assert 'name="secret"' not in form and 'name="loss_reason"' not in form  # hidden field; visible_when
    for name in set(typed) - {"loss_reason"}:
        assert f'name="{name}"' in form, name
    created = post(client, "/o/specimen/new", "/o/specimen/new", typed)
    assert created.status_code == 303, text_of(created)
    specimen = record_id(created.headers["Location"])
    detail = text_of(client.get(f"/r/specimen/{specimen}"))
    for shown in ["Complete specimen", "SP-0", "Line one", "42", "3.142", "1,234.50", "12.50%", "Yes", "Mar 1, 2026",
                  "complete@example.com", "+86 10 8888 8888", "https://example.com", "Lost", "Price", "Red", "Blue",
                  "North group", "246.90", "138 1234 5678", CREDIT_CODE, "Main", "Numbers", "Contact"]:
        assert shown in detail, shown
    assert "kept from reps" not in detail and "Secret" not in detail

    edit = client.get(f"/r/specimen/{specimen}/edit").get_data(as_text=True)
    assert input_value(edit, "headcount") == "42" and input_value(edit, "starts_on") == "2026-03-01"
    assert re.search(r'<option value="Price" selected>', edit) and re.search(r'<option value="Blue" selected>', edit)
    changed = {**typed, "headcount": "43", "tags": ["Green"], "version": input_value(edit, "version")}
    assert post(client, f"/r/specimen/{specimen}/edit", f"/r/specimen/{specimen}/edit", changed).status_code == 303

    page = client.get(f"/r/specimen/{specimen}").get_data(as_text=True)
    for name, value, shown in [
            ("headcount", "44", "44"), ("budget", "10", "$10.00"), ("kickoff", "2026-04-01T10:00:00", "Apr 1, 2026"),
            ("website", "https://other.example.com", "https://other.example.com"), ("loss_reason", "", "No value"),
            ("stage", "Working", "Working"), ("tags", "Red", "Red"), ("notes", "Edited in place", "Edited in place"),
            ("mobile", "13900000000", "139 0000 0000"), ("active", "", "No")]:
        field = f"/r/specimen/{specimen}/field/{name}"
        editor = client.get(field, headers={"HX-Request": "true"})
        assert editor.status_code == 200, name
        saved = client.post(field, data={name: value, "version": input_value(editor.get_data(as_text=True), "version"),
                                         "csrf_token": csrf_token(page)}, headers={"HX-Request": "true"})
        assert saved.status_code == 200 and shown in text_of(saved), (name, text_of(saved))
    detail = text_of(client.get(f"/r/specimen/{specimen}"))
    assert "Edited in place" not in detail and "Details" not in detail  # its section shows only while active


def test_each_widget_refuses_what_its_type_cannot_store_and_keeps_what_was_typed(as_user):
    client = as_user("wang")
    bad = {"name": "", "headcount": "4.5", "score": "many", "budget": "1e30", "discount": "120",
           "starts_on": "31/02/2026", "kickoff": "tomorrow", "email": "not-an-email", "phone": "call me",
           "website": "javascript:alert(1)", "stage": "Unknown", "tags": ["Purple"], "group": "999999",
           "mobile": "12812345678", "credit_code": "91350100M000100Y44"}
    refused = post(client, "/o/specimen/new", "/o/specimen/new", bad)
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    for name in set(bad) - {"tags"}:
        assert f'id="field-{name}-errors"' in page, name
    assert 'id="field-tags-errors"' in page
    assert input_value(page, "score") == "many" and input_value(page, "email") == "not-an-email"


def test_a_validation_rule_and_a_dependent_picklist_are_explained_beside_their_fields(as_user):
    client = as_user("wang")
    dependent = post(client, "/o/specimen/new", "/o/specimen/new",
                     {"name": "Rule breaker", "stage": "Working", "loss_reason": "Price"})
    assert dependent.status_code == 422
    assert "No value is allowed while Stage is 'Working'; leave it empty." in text_of(dependent)
    assert 'name="loss_reason"' in dependent.get_data(as_text=True)  # a field with an error is shown
    rule = post(client, "/o/specimen/new", "/o/specimen/new", {"name": "Rule breaker", "discount": "60"})
    assert rule.status_code == 422 and "A discount over 50% needs a budget." in text_of(rule)
    assert 'id="field-discount-errors"' in rule.get_data(as_text=True)


def test_every_column_is_shown_and_a_rep_never_sees_the_hidden_field_or_others_records(as_user):
    admin = as_user("admin").get("/o/specimen").get_data(as_text=True)
    wang = as_user("wang").get("/o/specimen").get_data(as_text=True)
    for label in ["Name", "Code", "Notes", "Headcount", "Score", "Budget", "Discount", "Active", "Starts on",
                  "Kickoff", "Email", "Phone", "Website", "Stage", "Loss reason", "Tags", "Group", "Margin", "Items",
                  "Mobile", "Credit code", "Owner"]:
        assert f">{label}<" in admin, label
        assert f">{label}<" in wang, label
    assert ">Secret<" in admin and ">Secret<" not in wang
    assert "Li private specimen" in admin and "Li private specimen" not in wang
    assert "Apple specimen" in wang and "SP-0001" in wang and "North group" in wang and "Red" in wang


@pytest.mark.parametrize("query, expected", [
    ("starts_on=last_n_days:7", ["Apple specimen", "Cherry specimen"]),
    ("starts_on=today", ["Apple specimen"]),
    (f"starts_on__gte={TODAY - timedelta(days=500)}&starts_on__lte={TODAY - timedelta(days=100)}", ["Berry specimen"]),
    ("kickoff__gte=2026-01-05&kickoff__lte=2026-01-05", ["Apple specimen"]),
    ("headcount__gte=10&headcount__lte=1000", ["Berry specimen"]),
    ("budget__gte=50&budget__lte=200", ["Apple specimen"]),
    ("score__gte=7", ["Cherry specimen"]),
    ("discount__is_null=false", ["Apple specimen"]),
    ("stage__in=Working&stage__in=Lost", ["Apple specimen", "Berry specimen"]),
    ("loss_reason__in=Timing", ["Berry specimen"]),
    ("tags__contains=Blue", ["Berry specimen"]),
    ("active__eq=false", ["Berry specimen"]),
    ("item_count__gte=1", ["Apple specimen"]),
    ("margin__gte=1000", ["Berry specimen"]),
    ("email__contains=APPLE", ["Apple specimen"]),
    ("mobile__startswith=138000", ["Apple specimen"]),
    ("website__contains=cherry", ["Cherry specimen"]),
    ("notes__contains==1", ["Cherry specimen"]),
    ("q=berry", ["Berry specimen"]),
])
def test_every_filter_widget_narrows_the_list(as_user, query, expected):
    found = [name for name in names(as_user("wang").get(f"/o/specimen?{query}").get_data(as_text=True))
             if name != "Complete specimen"]  # made by another test of this module
    assert found == expected


def test_the_lookup_filter_and_the_owner_filter(as_user, specimen_app):
    client = as_user("wang")
    html = client.get(f"/o/specimen?group__eq={specimen_app.config['group']}").get_data(as_text=True)
    assert "Apple specimen" in names(html)
    assert f'<option value="{specimen_app.config["group"]}" selected>North group</option>' in html
    assert "Berry specimen" in names(client.get("/o/specimen?group__is_null=true").get_data(as_text=True))
    users = specimen_app.config["users"]
    assert "Apple specimen" in names(client.get(f"/o/specimen?owner_id__eq={users['wang']}").get_data(as_text=True))
    assert names(client.get(f"/o/specimen?owner_id__eq={users['li']}").get_data(as_text=True)) == []  # not hers to see
    admin = as_user("admin").get(f"/o/specimen?owner_id__eq={users['li']}").get_data(as_text=True)
    assert names(admin) == ["Li private specimen"]


def exported(client: FlaskClient, address: str) -> list[dict[str, str]]:
    """The rows of a CSV export, by column label; the file starts with Excel's UTF-8 byte order mark."""
    response = client.get(address)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_the_csv_export_is_what_the_user_reads_in_cells_a_spreadsheet_keeps(as_user):
    rows = exported(as_user("wang"), "/o/specimen/export.csv?sort=name")
    by_name = {row["Name"]: row for row in rows}
    assert {"ID", "Code", "Notes", "Headcount", "Score", "Budget", "Discount", "Active", "Starts on", "Kickoff", "Email",
            "Phone", "Website", "Stage", "Loss reason", "Tags", "Group", "Margin", "Items", "Mobile", "Credit code",
            "Owner", "Created", "Last modified"} == set(rows[0]) - {"Name"}  # labels; the hidden Secret is no column
    assert "Li private specimen" not in by_name and "周的样本" not in by_name  # the rep's own rows only
    apple, berry, cherry = by_name["Apple specimen"], by_name["Berry specimen"], by_name["Cherry specimen"]
    assert apple["Group"] == "North group" and berry["Group"] == ""  # a lookup is its record's title
    assert apple["Owner"] == "王伟"  # a user lookup is the user's display name
    assert berry["Stage"] == "Lost" and berry["Loss reason"] == "Timing" and berry["Tags"] == "Green; Blue"
    assert apple["Headcount"] == "5" and apple["Budget"] == "100.00" and berry["Budget"] == "9000.00"  # exact, no $
    assert apple["Margin"] == "20.00" and apple["Items"] == "1" and cherry["Score"] == "7.500"
    assert apple["Discount"] == "10.00" and apple["Active"] == "TRUE" and berry["Active"] == "FALSE"
    assert apple["Starts on"] == TODAY.isoformat() and apple["Kickoff"] == "2026-01-05 08:00:00"  # Wang: UTC
    assert cherry["Notes"] == "'=1+2"  # OWASP CSV injection: shown as text, never run


def test_the_csv_export_speaks_the_users_language_and_time_zone_and_keeps_numbers_numbers(as_user):
    (row,) = exported(as_user("zhou"), "/o/specimen/export.csv")
    assert {"名称", "阶段", "丢失原因", "标签", "组", "预算", "得分", "启动时间", "开始日期", "有效", "负责人"} <= set(row)
    assert "机密" not in row
    assert (row["阶段"], row["丢失原因"], row["标签"], row["组"]) == ("已丢失", "价格", "红; 蓝", "North group")
    assert row["预算"] == "-5.00" and row["得分"] == "1234567.125"  # a negative number stays a number: no "'"
    assert row["启动时间"] == "2026-01-06 04:30:00" and row["开始日期"] == "2026-02-28"  # Asia/Shanghai, ISO
    assert row["有效"] == "FALSE" and row["负责人"] == "周杰" and row["备注"] == "'+86 starts like a formula"


def test_the_csv_export_streams_in_batches_reading_titles_per_batch(as_user, monkeypatch):
    import crmkit.ui.csv_export as csv_export

    monkeypatch.setattr(csv_export, "BATCH", 1)
    calls = []
    original = csv_export.lookup_titles
    monkeypatch.setattr(csv_export, "lookup_titles", lambda *args: calls.append(len(args[2])) or original(*args))
    rows = exported(as_user("wang"), "/o/specimen/export.csv?sort=name")
    assert len(rows) >= 3 and calls == [1] * len(rows)  # one row at a time, each row's titles read with it
    assert {row["Name"]: row["Group"] for row in rows}["Apple specimen"] == "North group"


def test_search_and_lookup_suggestions_find_only_what_the_user_may_see(as_user, specimen_app):
    wang = as_user("wang")
    assert "Berry specimen" in text_of(wang.get("/search?q=berry"))
    assert "Li private specimen" not in text_of(wang.get("/search?q=private"))
    assert "Li private specimen" in text_of(as_user("admin").get("/search?q=private"))
    suggested = json.loads(wang.get("/o/specimen_group/suggest?q=north").get_data(as_text=True))
    assert suggested == [{"value": str(specimen_app.config["group"]), "text": "North group"}]
    assert json.loads(wang.get("/o/specimen/suggest?q=private").get_data(as_text=True)) == []


# ---- stored script in every field type and every label ------------------------------------------------------------

PAYLOADS = f" {SCRIPT_PAYLOAD}{IMAGE_PAYLOAD}"
#: Keys whose values are texts a person reads: labels, titles, help, validation messages.
LABEL_KEYS = frozenset({"label", "plural_label", "title", "help", "message"})
#: What a spreadsheet would run (OWASP CSV injection), stored in text fields.
SPREADSHEET_FORMULA = "=cmd|' /C calc'!A0"


def with_payloads(node: object, key: str | None = None) -> object:
    """The package with both payloads appended to every label, plural label, section title, help text,
    option label and validation message, in every language."""
    if key in LABEL_KEYS and isinstance(node, str):
        return node + PAYLOADS
    if key in LABEL_KEYS and isinstance(node, dict):
        return {language: text + PAYLOADS for language, text in node.items()}
    if isinstance(node, dict):
        return {name: with_payloads(value, name) for name, value in node.items()}
    if isinstance(node, list):
        return [with_payloads(item) for item in node]
    return node


@pytest.fixture(scope="module")
def payload_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    from crmkit.engine import Crm
    from crmkit.ui import create_app

    folder: Path = tmp_path_factory.mktemp("payloads")
    package = folder / "every_field_type.json"
    package.write_text(json.dumps(with_payloads(yaml.safe_load(EVERY_FIELD_TYPE.read_text(encoding="utf-8")))),
                       encoding="utf-8")
    web = build_every_field_type_crm(folder, package)
    crm = Crm.open(web.url)
    wang = crm.as_user(web.users["wang"])
    group = wang.records("specimen_group").create({"name": f"Group{PAYLOADS}"}).id
    specimen = wang.records("specimen").create({
        "name": f"Specimen{PAYLOADS}", "notes": f"{SPREADSHEET_FORMULA}\n{SCRIPT_PAYLOAD}\n{IMAGE_PAYLOAD}",
        "stage": "Lost", "loss_reason": "Price", "tags": ["Red", "Blue"], "group": group, "headcount": 3,
        "budget": "10", "starts_on": TODAY, "kickoff": "2026-01-05T08:00:00Z", "email": "payload@example.com",
        "website": "https://example.com/?q=<script>", "phone": "+86 10 8888 8888", "mobile": "13800000009",
        "credit_code": CREDIT_CODE}).id
    wang.records("specimen_item").create({"name": f"Item{PAYLOADS}", "specimen": specimen})
    app = create_app(crm, {"SECRET_KEY": "every-field-type-payload-secret-key-0123456789"})
    app.config.update(group=group, specimen=specimen)
    yield app
    crm.close()


def assert_escaped(html: str, where: str) -> None:
    assert "<script>alert" not in html and "<img src=x" not in html, where
    assert "&lt;script&gt;alert(" in html or "&lt;img src=x onerror=alert(1)&gt;" in html, where


@pytest.mark.parametrize("language", ["en", "zh"])
def test_payloads_in_every_field_type_and_label_are_escaped_on_every_view(payload_app: Flask, language: str):
    client = signed_in_client(payload_app, "wang", 7)
    home = client.get("/").get_data(as_text=True)
    client.post("/language", data={"language": language, "csrf_token": csrf_token(home)})
    specimen, group = payload_app.config["specimen"], payload_app.config["group"]
    detail = client.get(f"/r/specimen/{specimen}").get_data(as_text=True)
    fields = re.findall(rf'hx-get="/r/specimen/{specimen}/field/(\w+)"', detail)
    assert {"name", "notes", "stage", "loss_reason", "tags", "group", "email", "website"} <= set(fields)
    pages = ["/", "/o/specimen", f"/o/specimen?q=Specimen&stage__in=Lost&tags__contains=Red&group__eq={group}",
             f"/o/specimen?name__contains={IMAGE_PAYLOAD}&notes__contains={SCRIPT_PAYLOAD}",
             "/o/specimen/new", f"/r/specimen/{specimen}", f"/r/specimen/{specimen}/edit",
             f"/r/specimen/{specimen}/delete", f"/r/specimen_group/{group}", "/search?q=Specimen",
             f"/search?q={SCRIPT_PAYLOAD}"] + [f"/r/specimen/{specimen}/field/{name}" for name in fields]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        assert_escaped(response.get_data(as_text=True), page)
    shown = str(escape(PAYLOADS))
    form = client.get(f"/r/specimen/{specimen}/edit").get_data(as_text=True)
    labels = {"en": ["Main", "Stage", "New", "Several lines of text.", "In percent; over 50 needs a budget."],
              "zh": ["主要信息", "阶段", "新建", "多行文字。", "百分数；超过 50 须填写预算。"]}[language]
    for label in labels:  # a section title, a field label, an option label, the field's and the layout's help
        assert label + shown in form, label
    listed = client.get("/o/specimen").get_data(as_text=True)
    assert {"en": "Specimens", "zh": "样本"}[language] + shown in listed  # the plural label

    typed = {name: f"{name}{PAYLOADS}" for name in TYPED} | {"tags": [f"tags{PAYLOADS}"], "group": PAYLOADS}
    refused = post(client, "/o/specimen/new", "/o/specimen/new", typed)
    assert refused.status_code == 422
    assert_escaped(refused.get_data(as_text=True), "the refused form")
    refreshed = post(client, "/o/specimen/new", "/o/specimen/form", typed, **{"HX-Request": "true"})
    assert_escaped(refreshed.get_data(as_text=True), "the form refreshed by visible_when")
    inline = client.post(f"/r/specimen/{specimen}/field/headcount", headers={"HX-Request": "true"},
                         data={"headcount": PAYLOADS, "version": "1", "csrf_token": csrf_token(detail)})
    assert inline.status_code == 422
    assert_escaped(inline.get_data(as_text=True), "the refused inline editor")

    suggested = client.get("/o/specimen_group/suggest?q=Group")
    assert suggested.mimetype == "application/json" and suggested.headers["X-Content-Type-Options"] == "nosniff"
    assert suggested.get_json() == [{"value": str(group), "text": f"Group{PAYLOADS}"}]  # data, shown as text

    export = client.get("/o/specimen/export.csv")
    assert export.mimetype == "text/csv"
    row = next(csv.DictReader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff"))))  # by label, as typed
    label = {"en": {"notes": "Notes", "name": "Name", "group": "Group"},
             "zh": {"notes": "备注", "name": "名称", "group": "组"}}[language]
    assert row[label["notes"] + PAYLOADS] == f"'{SPREADSHEET_FORMULA}\n{SCRIPT_PAYLOAD}\n{IMAGE_PAYLOAD}"
    assert row[label["name"] + PAYLOADS] == f"Specimen{PAYLOADS}" and row[label["group"] + PAYLOADS] == f"Group{PAYLOADS}"


def test_the_engines_errors_are_shown_in_the_users_language(as_user):
    client = as_user("zhou")  # a sales rep whose profile language is Chinese
    bad = {"name": "", "headcount": "4.5", "score": "many", "budget": "1e30", "discount": "120",
           "starts_on": "31/02/2026", "kickoff": "tomorrow", "email": "not-an-email", "phone": "call me",
           "website": "javascript:alert(1)", "tags": ["Purple"], "mobile": "12812345678",
           "credit_code": "91350100M000100Y44"}
    refused = post(client, "/o/specimen/new", "/o/specimen/new", bad)
    assert refused.status_code == 422
    text = text_of(refused)
    for sentence in ["此字段为必填项。", "不是有效的整数。", "不是有效的数字。", "整数部分最多 16 位", "必须大于或等于 0 且小于或等于 100。",
                     "不是有效的日期。", "不是有效的日期时间。", "不是有效的邮箱地址。", "不是有效的电话号码。",
                     "不是有效的网址（须为 http 或 https 地址）。", "必须是以下选项之一：Red, Green, Blue。",
                     "不是有效的中国大陆手机号码", "统一社会信用代码有误"]:  # the plugin's own messages too
        assert sentence in text, sentence
    assert "Not a valid" not in text and "is required" not in text
    refused = post(client, "/o/specimen/new", "/o/specimen/new", {"name": "规则", "discount": "60"})
    assert "折扣超过 50% 时须填写预算。" in text_of(refused)  # a validation rule's own zh message
    refused = post(client, "/o/specimen/new", "/o/specimen/new", {"name": "规则", "stage": "Working", "loss_reason": "Price"})
    assert "阶段为“进行中”时此字段须留空。" in text_of(refused)  # a dependent picklist
    missing = client.get("/r/specimen/987654")
    assert missing.status_code == 404 and "不存在 id 为 987654 的样本记录。" in text_of(missing)
    denied = client.get("/o/product/new")
    assert denied.status_code == 403 and "你没有新建产品的权限。" in text_of(denied)
    english = as_user("wang").get("/r/specimen/987654")
    assert "There is no specimen record with id 987654." in text_of(english)
