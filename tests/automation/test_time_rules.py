"""Time-based rules on a controllable clock: relative rules planned in the record's save and fired once
when due (their condition checked again), scheduled rules fired once per cron moment however many
workers run, caught up once after a worker was down, and resumed where a dead worker left them."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from crmkit.cli import main
from crmkit.engine.automation import firing as firing_module
from crmkit.engine.automation.due import run_due_planned, run_time_based
from crmkit.engine.automation.scheduled import latest_moment, run_scheduled

TIMED = """
package: timed
version: "1.0.0"
objects:
  lead:
    title_field: name
    fields:
      name: {type: text, required: true}
      status: {type: picklist, options: [New, Working], default: New}
      close_date: {type: date}
      reminded: {type: boolean, default: false}
      note: {type: text}
    automations:
      - name: follow_up
        on: [relative]
        timing: {field: created_at, after: 4 hours}
        condition: "status == 'New'"
        actions:
          - {type: create_record, object: task, set: {subject: "'Follow up ' + name", lead: id}}
      - name: before_close
        on: [relative]
        timing: {field: close_date, before: 3 days, time_zone: Asia/Shanghai}
        actions:
          - {type: update_record, set: {reminded: "True"}}
      - name: nightly
        on: [scheduled]
        schedule: {cron: "0 2 * * *", time_zone: Asia/Shanghai}
        where: {status: New}
        condition: "is_blank(note)"
        actions:
          - {type: update_record, set: {note: "'Nudged ' + str(today())"}}
  task:
    fields:
      subject: {type: text, required: true}
      lead: {type: lookup, to: lead}
