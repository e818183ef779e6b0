"""The notify action (in-app notifications to the owner or a role's members, once per outbox row, only to readers),
the run_script action (a sandboxed script sets fields before the save; limits stop it and refuse the save whole),
and manual rules (run by a user on records they may edit; what they may not see stays unseen)."""
from __future__ import annotations

import pytest

from crmkit.engine import RecordValidationError
from crmkit.engine.automation.manual import ManualRuleNotFound, manual_rules, run_manual
from crmkit.engine.automation.notifications import Notifications
from crmkit.engine.automation.runlog import AutomationRuns
from crmkit.engine.security.access import PermissionDenied
from crmkit.engine.security.users import SystemDirectory
from crmkit.sandbox import script as sandbox_script

PASSWORD = "a long passphrase 42"

DESK = """
package: desk
version: "1.0.0"
roles:
  boss: {label: {en: Boss}}
  rep: {parent: boss}
  support: {label: {en: Support}}
permission_sets:
  sales:
    roles: [boss, rep]
    objects:
      ticket: [create, read, edit]
  watchers:
    roles: [support]
    objects:
      ticket: [read]
  margins:
    roles: [boss]
    fields:
      ticket.margin: [read]
objects:
  ticket:
    title_field: name
    sharing: private
    fields:
      name: {type: text, required: true}
      priority: {type: picklist, options: [Low, High]}
      score: {type: integer}
      note: {type: text}
      margin: {type: currency}
    automations:
      - name: margin_moved
        on: [updated]
        discloses_protected_fields: true  # its notice tells the owner that margin changed
        condition: "changed('margin')"
        actions:
          - {type: notify, to: owner, message: "'Margin now ' + text(margin)"}
      - name: tell
        on: [updated]
        condition: "changed('priority') and priority == 'High'"
        actions:
          - {type: notify, to: [owner, "role:support"], message: "'High priority: ' + name"}
      - name: scored
        on: [saved]
        condition: "note == 'score me'"
        actions:
          - type: run_script
            script: |
              result = {"score": len(record["name"]) * 10, "note": "scored"}
      - name: escalate
        label: {en: Escalate, zh: 升级}
        on: [manual]
        condition: "priority != 'High'"
        actions:
          - {type: update_record, set: {priority: "'High'"}}
"""


@pytest.fixture
def desk(crm, install, clock):
    install(DESK)
    directory = SystemDirectory(crm)
    people = {name: directory.create_user(name, password=PASSWORD, role=role).id
              for name, role in (("boss", "boss"), ("rep", "rep"), ("other", "rep"), ("helper", "support"),
                                 ("blind", None))}
    return people


def test_notify_tells_the_owner_and_the_roles_members_once_each(crm, desk):
    rep = crm.as_user(desk["rep"])
    ticket = rep.records("ticket").create({"name": "Printer", "priority": "Low"})
    rep.records("ticket").update(ticket.id, {"priority": "High"}, version=ticket.version)
    (row,) = crm.outbox.rows()
    assert row["payload"]["message"] == "High priority: Printer" and row["payload"]["users"] == [desk["rep"]]
    assert crm.outbox.work_due() == {row["id"]: "done"}
    notes = Notifications(crm.as_user(desk["rep"]))
    assert notes.unread_count() == 1
    (note,) = notes.list()
    assert (note.object, note.record_id, note.message, note.rule) == ("ticket", ticket.id, "High priority: Printer",
                                                                      "ticket.tell")
    # The support role reads every ticket? No: sharing is private, so its member cannot read this one.
    assert Notifications(crm.as_user(desk["helper"])).unread_count() == 0
    assert Notifications(crm.as_user(desk["boss"])).unread_count() == 0  # not named by the action


def test_a_role_member_who_can_read_the_record_is_told_and_marks_it_read(crm, desk):
    system = crm.as_system()
    ticket = system.records("ticket").create({"name": "Fax", "priority": "Low", "owner_id": desk["helper"]})
    system.records("ticket").update(ticket.id, {"priority": "High"}, version=ticket.version)
    crm.outbox.work_due()
    helper = Notifications(crm.as_user(desk["helper"]))
    assert helper.unread_count() == 1  # owner and role member: told once
    (note,) = helper.list()
    assert Notifications(crm.as_user(desk["rep"])).mark_read([note.id]) == 0  # not theirs
    assert helper.mark_read([note.id]) == 1 and helper.unread_count() == 0
    assert helper.mark_all_read() == 0 and helper.list()[0].read_at is not None


