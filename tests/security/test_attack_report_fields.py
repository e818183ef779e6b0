"""Attacks on reports through fields a user may not read: every path is refused, none leaks a figure."""
from __future__ import annotations

import pytest

from crmkit.engine.reports.errors import ReportError
from tests.conftest import add_users

PACKAGE = """
package: attack_fls
version: "1.0.0"
permission_sets:
  reps:
    objects:
      account: [read]
      deal: [read, create]
  finance:
    fields:
      account.secret: [read]
      account.audited_on: [read]
      deal.margin: [read]
objects:
  account:
    title_field: name
    sharing: public_read
    fields:
      name: {type: text, required: true}
      secret: {type: integer}
      audited_on: {type: date}
  deal:
    title_field: name
    sharing: public_read
    fields:
      name: {type: text, required: true}
      margin: {type: integer}
      opened_on: {type: date}
      account: {type: lookup, to: account}
reports:
  by_secret:
    object: deal
    kind: summary
    group_by: [{field: account.secret}]
  secret_ranges:
    object: deal
    kind: summary
    group_by: [{field: account.secret, ranges: [10, 100]}]
  sum_margin:
    object: deal
    kind: summary
    group_by: [{field: name}]
    aggregates: [{name: m, function: sum, field: margin}]
  where_secret:
    object: deal
    kind: summary
    group_by: [{field: name}]
    aggregates: [{name: n, function: count, where: {account.secret: {gt: 50}}}]
  days_to_audit:
    object: deal
    kind: summary
    group_by: [{field: name}]
    aggregates: [{name: d, function: avg, days_between: [opened_on, account.audited_on]}]
  shown_secret:
    object: deal
    kind: tabular
    columns: [name, account.secret]
  dated_by_audit:
    object: deal
    kind: tabular
    columns: [name]
    date_field: account.audited_on
  filterable:
    object: deal
    kind: tabular
    columns: [name]
    page_filters: [name, account.secret, margin]
"""


@pytest.fixture
def rep(crm, install):
    install(PACKAGE)
    system = crm.as_system()
    account = system.records("account").create({"name": "Acme", "secret": 77, "audited_on": "2026-01-01"}).id
    system.records("deal").create({"name": "D1", "margin": 5, "opened_on": "2025-12-01", "account": account})
    return crm.as_user(add_users(crm, [("rep", None, ["reps"])])["rep"])


@pytest.mark.parametrize("report", ["by_secret", "secret_ranges", "sum_margin", "where_secret", "days_to_audit",
                                    "shown_secret"])
def test_a_report_reading_a_field_the_user_may_not_read_is_refused(rep, report):
    with pytest.raises(ReportError):
        rep.reports.run(report)


def test_a_date_range_on_a_date_field_the_user_may_not_read_is_refused(rep):
    from datetime import date

    assert len(rep.reports.run("dated_by_audit").rows) == 1
    with pytest.raises(ReportError):
        rep.reports.run("dated_by_audit", date_range=(date(2026, 1, 1), date(2026, 1, 1)))


@pytest.mark.parametrize("filters", [{"account.secret": 77}, {"margin": {"gt": 1}},
                                     {"or": [{"name": "x"}, {"account.secret": {"gt": 1}}]}])
def test_a_page_filter_on_a_field_the_user_may_not_read_is_refused(rep, filters):
    with pytest.raises(ReportError):
        rep.reports.run("filterable", filters=filters)