"""
SHANGHAI = timezone(timedelta(hours=8))


@pytest.fixture
def leads(crm, install, clock):
    install(TIMED)
    return crm.as_system().records("lead")


def planned(crm) -> list[tuple[str, int, datetime, str]]:
    table = crm.runtime.system_table("crmkit_planned_run")
    with crm.engine.connect() as connection:
        return [(row.rule, row.record_id, row.due_at, row.status)
                for row in connection.execute(select(table).order_by(table.c.id))]


def subjects(crm) -> list[str]:
    return [task["subject"] for task in crm.as_system().records("task").query(sort=["id"]).records]


def work_all(crm) -> dict:
    """What `crmkit worker` does each minute and for each id: time-based work, then the outbox."""
    timed = run_time_based(crm)
    crm.outbox.work_due()
    return timed


# -- relative rules ------------------------------------------------------------------------------


def test_a_relative_rule_is_planned_in_the_save_and_fires_once_when_due(crm, leads, clock):
    lead = leads.create({"name": "Wang"})
    assert planned(crm) == [("lead.follow_up", lead.id, clock.moment + timedelta(hours=4), "pending")]
    clock.advance(hours=3, minutes=59)
    assert work_all(crm)["relative"] == {"done": 0, "skipped": 0} and subjects(crm) == []
    clock.advance(minutes=1)
    assert work_all(crm)["relative"] == {"done": 1, "skipped": 0}
    assert subjects(crm) == ["Follow up Wang"]
    assert planned(crm)[0][3] == "done"
    clock.advance(days=2)
    work_all(crm)  # a second worker, a later minute: nothing again
    assert subjects(crm) == ["Follow up Wang"]
    (row,) = [row for row in crm.outbox.rows() if row["rule"] == "lead.follow_up"]
    assert (row["operation"], row["depth"], row["chain"], row["status"]) == ("relative", 1, ["lead.follow_up"], "done")


def test_a_change_of_a_condition_field_removes_the_run_and_plans_it_again(crm, leads, clock):
    lead = leads.create({"name": "Li"})
    lead = leads.update(lead.id, {"status": "Working"}, version=lead.version)
    assert planned(crm) == []  # the condition no longer holds
    clock.advance(hours=5)
    lead = leads.update(lead.id, {"status": "New"}, version=lead.version)
    due = lead["created_at"] + timedelta(hours=4)
    assert planned(crm) == [("lead.follow_up", lead.id, due, "pending")]  # its moment has passed: due now
    work_all(crm)
    assert subjects(crm) == ["Follow up Li"]
    leads.update(lead.id, {"status": "Working"}, version=lead.version)
    leads.update(lead.id, {"status": "New"}, version=lead.version + 1)
    work_all(crm)
    assert subjects(crm) == ["Follow up Li"]  # fired for that moment already: not planned twice


def test_the_condition_is_checked_again_when_the_run_fires(crm, leads, clock):
    lead = leads.create({"name": "Zhao"})
    table = crm.runtime.table("lead")
    with crm.engine.begin() as connection:  # a change the planner never saw (a raw import, say)
        connection.execute(update(table).where(table.c.id == lead.id).values(status="Working"))
    clock.advance(hours=4)
    assert run_due_planned(crm) == {"done": 0, "skipped": 1}
    assert subjects(crm) == [] and planned(crm)[0][3] == "skipped"


def test_a_condition_that_cannot_be_evaluated_is_planned_and_fires_a_dead_row_with_the_reason(crm, write_package,
                                                                                              install, clock):
    crm.install(write_package(TIMED.replace("condition: \"status == 'New'\"",
                                            "condition: \"1 / len(note or '') > 0\"")))
    lead = crm.as_system().records("lead").create({"name": "Wu"})
    assert [status for _, _, _, status in planned(crm)] == ["pending"]
    clock.advance(hours=4)
    assert run_due_planned(crm) == {"done": 1, "skipped": 0}
    (row,) = crm.outbox.rows()
    assert (row["status"], row["record_id"]) == ("dead", lead.id)
    assert row["last_error"].startswith("the automation rule 'follow_up' could not run:")


def test_a_date_field_plans_at_midnight_in_the_timing_zone_and_moving_it_plans_again(crm, leads, clock):
    lead = leads.create({"name": "Sun", "status": "Working", "close_date": "2026-06-20"})
    midnight = datetime(2026, 6, 20, tzinfo=SHANGHAI)
    assert planned(crm) == [("lead.before_close", lead.id, midnight - timedelta(days=3), "pending")]
    lead = leads.update(lead.id, {"close_date": "2026-06-25"}, version=lead.version)
    assert planned(crm)[0][2] == midnight + timedelta(days=2)
    lead = leads.update(lead.id, {"note": "unrelated"}, version=lead.version)
    assert planned(crm)[0][2] == midnight + timedelta(days=2)
    lead = leads.update(lead.id, {"close_date": None}, version=lead.version)
    assert planned(crm) == []
    lead = leads.update(lead.id, {"close_date": date(2026, 6, 5)}, version=lead.version)
    clock.moment = datetime(2026, 6, 2, tzinfo=SHANGHAI)  # 3 days before 5 June, in Shanghai
    work_all(crm)
    assert leads.get(lead.id)["reminded"] is True  # update_record: the record itself, through the outbox


def test_deleting_a_record_removes_its_runs_and_restoring_it_plans_them_again(crm, leads, clock):
    lead = leads.create({"name": "Zhou"})
    leads.delete(lead.id)
    assert planned(crm) == []
    clock.advance(hours=5)
    assert run_due_planned(crm) == {"done": 0, "skipped": 0}
    batch = crm.as_system().recycle_bin.entries()[0]["batch"]
    crm.as_system().recycle_bin.restore(batch)
    assert [(rule, status) for rule, _, _, status in planned(crm)] == [("lead.follow_up", "pending")]
    work_all(crm)
    assert subjects(crm) == ["Follow up Zhou"]


# -- scheduled rules -----------------------------------------------------------------------------


def test_the_latest_cron_moment_counts_the_moment_itself_in_the_stated_zone():
    two_am = datetime(2026, 6, 2, 2, 0, tzinfo=SHANGHAI)
    assert latest_moment("0 2 * * *", "Asia/Shanghai", two_am - timedelta(days=1), two_am) == two_am
    assert latest_moment("0 2 * * *", "Asia/Shanghai", two_am, two_am + timedelta(hours=5)) is None
    assert latest_moment("0 2 * * *", "Asia/Shanghai", two_am - timedelta(days=5),
                         two_am + timedelta(days=2, hours=1)) == two_am + timedelta(days=2)


def test_a_scheduled_rule_fires_once_per_moment_on_the_records_its_filter_and_condition_select(crm, leads, clock):
    new, noted, working = (leads.create({"name": "A"}), leads.create({"name": "B", "note": "called"}),
                           leads.create({"name": "C", "status": "Working"}))
    assert run_scheduled(crm) == {}  # first seen: counts from now (17:00 in Shanghai), no firing for the past
    clock.moment = datetime(2026, 6, 2, 1, 59, tzinfo=SHANGHAI)
    assert run_scheduled(crm) == {}
    clock.advance(minutes=1)
    assert run_scheduled(crm) == {"lead.nightly": 1}
    assert run_scheduled(crm) == {}  # another worker at the same minute
    crm.outbox.work_due()
    assert [leads.get(record.id)["note"] for record in (new, noted, working)] == ["Nudged 2026-06-02", "called", None]


def test_a_worker_down_for_days_catches_up_once(crm, leads, clock):
    leads.create({"name": "A"})
    run_scheduled(crm)
    clock.moment = datetime(2026, 6, 5, 9, 0, tzinfo=SHANGHAI)  # three nights missed
    assert run_scheduled(crm) == {"lead.nightly": 1}
    assert run_scheduled(crm) == {}
    crm.outbox.work_due()
    assert leads.query().records[0]["note"] == "Nudged 2026-06-05"  # as of the latest moment


def test_a_worker_dying_mid_firing_leaves_the_rest_to_the_next_run_and_nothing_twice(crm, leads, clock, monkeypatch):
    ids = [leads.create({"name": f"L{number}"}).id for number in range(5)]
    run_scheduled(crm)
    clock.moment = datetime(2026, 6, 2, 2, 0, tzinfo=SHANGHAI)
    real, seen = firing_module.fire, []

    def dies_on_the_fourth(connection, context, firing, values):
        seen.append(values["id"])
        if len(seen) == 4:
            raise KeyboardInterrupt  # the process dies in its second batch
        return real(connection, context, firing, values)

    monkeypatch.setattr("crmkit.engine.automation.scheduled.fire", dies_on_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        run_scheduled(crm, batch=2)
    assert sorted(row["record_id"] for row in crm.outbox.rows()) == ids[:2]  # the first batch committed
    monkeypatch.setattr("crmkit.engine.automation.scheduled.fire", real)
    clock.advance(minutes=1)
    assert run_scheduled(crm, batch=2) == {"lead.nightly": 3}
    assert sorted(row["record_id"] for row in crm.outbox.rows(limit=100)) == ids
    assert run_scheduled(crm, batch=2) == {}


def test_worker_once_does_the_time_based_work_that_is_due(crm, leads, clock, database_url):
    """The CLI opens a Crm of its own, on the real clock: the test's moments (June 2026) are long past."""
    leads.create({"name": "Qian"})
    result = CliRunner().invoke(main, ["--database", database_url, "worker", "--once"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "planned runs: 1 fired, 0 skipped" in result.output
    assert subjects(crm) == ["Follow up Qian"]


def test_two_workers_firing_at_the_same_moment_write_each_record_once(crm, leads, clock, database_url):
    from concurrent.futures import ThreadPoolExecutor

    from crmkit.engine import Crm

    ids = [leads.create({"name": f"L{number}"}).id for number in range(30)]
    run_scheduled(crm)
    moment = datetime(2026, 6, 2, 2, 0, tzinfo=SHANGHAI)
    workers = [Crm.open(database_url) for _ in range(2)]
    for worker in workers:
        worker.clock = lambda: moment
    try:
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda worker: run_scheduled(worker, batch=4), workers))
    finally:
        for worker in workers:
            worker.close()
    assert sum(result.get("lead.nightly", 0) for result in results) == 30
    assert sorted(row["record_id"] for row in crm.outbox.rows(limit=100)) == ids