def test_nobody_is_told_a_value_they_may_not_read(crm, desk):
    system = crm.as_system()
    for owner in ("rep", "boss"):
        ticket = system.records("ticket").create({"name": owner, "owner_id": desk[owner]})
        system.records("ticket").update(ticket.id, {"margin": "12.5"}, version=ticket.version)
    assert {row["payload"]["reads"] == [["ticket", "margin"]] for row in crm.outbox.rows()} == {True}
    crm.outbox.work_due()
    assert Notifications(crm.as_user(desk["rep"])).unread_count() == 0  # the margin is hidden from reps
    assert [note.message for note in Notifications(crm.as_user(desk["boss"])).list()] == ["Margin now 12.50"]


def test_a_notify_row_done_twice_tells_nobody_twice(crm, desk):
    from crmkit.engine.automation.notifications import deliver

    system = crm.as_system()
    ticket = system.records("ticket").create({"name": "Fax", "priority": "Low", "owner_id": desk["rep"]})
    system.records("ticket").update(ticket.id, {"priority": "High"}, version=ticket.version)
    (row,) = crm.outbox.rows()
    crm.outbox.work_due()
    with system.writing() as connection:  # a second delivery of the same row (as a replay would)
        deliver(system, connection, row["payload"], row["id"], row["rule"])
    assert Notifications(crm.as_user(desk["rep"])).unread_count() == 1


def test_a_script_sets_fields_of_the_record_before_it_is_saved(crm, desk):
    ticket = crm.as_system().records("ticket").create({"name": "Scanner", "note": "score me"})
    assert (ticket["score"], ticket["note"], ticket.version) == (70, "scored", 1)
    (run,) = AutomationRuns(crm.as_system()).runs()
    assert (run.rule, run.actions, run.outcome) == ("ticket.scored", ("run_script",), "done")


@pytest.mark.parametrize("script, limit", [
    ("while True:\n    pass\n", "processor time"),
    ("chunks = []\nwhile True:\n    chunks.append('x' * 1000000)\n", "memory"),
])
def test_a_script_stopped_by_a_limit_refuses_the_save_whole_and_is_logged(crm, install, clock, monkeypatch,
                                                                             script, limit):
    monkeypatch.setattr(sandbox_script, "DEFAULT_CPU_SECONDS", 0.5)
    monkeypatch.setattr(sandbox_script, "DEFAULT_MEMORY_MB", 64)
    body = "\n".join("              " + line for line in script.splitlines())
    install(DESK.replace('''              result = {"score": len(record["name"]) * 10, "note": "scored"}''', body))
    tickets = crm.as_system().records("ticket")
    ticket = tickets.create({"name": "Kept", "note": "first"})
    with pytest.raises(RecordValidationError, match=f"could not run: .*{limit}"):
        tickets.update(ticket.id, {"note": "score me", "priority": "High"}, version=ticket.version)
    kept = tickets.get(ticket.id)
    assert (kept["note"], kept["priority"], kept["score"], kept.version) == ("first", None, None, 1)
    assert crm.outbox.rows() == []  # the notify rule's row went with the save
    (run,) = AutomationRuns(crm.as_system()).runs()
    assert run.outcome == "refused" and limit in run.error and run.record_id == ticket.id


def test_a_manual_rule_runs_as_the_user_on_records_they_may_edit(crm, desk):
    rep = crm.as_user(desk["rep"])
    mine = rep.records("ticket").create({"name": "Mine", "priority": "Low"})
    theirs = crm.as_user(desk["other"]).records("ticket").create({"name": "Theirs", "priority": "Low"})
    assert [rule.name for rule in manual_rules(rep, "ticket")] == ["escalate"]
    outcomes = run_manual(rep, "ticket", "escalate", [mine.id, theirs.id, 999999])
    assert outcomes[mine.id].outcome == "done"
    assert rep.records("ticket").get(mine.id)["priority"] == "High"
    # A record the user cannot read is exactly like a missing one, and leaves no trace in the log.
    assert outcomes[theirs.id].outcome == outcomes[999999].outcome == "not_found"
    assert crm.as_system().records("ticket").get(theirs.id)["priority"] == "Low"
    assert [(run.record_id, run.trigger, run.outcome) for run in AutomationRuns(crm.as_system()).runs()] == [
        (mine.id, "manual", "done")]
    again = run_manual(rep, "ticket", "escalate", [mine.id])[mine.id]  # now High: the condition is false
    assert again.outcome == "refused" and "does not apply" in again.error
    assert crm.outbox.rows()[0]["rule"] == "ticket.tell"  # the manual save fired the object's updated rules


def test_a_manual_rule_needs_edit_permission_and_a_manual_rule(crm, desk):
    watcher = crm.as_user(desk["helper"])
    assert manual_rules(watcher, "ticket") == []
    ticket = crm.as_system().records("ticket").create({"name": "T", "owner_id": desk["helper"]})
    with pytest.raises(PermissionDenied):
        run_manual(watcher, "ticket", "escalate", [ticket.id])
    with pytest.raises(ManualRuleNotFound):
        run_manual(crm.as_user(desk["rep"]), "ticket", "tell", [ticket.id])  # not a manual rule
