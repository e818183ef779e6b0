"""Attack on notifications (automation/notifications.py): a message quoting a derived value, or an erased person.

`deliver` and `Notifications.list` ask, of every field the message quotes, `readable_field` (not hidden),
but a rollup over children the recipient cannot all see is not hidden: every read path recomputes it over
the children they may see (security/derived.py), and history withholds it (shaping.history_withheld). The
message was computed from the stored total. And a privacy erasure (security/privacy.py) clears the person from
the record, its history, the recycle bin and recent items, but not from the messages that quote them.
SQLite and PostgreSQL.
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from crmkit.engine.automation.notifications import Notifications
from crmkit.engine.security.privacy import Privacy
from tests.conftest import add_users

PACKAGE = """
package: attack10_notes
version: "1.0.0"
roles:
  rep: {label: Rep}
  officer: {label: Privacy officer}
permission_sets:
  privacy:
    roles: [officer]
    system: [manage_privacy]
    objects:
      person: [create, read, edit]
  sales:
    roles: [rep]
    objects:
      account: [create, read, edit]
      deal: [create, read, edit]
      person: [create, read, edit]
objects:
  person:
    title_field: name
    sharing: public_read_write
    fields:
      name: {type: text, required: true, personal: true}
      email: {type: email, personal: true}
    automations:
      - name: welcome
        on: [created]
        actions:
          - {type: notify, to: owner, message: "'New contact: ' + name + ' <' + email + '>'"}
  account:
    title_field: name
    sharing: private
    fields:
      name: {type: text}
      note: {type: text}
      pipeline: {type: rollup, from: deal.account, aggregate: sum, field: amount}
    automations:
      - name: touched
        on: [updated]
        condition: "changed('note')"
        actions:
          - {type: notify, to: owner, message: "name + ' pipeline ' + str(pipeline)"}
  deal:
    title_field: name
    sharing: private
    fields:
      name: {type: text}
      amount: {type: decimal}
      account: {type: lookup, to: account}
"""


@pytest.fixture
def sales(crm, write_package, install_once):
    install_once(write_package(PACKAGE))
    return crm, add_users(crm, [("ann", "rep", ["sales"]), ("bob", "rep", ["sales"]),
                                ("officer", "officer", ["privacy"])])


def test_a_message_quoting_a_rollup_does_not_tell_the_total_over_children_the_recipient_cannot_see(sales):
    crm, users = sales
    ann = crm.as_user(users["ann"])
    account = ann.records("account").create({"name": "Acme"})
    crm.as_system().records("deal").create({"name": "Bob's secret", "amount": 990_000, "account": account.id,
                                            "owner_id": users["bob"]})
    current = ann.records("account").get(account.id)
    assert current["pipeline"] in (None, Decimal(0))      # get: recomputed over the deals Ann may see
    ann.records("account").update(account.id, {"note": "called"}, version=current.version)
    crm.outbox.work_due()
    # A message quoting a value the recipient may not be given is withheld from them, as one quoting a hidden field
    messages = [note.message for note in Notifications(ann).list() if note.record_id == account.id]
    assert not any("990000" in message or "990,000" in message for message in messages), messages
    crm.as_system().records("deal").create({"name": "Ann's own", "amount": 5, "account": account.id,
                                            "owner_id": users["ann"]})
    current = ann.records("account").get(account.id)
    ann.records("account").update(account.id, {"note": "called again"}, version=current.version)
    crm.outbox.work_due()
    assert not any("990" in note.message for note in Notifications(ann).list()), "withheld when read again too"


def test_an_erased_person_is_not_quoted_by_the_notifications_about_them(sales):
    crm, users = sales
    ann = crm.as_user(users["ann"])
    person = ann.records("person").create({"name": "Wei Zhang", "email": "wei@example.com"})
    crm.outbox.work_due()
    assert [note.message for note in Notifications(ann).list()] == ["New contact: Wei Zhang <wei@example.com>"]
    Privacy(crm.as_user(users["officer"])).erase("person", person.id)
    assert ann.records("person").get(person.id)["email"] is None
    messages = [note.message for note in Notifications(ann).list() if note.record_id == person.id]
    assert not any("Wei Zhang" in message or "wei@example.com" in message for message in messages), messages
