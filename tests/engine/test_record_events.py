"""One after-write step for every write path: typed events, before- and after-save hooks, one order."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest
from sqlalchemy import event as sqlalchemy_event, func, select

from crmkit.engine import Crm, RecordValidationError
from crmkit.engine.extensions import Extensions
from crmkit.engine.records import events as events_module
from crmkit.engine.records import pipeline as pipeline_module
from crmkit.engine.records.bulk import BulkValidationError
from crmkit.engine.records.events import Operation, RecordEvent
from crmkit.engine.records.propagation import Propagator
from crmkit.hookspecs import hookimpl
from crmkit.plugins import make_plugin_manager

PACKAGE = """
package: events
version: "1.0.0"
objects:
  account:
    title_field: name
    track_history: true
    fields:
      name: {type: text, required: true}
      email: {type: email}
      contact_count: {type: rollup, from: contact.account, aggregate: count}
      label: {type: formula, returns: text, formula: "text(name) + ' ' + text(contact_count)"}
  contact:
    title_field: name
    track_history: true
    fields:
      name: {type: text, required: true}
      account: {type: lookup, to: account, on_delete: cascade}
      company: {type: formula, returns: text, formula: "account.name"}
  task:
    title_field: subject
    track_history: true
    fields:
      subject: {type: text, required: true}
      priority: {type: integer}
      contact: {type: lookup, to: contact, on_delete: set_null}
