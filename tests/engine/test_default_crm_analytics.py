"""The standard CRM's reports and dashboards, run for real on SQLite and PostgreSQL.

A small sales, marketing and service history is created once per database; each test
checks figures computed by hand from those records, as the administrator and as a rep who
sees only their own deals.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from crmkit.engine.reports.dashboards import DashboardError
from tests.conftest import add_users
from tests.engine.test_default_crm import default_crm  # noqa: F401  (the module-scoped installed database)

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
MARCH = (date(2026, 3, 1), date(2026, 3, 31))


def moment(day: int, hour: int) -> datetime:
    return datetime(2026, 3, day, hour, 0, tzinfo=timezone.utc)


@dataclass
class History:
    crm: object
    rep: int
    rep2: int
    agent: int


@pytest.fixture(scope="module")
def history(default_crm):  # noqa: F811
    """Deals of two reps, a campaign with its leads, three service cases, two customers; made at NOW."""
    crm = default_crm
    crm.clock = lambda: NOW
    users = add_users(crm, [("rep", "sales_rep", ["sales_user"]), ("rep2", "sales_rep", ["sales_user"]),
                            ("agent", "support_agent", ["support_user"])])
    system = crm.as_system()
    campaign = system.records("campaign").create({"name": "Spring fair", "status": "In Progress",
                                                 "actual_cost": Decimal("2000")})
    acme = system.records("account").create({"name": "Acme", "type": "Customer"})
    system.records("account").create({"name": "Quiet Ltd", "type": "Customer"})
    for subject, due in (("Call", date(2026, 2, 15)), ("Visit", date(2026, 3, 5))):
        system.records("activity").create({"subject": subject, "type": "Call", "status": "Completed",
                                           "due_date": due, "account": acme.id})
    deals = [  # (owner, name, stage, amount, close date, extra)
        ("rep", "A", "Closed Won", 10000, date(2026, 3, 20), {"campaign": campaign.id}),
        ("rep", "B", "Closed Lost", 5000, date(2026, 3, 25), {"loss_reason": "Price"}),
        ("rep2", "C", "Closed Won", 30000, date(2026, 3, 30), {}),
        ("rep", "D", "Proposal", 20000, date(2026, 4, 15), {}),
        ("rep2", "E", "Negotiation", 10000, date(2026, 4, 30), {}),
        ("rep2", "F", "Prospecting", 50000, date(2026, 5, 5), {}),
    ]
    for owner, name, stage, amount, close, extra in deals:
        system.records("opportunity").create(
            {"name": name, "account": acme.id, "stage": stage, "amount": Decimal(amount), "close_date": close,
             "owner_id": users[owner], **extra})
    leads = [("Web", False), ("Web", False), ("Web", True), ("Trade Show", True)]
    for index, (source, converted) in enumerate(leads):
        system.records("lead").create({"last_name": f"Lead {index}", "company": "Co", "email": f"l{index}@example.com",
                                       "source": source, "campaign": campaign.id, "converted": converted,
                                       "status": "Qualified" if converted else "Working"})
    cases = [  # opened, due, responded, closed, status, priority, escalated
        (moment(1, 9), moment(1, 10), moment(1, 9).replace(minute=30), moment(1, 15), "Closed", "Urgent", False),
        (moment(2, 9), moment(2, 13), moment(2, 15), None, "Working", "High", False),
        (moment(3, 9), moment(3, 17), None, None, "Escalated", "Medium", True),
    ]
    for index, (opened, due, responded, closed, status, priority, escalated) in enumerate(cases):
        system.records("service_case").create({
            "subject": f"Case {index}", "opened_at": opened, "first_response_due": due, "first_responded_at": responded,
            "closed_at": closed, "status": status, "priority": priority, "escalated": escalated,
            "resolution": "Fixed" if closed else None})
    return History(crm, users["rep"], users["rep2"], users["agent"])


def totals(context, report: str, **filters) -> dict:
    return context.reports.run(report, **filters).grand_total


def by_key(result) -> dict:
    return {group.key: group.values for group in result.groups}


def test_win_rate_deal_size_and_sales_cycle(history):
    admin = history.crm.as_system()
    assert totals(admin, "win_rate")["win_rate"] == pytest.approx(2 / 3)
    sizes = totals(admin, "deal_size_and_cycle")
    assert (sizes["revenue"], sizes["deal_size"], sizes["deals"]) == (Decimal("40000"), Decimal("20000"), 2)
    # Created at noon on 10 March, closed on 20 and 30 March (a date: its start): 9.5 and 19.5 days.
    assert sizes["cycle_days"] == Decimal("14.50")


def test_a_rep_sees_only_their_deals_in_every_figure(history):
    rep = history.crm.as_user(history.rep)
    assert totals(rep, "win_rate")["win_rate"] == pytest.approx(1 / 2)
    assert totals(rep, "sales_by_rep")["revenue"] == Decimal("10000")
    assert [group.key for group in rep.reports.run("sales_by_rep").groups] == [(history.rep,)]
    assert totals(rep, "weighted_forecast")["weighted"] == Decimal("12000")


def test_weighted_forecast_by_close_month(history):
    months = by_key(history.crm.as_system().reports.run("weighted_forecast"))
    assert {key: (values["weighted"], values["pipeline"], values["deals"]) for key, values in months.items()} == {
        (date(2026, 4, 1),): (Decimal("20000"), Decimal("30000"), 2),  # 60% of 20,000 and 80% of 10,000
        (date(2026, 5, 1),): (Decimal("5000"), Decimal("50000"), 1),
    }


def test_sales_funnel_leaves_lost_deals_out(history):
    stages = by_key(history.crm.as_system().reports.run("sales_funnel"))
    assert {key[0]: values["deals"] for key, values in stages.items()} == {
        "Closed Won": 2, "Proposal": 1, "Negotiation": 1, "Prospecting": 1}


def test_lead_source_conversion_and_campaign_return(history):
    admin = history.crm.as_system()
    sources = by_key(admin.reports.run("lead_source_conversion"))
    assert sources[("Web",)]["conversion_rate"] == pytest.approx(1 / 3)
    assert sources[("Trade Show",)]["conversion_rate"] == pytest.approx(1)
    campaign = totals(admin, "campaign_roi")
    assert (campaign["cost"], campaign["revenue"], campaign["leads"]) == (Decimal("2000"), Decimal("10000"), 4)
    assert campaign["roi"] == pytest.approx(4)  # (10,000 - 2,000) / 2,000
    assert campaign["cost_per_lead"] == Decimal("500")


def test_service_times_open_cases_and_sla(history):
    admin = history.crm.as_system()
    times = totals(admin, "case_response_times")
    assert (times["first_response"], times["resolution"], times["cases"]) == (Decimal("3.25"), Decimal("6"), 3)
    assert {key[0]: values["cases"] for key, values in by_key(admin.reports.run("open_cases_by_priority")).items()} \
        == {"High": 1, "Medium": 1}
    assert totals(admin, "sla_compliance")["compliance"] == pytest.approx(1 / 3)


def test_customers_by_last_activity(history):
    result = history.crm.as_system().reports.run("customers_by_last_activity")
    assert (result.grand_total["customers"], result.grand_total["activities"]) == (2, 2)
    acme = [group for group in result.groups if group.level == 2 and group.key[0] == date(2026, 1, 1)]
    assert [(group.key[1], group.values["customers"]) for group in acme] == [(Decimal("10000"), 1)]


@pytest.mark.parametrize("board", ["sales", "marketing", "service"])
def test_every_widget_of_the_standard_dashboards_runs(history, board):
    admin = history.crm.as_system()
    definition = admin.dashboards.get(board)
    for index in range(len(definition.widgets)):
        assert admin.dashboards.widget(board, index, date_range=MARCH).computed_at is not None


def test_the_sales_dashboard_obeys_its_filters_and_compares_with_the_month_before(history):
    crm = history.crm
    admin = crm.as_system()
    assert admin.dashboards.widget("sales", 0, date_range=MARCH, owner_ids=[history.rep2]).grand_total["revenue"] \
        == Decimal("30000")
    before = admin.dashboards.previous("sales", 0, date_range=MARCH)
    assert before.grand_total["revenue"] is None or before.grand_total["revenue"] == 0


def test_an_agent_sees_the_service_dashboard_and_no_deal_figures(history):
    agent = history.crm.as_user(history.agent)
    assert "service" in [board.name for board in agent.dashboards.names()]
    with pytest.raises(DashboardError) as refused:
        agent.dashboards.widget("sales", 0)
    assert refused.value.status == 403


def test_the_sales_cycle_counts_only_won_deals_with_both_dates(history):
    """The measure says what it counts itself, whatever filter its report has (or is given later)."""
    report = history.crm.registry.reports["deal_size_and_cycle"]
    [cycle] = [aggregate for aggregate in report.aggregates if aggregate.name == "cycle_days"]
    assert cycle.where == {"stage": "Closed Won", "created_at": {"is_null": False},
                           "close_date": {"is_null": False}}
    # Lost and open deals (B, D, E, F) would pull the average around; only A and C count.
    assert totals(history.crm.as_system(), "deal_size_and_cycle")["cycle_days"] == Decimal("14.50")


def test_a_kpi_or_gauge_is_named_by_its_figure_not_by_a_report_of_several(history):
    from crmkit.metadata.model import Label
    from crmkit.metadata.reports import WidgetDef, widget_title

    registry = history.crm.registry
    first = registry.dashboards["sales"].widgets[0]
    assert widget_title(first, registry.reports[first.report]).get("en") == "Won revenue"
    assert widget_title(first, registry.reports[first.report]).get("zh") == "赢单收入"
    # Every figure of the standard dashboards is named for itself, in both languages.
    figures = [widget for board in registry.dashboards.values() for widget in board.widgets
               if widget.chart in ("kpi", "gauge")]
    assert len(figures) == 11
    assert all(widget.title.texts.get("en") and widget.title.texts.get("zh") for widget in figures)
    # Without a title, a KPI falls back to its figure's label; a chart of groups to the report's.
    report = registry.reports["deal_size_and_cycle"]
    assert widget_title(WidgetDef(report=report.name, chart="kpi", value="deal_size"), report).get("en") == \
        "Average deal size"
    assert widget_title(WidgetDef(report=report.name, chart="bar", value="deal_size"), report) == report.label
    assert widget_title(WidgetDef(report=report.name, chart="kpi", title=Label.of("Mine")), report).get() == "Mine"
    assert widget_title(WidgetDef(report="gone", chart="kpi"), None).get() == "gone"


def test_the_funnels_leave_their_dead_ends_out(history):
    """A funnel counts what reached each step: lost deals and unqualified leads reached none (docs/reports.md)."""
    registry = history.crm.registry
    funnels = {widget.report for board in registry.dashboards.values() for widget in board.widgets
               if widget.chart == "funnel"}
    assert funnels == {"sales_funnel", "lead_funnel"}
    assert registry.reports["lead_funnel"].filter == {"status": {"ne": "Unqualified"}}
    leads = by_key(history.crm.as_system().reports.run("lead_funnel"))
    assert leads == {("Working",): {"leads": 2}, ("Qualified",): {"leads": 2}}
