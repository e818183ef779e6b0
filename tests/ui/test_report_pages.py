"""The report and dashboard pages: lists, tables with subtotals and drill-down, exports, widgets, errors; en and zh.

Over the standard CRM with tests/packages/deals_dashboard.yaml: opportunities are private, so
the rep wang sees only his deals, in every figure, link and chart value.
"""
from __future__ import annotations

import html
import json
import re
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

from crmkit.engine.security.users import SystemDirectory
from tests.ui.conftest import SECRET, signed_in_client
from tests.webapp import build_web_crm, record_page_users

PACKAGE = Path(__file__).resolve().parents[1] / "packages" / "deals_dashboard.yaml"
TODAY = date.today()
LAST_MONTH = TODAY.replace(day=1) - timedelta(days=1)
#: (owner, name, stage, amount, close date)
DEALS = [("wang", "Wang prospect", "Prospecting", "1000.00", TODAY),
         ("wang", "Wang proposal", "Proposal", "2000.50", TODAY),
         ("wang", "Wang won", "Closed Won", "500.00", LAST_MONTH),
         ("li", "Li prospect", "Prospecting", "7000.00", TODAY),
         ("rpt_zh", "张的交易", "Proposal", "300.00", TODAY)]


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Flask:
    from crmkit.engine import Crm
    from crmkit.ui import create_app

    web = build_web_crm(tmp_path_factory.mktemp("reports"))
    crm = Crm.open(web.url)
    crm.install(PACKAGE)
    users = {**web.users, **record_page_users(web.url, ("zh",), prefix="rpt_", language="zh")}
    accounts = {}
    for owner, name, stage, amount, close in DEALS:
        context = crm.as_user(users[owner])
        if owner not in accounts:
            accounts[owner] = context.records("account").create({"name": f"{owner} deals account"}).id
        context.records("opportunity").create({"name": name, "stage": stage, "amount": amount, "close_date": close,
                                              "account": accounts[owner]})
    record_page_users(web.url, ("nobody",), prefix="rpt_", role=None)
    directory = SystemDirectory(crm)
    directory.add_to_team(directory.create_team("rpt_east", {"en": "East", "zh": "华东"}), users["wang"])
    yield create_app(crm, {"SECRET_KEY": SECRET})
    crm.close()


@pytest.fixture(scope="module")
def wang(app):
    return signed_in_client(app, "wang", 61)


@pytest.fixture(scope="module")
def chinese(app):
    return signed_in_client(app, "rpt_zh", 61)


def page(client, address: str, status: int = 200) -> str:
    response = client.get(address)
    assert response.status_code == status, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def links(body: str, text: str) -> list[str]:
    return [html.unescape(href) for href in re.findall(rf'<a href="([^"]+)">{re.escape(text)}</a>', body)]


def drilled_filter(address: str) -> dict:
    parts = urlsplit(address)
    assert parts.path == "/o/opportunity"
    return json.loads(parse_qs(parts.query)["filter"][0])


def test_the_reports_page_lists_the_reports_by_object_and_the_navigation_links_reports_and_dashboards(wang, chinese):
    body = page(wang, "/reports")
    assert 'href="/reports/deals_by_stage">Deals by stage</a>' in body
    assert "Open and closed deals in each stage." in body
    assert ">Opportunities</h2>" in body
    assert 'id="nav-reports">Reports</a>' in body and 'id="nav-dashboards">Dashboards</a>' in body
    zh = page(chinese, "/reports")
    assert 'href="/reports/deals_by_stage">按阶段的交易</a>' in zh
    assert 'id="nav-reports">报表</a>' in zh and 'id="nav-dashboards">仪表板</a>' in zh


def test_a_summary_shows_only_the_reps_figures_with_a_grand_total_and_drill_down_to_the_list(wang):
    body = page(wang, "/reports/deals_by_stage")
    assert "Li prospect" not in body and "$7,000.00" not in body and "$8,000.00" not in body
    total = re.search(r'<tr class="report-total">(.*?)</tr>', body, re.S)[1]
    assert ">3</a>" in total and ">$3,500.50</a>" in total
    [proposal] = links(body, "Proposal")
    assert drilled_filter(proposal)["and"][-1] == {"stage": "Proposal"}
    listed = page(wang, proposal)
    assert "Wang proposal" in listed and "Wang prospect" not in listed
    bars = chart(body)  # the page's chart: the first value over the first level, a link per bar
    assert bars["kind"] == "bar" and bars["series"][0]["values"] == [1.0, 1.0, 1.0]
    assert bars["series"][0]["links"][bars["categories"].index("Proposal")] == proposal


