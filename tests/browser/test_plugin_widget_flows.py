"""A plugin's dashboard widget kind in a real browser: plugins/leaderboard's script registers with charts.js and
draws the widget under the strict Content Security Policy, like the built-in kinds."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import goto, serving, sign_in
from tests.browser.test_foundation_flows import console_errors
from tests.plugins.conftest import plugin_module
from tests.plugins.test_leaderboard_plugin import PACKAGE
from tests.webapp import build_web_crm


@pytest.fixture(scope="module")
def ranking_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from crmkit.engine import Crm
    from crmkit.engine.extensions import Extensions
    from crmkit.plugins import make_plugin_manager

    folder = tmp_path_factory.mktemp("leaderboard")
    web = build_web_crm(folder, spare_users=0)
    extensions = Extensions.from_plugins(make_plugin_manager(load_entry_points=False,
                                                            extra_plugins=[plugin_module("leaderboard")]))
    crm = Crm.open(web.url, extensions=extensions)
    try:
        (folder / "ranking.yaml").write_text(PACKAGE, encoding="utf-8")
        crm.install(folder / "ranking.yaml")
        crm.as_system().records("sale").bulk_create([{"seller": seller, "amount": amount} for seller, amount in
                                                     [("Wang", 300), ("Li", 500), ("Zhao", 200)]])
    finally:
        crm.close()
    with serving(web.url, extensions=extensions) as address:
        yield address


def test_the_leaderboard_widget_is_drawn_by_its_plugins_script(browser: Browser, ranking_url: str,
                                                             screenshots: Path) -> None:
    context = browser.new_context(base_url=ranking_url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = console_errors(page)
    sign_in(page, "admin")
    goto(page, "/dashboards/ranking_board")
    chart = page.locator(".dashboard-chart[data-chart-kind='leaderboard']")
    expect(chart).to_have_attribute("data-chart-drawn", "true")
    expect(chart.locator("canvas")).to_have_count(1)
    assert page.evaluate("Object.keys(window.crmkitCharts.kinds)") == ["leaderboard"]
    page.screenshot(path=str(screenshots / "plugin-leaderboard.png"))
    assert errors == []
    context.close()
