"""The composite endpoint (all or nothing, references to earlier results) and describe (labels per language)."""
from __future__ import annotations


def test_composite_operations_refer_to_earlier_results_in_one_transaction(api):
    client = api("wang")
    response = client.post("/composite", {"operations": [
        {"method": "POST", "path": "/objects/account", "body": {"name": "Composite Co"}, "ref": "acme"},
        {"method": "POST", "path": "/objects/contact", "ref": "li",
         "body": {"last_name": "Li", "email": "li@composite.example", "account": "@{acme.id}"}},
        {"method": "PATCH", "path": "/objects/account/@{acme.id}", "if_match": "@{acme.version}",
         "body": {"industry": "Retail"}},
        {"method": "GET", "path": "/objects/contact/@{li.id}"},
    ]})
    assert response.status_code == 200, response.get_json()
    results = response.get_json()["results"]
    assert [result["status"] for result in results] == [201, 201, 200, 200]
    account_id = results[0]["body"]["id"]
    assert results[1]["body"]["account"] == account_id and results[2]["body"]["industry"] == "Retail"
    assert results[3]["body"]["last_name"] == "Li"


def test_a_failing_operation_rolls_back_every_earlier_one(api):
    client = api("wang")
    response = client.post("/composite", {"operations": [
        {"method": "POST", "path": "/objects/account", "body": {"name": "Never Saved Co"}, "ref": "a"},
        {"method": "POST", "path": "/objects/account", "body": {"name": ""}},
    ]})
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["operation"] == 1 and list(problem["errors"]) == ["name"]
    listed = client.get("/objects/account?name=Never Saved Co").get_json()["data"]
    assert listed == []


def test_composite_refuses_too_many_or_malformed_operations(api):
    client = api("wang")
    too_many = [{"method": "GET", "path": "/objects/account/1"}] * 201
    assert client.post("/composite", {"operations": too_many}).status_code == 400
    unknown_ref = client.post("/composite", {"operations": [
        {"method": "GET", "path": "/objects/account/@{nothing.id}"}]})
    assert unknown_ref.status_code == 400 and unknown_ref.get_json()["operation"] == 0
    not_a_record_call = client.post("/composite", {"operations": [{"method": "POST", "path": "/composite"}]})
    assert not_a_record_call.status_code == 400


def test_describe_gives_fields_types_and_picklist_values_in_the_callers_language(api):
    english = api("wang").get("/objects/account/describe").get_json()
    fields = {field["name"]: field for field in english["fields"]}
    assert english["label"] == "Account"
    assert fields["industry"]["type"] == "picklist"
    assert {"value", "label", "inactive"} <= set(fields["industry"]["options"][0])
    assert fields["id"]["system"] is True and fields["name"]["required"] is True
    assert {"object": "contact", "via": "account"} in [{"object": r["object"], "via": r["via"]}
                                                       for r in english["related"]]
    chinese = api("wang").get("/objects/account/describe", headers={"Accept-Language": "zh-CN"}).get_json()
    assert chinese["label"] == "客户"
    by_parameter = api("wang").get("/objects/account/describe?lang=zh").get_json()
    assert by_parameter["label"] == "客户"
    profile = api("zh").get("/objects/account/describe").get_json()
    assert profile["label"] == "客户"


def test_problems_are_in_the_callers_language(api):
    response = api("wang").post("/objects/account?lang=zh", {"name": ""})
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["detail"].startswith("记录无效")
    assert problem["errors"]["name"] == ["此字段为必填项。"]


def test_a_problems_title_and_its_field_errors_speak_the_callers_language_with_field_labels(api):
    for client, headers in ((api("zh"), {}), (api("wang"), {"Accept-Language": "zh-CN"})):
        response = client.post("/objects/account", {"name": "Acme", "rating": "Lukewarm"}, headers=headers)
        assert response.status_code == 422
        problem = response.get_json()
        assert problem["title"] == "记录无效"
        assert problem["detail"].startswith("记录无效：客户评级：")  # the field by its label, not "rating: "
        assert "rating" not in problem["detail"]
        assert list(problem["errors"]) == ["rating"]  # keyed by API name for programs
    english = api("wang").post("/objects/account", {"name": "Acme", "rating": "Lukewarm"}).get_json()
    assert english["title"] == "Invalid record" and english["detail"].startswith("the record is not valid: Rating: ")
    missing = api("zh").get("/objects/account/999999999").get_json()
    assert missing["title"] == "未找到" and "999999999" in missing["detail"]
    unrouted = api("zh").get("/no/such/address", headers={"Accept-Language": "zh-CN"})  # no token read: no profile
    assert unrouted.status_code == 404
    assert unrouted.get_json()["title"] == "未找到" and unrouted.get_json()["detail"] == "此地址下没有内容。"


def test_every_error_title_has_a_chinese_text():
    import crmkit.api.problems  # noqa: F401  (the modules that define error classes)
    import crmkit.cli  # noqa: F401
    import crmkit.ui  # noqa: F401
    from crmkit.engine.messages import TITLES
    from crmkit.errors import CrmkitError

    def every(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from every(sub)

    titles = {cls.title for cls in every(CrmkitError) if cls.__module__.startswith("crmkit.")}
    assert len(titles) > 20
    assert sorted(titles - set(TITLES)) == []


def test_the_objects_list_names_what_the_caller_may_read(api):
    objects = {row["name"]: row for row in api("wang").get("/objects").get_json()["data"]}
    assert "account" in objects and objects["account"]["permissions"]["read"] is True


def test_reports_and_dashboard_widgets_are_json(api):
    client = api("admin")
    reports = client.get("/reports").get_json()["data"]
    assert any(report["name"] == "sales_funnel" for report in reports)
    funnel = client.get("/reports/sales_funnel")
    assert funnel.status_code == 200, funnel.get_json()
    assert funnel.get_json()["kind"] in ("summary", "matrix", "tabular")
    board = client.get("/dashboards/sales").get_json()
    assert board["widgets"] and board["widgets"][0]["index"] == 0
    # Each widget is named as on the web page: its title, else its figure's or its report's label.
    assert all(isinstance(w["title"], str) and w["title"] for w in board["widgets"]), board["widgets"]
    widget = client.get("/dashboards/sales/widgets/0")
    assert widget.status_code == 200 and "label" in widget.get_json()
    assert client.get("/reports/no_such_report").status_code == 404
    assert client.get("/dashboards/sales/widgets/999").status_code in (400, 404)