def test_page_filters_narrow_the_report_and_a_bad_one_is_a_sentence(wang):
    body = page(wang, "/reports/deals_by_stage?stage=Prospecting")
    assert ">$1,000.00</a>" in body and "Proposal</a>" not in body
    assert 'id="filter-stage-filter"' in body  # the list page's filter widgets
    refused = page(wang, "/reports/deals_by_stage?close_date__gte=someday", status=422)
    assert 'id="report-problem"' in refused and "Traceback" not in refused


def test_json_and_exports_carry_the_same_figures(app, wang):
    data = json.loads(page(wang, "/reports/deals_by_stage?format=json"))
    assert data["kind"] == "summary" and data["grand_total"] == {"deals": 3, "total": "3500.50"}
    assert 'id="export-csv"' not in page(wang, "/reports/deals_by_stage")  # reps may not export
    assert wang.get("/reports/deals_by_stage/export.csv").status_code == 403
    admin = signed_in_client(app, "admin", 61)
    assert 'id="export-csv" href="/reports/deals_by_stage/export.csv?stage=Prospecting"' in page(
        admin, "/reports/deals_by_stage?stage=Prospecting")
    csv = admin.get("/reports/deals_by_stage/export.csv?stage=Prospecting")
    assert csv.status_code == 200 and csv.headers["Content-Disposition"] == 'attachment; filename="deals_by_stage.csv"'
    assert "8000" in csv.get_data(as_text=True) and "2000.5" not in csv.get_data(as_text=True)
    xlsx = admin.get("/reports/deals_by_stage/export.xlsx")
    assert xlsx.status_code == 200 and xlsx.get_data()[:2] == b"PK"
    assert wang.get("/reports/deals_by_stage/export.json").status_code == 403
    exported = admin.get("/reports/deals_by_stage/export.json?stage=Prospecting")
    assert exported.status_code == 200 and exported.mimetype == "application/json"
    assert exported.headers["Content-Disposition"] == 'attachment; filename="deals_by_stage.json"'
    rows = json.loads(exported.get_data(as_text=True))["rows"]
    assert rows[-1][0] == "Total" and "8000.00" in rows[-1] and "2000.50" not in json.dumps(rows)
    assert 'id="export-json" href="/reports/deals_by_stage/export.json?stage=Prospecting"' in page(
        admin, "/reports/deals_by_stage?stage=Prospecting")


def test_a_matrix_has_a_cell_link_per_column_and_a_tabular_report_links_its_records(wang):
    body = page(wang, "/reports/stage_by_type")
    assert "<th scope=\"col\" class=\"text-end\">Total</th>" in body
    assert re.search(r'<tr class="report-total">', body)
    tabular = page(wang, "/reports/deal_list")
    assert re.search(r'<a href="/r/opportunity/\d+">Wang proposal</a>', tabular)
    assert tabular.index("Wang proposal") < tabular.index("Wang prospect")  # sorted by amount, largest first


def test_unknown_and_refused_reports_are_sentences_not_tracebacks(app, wang):
    assert "Traceback" not in page(wang, "/reports/no_such_report", status=404)
    nobody = signed_in_client(app, "rpt_nobody", 61)
    refused = page(nobody, "/reports/deals_by_stage", status=403)
    assert "Traceback" not in refused
    assert "deals_by_stage" not in page(nobody, "/reports")


def test_the_dashboard_draws_a_grid_of_widgets_that_load_on_their_own(wang, chinese):
    body = page(wang, "/dashboards/deals?period=this_month")
    addresses = re.findall(r'hx-get="(/dashboards/deals/widgets/\d+[^"]*)"\s+hx-trigger="load"', body)
    assert len(addresses) == 7 and addresses[0] == "/dashboards/deals/widgets/0?period=this_month"
    assert "Deal funnel" in body and 'class="col-12 col-md-6 col-lg-4"' in body
    zh = page(chinese, "/dashboards/deals")
    assert "<h1 class=\"h3 mb-0 me-auto\">交易</h1>" in zh and "交易漏斗" in zh and "日期范围" in zh
    assert "交易" in page(chinese, "/dashboards")


def chart(body: str) -> dict:
    return json.loads(html.unescape(re.search(r"data-chart='([^']+)'", body)[1]))


