"""Attack on a privacy erasure (security/privacy.py `Privacy.erase`) and the automation outbox.

An email or webhook action stores, at the save, the record's values as they were (automation/deliveries.py
`delivery_payload`): the message's whole `record`, or the webhook's `fields`. The erasure clears the
person's record, history, bin and recent items, but not the outbox: a row still pending is delivered after
the erasure with the erased name and address (the worker reads only the payload), and a done or dead row
keeps them for any administrator to read on /admin/automation/outbox/<id>. SQLite and PostgreSQL.
"""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from crmkit.engine.security.privacy import Privacy
from tests.conftest import add_users

PACKAGE = """
package: attack11_outbox
version: "1.0.0"
roles:
  rep: {label: Rep}
  officer: {label: Privacy officer}
permission_sets:
  sales:
    roles: [rep]
    objects:
      person: [create, read, edit]
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
    email_templates:
      welcome:
        subject: "Welcome, {{ record.name }}"
        text: "Hello {{ record.name }}"
    automations:
      - name: welcome
        on: [created]
        actions:
          - {type: send_email, template: welcome, to: [email]}
"""


@pytest.fixture
def people(crm, write_package, install_once):
    install_once(write_package(PACKAGE))
    return crm, add_users(crm, [("ann", "rep", ["sales"]), ("officer", "officer", ["privacy"])])


def outbox_rows(crm, record_id: int) -> list[dict]:
    table = crm.runtime.system_table("crmkit_outbox")
    with crm.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(
            select(table).where(table.c.object == "person", table.c.record_id == record_id))]


def test_an_erased_person_is_not_kept_in_the_outbox(people):
    crm, users = people
    ann = crm.as_user(users["ann"])
    wei = ann.records("person").create({"name": "Wei Zhang", "email": "wei@example.com"})
    (row,) = outbox_rows(crm, wei.id)
    assert "Wei Zhang" in json.dumps(row["payload"])     # the message as it was at the save
    Privacy(crm.as_user(users["officer"])).erase("person", wei.id)
    assert ann.records("person").get(wei.id)["email"] is None
    kept = [row["payload"] for row in outbox_rows(crm, wei.id)
            if "Wei Zhang" in json.dumps(row["payload"]) or "wei@example.com" in json.dumps(row["payload"])]
    assert kept == []
