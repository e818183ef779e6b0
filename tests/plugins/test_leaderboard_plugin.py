"""plugins/leaderboard: a dashboard widget kind ranking a report's groups, drawn by its own script."""
from __future__ import annotations

import html
import json
import re

import pytest

from crmkit.engine import Crm
from crmkit.engine.extensions import Extensions
from crmkit.engine.fieldtypes.presentation import Presentation
from crmkit.metadata.errors import MetadataError
from crmkit.plugins import make_plugin_manager
from tests.plugins.conftest import plugin_module

leaderboard_plugin = plugin_module("leaderboard")

PACKAGE = """
package: ranking
version: "1.0.0"
objects:
  sale:
    fields:
      seller: {type: text}
      region: {type: text}
      amount: {type: currency}
reports:
  sales_by_seller:
    label: {en: Sales by seller, zh: 按销售员的销售额}
    object: sale
    kind: summary
    group_by: [{field: seller}]
    aggregates:
      - {name: sales, function: count}
      - {name: total, function: sum, field: amount}
  seller_by_region:
    object: sale
    kind: matrix
    group_by: [{field: seller}]
    columns_by: [{field: region}]
    aggregates: [{name: total, function: sum, field: amount}]
dashboards:
  ranking_board:
    widgets:
      - {report: sales_by_seller, chart: leaderboard, value: total}
"""


@pytest.fixture
def ranking(crm_with):
    return crm_with(leaderboard_plugin, PACKAGE)


def board_data(crm, language="en"):
    widget = crm.registry.dashboards["ranking_board"].widgets[0]
    result = crm.as_system().reports.run("sales_by_seller")
    return leaderboard_plugin.LEADERBOARD.chart_data(result, widget, Presentation.of(language, "UTC", "USD"))


def test_groups_are_ranked_by_the_widgets_value_and_equal_values_share_a_rank(ranking):
    sales = ranking.as_system().records("sale")
    for seller, amount in [("Wang", 300), ("Li", 500), ("Zhao", 300), ("Wang", 100), ("Sun", 50), ("Zhou", None)]:
        sales.create({"seller": seller, "amount": amount})
    data = board_data(ranking)
    assert [(row["rank"], row["name"], row["value"], row["text"], row["share"]) for row in data["rows"]] == [
        (1, "Li", 500.0, "$500.00", "40.0%"),
        (2, "Wang", 400.0, "$400.00", "32.0%"),
        (3, "Zhao", 300.0, "$300.00", "24.0%"),
        (4, "Sun", 50.0, "$50.00", "4.0%"),
        (5, "Zhou", None, "", ""),
    ]
    assert (data["kind"], data["more"], data["empty"]) == ("leaderboard", 0, False)


def test_ties_share_a_rank_and_only_ten_rows_are_kept(ranking):
    sales = ranking.as_system().records("sale")
    sales.bulk_create([{"seller": f"Seller {n:02d}", "amount": 100 if n < 3 else n} for n in range(12)])
    data = board_data(ranking, "zh")
    assert [row["rank"] for row in data["rows"]] == [1, 1, 1, 4, 5, 6, 7, 8, 9, 10]
    assert data["more"] == 2


def test_an_empty_report_is_an_empty_leaderboard(ranking):
    assert board_data(ranking) == {"kind": "leaderboard", "rows": [], "more": 0, "empty": True}


def test_a_matrix_is_refused_as_a_leaderboard(tmp_path):
    extensions = Extensions.from_plugins(make_plugin_manager(load_entry_points=False,
                                                            extra_plugins=[leaderboard_plugin]))
    crm = Crm.open(f"sqlite:///{tmp_path / 'matrix.db'}", extensions=extensions)
    package = tmp_path / "matrix.yaml"
    package.write_text(PACKAGE.replace("{report: sales_by_seller, chart: leaderboard", "{report: seller_by_region, "
                                       "chart: leaderboard"), encoding="utf-8")
    try:
        with pytest.raises(MetadataError, match=r"matrix.yaml:\d+:\d+: a leaderboard ranks the groups of a summary"):
            crm.install(package)
    finally:
        crm.close()


def test_the_dashboard_loads_the_kinds_script_and_the_widget_carries_its_rows(tmp_path):
    from crmkit.ui import create_app
    from tests.ui.conftest import sign_in
    from tests.webapp import build_web_crm

    web = build_web_crm(tmp_path / "web", spare_users=0)
    extensions = Extensions.from_plugins(make_plugin_manager(load_entry_points=False,
                                                            extra_plugins=[leaderboard_plugin]))
    crm = Crm.open(web.url, extensions=extensions)
    try:
        package = tmp_path / "ranking.yaml"
        package.write_text(PACKAGE, encoding="utf-8")
        crm.install(package)
        crm.as_system().records("sale").create({"seller": "Li <b>", "amount": 500})
        client = create_app(crm, {"SECRET_KEY": "test-secret-key-for-the-leaderboard-tests"}).test_client()
        client.environ_base["REMOTE_ADDR"] = "10.202.0.1"
        assert sign_in(client, "admin").status_code == 302
        page = client.get("/dashboards/ranking_board").get_data(as_text=True)
        assert '<script src="/plugin-widgets/leaderboard.js" defer></script>' in page
        widget = client.get("/dashboards/ranking_board/widgets/0").get_data(as_text=True)
        assert 'data-chart-kind="leaderboard"' in widget
        data = json.loads(html.unescape(re.search(r"data-chart='([^']*)'", widget)[1]))
        assert data["rows"] == [{"rank": 1, "name": "Li <b>", "value": 500.0, "text": "$500.00", "share": "100.0%"}]
        assert "Li <b>" not in widget  # the name is in the attribute's JSON, escaped
        script = client.get("/plugin-widgets/leaderboard.js").get_data(as_text=True)
        assert 'window.crmkitCharts.register("leaderboard"' in script
    finally:
        crm.close()