def test_a_funnel_widget_has_the_reps_stages_with_conversion_links_and_its_age(wang):
    body = page(wang, "/dashboards/deals/widgets/0")
    spec = chart(body)
    items = {item["name"]: item for item in spec["items"]}
    assert items["Prospecting"]["value"] == 1 and items["Proposal"]["value"] == 1
    # Conversion over deals that reached at least the stage: 2 of the 3 that reached Prospecting.
    assert [items[name]["reached"] for name in ("Prospecting", "Proposal")] == [3, 2]
    assert items["Proposal"]["conversion"] == "66.7%"
    assert drilled_filter(items["Proposal"]["link"])["and"][-1] == {"stage": "Proposal"}
    assert re.search(r'class="widget-updated">Updated (just now|\d+ seconds? ago)<', body)


def test_a_kpi_compares_this_month_with_last_month(wang):
    body = page(wang, "/dashboards/deals/widgets/2?period=this_month")
    assert ">$3,000.50</p>" in body
    assert "+500.1% vs previous period ($500.00)" in body and "kpi-up" in body
    assert "Choose a date range" in page(wang, "/dashboards/deals/widgets/2")


def test_chinese_widgets_have_chinese_labels_and_locale(chinese, wang):
    spec = chart(page(wang, "/dashboards/deals/widgets/1"))
    assert spec["locale"] == "EN" and spec["series"][0]["name"] == "Total amount"
    zh = chart(page(chinese, "/dashboards/deals/widgets/1"))
    assert zh["locale"] == "ZH" and zh["series"][0]["name"] == "总金额"


def test_bad_dashboard_filters_unknown_dashboards_and_widgets_are_messages(wang, chinese):
    body = page(wang, "/dashboards/deals?period=someday", status=400)
    assert 'id="dashboard-problem"' in body and "Traceback" not in body
    assert "is not a choice" in page(wang, "/dashboards/deals/widgets/0?owner=x", status=400)
    assert "不是" in page(chinese, "/dashboards/deals/widgets/0?from=2026-13-01", status=400)
    page(wang, "/dashboards/nothing", status=404)
    page(wang, "/dashboards/deals/widgets/99", status=404)


@pytest.mark.parametrize("username", ["admin", "rpt_zh"])
def test_every_standard_report_and_dashboard_widget_renders(app, username):
    client = signed_in_client(app, username, 62)
    registry = app.extensions["crmkit"].crm.registry
    for name in [name for name, report in registry.reports.items() if report.package == "default_crm"]:
        body = page(client, f"/reports/{name}")
        assert "report-table" in body, name
        assert isinstance(json.loads(page(client, f"/reports/{name}?format=json"))["grand_total"], dict)
    for name, board in registry.dashboards.items():
        if board.package != "default_crm":
            continue
        page(client, f"/dashboards/{name}?period=this_year")
        for index in range(len(board.widgets)):
            body = page(client, f"/dashboards/{name}/widgets/{index}?period=this_year")
            assert "widget-problem" not in body, (name, index, body)


@pytest.mark.parametrize("username", ["wang", "rpt_zh"])
def test_labels_titles_and_group_labels_that_are_markup_are_shown_as_text(app, username):
    client = signed_in_client(app, username, 63)
    for address in ("/reports", "/reports/probe_report", "/dashboards", "/dashboards/probes",
                    "/dashboards/probes/widgets/0", "/dashboards/probes/widgets/1"):
        body = page(client, address)
        assert "<script>alert" not in body and "<img src=x" not in body, address
    spec = chart(page(client, "/dashboards/probes/widgets/0"))  # wang's probe record's kind is a markup label
    if username == "wang":
        assert spec["items"][0]["name"] == 'Option "><img src=x onerror=alert(1)>'


def test_the_owner_and_team_filters_narrow_every_widget(app, chinese):
    admin = signed_in_client(app, "admin", 64)
    board = page(admin, "/dashboards/deals")
    team = re.search(r'<option value="(\d+)">East</option>', board)[1]
    assert f'<option value="{team}">华东</option>' in page(chinese, "/dashboards/deals")

    def prospecting(query: str) -> float:
        items = chart(page(admin, f"/dashboards/deals/widgets/0{query}"))["items"]
        return {item["name"]: item["value"] for item in items}["Prospecting"]

    wang = SystemDirectory(app.extensions["crmkit"].crm).by_username("wang").id
    assert prospecting("") == 2  # wang's and li's
    assert prospecting(f"?team={team}") == 1 and prospecting(f"?owner={wang}") == 1
    chosen = page(admin, f"/dashboards/deals?owner={wang}")
    assert f'<option value="{wang}" selected>王伟</option>' in chosen  # the owner box names the chosen user
