"""The automation matrix, as a specification: every trigger x every condition form x every action type on main,
on SQLite and PostgreSQL.

For each trigger T (created, updated, saved, deleted, restored, manual) the package below has one rule
`T_<form>` per condition form:

    field     amount >= 1000                      the record's own values
    previous  previous('stage') / changed('stage') on update the stored values; None on every other trigger
    related   account.rating == 'Hot'             a record reached through a lookup, read as the platform
    user      user.role == 'sales_rep' ...        the acting user (id, username, role, ...)
    time      today().year == 2026 and now()...   the clock (crm.clock, controlled by the test)

and each rule carries every action type its trigger allows: update_record (before the save, on triggers that
save the record), update_related, create_record and notify (after the save, through the outbox); run_script
(before the save) only in the `user` rules, since each run starts a child process. Each trigger's rules are on
an object of their own (deal_created, deal_updated, ...), so that no other trigger's rules fire meanwhile. When every condition holds
(`holds`), exactly the T rules fire and each action has its effect once; when none does, nothing fires. One
database per backend is shared by the module's tests: each test works on records of its own.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterator

import pytest
from sqlalchemy import select

from crmkit.engine import Crm, RecordValidationError
from crmkit.engine.automation.manual import run_manual
from crmkit.engine.automation.notifications import Notifications
from tests.automation.conftest import START, Clock
from tests.conftest import add_users

TRIGGERS = ("created", "updated", "saved", "deleted", "restored", "manual")
FORMS = ("field", "previous", "related", "user", "time")
#: Triggers whose record is being saved: they may also change it before the write.
SAVING = ("created", "updated", "saved", "manual")
CONDITIONS = {
    "field": "amount >= 1000",
    "related": "account.rating == 'Hot'",
    "user": "user.role == 'sales_rep' and user.username == 'rep' and user.id == owner_id",
    "time": "today().year == 2026 and now().hour == 9",
}
#: What previous() and changed() mean on each trigger.
PREVIOUS = {
    "created": "previous('stage') is None and not changed('stage') and stage == 'New'",
    "updated": "changed('stage') and previous('stage') == 'New'",
    "saved": "previous('stage') is None and stage == 'New'",
    "deleted": "previous('stage') is None and stage == 'New'",
    "restored": "previous('stage') is None and stage == 'New'",
    "manual": "previous('stage') is None and not changed('stage') and stage == 'New'",
}
#: Where the `user` rule also runs a script (a child process each time, so only in that rule).
SCRIPTED = SAVING
AFTER_SAVE = ("update_related", "create_record", "notify")


def _rule(trigger: str, form: str) -> str:
    name = f"{trigger}_{form}"
    condition = PREVIOUS[trigger] if form == "previous" else CONDITIONS[form]
    actions = [f"{{type: update_related, lookup: account, set: {{last_{trigger}: \"'{name}'\"}}}}",
               f"{{type: create_record, object: task, set: {{subject: \"'{name} ' + str(id)\"}}}}",
               f"{{type: notify, to: owner, message: \"'{name} ' + str(id)\"}}"]
    if trigger in SAVING:
        actions.insert(0, f"{{type: update_record, set: {{trail: \"(trail or '') + ' {name}'\"}}}}")
        if form == "user" and trigger in SCRIPTED:
            actions.insert(1, "{type: run_script, script: \"result = {'script_trail': "
                              "(record['script_trail'] or '') + ' %s'}\"}" % name)
    lines = [f"      - name: {name}", f"        on: [{trigger}]", f"        condition: \"{condition}\"",
             "        actions:"] + [f"          - {action}" for action in actions]
    return "\n".join(lines)


DEAL_FIELDS = """
    fields:
      name: {type: text, required: true}
      account: {type: lookup, to: account}
      stage: {type: picklist, options: [New, Qualified, Won], default: New}
      amount: {type: currency}
      note: {type: text}
      trail: {type: textarea}
      script_trail: {type: textarea}
"""


def _deal_object(trigger: str) -> str:
    """`deal_<trigger>`: a deal with only the rules of `trigger`, so that no other trigger's rules fire meanwhile."""
    rules = "\n".join(_rule(trigger, form) for form in FORMS)
    return f"  deal_{trigger}:{DEAL_FIELDS}    automations:\n{rules}\n"


