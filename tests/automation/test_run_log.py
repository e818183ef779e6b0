"""The run log: every rule that fired, in the save's transaction (before-save) or when the worker finishes its
outbox row (after-save); shown on the record's timeline as its reader may see it and to admins with filters;
pruned after the retention period, on the controllable clock."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from crmkit.engine import RecordValidationError
from crmkit.engine.automation import actions
from crmkit.engine.automation.queue import AutomationQueue, PRUNE_TASK
from crmkit.engine.automation.runlog import AutomationRuns, prune, retention
from crmkit.engine.records.timeline import RunEntry
from crmkit.engine.security.access import PermissionDenied
from crmkit.engine.security.users import SystemDirectory
from tests.automation.conftest import DEALS, won_deal

PASSWORD = "a long passphrase 42"


def runs(crm, **filters):
    return AutomationRuns(crm.as_system()).runs(**filters)


def test_a_before_save_rule_is_logged_in_its_save_and_after_save_actions_when_the_worker_finishes(sales, crm, clock):
    _, won = won_deal(sales)
    (before,) = runs(crm)
    assert (before.object, before.record_id, before.rule, before.trigger, before.actions, before.outcome) == (
        "deal", won.id, "deal.won", "update", ("update_record",), "done")
    assert before.at == clock.moment and before.duration_ms >= 0 and before.error is None
    clock.advance(seconds=5)
    crm.outbox.work_due()
    after = runs(crm, outcome="done")[:2]
    assert sorted(run.actions for run in after) == [("create_record",), ("update_related",)]
    assert all(run.record_id == won.id and run.trigger == "update" and run.outbox_id and run.at == clock.moment
               for run in after)


def test_a_rule_on_a_created_record_is_logged_with_the_new_records_id(crm, install, clock):
    install(DEALS.replace("on: [updated]", "on: [saved]").replace("changed('stage') and stage == 'Won'",
                                                                  "amount is not None"))
    deal = crm.as_system().records("deal").create({"name": "D", "amount": "3"})
    assert [(run.record_id, run.trigger) for run in runs(crm)] == [(deal.id, "create")]


def test_a_rule_that_refuses_the_save_is_logged_although_the_save_rolled_back(crm, install, clock):
    install(DEALS.replace("{next_step: \"'Hand over'\"}", "{next_step: \"text(1 // (amount - amount))\"}"))
    with pytest.raises(RecordValidationError, match="could not run"):
        won_deal(crm.as_system())
    (refused,) = runs(crm)
    assert refused.outcome == "refused" and refused.error.startswith("the automation rule 'won' could not run")
    assert crm.as_system().records("deal").query().records[0]["stage"] == "Qualified"  # nothing of the move kept


def test_failed_attempts_and_dead_letters_are_logged_with_their_error(sales, crm, clock, monkeypatch):
    won_deal(sales)

    def broken(context, payload):
        raise RuntimeError("away")

    monkeypatch.setitem(actions.ACTIONS, "create_record", broken)
    crm.outbox.work_due()
    (failed,) = runs(crm, outcome="failed")
    assert failed.actions == ("create_record",) and failed.error == "the action failed: away"
    assert runs(crm, outcome="dead") == []


def test_the_admin_list_filters_by_object_rule_and_outcome_and_is_for_administrators(sales, crm):
    won_deal(sales)
    assert [run.rule for run in runs(crm, object="deal", rule="won")] == ["deal.won"]
    assert runs(crm, rule="deal.lost_task") == [] and runs(crm, object="account") == []
    assert runs(crm, outcome="dead") == []
    directory = SystemDirectory(crm)
    admin = directory.create_user("ada", password=PASSWORD, permission_sets=["admin"])
    someone = directory.create_user("sam", password=PASSWORD, permission_sets=[])
    assert len(AutomationRuns(crm.as_user(admin.id)).runs()) == 1
    with pytest.raises(PermissionDenied):
        AutomationRuns(crm.as_user(someone.id))


SHARED = """
permission_sets:
  sales:
    objects:
      deal: [create, read, edit]
      account: [create, read, edit]
      task: [create, read]
