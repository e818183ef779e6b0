"""The standard CRM's time-based rules on a controllable clock: a follow-up task for a lead still New
after 3 days, case escalation when the first-response target passes, and the customer pool (公海):
a warning 7 days before, then the account returns to the pool, for an administrator to hand on."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from crmkit.engine.automation.due import run_time_based
from tests.conftest import add_users

SHANGHAI = timezone(timedelta(hours=8))
#: 02:00 in Shanghai, when the nightly pool rules fire.
NIGHT = datetime(2026, 6, 2, 2, 0, tzinfo=SHANGHAI)


@pytest.fixture
def standard(crm, clock):
    crm.install("default_crm")
    clock.moment = NIGHT - timedelta(hours=12)
    run_time_based(crm)  # the nightly rules start counting now
    return crm.as_system()


def work(crm) -> None:
    run_time_based(crm)
    crm.outbox.work_due()


def activities(standard, **filter) -> list[dict]:
    return [dict(record.values) for record in standard.records("activity").query(filter=filter, sort=["id"]).records]


def test_a_lead_still_new_after_three_days_gets_a_follow_up_task_for_its_owner(crm, standard, clock):
    rep = add_users(crm, [("rep", "sales_rep", ["sales_user"])])["rep"]
    leads = standard.records("lead")
    waiting = leads.create({"last_name": "王", "first_name": "伟", "company": "华信", "phone": "13800000000",
                            "owner_id": rep})
    worked = leads.create({"last_name": "Smith", "company": "Acme", "email": "s@acme.test"})
    leads.update(worked.id, {"status": "Working"}, version=worked.version)
    clock.advance(days=3)
    work(crm)
    (task,) = activities(standard)
    assert task["subject"] == "跟进新线索 / Follow up new lead: 王伟 (华信)"
    assert (task["lead"], task["owner_id"], task["type"], task["priority"]) == (waiting.id, rep, "Task", "High")


def test_a_case_not_answered_by_its_target_is_escalated_once(crm, standard, clock):
    cases = standard.records("service_case")
    urgent = cases.create({"subject": "Down", "priority": "Urgent"})
    answered = cases.create({"subject": "Slow", "priority": "Urgent"})
    assert urgent["first_response_due"] == clock.moment + timedelta(hours=1)
    answered = cases.update(answered.id, {"status": "Working"}, version=answered.version)
    assert answered["first_responded_at"] == clock.moment
    clock.advance(minutes=59)
    work(crm)
    assert cases.get(urgent.id)["escalated"] is False
    clock.advance(minutes=1)
    work(crm)
    work(crm)
    escalated = cases.get(urgent.id)
    assert (escalated["escalated"], escalated["status"]) == (True, "Escalated")
    assert cases.get(answered.id)["escalated"] is False
    (task,) = activities(standard, service_case=urgent.id)
    assert task["subject"] == "工单超时未响应 / Case not answered in time: Down"


def test_an_idle_account_is_warned_then_returns_to_the_pool_and_a_rep_claims_it(crm, standard, clock):
    rep = add_users(crm, [("rep", "sales_rep", ["sales_user"])])["rep"]
    accounts = standard.records("account")
    idle = accounts.create({"name": "沉睡客户", "owner_id": rep})
    busy = accounts.create({"name": "Busy Ltd", "owner_id": rep})
    for night in range(1, 30):  # created on 1 June: 23 idle days on the 24th, 30 on 1 July
        clock.moment = NIGHT + timedelta(days=night)
        if night == 20:  # a completed call keeps Busy Ltd out of the pool
            standard.records("activity").create({"subject": "Call", "type": "Call", "status": "Completed",
                                                 "account": busy.id, "due_date": clock.moment.date()})
        work(crm)
        if night == 22:
            (warning,) = activities(standard, account=idle.id)
            assert warning["subject"].startswith("7天内未跟进将退回公海")
            assert warning["due_date"] == date(2026, 7, 1) and warning["owner_id"] == rep
            assert accounts.get(idle.id)["pool_warned_on"] == date(2026, 6, 24)
        elif night == 28:
            assert accounts.get(idle.id)["in_pool"] is False
    assert len(activities(standard, account=idle.id)) == 1  # warned once
    pooled = accounts.get(idle.id)
    assert (pooled["in_pool"], pooled["owner_id"], pooled["pool_warned_on"]) == (True, None, None)
    assert accounts.get(busy.id)["in_pool"] is False
    assert [record.id for record in crm.as_user(rep).records("account").query().records] == [busy.id]
    other = add_users(crm, [("other", "sales_rep", ["sales_user"])])["other"]
    # Handing an account on from the pool is giving it an owner, which the transfer rule keeps to those who
    # may modify all accounts (docs/permissions.md); the pool flag drops with it.
    claimed = standard.records("account").update(idle.id, {"owner_id": other}, version=pooled.version)
    assert (claimed["in_pool"], claimed["owner_id"]) == (False, other)
