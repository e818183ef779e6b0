"""A notification shows its message and a way to the record only while its recipient may still read the record:
one about a record since reassigned away from them, or deleted, says only that they can no longer open it."""
from __future__ import annotations

import pytest

from crmkit.engine.automation.notifications import Notifications
from crmkit.engine.security.users import SystemDirectory

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
      ticket: [create, read, edit, delete]
objects:
  ticket:
    title_field: subject
    sharing: private
    fields:
      subject: {type: text, required: true}
      priority: {type: picklist, options: [Low, High]}
    automations:
      - name: escalated
        on: [updated]
        condition: "changed('priority') and priority == 'High'"
        actions:
          - {type: notify, to: owner, message: "subject + ' is urgent'"}
"""


@pytest.fixture
def desk(crm, install, clock):
    """(rep's user id, boss's user id, the two tickets the rep was told about: 'kept' and 'moved')."""
    install(DESK)
    directory = SystemDirectory(crm)
    rep = directory.create_user("rep", password="a long passphrase 42", role="rep").id
    boss = directory.create_user("boss", password="a long passphrase 42", role="boss").id
    system = crm.as_system()
    tickets = {}
    for name in ("kept", "moved"):
        ticket = system.records("ticket").create({"subject": f"Secret {name}", "priority": "Low", "owner_id": rep})
        tickets[name] = system.records("ticket").update(ticket.id, {"priority": "High"}, version=ticket.version)
    crm.outbox.work_due()
    return rep, boss, tickets


def messages(crm, user_id: int) -> dict[int, tuple[str, bool]]:
    return {note.record_id: (note.message, note.available) for note in Notifications(crm.as_user(user_id)).list()}


def test_a_record_reassigned_away_keeps_its_notification_but_not_its_message(crm, desk):
    rep, boss, tickets = desk
    assert messages(crm, rep) == {tickets["kept"].id: ("Secret kept is urgent", True),
                                  tickets["moved"].id: ("Secret moved is urgent", True)}
    moved = tickets["moved"]
    crm.as_system().records("ticket").update(moved.id, {"owner_id": boss}, version=moved.version)
    assert messages(crm, rep) == {tickets["kept"].id: ("Secret kept is urgent", True),
                                  moved.id: ("", False)}
    assert Notifications(crm.as_user(rep)).unread_count() == 2  # still theirs to mark read


def test_a_deleted_record_keeps_its_notification_but_not_its_message(crm, desk):
    rep, _, tickets = desk
    crm.as_user(rep).records("ticket").delete(tickets["kept"].id)
    assert messages(crm, rep)[tickets["kept"].id] == ("", False)
    assert messages(crm, rep)[tickets["moved"].id] == ("Secret moved is urgent", True)


def test_losing_the_objects_read_permission_hides_every_message_about_its_records(crm, desk, install):
    rep, boss, tickets = desk
    install(DESK.replace('version: "1.0.0"', 'version: "1.0.1"').replace("roles: [boss, rep]", "roles: [boss]"))
    assert messages(crm, rep) == {tickets["kept"].id: ("", False), tickets["moved"].id: ("", False)}
    assert Notifications(crm.as_user(rep)).unread_count() == 2
    assert messages(crm, boss) == {}  # the boss was told nothing, and sees none of the rep's


def test_an_object_removed_from_the_metadata_leaves_its_notifications_without_message(crm, desk, install):
    rep, _, tickets = desk
    without_tickets = DESK.split("objects:\n  ticket:")[0].replace('version: "1.0.0"', 'version: "2.0.0"')
    install(without_tickets.replace("      ticket: [create, read, edit, delete]\n", "      {}\n")
            .replace("    objects:\n      {}\n", "    objects: {}\n") + "objects:\n  note:\n    fields:\n"
            "      text: {type: text}\n")
    assert "ticket" not in crm.runtime.registry.objects
    assert messages(crm, rep) == {tickets["kept"].id: ("", False), tickets["moved"].id: ("", False)}


def test_a_full_page_of_notifications_about_as_many_records_keeps_every_readable_message(crm, desk):
    from crmkit.engine.automation.notifications import MAX_PAGE

    rep, _, _ = desk
    system = crm.as_system()
    for number in range(MAX_PAGE):
        ticket = system.records("ticket").create({"subject": f"T{number}", "priority": "Low", "owner_id": rep})
        system.records("ticket").update(ticket.id, {"priority": "High"}, version=ticket.version)
    crm.outbox.work_due()
    notes = Notifications(crm.as_user(rep)).list(limit=MAX_PAGE)
    assert len(notes) == MAX_PAGE and all(note.available and note.message.endswith(" is urgent") for note in notes)