PACKAGE = """
package: matrix
version: "1.0.0"
permission_sets:
  sellers:
    objects:
      account: [create, read, edit, delete]
      task: [create, read, edit, delete]
      deal: [create, read, edit, delete]
""" + "".join(f"      deal_{trigger}: [create, read, edit, delete]\n" for trigger in TRIGGERS) + """objects:
  account:
    fields:
      name: {type: text, required: true}
      rating: {type: picklist, options: [Cold, Hot]}
""" + "".join(f"      last_{trigger}: {{type: text}}\n" for trigger in TRIGGERS) + """  task:
    fields:
      subject: {type: text, required: true}
    automations:
      - name: chained
        on: [created]
        condition: "user.username == 'rep' and subject == 'chain'"
        actions:
          - {type: notify, to: owner, message: "'chained for ' + user.name"}
  deal:
    fields:
      name: {type: text, required: true}
      note: {type: text}
      status: {type: picklist, options: [Draft, Approved], default: Draft}
    transitions:
      status:
        moves:
          - from: Draft
            to: Approved
            condition: "user.role == 'boss' and today().year == 2026 and previous('status') == 'Draft'"
            message: {en: Only a boss approves., zh: 只有主管可以批准。}
    automations:
      - name: stamp
        on: [updated]
        condition: "changed('note') and note == 'stamp'"
        actions:
          - {type: update_record, set: {note: "'by ' + user.username + ' on ' + text(today())"}}
""" + "".join(_deal_object(trigger) for trigger in TRIGGERS) + """automations:
  - name: chain
    object: deal
    on: [updated]
    condition: "changed('note') and note == 'chain'"
    actions:
      - {type: create_record, object: task, set: {subject: "'chain'"}}
"""


@pytest.fixture(scope="module")
def matrix(module_database_url, tmp_path_factory) -> Iterator[tuple[Crm, dict[str, int]]]:
    """One database per backend with the package installed and two users: rep (sales_rep) and boss (boss)."""
    crm = Crm.open(module_database_url)
    path = tmp_path_factory.mktemp("matrix") / "matrix.yaml"
    path.write_text(PACKAGE, encoding="utf-8")
    crm.install(path)
    crm.clock = Clock()
    users = add_users(crm, [("rep", "sales_rep", ["sellers"]), ("boss", "boss", ["sellers"])])
    yield crm, users
    crm.close()


def _outbox(crm: Crm, trigger: str, record_id: int) -> dict[str, dict[str, str]]:
    """{rule: {action kind: status}} of the outbox rows of deal_<trigger> `record_id`."""
    table = crm.runtime.system_table("crmkit_outbox")
    with crm.engine.connect() as connection:
        rows = connection.execute(select(table.c.rule, table.c.kind, table.c.status).where(
            table.c.object == f"deal_{trigger}", table.c.record_id == record_id)).all()
    found: dict[str, dict[str, str]] = {}
    for rule, kind, status in rows:
        found.setdefault(rule.removeprefix(f"deal_{trigger}."), {})[kind] = status
    return found


def _tasks(crm: Crm, record_id: int) -> set[str]:
    table = crm.runtime.table("task")
    with crm.engine.connect() as connection:
        subjects = connection.execute(select(table.c.subject).where(table.c.subject.like(f"% {record_id}"))).scalars()
        return {subject.removesuffix(f" {record_id}") for subject in subjects}


def _act(crm: Crm, users: dict[str, int], trigger: str, holds: bool) -> dict[str, Any]:
    """Make a deal and do `trigger` to it as rep (every condition form true) or as boss (every one false)."""
    actor = crm.as_user(users["rep" if holds else "boss"])
    setup = crm.as_system()
    account = setup.records("account").create({"name": "Acme", "rating": "Hot" if holds else "Cold"})
    values = {"name": "Deal", "account": account.id, "amount": "5000" if holds else "10",
              "stage": "New" if holds else "Qualified",
              "owner_id": users["rep" if holds else "boss"]}
    crm.clock.moment = START if holds else datetime(2027, 1, 1, 9, 0, tzinfo=timezone.utc)
    try:
        if trigger in ("created", "saved"):
            return dict(actor.records(f"deal_{trigger}").create(values).values)
        deal = setup.records(f"deal_{trigger}").create(values)
        if trigger == "updated":
            deals = actor.records(f"deal_{trigger}")  # New -> Qualified; or Qualified -> Won: previous() is not New
            return dict(deals.update(deal.id, {"stage": "Qualified" if holds else "Won"}, version=deal.version).values)
        if trigger == "deleted":
            actor.records(f"deal_{trigger}").delete(deal.id)
            return dict(deal.values)
        if trigger == "restored":
            batch = actor.records(f"deal_{trigger}").delete(deal.id)  # a user restores what they deleted
            actor.recycle_bin.restore(batch)
            return dict(deal.values)
        outcomes = {form: run_manual(actor, f"deal_{trigger}", f"manual_{form}", [deal.id])[deal.id].outcome
                    for form in FORMS}
        assert set(outcomes.values()) == {"done" if holds else "refused"}
        return dict(deal.values)
    finally:
        crm.clock.moment = START


