"""Attack on send_email to the record's `owner` (automation/deliveries.py `_send_email`): what it quotes to a user.

A notify action tells a recipient only what they may read: a message quoting a field hidden from them, or a
value they see recomputed or masked, is withheld from them (automation/notify_reads.py, Notifications). An
email to `owner` goes to a user of the CRM too, but is rendered as the system: `{{ record.cost }}` of a field
protected from the owner's role is mailed to them, though `get`, lists, exports and notifications never give
it. SQLite and PostgreSQL.
"""
from __future__ import annotations

import pytest
from sqlalchemy import update

from tests.automation.delivery_fixtures import body, smtp_server  # noqa: F401  (the fixture)
from tests.conftest import add_users

PACKAGE = """
package: attack11_owner_email
version: "1.0.0"
roles:
  rep: {label: Rep}
  controller: {label: Controller}
permission_sets:
  sales:
    roles: [rep, controller]
    objects:
      deal: [create, read, edit]
  costs:
    roles: [controller]
    fields:
      deal.cost: [read]
objects:
  deal:
    title_field: name
    sharing: private
    fields:
      name: {type: text, required: true}
      cost: {type: currency}
    email_templates:
      assigned:
        subject: "New deal {{ record.name }}"
        text: "Deal {{ record.name }}: our cost is {{ record.cost }}"
    automations:
      - name: assigned
        on: [created]
        actions:
          - {type: send_email, template: assigned, to: [owner]}
"""


@pytest.fixture
def deals(crm, write_package, install_once):
    install_once(write_package(PACKAGE))
    users = add_users(crm, [("ann", "rep", ["sales"])])
    table = crm.runtime.system_table("crmkit_user")
    with crm.engine.begin() as connection:
        connection.execute(update(table).where(table.c.id == users["ann"]).values(email="ann@crm.test"))
    return crm, users


def test_an_email_to_the_owner_does_not_quote_a_field_the_owner_may_not_read(deals, smtp_server):  # noqa: F811
    crm, users = deals
    deal = crm.as_system().records("deal").create({"name": "Acme renewal", "cost": 7315, "owner_id": users["ann"]})
    assert "cost" not in crm.as_user(users["ann"]).records("deal").get(deal.id)   # hidden from Ann
    while crm.outbox.work_due():
        pass
    (recipients, message), = smtp_server.messages
    assert recipients == ["ann@crm.test"]
    assert "7315" not in body(message), body(message)
