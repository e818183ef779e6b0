"""An email to the record's `owner` is rendered as the owner may read (automation/deliveries.py `_viewer`):
a lookup to an object the owner may not read is left out of the message, not a failure of the delivery.

Before the owner's field-level security applied, the template was rendered as the system; rendering it as the
owner must not make an email whose record points at something the owner cannot read (an account of another
team, an object their role has no permission on) fail and be retried until dead. SQLite and PostgreSQL.
"""
from __future__ import annotations

from sqlalchemy import update

import pytest

from tests.automation.delivery_fixtures import body, smtp_server  # noqa: F401  (the fixture)
from tests.conftest import add_users

PACKAGE = """
package: owner_email_lookup
version: "1.0.0"
roles:
  rep: {label: Rep}
permission_sets:
  sales:
    roles: [rep]
    objects:
      deal: [create, read, edit]
objects:
  account:
    title_field: name
    fields:
      name: {type: text, required: true}
  deal:
    title_field: name
    fields:
      name: {type: text, required: true}
      account: {type: lookup, to: account}
    email_templates:
      assigned:
        subject: "New deal {{ record.name }}"
        text: "Deal {{ record.name }} is yours"
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


def test_an_email_to_an_owner_who_may_not_read_a_linked_object_is_still_sent(deals, smtp_server):  # noqa: F811
    crm, users = deals
    system = crm.as_system()
    account = system.records("account").create({"name": "Acme"})
    system.records("deal").create({"name": "Acme renewal", "account": account.id, "owner_id": users["ann"]})
    while crm.outbox.work_due():
        pass
    (recipients, message), = smtp_server.messages
    assert recipients == ["ann@crm.test"]
    assert "Acme renewal" in body(message)
