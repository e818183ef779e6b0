"""Automation rules in the save: before-save actions change the record in its transaction, after-save
actions become outbox rows written with the record, or not at all."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from crmkit.engine import RecordValidationError
from tests.automation.conftest import DEALS, won_deal


def outbox_rows(crm) -> list[dict]:
    return sorted(crm.outbox.rows(limit=1000), key=lambda row: row["id"])


def test_a_before_save_action_sets_the_record_before_the_validation_rules_check_it(sales, crm):
    _, won = won_deal(sales)
    # `won_needs_next_step` would refuse the move; the rule's update_record filled next_step first.
    assert won["next_step"] == "Hand over" and won["stage"] == "Won"
    assert won.version == 3  # one write: the automation's change is part of the save, not a second save


def test_a_before_save_rule_fires_only_on_its_trigger_and_condition(sales):
    deals = sales.records("deal")
    deal = deals.create({"name": "D", "amount": "1"})
    assert deal["next_step"] is None  # `won` is for updates
    deal = deals.update(deal.id, {"amount": "2"}, version=deal.version)
    assert deal["next_step"] is None  # condition false: the stage did not change to Won


def test_the_after_save_actions_are_outbox_rows_with_the_values_computed_at_the_save(sales, crm, clock):
    account, won = won_deal(sales, "Acme deal")
    related, created = outbox_rows(crm)
    assert (related["rule"], related["kind"], related["status"], related["depth"]) == (
        "deal.won", "update_related", "pending", 1)
    assert related["payload"] == {"object": "account", "record_id": account.id, "values": {"rating": "Hot"}}
    assert created["payload"] == {"object": "task", "values": {"subject": "Kick-off Acme deal", "deal": won.id,
                                                               "owner_id": None}}  # the deal's owner
    assert created["chain"] == ["deal.won"] and created["next_attempt_at"] == clock.moment
    assert (created["object"], created["record_id"], created["operation"]) == ("deal", won.id, "update")
    assert sales.records("account").get(account.id)["rating"] is None  # nothing done before a worker does it


def test_a_save_that_rolls_back_leaves_no_outbox_row(sales, crm):
    account = sales.records("account").create({"name": "A"})
    deals = sales.records("deal")
    deal = deals.create({"name": "D", "account": account.id, "amount": "5"})
    deal = deals.update(deal.id, {"stage": "Qualified"}, version=deal.version)
    with pytest.raises(RuntimeError), sales.transaction():
        deals.update(deal.id, {"stage": "Won"}, version=deal.version)
        assert len(outbox_rows(crm)) == 0  # not committed yet: another connection sees nothing
        raise RuntimeError("the caller's transaction fails after the save")
    assert outbox_rows(crm) == [] and deals.get(deal.id)["stage"] == "Qualified"


def test_a_rule_on_deleted_writes_its_row_with_the_delete(sales, crm):
    deals = sales.records("deal")
    deal = deals.create({"name": "Gone"})
    deals.delete(deal.id)
    (row,) = outbox_rows(crm)
    assert (row["rule"], row["operation"], row["payload"]) == (
        "deal.lost_task", "delete", {"object": "task", "values": {"subject": "Deleted Gone", "owner_id": None}})


def test_an_empty_lookup_gives_no_update_related_row(sales, crm):
    deals = sales.records("deal")
    deal = deals.create({"name": "No account", "amount": "5"})
    deal = deals.update(deal.id, {"stage": "Qualified"}, version=deal.version)
    deals.update(deal.id, {"stage": "Won"}, version=deal.version)
    assert [row["kind"] for row in outbox_rows(crm)] == ["create_record"]


def test_a_before_save_value_that_cannot_be_computed_refuses_the_save(crm, write_package, sales):
    crm.install(write_package(DEALS.replace("set: {next_step: \"'Hand over'\"}", "set: {next_step: \"text(1 / (amount - amount))\"}")))
    deals = sales.records("deal")
    deal = deals.create({"name": "D", "amount": "5"})
    deal = deals.update(deal.id, {"stage": "Qualified"}, version=deal.version)
    with pytest.raises(RecordValidationError) as caught:
        deals.update(deal.id, {"stage": "Won"}, version=deal.version)
    assert caught.value.errors["_record"][0].startswith("the automation rule 'won' could not run:")
    assert outbox_rows(crm) == []


def test_an_after_save_value_that_cannot_be_computed_is_a_dead_row_not_a_refused_save(crm, write_package, sales):
    crm.install(write_package(DEALS.replace("'Deleted ' + name", "'Deleted ' + text(1 / (amount - amount))")))
    deals = sales.records("deal")
    deal = deals.create({"name": "Gone", "amount": "3"})
    deals.delete(deal.id)
    (row,) = outbox_rows(crm)
    assert row["status"] == "dead" and row["last_error"].startswith("the automation rule 'lost_task' could not run:")


def test_objects_without_rules_write_no_outbox_rows(sales, crm):
    account = sales.records("account").create({"name": "P"})
    sales.records("account").update(account.id, {"rating": "Hot"}, version=account.version)
    with crm.engine.connect() as connection:
        table = crm.runtime.system_table("crmkit_outbox")
        assert connection.execute(select(table.c.id)).first() is None


def test_an_inactive_rule_does_nothing(crm, write_package, sales):
    crm.install(write_package(DEALS.replace("      - name: won\n", "      - name: won\n        active: false\n")
                              .replace("won_needs_next_step", "never").replace("stage == 'Won' and", "False and")))
    _, won = won_deal(sales)
    assert won["next_step"] is None and outbox_rows(crm) == []


def test_a_rule_on_restored_writes_its_row_with_the_restore(crm, install, sales):
    install("""
    package: restore_rules
    version: "1.0.0"
    depends_on: [deals]
    extends:
      deal:
        automations:
          - name: back
            on: [restored]
            actions: [{type: create_record, object: task, set: {subject: "'Back: ' + name", deal: id}}]
    """, "restore_rules.yaml")
    deals = sales.records("deal")
    deal = deals.create({"name": "Phoenix"})
    batch = deals.delete(deal.id)
    sales.recycle_bin.restore(batch)
    rows = sorted(crm.outbox.rows(), key=lambda row: row["id"])
    assert [(row["rule"], row["operation"]) for row in rows] == [("deal.lost_task", "delete"),
                                                                 ("deal.back", "restore")]
    assert rows[1]["payload"]["values"] == {"subject": "Back: Phoenix", "deal": deal.id, "owner_id": None}
    crm.outbox.work_due()
    assert sorted(task["subject"] for task in sales.records("task").query().records) == [
        "Back: Phoenix", "Deleted Phoenix"]


def test_a_created_record_belongs_to_the_owner_of_the_record_that_triggered_it(crm, sales):
    from tests.conftest import add_users

    owner = add_users(crm, [("deal_owner", None, [])])["deal_owner"]
    deals = sales.records("deal")
    deal = deals.create({"name": "Owned", "amount": "5", "owner_id": owner})
    deal = deals.update(deal.id, {"stage": "Qualified"}, version=deal.version)
    deals.update(deal.id, {"stage": "Won"}, version=deal.version)
    crm.outbox.work_due()
    (task,) = sales.records("task").query().records
    assert task["owner_id"] == owner and task["created_by"] is None
