"""An email to `owner` and to others when the owner is no longer an active user (automation/deliveries.py
`_viewer`): the owner is not mailed, and the other recipients get the message as before owners' field-level
security applied (rendered as the system), not one rendered over an empty record. SQLite and PostgreSQL."""
from __future__ import annotations

from sqlalchemy import update

from crmkit.engine.security.users import SystemDirectory
from tests.automation.delivery_fixtures import body, smtp_server  # noqa: F401  (the fixture)
from tests.conftest import add_users

PACKAGE = """
package: owner_gone_email
version: "1.0.0"
roles:
  rep: {label: Rep}
permission_sets:
  sales:
    roles: [rep]
    objects:
      deal: [create, read, edit]
objects:
  deal:
    title_field: name
    fields:
      name: {type: text, required: true}
      email: {type: email}
    email_templates:
      updated:
        subject: "Deal {{ record.name }}"
        text: "Deal {{ record.name }} was updated"
    automations:
      - name: updated
        on: [updated]
        actions:
          - {type: send_email, template: updated, to: [owner, email]}
"""


def test_a_deactivated_owner_is_not_mailed_and_the_others_get_the_whole_message(
        crm, write_package, install_once, smtp_server):  # noqa: F811
    install_once(write_package(PACKAGE))
    users = add_users(crm, [("ann", "rep", ["sales"])])
    table = crm.runtime.system_table("crmkit_user")
    with crm.engine.begin() as connection:
        connection.execute(update(table).where(table.c.id == users["ann"]).values(email="ann@crm.test"))
    system = crm.as_system().records("deal")
    deal = system.create({"name": "Acme", "email": "buyer@acme.test", "owner_id": users["ann"]})
    SystemDirectory(crm).deactivate(users["ann"])
    system.update(deal.id, {"name": "Acme renewal"}, version=deal["version"])
    while crm.outbox.work_due():
        pass
    (recipients, message), = smtp_server.messages
    assert recipients == ["buyer@acme.test"]
    assert "Deal Acme renewal was updated" in body(message), body(message)
