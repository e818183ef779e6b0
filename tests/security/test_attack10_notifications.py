"""Attack on notifications (automation/notifications.py): a message quoting a derived value.

`deliver` and `Notifications.list` ask, of every field the message quotes, `readable_field` (not hidden),
but a rollup over children the recipient cannot all see is not hidden: every read path recomputes it over
the children they may see (security/derived.py), and history withholds it (shaping.history_withheld). The
message was computed from the stored total. SQLite and PostgreSQL.
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from crmkit.engine.automation.notifications import Notifications
from tests.conftest import add_users

PACKAGE = """
package: attack10_notes
version: "1.0.0"
roles:
  rep: {label: Rep}
permission_sets:
  sales:
    roles: [rep]
    objects:
      account: [create, read, edit]
      deal: [create, read, edit]
objects:
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
    return crm, add_users(crm, [("ann", "rep", ["sales"]), ("bob", "rep", ["sales"])])


@pytest.mark.xfail(strict=True, reason="attack10: a notify message quoting a rollup tells the recipient the stored "
                                       "total over children they cannot see, which get() recomputes")
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
    messages = [note.message for note in Notifications(ann).list() if note.record_id == account.id]
    assert messages, "the rule told Ann nothing"
    assert not any("990000" in message or "990,000" in message for message in messages), messages