"""


def test_the_timeline_shows_runs_to_readers_of_the_record_without_errors_unless_admin(crm, install, clock):
    install(DEALS.replace("{next_step: \"'Hand over'\"}", "{next_step: \"'Hand over'\"}")
            .replace("objects:\n  account:", SHARED.strip("\n") + "\nobjects:\n  account:", 1))
    directory = SystemDirectory(crm)
    rep = directory.create_user("rep", password=PASSWORD, permission_sets=["sales"])
    admin = directory.create_user("ada", password=PASSWORD, permission_sets=["admin"])
    _, won = won_deal(crm.as_user(rep.id))
    crm.as_system().records("account").delete(won["account"])
    crm.outbox.work_due()  # update_related is dead: its error names the account
    mine = [entry for entry in crm.as_user(rep.id).records("deal").timeline(won.id).entries
            if isinstance(entry, RunEntry)]
    assert sorted(entry.outcome for entry in mine) == ["dead", "done", "done"]
    assert all(entry.error is None for entry in mine)  # a reader sees what ran, not the sentences
    admins = [entry for entry in crm.as_user(admin.id).records("deal").timeline(won.id).entries
              if isinstance(entry, RunEntry)]
    assert any(entry.error and "no account record" in entry.error for entry in admins)


def test_old_entries_and_done_outbox_rows_are_pruned_after_the_retention_period(sales, crm, clock, monkeypatch):
    won_deal(sales, "Old")
    crm.outbox.work_due()
    clock.advance(days=60)
    won_deal(sales, "New")  # its outbox rows stay pending: never pruned
    assert prune(crm) == {"crmkit_automation_run": 0, "crmkit_outbox": 0, "crmkit_notification": 0}
    clock.advance(days=31)  # the first deal's entries are 91 days old
    counts = prune(crm)
    assert counts["crmkit_automation_run"] == 3 and counts["crmkit_outbox"] == 2
    assert [run.trigger for run in runs(crm)] == ["update"] and len(crm.outbox.rows(status="pending")) == 2
    monkeypatch.setenv("CRMKIT_RUNLOG_RETENTION_DAYS", "7")
    assert retention() == timedelta(days=7) and prune(crm)["crmkit_automation_run"] == 1
    monkeypatch.setenv("CRMKIT_RUNLOG_RETENTION_DAYS", "soon")
    with pytest.raises(ValueError, match="CRMKIT_RUNLOG_RETENTION_DAYS"):
        retention()


def test_pruning_is_a_periodic_task_of_the_queue(sales, crm, tmp_path, clock):
    queue = AutomationQueue.open(crm, path=str(tmp_path / "queue.db"))
    assert queue.prune.name == PRUNE_TASK
    assert queue.prune.s().validate_datetime(datetime(2026, 6, 2, 3, 17))  # once a day, at night
    assert not queue.prune.s().validate_datetime(datetime(2026, 6, 2, 3, 18))
    won_deal(sales)
    crm.outbox.work_due()
    clock.advance(days=100)
    assert queue.prune.call_local()["crmkit_automation_run"] == 3
    table = crm.runtime.system_table("crmkit_automation_run")
    with crm.engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(table)).scalar_one() == 0


def test_an_after_save_value_that_cannot_be_computed_is_a_dead_entry_written_with_the_save(crm, install, clock):
    install(DEALS.replace("{rating: \"'Hot'\"}", "{note: \"text(1 // (amount - amount))\"}"))
    _, won = won_deal(crm.as_system())
    dead = runs(crm, outcome="dead")
    assert [(run.record_id, run.actions, run.at) for run in dead] == [(won.id, ("update_related", "create_record"), clock.moment)]
    assert dead[0].error.startswith("the automation rule 'won' could not run")


def test_a_bulk_create_logs_each_records_before_save_rules_with_that_records_id(crm, install, clock):
    install(DEALS.replace("on: [updated]", "on: [saved]").replace("changed('stage') and stage == 'Won'",
                                                                  "amount is not None"))
    deals = crm.as_system().records("deal")
    deals.bulk_create([{"name": "A"}, {"name": "B", "amount": "2"}, {"name": "C"}, {"name": "D", "amount": "4"}])
    ids = {record["name"]: record.id for record in deals.query(sort=["id"]).records}
    assert sorted(run.record_id for run in runs(crm)) == [ids["B"], ids["D"]]
