"""context.dashboards: the dashboards a user may see, each widget's report run under the dashboard's filters, cached briefly.

The report runs here are recorded by a stand-in for `context.reports` (the report compiler is
tested on its own): what is checked is which runs the dashboard asks for, with which
filters, and when it answers from its cache instead.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from crmkit.engine.context import UserContext
from crmkit.engine.reports.dashboards import DashboardError, WidgetCache, previous_period
from crmkit.engine.reports.result import ReportResult
from crmkit.engine.security.users import SystemDirectory
from tests.conftest import add_users

PACKAGE = """
package: shop
version: "1.0.0"
permission_sets:
  sellers:
    objects:
      deal: [read]
  auditors:
    objects:
      deal: [read]
      payout: [read]
objects:
  deal:
    fields:
      name: {type: text}
      amount: {type: currency}
      close_date: {type: date}
  payout:
    fields:
      amount: {type: currency}
      paid_on: {type: date}
reports:
  deals:
    object: deal
    kind: summary
    date_field: close_date
    aggregates: [{name: total, function: sum, field: amount}]
  payouts:
    object: payout
    kind: summary
    date_field: paid_on
    aggregates: [{name: paid, function: sum, field: amount}]
dashboards:
  sales:
    filters: [date_range, owner]
    widgets:
      - {report: deals, chart: kpi, compare: previous_period}
      - {report: payouts, chart: kpi}
  money:
    widgets:
      - {report: payouts, chart: kpi}
