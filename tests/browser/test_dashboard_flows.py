"""The standard CRM's Sales dashboard in a real browser: its charts draw under the strict CSP, a funnel stage
opens its records, and the Chinese dashboard has Chinese labels.

A server of this module's own over the standard CRM, with two reps (one reading English, one
Chinese) whose deals make a sales funnel of three stages (3, 2 and 1 deals: $9,000 won).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import goto, ready, serious_violations, serving, sign_in
from tests.browser.test_foundation_flows import console_errors
from tests.webapp import build_web_crm, record_page_users

#: The Sales dashboard's widgets drawn as charts (funnel, two bars, gauge); the others are KPIs, and the
#: customers by last activity (the reps have no customer accounts), which says there is nothing to draw.
CHARTS = 4
DESKTOP = {"width": 1280, "height": 1600}


@pytest.fixture(scope="module")
def deals_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from crmkit.engine import Crm

    web = build_web_crm(tmp_path_factory.mktemp("dashboards"), spare_users=0)
    users = record_page_users(web.url, ("en",), prefix="dash_") | record_page_users(
        web.url, ("zh",), prefix="dash_", language="zh")
    crm = Crm.open(web.url)
    try:
        for username in users:
            context = crm.as_user(users[username])
            account = context.records("account").create({"name": f"{username} Traders"}).id
            for number, (stage, amount) in enumerate([("Prospecting", "1000"), ("Prospecting", "2000"),
                                                      ("Prospecting", "500"), ("Proposal", "4000"),
                                                      ("Proposal", "1500"), ("Closed Won", "9000")]):
                context.records("opportunity").create({"name": f"{username} deal {number} {stage}", "stage": stage,
                                                       "amount": amount, "account": account})
    finally:
        crm.close()
    with serving(web.url) as address:
        yield address


def charts_drawn(page: Page) -> None:
    """Waits until every chart widget has loaded (htmx) and been drawn (charts.js marks it)."""
    expect(page.locator(".dashboard-chart[data-chart-drawn='true']")).to_have_count(CHARTS)
    expect(page.locator(".widget-loading")).to_have_count(0)
    expect(page.locator(".widget-empty")).to_have_count(1)


def kpis_on_one_line(page: Page) -> bool:
    """Whether every KPI figure is one line that its card holds (no break inside "US$184,850.00")."""
    return page.evaluate("""() => [...document.querySelectorAll(".kpi-value")].every(element => {
        const style = getComputedStyle(element);
        return style.whiteSpace === "nowrap" && element.scrollWidth <= element.clientWidth + 1
            && element.getBoundingClientRect().height < 2 * parseFloat(style.fontSize);
    })""")


def test_the_dashboard_draws_its_charts_and_a_funnel_stage_opens_its_records(browser: Browser, deals_url: str,
                                                                            screenshots: Path) -> None:
    context = browser.new_context(base_url=deals_url, viewport=DESKTOP, device_scale_factor=1)
    page = context.new_page()
    errors = console_errors(page)  # a refused inline style or script (CSP) is a console error
    sign_in(page, "dash_en")
    page.get_by_role("link", name="Dashboards", exact=True).click()
    expect(page.get_by_role("heading", name="Dashboards")).to_be_visible()
    page.get_by_role("link", name="Sales", exact=True).click()
    expect(page.get_by_role("heading", name="Sales", exact=True)).to_be_visible()
    ready(page)
    charts_drawn(page)
    expect(page.locator(".kpi-value").first).to_have_text("$9,000.00")  # won revenue
    expect(page.locator(".widget-updated").first).to_contain_text("Updated")
    page.screenshot(path=str(screenshots / "dashboard_sales_en.png"), full_page=True)
    assert errors == []
    assert serious_violations(page) == []

    funnel = page.locator(".dashboard-chart[data-chart-kind='funnel']").bounding_box()
    page.mouse.click(funnel["x"] + funnel["width"] / 2, funnel["y"] + funnel["height"] * 0.15)  # the widest: Prospecting
    expect(page).to_have_url(re.compile(r"/o/opportunity\?filter="))
    ready(page)
    rows = page.locator("tbody th[scope='row'] a")
    expect(rows).to_have_count(3)
    for name in rows.all_inner_texts():
        assert name.endswith("Prospecting")
    context.close()


def test_the_chinese_dashboard_shows_chinese_labels_and_filters_reload_the_widgets(browser: Browser, deals_url: str,
                                                                                    screenshots: Path) -> None:
    context = browser.new_context(base_url=deals_url, viewport=DESKTOP, device_scale_factor=1)
    page = context.new_page()
    errors = console_errors(page)
    sign_in(page, "dash_zh")
    goto(page, "/dashboards/sales")
    expect(page.get_by_role("heading", name="销售", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="销售漏斗")).to_be_visible()
    charts_drawn(page)
    # ECharts describes each chart for screen readers in its Chinese locale, with the stages' Chinese labels.
    funnel = page.locator(".dashboard-chart[data-chart-kind='funnel']")
    expect(funnel).to_have_attribute("aria-label", re.compile("图.*初步接洽"))
    expect(page.locator(".widget-updated").first).to_contain_text("更新")
    expect(page.locator(".kpi-value").first).to_have_text("US$9,000.00")
    page.screenshot(path=str(screenshots / "dashboard_sales_zh.png"), full_page=True)
    for width in (1280, 900):  # four KPIs a row (a quarter of the page), then two
        page.set_viewport_size({"width": width, "height": 1600})
        assert kpis_on_one_line(page), width
    page.set_viewport_size(DESKTOP)
    # The gauge's target sits below the arc's ends, where the 0 and maximum tick labels are (about 71% down).
    gauge_title = page.evaluate("""() => {
        const chart = echarts.getInstanceByDom(document.querySelector(".dashboard-chart[data-chart-kind='gauge']"));
        return chart.getOption().series[0].title.offsetCenter[1];
    }""")
    assert float(gauge_title.rstrip("%")) > 85

    page.get_by_label("日期范围").select_option("last_year")  # every deal closes months from now: none last year
    expect(page).to_have_url(re.compile("period=last_year"))
    expect(page.locator(".kpi-value").first).to_have_text("–")
    expect(page.locator(".widget-empty")).to_have_count(4)  # funnel, bars, customers: no groups; the gauge stays
    expect(page.locator(".widget-empty").first).to_have_text("没有符合此报表的记录。")
    page.set_viewport_size({"width": 390, "height": 800})  # a phone: one widget a row, nothing scrolls sideways
    # The charts take their new width when their resize observers fire, a frame or two later on a loaded machine.
    for _frame in range(60):
        if page.evaluate("document.scrollingElement.scrollWidth") <= 390:
            break
        page.evaluate("() => new Promise(requestAnimationFrame)")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    assert errors == []
    context.close()
