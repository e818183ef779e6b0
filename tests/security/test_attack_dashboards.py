"""Attacks on the dashboard widget cache: a right taken back is never served from a kept result."""
from __future__ import annotations

import pytest

from tests.conftest import add_users

PACKAGE = """
package: attack_dashboards
version: "1.0.0"
permission_sets:
  reps:
    objects:
      deal: [create, read, edit]
objects:
  deal:
    title_field: name
    sharing: private
    fields:
      name: {type: text, required: true}
      amount: {type: integer}
reports:
  pipeline:
    object: deal
    kind: summary
    aggregates: [{name: total, function: sum, field: amount}]
dashboards:
  sales:
    widgets:
      - {report: pipeline, chart: kpi, value: total}
"""


@pytest.fixture
def reps(crm, install):
    install(PACKAGE)
    return add_users(crm, [("ann", None, ["reps"]), ("bob", None, ["reps"])])


def test_a_widget_is_not_served_from_the_cache_after_the_share_it_counted_is_taken_back(crm, reps):
    ann = crm.as_user(reps["ann"])
    deal = ann.records("deal").create({"name": "Big one", "amount": 1_000_000}).id
    share = ann.sharing.share("deal", deal, user_id=reps["bob"])
    assert crm.as_user(reps["bob"]).dashboards.widget("sales", 0).grand_total["total"] == 1_000_000
    crm.as_user(reps["ann"]).sharing.unshare(share)
    assert crm.as_user(reps["bob"]).dashboards.widget("sales", 0).grand_total["total"] in (None, 0)
