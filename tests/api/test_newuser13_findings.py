"""Faults found by newuser13 (an outside check of issue 12 as a new user and integrator).

Each test states what happened and what should: the faults are fixed and the tests keep them so.
The standard CRM on SQLite and PostgreSQL (tests/api/conftest.py: admin, wang, li, zh).
"""
from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

import pytest


def _admin_accounts(api_crm):
    return api_crm.crm.as_user(api_crm.users["admin"])


def _csv_rows(context, records, name: str) -> tuple[list[str], list[list[str]]]:
    from crmkit.ui.csv_export import readable_csv

    text = "".join(readable_csv(context, records, {"name": name}, sort=["id"]))
    header, *rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))
    return header, rows


def _xlsx_rows(context, records, name: str, tmp_path) -> tuple[list, list[list]]:
    from python_calamine import CalamineWorkbook

    from crmkit.ui.list_export import readable_xlsx

    path = tmp_path / "export.xlsx"
    path.write_bytes(b"".join(readable_xlsx(context, records, {"name": name}, sort=["id"])))
    header, *rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    return header, rows


def test_a_text_holding_a_carriage_return_stays_in_its_cell_in_the_csv_export(api_crm):
    context = _admin_accounts(api_crm)
    accounts = context.records("account")
    accounts.create({"name": "NU13 CR cell", "description": "first line\r=1+2"})
    header, rows = _csv_rows(context, accounts, "NU13 CR cell")
    assert len(rows) == 1, rows
    assert len(rows[0]) == len(header)
    assert rows[0][header.index("Description")] == "first line\r=1+2"


def test_an_amount_a_float_cannot_hold_is_exported_to_xlsx_exactly(api_crm, tmp_path):
    context = _admin_accounts(api_crm)
    accounts = context.records("account")
    accounts.create({"name": "NU13 big amount", "annual_revenue": "1234567890123456.78"})
    header, rows = _csv_rows(context, accounts, "NU13 big amount")
    assert rows[0][header.index("Annual Revenue")] == "1234567890123456.78"
    header, rows = _xlsx_rows(context, accounts, "NU13 big amount", tmp_path)
    cell = rows[0][header.index("Annual Revenue")]
    assert Decimal(str(cell)) == Decimal("1234567890123456.78"), cell


@pytest.mark.parametrize("stored", ["'+86 is the code", "\n=1+2"])
def test_an_xlsx_text_cell_holds_the_stored_text_exactly(api_crm, tmp_path, stored):
    context = _admin_accounts(api_crm)
    accounts = context.records("account")
    name = f"NU13 apostrophe {len(stored)}"
    accounts.create({"name": name, "description": stored})
    header, rows = _xlsx_rows(context, accounts, name, tmp_path)
    assert rows[0][header.index("Description")] == stored


@pytest.mark.parametrize("language, label", [("en", "Created"), ("zh", "创建时间")])
def test_a_bad_filter_value_of_a_system_field_names_it_by_its_label(api, language, label):
    response = api("admin").get(f"/objects/account?created_at__gte=xx&lang={language}")
    assert response.status_code == 400
    detail = response.get_json()["detail"]
    assert label in detail and "created_at" not in detail, detail


FILTER_ON_SYSTEM_FIELDS = [
    ("created_at__contains=x", "created_at", {"en": "Created", "zh": "创建时间"}),
    ("owner_id=abc", "owner_id", {"en": "Owner", "zh": "负责人"}),
    ('filter={"updated_by": {"in": "x"}}', "updated_by", {"en": "Last modified by", "zh": "最后修改人"}),
    ('filter={"created_at": {"endswith": "x"}}', "created_at", {"en": "Created", "zh": "创建时间"}),
    ('filter={"id": {"gte": "x"}}', "id", {"en": "ID", "zh": "编号"}),
]


@pytest.mark.parametrize("query, name, labels", FILTER_ON_SYSTEM_FIELDS)
@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_filter_sentence_names_a_system_field_by_its_label(api, query, name, labels, language):
    key, _, value = query.partition("=")
    response = api("admin").get("/objects/account", query_string={key: value, "lang": language})
    assert response.status_code == 400
    detail = response.get_json()["detail"]
    assert labels[language] in detail and not re.search(rf"\b{name}\b", detail), detail


def test_a_sort_by_a_system_field_that_cannot_be_sorted_names_it_by_its_label(api):
    detail = api("admin").get("/objects/account?sort=formula_errors&lang=zh").get_json()["detail"]
    assert "公式错误" in detail and "formula_errors" not in detail, detail


@pytest.mark.parametrize("language, operator_word", [("en", "operator"), ("zh", "运算符")])
def test_an_unknown_operator_in_the_query_string_is_named_as_an_operator(api, language, operator_word):
    response = api("admin").get(f"/objects/contact?email__endswith=example.cn&lang={language}")
    assert response.status_code == 400
    detail = response.get_json()["detail"]
    assert "email__endswith" not in detail and "endswith" in detail and operator_word in detail, detail
    assert "startswith" in detail, detail