def test_a_worker_that_claimed_a_firing_waits_out_a_lock_on_it_and_fires_every_record(crm, leads, clock, monkeypatch):
    """A lock on the state row does not mean its holder goes on with the firing: on PostgreSQL a
    second worker's claim that found the moment taken keeps the row locked to its commit, and a
    batch that fails rolls back. The worker that claimed waits, then fires everything, at once."""
    import threading
    import time

    from sqlalchemy import text

    from crmkit.engine.automation import scheduled as scheduled_module

    if crm.runtime.is_sqlite:
        pytest.skip("SQLite has one writer at a time: no row locks to wait for")
    ids = [leads.create({"name": f"L{number}"}).id for number in range(9)]
    run_scheduled(crm)
    clock.moment = datetime(2026, 6, 2, 2, 0, tzinfo=SHANGHAI)
    state, real = crm.runtime.system_table("crmkit_schedule_state"), scheduled_module._batch
    first_batch_over = threading.Event()
    with crm.engine.connect() as holder:
        holder_pid = holder.execute(text("SELECT pg_backend_pid()")).scalar()
        holder.rollback()

        def release_once_the_worker_waits() -> None:
            deadline = time.monotonic() + 30  # a handoff between connections, not a clock: bounded, polled
            while not first_batch_over.is_set() and time.monotonic() < deadline:
                if holder.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted"
                                       " AND :pid = ANY(pg_blocking_pids(pid))"), {"pid": holder_pid}).scalar():
                    break
                time.sleep(0.02)
            holder.rollback()  # the holder ends without moving the firing on

        releaser = threading.Thread(target=release_once_the_worker_waits)

        def first_batch_meets_a_lock(context, firing, after, size):
            if not first_batch_over.is_set():
                holder.execute(select(state).where(state.c.rule == "lead.nightly").with_for_update())
                releaser.start()
            try:
                return real(context, firing, after, size)
            finally:
                first_batch_over.set()

        monkeypatch.setattr(scheduled_module, "_batch", first_batch_meets_a_lock)
        try:
            assert run_scheduled(crm, batch=4) == {"lead.nightly": 9}
        finally:
            first_batch_over.set()
            if releaser.ident is not None:
                releaser.join(timeout=60)
    assert sorted(row["record_id"] for row in crm.outbox.rows(limit=100)) == ids
    assert run_scheduled(crm, batch=4) == {}


def test_two_workers_taking_due_planned_runs_at_once_fire_each_run_once(crm, leads, clock, database_url):
    from concurrent.futures import ThreadPoolExecutor

    from crmkit.engine import Crm

    for number in range(30):
        leads.create({"name": f"L{number}"})
    moment = clock.moment + timedelta(hours=4)
    workers = [Crm.open(database_url) for _ in range(2)]
    for worker in workers:
        worker.clock = lambda: moment
    try:
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda worker: run_due_planned(worker, batch=4), workers))
    finally:
        for worker in workers:
            worker.close()
    assert sum(result["done"] for result in results) == 30
    assert len(crm.outbox.rows(limit=100)) == 30