"""
START = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)


class RecordedReports:
    """Stands in for `context.reports`: each run is recorded and answers with its own number."""

    def __init__(self, context: UserContext, runs: list) -> None:
        self.context, self.runs = context, runs

    def may_run(self, report) -> bool:
        from crmkit.engine.reports.service import ReportService

        return ReportService(self.context).may_run(report)  # who may run a report is the engine's, as it is

    def run(self, name, *, filters=None, date_range=None, owner_ids=None, team_id=None) -> ReportResult:
        self.runs.append((self.context.actor.user_id, name, date_range, owner_ids, team_id))
        return ReportResult(report=name, kind="summary", label=name, group_columns=(), value_columns=(),
                            grand_total={"run": len(self.runs)})


@pytest.fixture
def shop(crm, install, monkeypatch):
    """The installed shop, a seller (reads deals) and an auditor (deals and payouts), a settable clock, the runs."""
    install(PACKAGE)
    users = add_users(crm, [("seller", None, ["sellers"]), ("auditor", None, ["auditors"])])
    moment = {"now": START}
    monkeypatch.setattr(crm, "clock", lambda: moment["now"])
    runs: list = []
    monkeypatch.setattr(UserContext, "reports", property(lambda context: RecordedReports(context, runs)),
                        raising=False)
    return crm, users, moment, runs


def test_a_user_sees_the_dashboards_with_a_widget_they_may_read(shop):
    crm, users, _, _ = shop
    seller, auditor = crm.as_user(users["seller"]), crm.as_user(users["auditor"])
    assert [board.name for board in seller.dashboards.names()] == ["sales"]
    assert [board.name for board in auditor.dashboards.names()] == ["sales", "money"]
    assert seller.dashboards.get("sales").widgets[0].report == "deals"


def test_a_dashboard_not_theirs_is_refused_like_one_that_does_not_exist(shop):
    crm, users, _, _ = shop
    seller = crm.as_user(users["seller"])
    with pytest.raises(DashboardError) as hidden:
        seller.dashboards.get("money")
    with pytest.raises(DashboardError) as missing:
        seller.dashboards.get("nothing")
    assert (hidden.value.status, missing.value.status) == (404, 404)
    assert hidden.value.message == "there is no dashboard named 'money'."
    assert missing.value.message == "there is no dashboard named 'nothing'."


def test_a_widget_over_records_the_user_may_not_read_is_not_available_and_not_run(shop):
    crm, users, _, runs = shop
    seller = crm.as_user(users["seller"])
    assert (seller.dashboards.available("sales", 0), seller.dashboards.available("sales", 1)) == (True, False)
    with pytest.raises(DashboardError) as refused:
        seller.dashboards.widget("sales", 1)
    assert refused.value.status == 403
    assert refused.value.message == "this widget is not available to you: it shows records you may not read."
    assert runs == []


def test_a_widget_runs_its_report_with_the_dashboard_filters(shop):
    crm, users, _, runs = shop
    auditor = crm.as_user(users["auditor"])
    result = auditor.dashboards.widget("sales", 1, date_range=(date(2026, 10, 1), date(2026, 12, 31)),
                                       owner_ids=[users["seller"], users["seller"]])
    assert runs == [(users["auditor"], "payouts", (date(2026, 10, 1), date(2026, 12, 31)), (users["seller"],), None)]
    assert result.report == "payouts" and result.computed_at == START


def test_a_filter_the_dashboard_does_not_offer_is_refused(shop):
    crm, users, _, runs = shop
    with pytest.raises(DashboardError) as refused:
        crm.as_user(users["auditor"]).dashboards.widget("money", 0, team_id=3)
    assert refused.value.status == 400
    assert refused.value.message == "the dashboard 'money' has no team filter; the filters it offers: none."
    assert runs == []


def test_an_unknown_widget_is_not_found(shop):
    crm, users, _, _ = shop
    with pytest.raises(DashboardError) as missing:
        crm.as_user(users["auditor"]).dashboards.widget("money", 1)
    assert missing.value.status == 404
    assert "the dashboard 'money' has no widget 1" in missing.value.message


def test_a_widget_is_served_from_the_cache_for_a_minute_and_says_its_age(shop):
    crm, users, moment, runs = shop
    auditor = crm.as_user(users["auditor"])
    first = auditor.dashboards.widget("money", 0)
    moment["now"] = START + timedelta(seconds=60)
    again = auditor.dashboards.widget("money", 0)
    assert again == first and again.computed_at == START and len(runs) == 1
    moment["now"] = START + timedelta(seconds=61)
    fresh = auditor.dashboards.widget("money", 0)
    assert (len(runs), fresh.computed_at, fresh.grand_total) == (2, START + timedelta(seconds=61), {"run": 2})


def test_the_cache_is_per_user_language_time_zone_and_filters(shop):
    crm, users, _, runs = shop
    crm.as_user(users["auditor"]).dashboards.widget("sales", 0)
    crm.as_user(users["seller"]).dashboards.widget("sales", 0)
    crm.as_user(users["seller"], language="zh").dashboards.widget("sales", 0)
    crm.as_user(users["seller"], language="zh", timezone="Asia/Shanghai").dashboards.widget("sales", 0)
    crm.as_user(users["seller"]).dashboards.widget("sales", 0, date_range=(date(2026, 1, 1), None))
    crm.as_user(users["seller"]).dashboards.widget("sales", 0, date_range=(date(2026, 1, 1), None))
    assert len(runs) == 5


def test_a_change_of_rights_is_never_served_an_older_result(shop):
    crm, users, _, runs = shop
    seller = crm.as_user(users["seller"])
    seller.dashboards.widget("sales", 0)
    SystemDirectory(crm).grant("auditors", user_id=users["seller"])
    seller.dashboards.widget("sales", 0)
    assert len(runs) == 2
    assert [board.name for board in seller.dashboards.names()] == ["sales", "money"]


def test_a_kpi_compares_with_the_period_just_before(shop):
    crm, users, _, runs = shop
    seller = crm.as_user(users["seller"])
    assert seller.dashboards.previous("sales", 0, date_range=(date(2026, 10, 1), date(2026, 12, 31))) is not None
    assert seller.dashboards.previous("sales", 0, date_range=(date(2026, 10, 1), None)) is None
    assert [run[2] for run in runs] == [(date(2026, 7, 1), date(2026, 9, 30))]


@pytest.mark.parametrize(("period", "before"), [
    ((date(2026, 10, 1), date(2026, 12, 31)), (date(2026, 7, 1), date(2026, 9, 30))),
    ((date(2026, 3, 1), date(2026, 3, 31)), (date(2026, 2, 1), date(2026, 2, 28))),
    ((date(2026, 1, 1), date(2026, 12, 31)), (date(2025, 1, 1), date(2025, 12, 31))),
    ((date(2026, 3, 2), date(2026, 3, 31)), (date(2026, 1, 31), date(2026, 3, 1))),
    ((date(2026, 12, 2), date(2026, 12, 2)), (date(2026, 12, 1), date(2026, 12, 1))),
    ((None, date(2026, 12, 2)), None),
    (None, None),
])
def test_the_previous_period_has_the_same_length(period, before):
    assert previous_period(period) == before


def test_the_cache_is_bounded_and_forgets_the_least_recently_used():
    cache = WidgetCache(size=2, max_age=60)
    cache.put("a", 1, START)
    cache.put("b", 2, START)
    assert cache.get("a", START) == 1
    cache.put("c", 3, START)
    assert (cache.get("a", START), cache.get("b", START), cache.get("c", START), len(cache)) == (1, None, 3, 2)


def test_clearing_the_cache_forgets_every_result_and_it_fills_again():
    cache = WidgetCache(size=4, max_age=60)
    cache.put("a", 1, START)
    cache.put("b", 2, START)
    cache.clear()
    assert (cache.get("a", START), cache.get("b", START), len(cache)) == (None, None, 0)
    cache.put("a", 3, START)
    assert cache.get("a", START) == 3