"""


class Recorder:
    """A plugin keeping every event, and optionally changing or refusing drafts."""

    def __init__(self) -> None:
        self.events: list[RecordEvent] = []
        self.drafts: list[tuple[str, str, int | None]] = []
        self.before = None  # a callable(draft) the test sets
        self.after = None  # a callable(event) the test sets

    @hookimpl
    def crmkit_before_save(self, context, draft):
        self.drafts.append((draft.object, draft.operation.value, draft.record_id))
        if self.before:
            self.before(draft)

    @hookimpl
    def crmkit_after_save(self, context, event):
        self.events.append(event)
        if self.after:
            self.after(event)

    def seen(self) -> list[tuple[str, str, int]]:
        return [(event.object, event.operation.value, event.record_id) for event in self.events]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def hooked_crm(database_url, write_package, recorder):
    manager = make_plugin_manager(load_entry_points=False, plugin_dirs=[], extra_plugins=[recorder])
    crm = Crm.open(database_url, extensions=Extensions.from_plugins(manager))
    crm.install(write_package(PACKAGE))
    yield crm
    crm.close()


@pytest.fixture
def system(hooked_crm):
    return hooked_crm.as_system()


def count(crm, object_name: str) -> int:
    table = crm.runtime.table(object_name)
    with crm.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def history_operations(crm, object_name: str, record_id: int) -> list[str]:
    table = crm.runtime.system_table("crmkit_history")
    with crm.engine.connect() as connection:
        return list(connection.execute(select(table.c.operation).where(
            table.c.object == object_name, table.c.record_id == record_id).order_by(table.c.id)).scalars())


def test_create_and_update_hand_the_hook_a_typed_event(system, recorder):
    accounts = system.records("account")
    acme = accounts.create({"name": "Acme"})
    accounts.update(acme.id, {"name": "Acme Ltd"}, version=acme.version)
    created, updated = recorder.events
    assert (created.object, created.operation, created.record_id, created.previous) == (
        "account", Operation.CREATE, acme.id, None)
    assert created.current["name"] == "Acme" and created.current["label"] == "Acme 0"
    assert updated.operation is Operation.UPDATE and updated.operation == "update"
    assert (updated.previous["name"], updated.current["name"]) == ("Acme", "Acme Ltd")
    assert {"name", "label", "version", "updated_at"} <= updated.changed and "email" not in updated.changed
    assert updated.actor.system and updated.actor.user_id is None
    assert updated.at.tzinfo is not None and updated.at.utcoffset().total_seconds() == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        updated.record_id = 2
    with pytest.raises(TypeError):
        updated.current["name"] = "changed behind the engine's back"


def test_bulk_create_gives_one_event_per_record(system, recorder):
    acme = system.records("account").create({"name": "Acme"})
    system.records("contact").bulk_create([{"name": f"C{n}", "account": acme.id} for n in range(5)], batch_size=2)
    contacts = [event for event in recorder.events if event.object == "contact"]
    assert [event.operation for event in contacts] == [Operation.CREATE] * 5
    assert len({event.record_id for event in contacts}) == 5
    assert [draft for draft in recorder.drafts if draft[0] == "contact"] == [("contact", "create", None)] * 5
    assert history_operations(system.crm, "contact", contacts[0].record_id) == ["create"]


def test_delete_and_restore_give_an_event_for_every_record_they_touch(system, recorder):
    acme = system.records("account").create({"name": "Acme"})
    li = system.records("contact").create({"name": "Li", "account": acme.id})
    call = system.records("task").create({"subject": "Call", "contact": li.id})
    recorder.events.clear()
    batch = system.records("account").delete(acme.id)
    assert recorder.seen() == [("task", "update", call.id), ("contact", "delete", li.id), ("account", "delete", acme.id)]
    cleared, deleted_contact, _ = recorder.events
    assert cleared.changed >= {"contact", "version"} and cleared.current["contact"] is None
    assert deleted_contact.current is None and deleted_contact.previous["name"] == "Li"
    assert {event.batch for event in recorder.events} == {batch}
    recorder.events.clear()
    system.recycle_bin.restore(batch)
    assert recorder.seen() == [("account", "restore", acme.id), ("contact", "restore", li.id),
                               ("task", "update", call.id)]
    assert recorder.events[0].previous is None and recorder.events[-1].current["contact"] == li.id
    assert history_operations(system.crm, "task", call.id) == ["create", "update", "update"]
    assert history_operations(system.crm, "contact", li.id) == ["create", "delete", "restore"]


def test_privacy_erasure_gives_an_event_without_the_erased_values(system, recorder):
    acme = system.records("account").create({"name": "Acme", "email": "info@acme.example"})
    recorder.events.clear()
    system.privacy.erase("account", acme.id)
    (erased,) = recorder.events
    assert (erased.operation, erased.previous) == (Operation.ERASE, None)
    assert {"name", "email", "label"} <= erased.changed
    assert erased.current["email"] is None and erased.current["version"] == acme.version + 1
    assert history_operations(system.crm, "account", acme.id) == ["create", "erase"]


def test_an_after_save_hook_that_raises_rolls_the_write_back(hooked_crm, system, recorder):
    acme = system.records("account").create({"name": "Acme"})

    def fail(event):
        raise RuntimeError("the webhook is down")

    recorder.after = fail
    with pytest.raises(RuntimeError):
        system.records("contact").create({"name": "Li", "account": acme.id})
    assert count(hooked_crm, "contact") == 0
    assert system.records("account").get(acme.id)["contact_count"] == 0
    assert history_operations(hooked_crm, "account", acme.id) == ["create"]
    with pytest.raises(RuntimeError):
        system.records("account").delete(acme.id)
    assert count(hooked_crm, "account") == 1 and system.recycle_bin.entries() == []


def test_a_before_save_hook_may_change_values_and_formulas_follow(system, recorder):
    def shout(draft):
        if draft.object == "account":
            draft.set("name", draft["name"].upper())

    recorder.before = shout
    acme = system.records("account").create({"name": "Acme"})
    assert (acme["name"], acme["label"]) == ("ACME", "ACME 0")
    assert recorder.events[-1].current["name"] == "ACME"


def test_a_before_save_hook_may_refuse_and_nothing_is_written(hooked_crm, system, recorder):
    def no_urgent_tasks(draft):
        if draft.object == "task" and (draft["priority"] or 0) > 3:
            draft.refuse("urgent tasks go through the escalation desk.", "priority")

    recorder.before = no_urgent_tasks
    with pytest.raises(RecordValidationError) as caught:
        system.records("task").create({"subject": "Fire", "priority": 5})
    assert caught.value.errors == {"priority": ["urgent tasks go through the escalation desk."]}
    with pytest.raises(BulkValidationError) as caught:
        system.records("task").bulk_create([{"subject": "Fine"}, {"subject": "Fire", "priority": 9}])
    assert list(caught.value.row_errors) == [2]
    assert count(hooked_crm, "task") == 0 and recorder.events == []


@pytest.mark.parametrize(("target", "values", "field", "value", "message"), [
    ("task", {"subject": "Call"}, "priority", "soon", "Not a valid whole number."),
    ("account", {"name": "Acme"}, "label", "forged", "computed"),
    ("account", {"name": "Acme"}, "name", None, "is required."),
    ("contact", {"name": "Li"}, "account", 999, "there is no account record with id 999."),
])
def test_values_a_before_save_hook_sets_are_checked_like_input(system, recorder, target, values, field, value,
                                                                message):
    recorder.before = lambda draft: draft.set(field, value)
    with pytest.raises(RecordValidationError) as caught:
        system.records(target).create(values)
    assert any(message in text for text in caught.value.errors[field]), caught.value.errors


def test_the_save_pipeline_runs_its_steps_in_the_documented_order(database_url, write_package, monkeypatch):
    """The order docs/plugins.md gives ("The order of a save"), recorded step by step."""
    steps: list[str] = []

    def note(step: str, value=None):
        steps.append(step)
        return value

    class Probe:
        @hookimpl
        def crmkit_sandbox_functions(self):
            return {"note": note}

        @hookimpl
        def crmkit_before_save(self, context, draft):
            steps.append("before-save hook")

        @hookimpl
        def crmkit_after_save(self, context, event):
            steps.append("after-save hook")

    real_coerce, real_history = pipeline_module.coerce_input, events_module.write_history
    real_propagation = Propagator.records_written
    monkeypatch.setattr(pipeline_module, "coerce_input", lambda *a, **k: (note("coercion"), real_coerce(*a, **k))[1])
    monkeypatch.setattr(events_module, "write_history", lambda *a, **k: (note("history"), real_history(*a, **k))[1])
    monkeypatch.setattr(Propagator, "records_written",
                        lambda *a, **k: (note("propagation"), real_propagation(*a, **k))[1])
    manager = make_plugin_manager(load_entry_points=False, plugin_dirs=[], extra_plugins=[Probe()])
    crm = Crm.open(database_url, extensions=Extensions.from_plugins(manager))
    try:
        crm.install(write_package("""
            package: probe
            version: "1.0.0"
            objects:
              item:
                track_history: true
                fields:
                  name: {type: text}
                  code: {type: text, default: {expression: "note('defaults', 'X')"}}
                  score: {type: formula, returns: integer, formula: "note('formulas', 1)"}
                validations:
                  - name: probe
                    condition: "note('validation rules', False)"
                    message: never shown
            """))

        def on_sql(conn, cursor, statement, parameters, context, executemany):
            text = f" {statement} ".replace('"', " ")
            if "INSERT INTO item " in text:
                steps.append("write")
                if "INSERT INTO crmkit_history " in text:  # PostgreSQL: one statement writes both
                    steps.append("history")

        sqlalchemy_event.listen(crm.engine, "before_cursor_execute", on_sql)
        steps.clear()
        crm.as_system().records("item").create({"name": "probe"})
    finally:
        crm.close()
    assert steps == ["coercion", "defaults", "formulas", "validation rules", "before-save hook", "write",
                     "history", "propagation", "after-save hook"]


def test_events_carry_the_acting_user_and_the_clock_s_moment(hooked_crm, recorder):
    from crmkit.engine.security.users import SystemDirectory

    moment = datetime(2024, 3, 1, 16, 30, tzinfo=timezone.utc)
    hooked_crm.clock = lambda: moment
    user = SystemDirectory(hooked_crm).create_user("wang", permission_sets=["admin"])
    acme = hooked_crm.as_user(user.id).records("account").create({"name": "Acme"})
    assert (recorder.events[-1].actor.user_id, recorder.events[-1].at) == (user.id, moment)
    assert acme["created_at"].replace(tzinfo=timezone.utc) == moment
