"""newuser14 (issue 12, outside check as an integrator): the API's answers to a caller whose profile is Chinese."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/dashboards/sales/widgets/-1"),
    ("GET", "/objects/account/abc"),
    ("DELETE", "/changes"),
])
def test_a_routing_error_speaks_the_profile_language_of_the_caller(api, method, path):
    response = api("zh").call(method, path)
    assert response.status_code in (404, 405)
    problem = response.get_json()
    assert problem["title"] in ("未找到", "不允许该方法") or not problem["title"].isascii(), problem
    assert not problem["detail"].isascii(), problem


def test_a_routing_error_answers_a_token_that_is_not_valid_as_one_without_a_token(api_app, api):
    assert not api("zh").get("/objects/account/abc").get_json()["detail"].isascii()  # a valid one: its profile's
    client = api_app.test_client()
    without = client.get("/api/v1/objects/account/abc").get_json()
    for token in ("crmkit_00000000_notatoken", "nonsense"):
        answer = client.get("/api/v1/objects/account/abc", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 404
        problem = answer.get_json()
        assert (problem["title"], problem["detail"]) == (without["title"], without["detail"])
        assert problem["detail"].isascii()


def test_a_routing_error_takes_the_callers_requested_language_before_the_profiles(api):
    answer = api("zh").call("GET", "/objects/account/abc", headers={"Accept-Language": "en"})
    assert answer.status_code == 404 and answer.get_json()["detail"].isascii()
    english = api("admin").call("GET", "/objects/account/abc", headers={"Accept-Language": "zh-CN"})
    assert not english.get_json()["detail"].isascii()
    assert api("admin").call("GET", "/objects/account/abc").get_json()["detail"].isascii()
    assert not api("zh").call("DELETE", "/changes").get_json()["detail"].isascii()


@pytest.mark.parametrize(("user", "report_label", "field_label"), [
    ("zh", "销售漏斗", "预计成交日期"),
    ("admin", "Sales funnel", "Close Date"),
])
def test_a_bad_report_filter_names_the_field_by_its_label(api, user, report_label, field_label):
    import json

    response = api(user).get("/reports/sales_funnel", query_string={
        "filter": json.dumps({"close_date": {"gte": "2027-13-01"}})})
    assert response.status_code == 422
    detail = response.get_json()["detail"]
    assert field_label in detail and report_label in detail, detail


@pytest.mark.parametrize(("readable", "shown"), [(True, "销售漏斗"), (False, "sales_funnel")])
def test_a_report_is_named_by_its_label_only_for_a_user_who_may_read_its_object(readable, shown):
    from types import SimpleNamespace

    from crmkit.engine import messages
    from crmkit.engine.security.labels import readable_labels
    from crmkit.metadata.model import Label

    class Policy:
        def can(self, object_name, action):
            return readable or object_name != "opportunity"

        def hidden_fields(self, object_name):
            return set()

    report = SimpleNamespace(name="sales_funnel", object="opportunity", label=Label.of({"en": "Sales funnel",
                                                                                        "zh": "销售漏斗"}))
    names = readable_labels({}, "zh", Policy(), None, {"sales_funnel": report},
                            lambda report: Policy().can(report.object, "read"))
    assert readable_labels({}, "zh", Policy(), None, {"sales_funnel": report})(messages.REPORT_NAMES,
                                                                                "sales_funnel") is None
    sentence = messages.REPORT_NOT_RUNNABLE(report="sales_funnel", reason="limit must be a whole number.")
    assert f"报表“{shown}”无法运行" in messages.translated(sentence, "zh", names=names)
