"""Faults an outside check of issue 12 found in the REST API (verify12), each as the specification it broke.

- a composite operation whose body nests deeply answers a problem, not a 500;
- a related list takes `?via=<lookup>` (docs/api.md, "Records") instead of reading it as a filter;
- a caller in Chinese gets every problem's detail in Chinese (docs/api.md, "Errors");
- the OpenAPI document a rep reads leaves out the fields they may not read, as describe does.
"""
from __future__ import annotations

import json

import pytest

from tests.api.conftest import ApiClient, make_app


def test_a_deeply_nested_composite_body_is_a_problem_not_a_server_error(api):
    """The body's JSON (well under the parser's depth) nests 900 lists: resolving `@{ref.field}` in it must not
    overflow the stack (it answered 500 with a RecursionError logged)."""
    deep = "[" * 900 + '"@{a.id}"' + "]" * 900
    body = ('{"operations": [{"method": "POST", "path": "/objects/account", "body": {"name": "Deep", "x": '
            + deep + "}}]}")
    response = api("wang").call("POST", "/composite", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.get_data(as_text=True)
    problem = response.get_json()
    assert response.headers["Content-Type"] == "application/problem+json"
    assert problem["operation"] == 0 and problem["status"] == 400


def test_a_deeply_nested_composite_body_of_objects_is_a_problem_too(api):
    deep = '{"a": ' * 800 + "1" + "}" * 800
    body = '{"operations": [{"method": "POST", "path": "/objects/account", "body": ' + deep + "}]}"
    response = api("wang").call("POST", "/composite", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.get_data(as_text=True)


def test_a_related_list_follows_the_lookup_named_by_via(api):
    """docs/api.md: `?via=<lookup>` names the lookup a related list follows. It was read as a condition on a field
    named 'via' ("account has no field 'via'", 400) on every related list."""
    client = api("wang")
    parent = client.post("/objects/account", {"name": "Via Parent Co"}).get_json()
    child = client.post("/objects/account", {"name": "Via Child Co", "parent_account": parent["id"]}).get_json()
    response = client.get(f"/objects/account/{parent['id']}/related/account?via=parent_account&fields=name")
    assert response.status_code == 200, response.get_json()
    assert [record["id"] for record in response.get_json()["data"]] == [child["id"]]
    contacts = client.get(f"/objects/account/{parent['id']}/related/contact?via=account&count=true")
    assert contacts.status_code == 200, contacts.get_json()
    wrong = client.get(f"/objects/account/{parent['id']}/related/contact?via=reports_to")
    assert wrong.status_code == 400


#: Calls whose problem the API itself words (not the engine's), each refused for a zh caller.
API_OWN_PROBLEMS = [
    ("POST", "/objects/account", b"{bad", 400),
    ("POST", "/objects/account", b"[1]", 400),
    ("PATCH", "/objects/account/1", b'{"name": "x"}', 428),
    ("GET", "/objects/account?fields=no_such_field", None, 400),
    ("GET", "/objects/account?count=maybe", None, 400),
    ("POST", "/composite", b'{"operations": []}', 400),
    ("GET", "/changes?limit=0", None, 400),
    ("GET", "/changes?since=yesterday", None, 400),
    ("GET", "/reports/sales_funnel?from=soon", None, 400),
    ("GET", "/reports/sales_funnel?owner=me", None, 400),
    ("POST", "/composite", b'{"operations": [{"method": "GET", "path": "/objects/account/@{nobody.id}"}]}', 400),
    ("POST", "/composite", b'{"operations": [{"method": "DELETE", "path": "/reports/sales_funnel"}]}', 400),
]


def test_a_chinese_caller_without_a_token_is_told_in_chinese(api_app):
    response = api_app.test_client().get("/api/v1/objects/account", headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 401
    assert "令牌" in response.get_json()["detail"], response.get_json()


@pytest.mark.parametrize("method, path, body, status", API_OWN_PROBLEMS)
def test_a_chinese_caller_gets_every_problem_detail_in_chinese(api, method, path, body, status):
    kwargs = {"data": body, "headers": {"Content-Type": "application/json", "Accept-Language": "zh-CN"}} \
        if body is not None else {"headers": {"Accept-Language": "zh-CN"}}
    response = api("wang").call(method, path, **kwargs)
    assert response.status_code == status
    detail = response.get_json()["detail"]
    assert any("\u4e00" <= character <= "\u9fff" for character in detail), detail
    assert not any(word in detail for word in ("must", "the body", "send the", "has no field")), detail


PROTECTED = """
package: verify12_openapi
version: "1.0.0"
permission_sets:
  reps:
    objects:
      deal: [create, read, edit]
  finance:
    objects:
      deal: [create, read, edit]
    fields:
      deal.margin: [read, edit]
objects:
  deal:
    label: {en: Deal, zh: 交易}
    title_field: name
    fields:
      name: {type: text, label: {en: Name, zh: 名称}}
      margin: {type: currency, label: {en: Secret Margin, zh: 毛利}}
"""


def test_the_openapi_document_a_rep_reads_leaves_out_a_field_hidden_from_them(sqlite_url, tmp_path):
    from crmkit.engine import Crm
    from crmkit.engine.security.tokens import TokenStore
    from crmkit.engine.security.users import SystemDirectory

    crm = Crm.open(sqlite_url)
    try:
        package = tmp_path / "package.yaml"
        package.write_text(PROTECTED, encoding="utf-8")
        crm.install(package)
        rep = SystemDirectory(crm).create_user("rep", display_name="Rep", permission_sets=["reps"]).id
        client = ApiClient(make_app(crm).test_client(), TokenStore(crm).create(rep, "tests").token)
        described = client.get("/objects/deal/describe").get_json()
        assert "margin" not in {field["name"] for field in described["fields"]}  # holds: describe hides it
        document = client.get("/openapi.json")
        assert document.status_code == 200
        assert "margin" not in document.get_json()["components"]["schemas"]["deal"]["properties"]
        assert "Secret Margin" not in json.dumps(document.get_json())
        admin = SystemDirectory(crm).create_user("boss", display_name="Boss", permission_sets=["admin"]).id
        whole = ApiClient(make_app(crm).test_client(), TokenStore(crm).create(admin, "tests").token)
        assert "margin" in whole.get("/openapi.json").get_json()["components"]["schemas"]["deal"]["properties"]
    finally:
        crm.close()
