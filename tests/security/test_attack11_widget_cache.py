"""Attack on the dashboard widget cache (reports/dashboards.py `WidgetCache`): what a kept result still tells.

A widget's result is kept for WIDGET_MAX_AGE seconds under (user, rights version, language, zone, metadata
generation, board, widget, filters). Changes of rights advance the rights version, so they are never served an
old result; two changes that take data away from a user do not:

- a privacy erasure (security/privacy.py `Privacy.erase`): a widget grouping people by name keeps showing the
  erased name, as its group label, to every user who looked at it in the minute before;
- a record given to another owner under private sharing: the previous owner keeps being shown the record's
  name as a group of a widget they computed before, though `get` refuses it now.

The clock does not move between the reads. SQLite and PostgreSQL.
"""
from __future__ import annotations

import pytest

from crmkit.engine.records.errors import RecordNotFound
from crmkit.engine.security.privacy import Privacy
from tests.conftest import add_users

PACKAGE = """
package: attack11_widgets
version: "1.0.0"
roles:
  rep: {label: Rep}
  officer: {label: Privacy officer}
permission_sets:
  sales:
    roles: [rep]
    objects:
      person: [create, read, edit]
      deal: [create, read, edit]
  privacy:
    roles: [officer]
    system: [manage_privacy]
    objects:
      person: [create, read, edit]
objects:
  person:
    title_field: name
    sharing: public_read_write
    fields:
      name: {type: text, required: true, personal: true}
      email: {type: email, personal: true}
  deal:
    title_field: name
    sharing: private
    fields:
      name: {type: text, required: true}
reports:
  people_by_name:
    label: {en: People}
    object: person
    kind: summary
    group_by:
      - field: name
    aggregates:
      - {name: people, function: count, label: {en: People}}
  deals_by_name:
    label: {en: Deals}
    object: deal
    kind: summary
    group_by:
      - field: name
    aggregates:
      - {name: deals, function: count, label: {en: Deals}}
dashboards:
  desk:
    label: {en: Desk}
    widgets:
      - {report: people_by_name, chart: bar, value: people}
      - {report: deals_by_name, chart: bar, value: deals}
"""


@pytest.fixture
def desk(crm, write_package, install_once):
    install_once(write_package(PACKAGE))
    return crm, add_users(crm, [("ann", "rep", ["sales"]), ("bob", "rep", ["sales"]),
                                ("officer", "officer", ["privacy"])])


def names(result) -> set:
    return {value for group in result.groups for value in (*group.key, *group.labels)}


def test_a_widget_does_not_show_a_name_erased_since_it_was_computed(desk):
    crm, users = desk
    ann = crm.as_user(users["ann"])
    wei = ann.records("person").create({"name": "Wei Zhang", "email": "wei@example.com"})
    assert "Wei Zhang" in names(ann.dashboards.widget("desk", 0))
    Privacy(crm.as_user(users["officer"])).erase("person", wei.id)
    assert ann.records("person").get(wei.id)["name"] != "Wei Zhang"
    assert "Wei Zhang" not in names(crm.as_user(users["ann"]).dashboards.widget("desk", 0))


def test_a_widget_does_not_show_a_record_given_away_since_it_was_computed(desk):
    crm, users = desk
    ann = crm.as_user(users["ann"])
    deal = ann.records("deal").create({"name": "Takeover of Acme"})
    assert "Takeover of Acme" in names(ann.dashboards.widget("desk", 1))
    crm.as_system().records("deal").update(deal.id, {"owner_id": users["bob"]}, version=deal.version)
    with pytest.raises(RecordNotFound):
        crm.as_user(users["ann"]).records("deal").get(deal.id)
    assert "Takeover of Acme" not in names(crm.as_user(users["ann"]).dashboards.widget("desk", 1))
