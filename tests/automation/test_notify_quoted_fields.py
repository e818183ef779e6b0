"""A notification never tells its recipient a value they may not read, however the message reads it: by the
field's name, through `previous('field')` / `changed('field')`, with a name computed at run time, or by using a
lookup as text (which shows the related record's name)."""
from __future__ import annotations

import pytest

from crmkit.engine.automation.notifications import Notifications
from crmkit.engine.security.users import SystemDirectory

PASSWORD = "a long passphrase 42"

DESK = """
package: desk
version: "1.0.0"
roles:
  boss: {label: {en: Boss}}
  rep: {parent: boss}
permission_sets:
  sales:
    roles: [boss, rep]
    objects:
      ticket: [create, read, edit]
      vendor: [create, read, edit]
  secrets:
    roles: [boss]
    fields:
      ticket.margin: [read, edit]
      vendor.name: [read, edit]
objects:
  vendor:
    fields:
      name: {type: text}
  ticket:
    title_field: subject
    fields:
      subject: {type: text, required: true}
      priority: {type: picklist, options: [Low, High]}
      margin: {type: currency}
      vendor: {type: lookup, to: vendor}
    validations:  # reads vendor.name, so saves load it into the related record expressions see
      - name: not_blocked
        condition: "vendor.name == 'Blocked'"
        message: {en: This vendor is blocked., zh: 此供应商已被停用。}
        discloses_protected_fields: true
    automations:
      - name: margin_was
        on: [updated]
        condition: "changed('priority') and priority == 'High'"
        actions:
          - {type: notify, to: owner, message: "MESSAGE"}
"""


@pytest.fixture
def told(crm, install, clock):
    """told(message) -> {owner role: [their notifications' messages]} after a ticket of each owner goes High."""
    def run(message: str) -> dict[str, list[str]]:
        install(DESK.replace("MESSAGE", message))
        directory = SystemDirectory(crm)
        system = crm.as_system()
        vendor = system.records("vendor").create({"name": "Acme secret supplier"})
        users = {}
        for role in ("boss", "rep"):
            users[role] = directory.create_user(role, password=PASSWORD, role=role).id
            ticket = system.records("ticket").create({"subject": f"T {role}", "priority": "Low", "margin": "12.5",
                                                      "vendor": vendor.id, "owner_id": users[role]})
            system.records("ticket").update(ticket.id, {"margin": "30", "priority": "High"}, version=ticket.version)
        crm.outbox.work_due()
        return {role: [note.message for note in Notifications(crm.as_user(user)).list()]
                for role, user in users.items()}
    return run


def test_a_field_read_by_name_through_previous_is_not_told_to_who_may_not_read_it(told):
    assert told("'Margin was ' + text(previous('margin'))") == {"boss": ["Margin was 12.50"], "rep": []}


def test_a_field_name_computed_at_run_time_counts_as_any_field(told):
    assert told("'Margin was ' + text(previous('mar' + 'gin'))") == {"boss": ["Margin was 12.50"], "rep": []}


def test_a_lookup_used_as_text_quotes_the_related_records_name(told):
    assert told("'Supplier: ' + text(vendor)") == {"boss": ["Supplier: Acme secret supplier"], "rep": []}


def test_a_message_quoting_only_readable_fields_reaches_everyone_named(told):
    assert told("'Now ' + priority + ', was ' + text(previous('priority'))") == {
        "boss": ["Now High, was Low"], "rep": ["Now High, was Low"]}


def test_a_value_of_a_related_record_is_told_only_to_who_may_see_that_record(crm, install, clock):
    install(DESK.replace("  vendor:\n    fields:", "  vendor:\n    sharing: private\n    fields:\n      rating: {type: integer}")
            .replace("MESSAGE", "'Vendor rating ' + text(vendor.rating)"))
    directory, system = SystemDirectory(crm), crm.as_system()
    users = {role: directory.create_user(role, password=PASSWORD, role=role).id for role in ("boss", "rep")}
    vendor = system.records("vendor").create({"name": "Acme", "rating": 3, "owner_id": users["boss"]})
    for role, user in users.items():
        ticket = system.records("ticket").create({"subject": role, "priority": "Low", "vendor": vendor.id,
                                                  "owner_id": user})
        system.records("ticket").update(ticket.id, {"priority": "High"}, version=ticket.version)
    crm.outbox.work_due()
    # The rep may read their ticket, but not the boss's private vendor: the ticket's page shows no title for it.
    assert [note.message for note in Notifications(crm.as_user(users["boss"])).list()] == ["Vendor rating 3"]
    assert Notifications(crm.as_user(users["rep"])).list() == []


def test_a_field_permission_revoked_after_delivery_hides_the_message_that_quotes_it(told, install, crm):
    """Asked again each time the list is read: the boss lost the field since, so the message that quotes it is
    no longer shown (the notification still is, about a record they may read). The outbox row that says what the
    message quotes outlives a prune while the notification remains."""
    from datetime import timedelta

    from crmkit.engine.automation.runlog import prune

    assert told("'Margin was ' + text(previous('margin'))")["boss"] == ["Margin was 12.50"]
    prune(crm, keep=timedelta(0))
    install(DESK.replace("MESSAGE", "'Margin was ' + text(previous('margin'))")
            .replace("    roles: [boss]\n    fields:", "    roles: [rep]\n    fields:"))
    boss = next(user for user in SystemDirectory(crm).list() if user.username == "boss")
    notes = Notifications(crm.as_user(boss.id)).list()
    assert [(note.message, note.available, note.withheld) for note in notes] == [("", True, True)]


def test_a_related_record_hidden_after_delivery_hides_the_message_that_quotes_its_value(crm, install, clock):
    install(DESK.replace("  vendor:\n    fields:", "  vendor:\n    sharing: private\n    fields:\n      rating: {type: integer}")
            .replace("MESSAGE", "'Vendor rating ' + text(vendor.rating)"))
    directory, system = SystemDirectory(crm), crm.as_system()
    boss = directory.create_user("boss", password=PASSWORD, role="boss").id
    stranger = directory.create_user("stranger", password=PASSWORD).id
    vendor = system.records("vendor").create({"name": "Acme", "rating": 3, "owner_id": boss})
    ticket = system.records("ticket").create({"subject": "t", "priority": "Low", "vendor": vendor.id, "owner_id": boss})
    system.records("ticket").update(ticket.id, {"priority": "High"}, version=ticket.version)
    crm.outbox.work_due()
    assert [note.message for note in Notifications(crm.as_user(boss)).list()] == ["Vendor rating 3"]
    system.records("vendor").update(vendor.id, {"owner_id": stranger}, version=vendor.version)
    notes = Notifications(crm.as_user(boss)).list()
    assert [(note.message, note.available, note.withheld) for note in notes] == [("", True, True)]
