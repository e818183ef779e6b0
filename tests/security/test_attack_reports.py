"""Attacks on reports and dashboards with dates at the ends of the calendar: answers, never tracebacks."""
from __future__ import annotations

from datetime import date

import pytest

from crmkit.engine.reports.dashboards import previous_period

PACKAGE = """
package: attack_reports
version: "1.0.0"
objects:
  deal:
    title_field: name
    fields:
      name: {type: text, required: true}
      close_date: {type: date}
reports:
  deals_by_month:
    object: deal
    kind: summary
    group_by:
      - {field: close_date, bucket: month}
  deals_by_year:
    object: deal
    kind: summary
    group_by:
      - {field: close_date, bucket: year}
"""


@pytest.fixture
def far_deal(crm, install):
    """One deal closing on the last day a date can hold."""
    install(PACKAGE)
    crm.as_system().records("deal").create({"name": "Forever", "close_date": "9999-12-31"})
    return crm.as_system()


@pytest.mark.parametrize("report", ["deals_by_month", "deals_by_year"])
def test_the_drilldown_of_the_last_bucket_a_date_can_hold_selects_its_records(far_deal, report):
    group = far_deal.reports.run(report).groups[0]
    found = far_deal.reports.drilldown(report, group.key)  # the bucket after 9999-12 is no date
    assert far_deal.records("deal").count(found, exact=True).value == 1


@pytest.mark.parametrize("chosen", [(date(1, 1, 1), date(1, 3, 31)), (date(1, 1, 2), date(1, 1, 9)),
                                    (date(1, 1, 1), date(9999, 12, 31))])
def test_a_range_starting_at_the_first_day_a_date_can_hold_has_no_previous_period(chosen):
    assert previous_period(chosen) is None  # a dashboard address (?from=0001-01-01) must not crash the KPI