@pytest.mark.parametrize("holds", [True, False], ids=["every-condition-holds", "no-condition-holds"])
@pytest.mark.parametrize("trigger", TRIGGERS)
def test_each_rule_fires_exactly_when_its_condition_holds_and_each_action_acts_once(matrix, trigger, holds):
    crm, users = matrix
    deal = _act(crm, users, trigger, holds)
    fired = {f"{trigger}_{form}" for form in FORMS} if holds else set()
    rows = _outbox(crm, trigger, deal["id"])
    assert set(rows) == fired
    assert all(set(kinds) == set(AFTER_SAVE) and set(kinds.values()) == {"pending"} for kinds in rows.values())
    crm.outbox.work_due()
    assert all(set(kinds.values()) == {"done"} for kinds in _outbox(crm, trigger, deal["id"]).values())
    # create_record: one task per rule that fired; notify: the owner is told once per rule,
    assert {subject for subject in _tasks(crm, deal["id"]) if subject.startswith(f"{trigger}_")} == fired
    told = {note.message.removesuffix(f" {deal['id']}") for note in Notifications(crm.as_user(deal["owner_id"])).list(
        limit=200) if note.object == f"deal_{trigger}" and note.record_id == deal["id"]}
    # ... but a deleted record is in the recycle bin, which its owner cannot read: nobody is told of it (main's rule)
    assert told == (set() if trigger == "deleted" else fired)
    # update_related: the account holds what one of the T rules set (the last row done)
    account = crm.as_system().records("account").get(deal["account"])
    assert account[f"last_{trigger}"] in (fired or {None})
    if trigger in SAVING:  # update_record and run_script changed the record in its own save
        stored = crm.as_system().records(f"deal_{trigger}").get(deal["id"])
        trail = {name for name in (stored["trail"] or "").split() if name.startswith(trigger)}
        assert trail == fired
        scripted = {name for name in (stored["script_trail"] or "").split() if name.startswith(trigger)}
        assert scripted == ({f"{trigger}_user"} if holds and trigger in SCRIPTED else set())


def test_the_worker_acts_for_the_user_whose_save_wrote_the_row(matrix):
    """A rule fired by a save the worker makes reads, as `user`, the person whose save started the chain.

    (The first rule of the chain, `chain`, is a package-level rule: `automations:` at the top, naming deal.)"""
    crm, users = matrix
    for who in ("rep", "boss"):
        deal = crm.as_system().records("deal").create({"name": "Chain", "owner_id": users["rep"]})
        crm.as_user(users[who]).records("deal").update(deal.id, {"note": "chain"}, version=deal.version)
        crm.outbox.work_due()  # creates the task, as the platform, for `who`'s save
        crm.outbox.work_due()  # the task's own rule's row
    table = crm.runtime.system_table("crmkit_outbox")
    with crm.engine.connect() as connection:
        chained = connection.execute(select(table.c.actor_id, table.c.depth, table.c.status).where(
            table.c.rule == "task.chained")).all()
    assert [tuple(row) for row in chained] == [(users["rep"], 2, "done")]  # boss's chain: its condition is false
    notes = [note.message for note in Notifications(crm.as_user(users["rep"])).list(limit=200)
             if note.message.startswith("chained")]
    assert notes == ["chained for rep"]


def test_a_stage_move_condition_reads_the_acting_user_and_the_clock(matrix):
    crm, users = matrix
    deal = crm.as_system().records("deal").create({"name": "Approve me", "owner_id": users["rep"]})
    with pytest.raises(RecordValidationError) as refused:
        crm.as_user(users["rep"]).records("deal").update(deal.id, {"status": "Approved"}, version=deal.version)
    assert refused.value.errors == {"status": ["Only a boss approves."]}
    approved = crm.as_user(users["boss"]).records("deal").update(deal.id, {"status": "Approved"}, version=deal.version)
    assert approved["status"] == "Approved"


def test_a_set_value_reads_the_acting_user_and_the_clock(matrix):
    crm, users = matrix
    deal = crm.as_system().records("deal").create({"name": "Stamp", "owner_id": users["rep"]})
    stamped = crm.as_user(users["rep"]).records("deal").update(deal.id, {"note": "stamp"}, version=deal.version)
    assert stamped["note"] == "by rep on 2026-06-01"
