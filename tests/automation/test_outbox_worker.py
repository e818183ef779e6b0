"""The outbox worked by the queue: each row done once, nothing lost when a worker dies or the queue
misses an id, failures retried with backoff on a controllable clock, dead letters replayed, and
chains of rules stopped at the depth limit."""
from __future__ import annotations

import logging
import signal
import textwrap
import time

import pytest
from click.testing import CliRunner
from huey import RedisHuey, SqliteHuey
from sqlalchemy import select

from crmkit.cli import main
from crmkit.engine.automation import actions
from crmkit.engine.automation.outbox import BACKOFF, MAX_ATTEMPTS, REQUEUE_AFTER
from crmkit.engine.automation.queue import AutomationQueue
from crmkit.engine.automation.rules import MAX_DEPTH
from tests.automation.conftest import won_deal


def statuses(crm) -> dict[int, str]:
    return {row["id"]: row["status"] for row in crm.outbox.rows(limit=1000)}


def tasks(sales) -> list[str]:
    return [record["subject"] for record in sales.records("task").query(sort=["id"]).records]


def test_the_worker_does_each_row_once_however_often_its_id_is_delivered(sales, crm):
    account, won = won_deal(sales, "Acme deal")
    outcomes = crm.outbox.work_due()
    assert sorted(outcomes.values()) == ["done", "done"]
    assert sales.records("account").get(account.id)["rating"] == "Hot"
    assert tasks(sales) == ["Kick-off Acme deal"]
    for outbox_id in outcomes:  # the same ids again, as a queue may deliver them twice
        assert crm.outbox.work(outbox_id) == "skipped"
    assert crm.outbox.work_due() == {} and tasks(sales) == ["Kick-off Acme deal"]
    assert set(statuses(crm).values()) == {"done"}
    task = sales.records("task").query().records[0]
    assert task["created_by"] is None and task["deal"] == won.id  # done by the platform, for the deal


def test_a_worker_killed_in_the_middle_of_an_action_leaves_the_row_to_be_done_once_by_another(sales, crm,
                                                                                          monkeypatch):
    won_deal(sales, "Acme deal")
    real = actions.ACTIONS["create_record"]

    def killed(context, payload):
        real(context, payload)  # the task is written in the worker's transaction...
        raise KeyboardInterrupt  # ...and the process dies before it commits

    monkeypatch.setitem(actions.ACTIONS, "create_record", killed)
    with pytest.raises(KeyboardInterrupt):
        crm.outbox.work_due()
    assert tasks(sales) == [] and "pending" in statuses(crm).values()
    monkeypatch.setitem(actions.ACTIONS, "create_record", real)
    assert "done" in crm.outbox.work_due().values()  # another worker, the same row
    assert tasks(sales) == ["Kick-off Acme deal"]


def test_rows_the_queue_never_got_are_requeued_after_a_while_and_done_once(sales, crm, clock, tmp_path, caplog):
    crm.queue = AutomationQueue.open(crm, path=str(tmp_path / "queue.db"))

    def lost(outbox_ids, **options):
        raise ConnectionError("the queue is down")

    crm.queue.enqueue = lost
    with caplog.at_level(logging.ERROR, "crmkit.automation"):
        won_deal(sales, "Acme deal")  # the save succeeds; the queue's failure is only logged
    assert "the queue did not take outbox rows" in caplog.text
    assert len(crm.queue.huey) == 0
    del crm.queue.enqueue
    assert crm.outbox.requeue() == []  # too soon: they may still be on their way
    clock.advance(seconds=REQUEUE_AFTER.total_seconds())
    requeued = crm.outbox.requeue()
    assert len(requeued) == 2 and len(crm.queue.huey) == 1  # one task carries both ids
    assert crm.outbox.requeue() == []  # handed on once, not every minute
    while crm.queue.work_one():
        pass
    assert set(statuses(crm).values()) == {"done"} and tasks(sales) == ["Kick-off Acme deal"]


def test_a_failing_action_is_retried_with_backoff_then_dead_and_replayed(sales, crm, clock, monkeypatch):
    won_deal(sales)
    real = actions.ACTIONS["create_record"]

    def broken(context, payload):
        raise RuntimeError("the mail server is away")

    monkeypatch.setitem(actions.ACTIONS, "create_record", broken)
    row_id = next(row["id"] for row in crm.outbox.rows() if row["kind"] == "create_record")
    for attempt, delay in enumerate(BACKOFF, 1):
        assert crm.outbox.work(row_id) == "retry"
        row = next(row for row in crm.outbox.rows() if row["id"] == row_id)
        assert row["attempts"] == attempt and row["last_error"] == "the action failed: the mail server is away"
        assert row["next_attempt_at"] == clock.moment + __import__("datetime").timedelta(seconds=delay)
        assert crm.outbox.work(row_id) == "skipped"  # not due yet
        clock.advance(seconds=delay)
    assert crm.outbox.work(row_id) == "dead"
    dead = crm.outbox.rows(status="dead")
    assert [(row["id"], row["attempts"]) for row in dead] == [(row_id, MAX_ATTEMPTS)]
    monkeypatch.setitem(actions.ACTIONS, "create_record", real)
    assert crm.outbox.work(row_id) == "skipped"  # dead rows wait for a replay
    assert crm.outbox.replay([row_id]) == [row_id]
    assert crm.outbox.work(row_id) == "done" and tasks(sales) == ["Kick-off Big deal"]


def test_an_error_the_actions_own_data_causes_is_dead_at_once_with_its_sentence(sales, crm):
    account, _ = won_deal(sales)
    sales.records("account").delete(account.id)
    outcomes = {row["kind"]: crm.outbox.work(row["id"]) for row in crm.outbox.rows()}
    assert outcomes == {"update_related": "dead", "create_record": "done"}
    (dead,) = crm.outbox.rows(status="dead")
    assert dead["attempts"] == 1 and dead["last_error"] == f"there is no account record with id {account.id}."


def test_replaying_a_row_that_is_not_dead_is_refused(sales, crm):
    from crmkit.engine.records.errors import RecordNotFound

    won_deal(sales)
    pending = crm.outbox.rows()[0]["id"]
    with pytest.raises(RecordNotFound, match=f"outbox row {pending} is pending, not dead: only dead rows can be replayed"):
        crm.outbox.replay([pending])


CHAIN = """
package: chain
version: "1.0.0"
objects:
""" + "".join(f"""
  step{number}:
    fields:
      n: {{type: integer}}
      {f"next: {{type: lookup, to: step{number + 1}}}" if number < 7 else "label: {type: text}"}
    automations:
      - name: push
        on: [saved]
        condition: "{'next is not None' if number < 7 else 'False'}"
        actions: [{{type: {'update_related, lookup: next' if number < 7 else 'update_record'}, set: {{{'n' if number < 7 else 'label'}: "{'n + 1' if number < 7 else "'x'"}"}}}}]
""" for number in range(1, 8)) + """
  node:
    fields:
      n: {type: integer}
      parent: {type: lookup, to: node}
    automations:
      - name: bump
        on: [updated]
        condition: "parent is not None"
        actions: [{type: update_related, lookup: parent, set: {n: "(n or 0) + 1"}}]
"""


@pytest.fixture
def chain(crm, install, clock):
    install(textwrap.dedent(CHAIN))
    return crm.as_system()


def test_a_chain_of_rules_stops_at_the_depth_limit_with_a_logged_error(chain, crm, caplog):
    ids = {}
    for number in range(7, 0, -1):
        values = {"n": 0} if number == 7 else {"n": 0, "next": ids[number + 1]}
        ids[number] = chain.records(f"step{number}").create(values).id
    while crm.outbox.work_due():  # the rows of the creates themselves, and of the saves they made
        pass
    start = chain.records("step1").get(ids[1])
    before = {number: chain.records(f"step{number}").get(ids[number])["n"] for number in ids}
    marker = max(row["id"] for row in crm.outbox.rows(limit=1))
    chain.records("step1").update(ids[1], {"n": 1}, version=start.version)
    with caplog.at_level(logging.ERROR, "crmkit.automation"):
        while crm.outbox.work_due():
            pass
    rows = sorted((row for row in crm.outbox.rows(limit=100) if row["id"] > marker), key=lambda row: row["id"])
    assert [(row["rule"], row["depth"], row["status"]) for row in rows] == [
        (f"step{depth}.push", depth, "done" if depth <= MAX_DEPTH else "stopped") for depth in range(1, MAX_DEPTH + 2)]
    assert rows[-1]["last_error"] == f"not run: automation rules triggered each other {MAX_DEPTH} times in a row, " \
                                     "the limit."
    assert rows[-1]["chain"] == sorted(f"step{depth}.push" for depth in range(1, MAX_DEPTH + 2))
    assert "reached the depth limit of 5" in caplog.text
    after = {number: chain.records(f"step{number}").get(ids[number])["n"] for number in ids}
    assert after[MAX_DEPTH + 1] == before[MAX_DEPTH] + 2  # the last row that ran: step5's n (one more now) + 1
    assert after[MAX_DEPTH + 2] == before[MAX_DEPTH + 2]  # never reached


def test_a_rule_never_fires_again_on_the_change_it_made(chain, crm):
    nodes = chain.records("node")
    root = nodes.create({"n": 0})
    middle = nodes.create({"n": 0, "parent": root.id})
    leaf = nodes.create({"n": 0, "parent": middle.id})
    nodes.update(leaf.id, {"n": 5}, version=leaf.version)
    while crm.outbox.work_due():
        pass
    assert nodes.get(middle.id)["n"] == 6  # the leaf's rule changed its parent...
    assert nodes.get(root.id)["n"] == 0  # ...and that change did not fire the same rule on the grandparent
    assert [row["rule"] for row in crm.outbox.rows(limit=100)] == ["node.bump"]


def test_the_embedded_queue_is_a_sqlite_file_of_its_own_and_redis_when_configured(crm, monkeypatch, tmp_path):
    monkeypatch.delenv("CRMKIT_REDIS_URL", raising=False)
    monkeypatch.delenv("CRMKIT_QUEUE_FILE", raising=False)
    embedded = AutomationQueue.open(crm)
    assert isinstance(embedded.huey, SqliteHuey)
    if crm.runtime.is_sqlite:
        database = crm.engine.url.database
        assert embedded.huey.storage.filename == database.removesuffix(".db") + "-queue.db"
    monkeypatch.setenv("CRMKIT_QUEUE_FILE", str(tmp_path / "elsewhere.db"))
    assert AutomationQueue.open(crm).huey.storage.filename == str(tmp_path / "elsewhere.db")
    monkeypatch.setenv("CRMKIT_REDIS_URL", "redis://127.0.0.1:6399/3")
    shared = AutomationQueue.open(crm)  # no connection is made until a task is enqueued
    assert isinstance(shared.huey, RedisHuey)
    assert sorted(name.rsplit(".", 3)[-3:] == ["crmkit", "automation", "deliver"] or name.endswith(".requeue")
                  or name.endswith((".prune", ".time_based", ".transfer.import"))
                  for name in shared.huey._registry._registry) == [True] * 5


def test_a_save_hands_its_rows_to_the_queue_after_commit_and_a_worker_does_them(sales, crm, tmp_path):
    crm.queue = AutomationQueue.open(crm, path=str(tmp_path / "queue.db"))
    won_deal(sales, "Queued deal")
    assert len(crm.queue.huey) == 1  # the save's two rows, in one task: one transaction for both
    while crm.queue.work_one():
        pass
    assert set(statuses(crm).values()) == {"done"} and tasks(sales) == ["Kick-off Queued deal"]


def test_a_task_of_many_rows_commits_the_good_ones_and_retries_only_the_one_that_failed(sales, crm, clock):
    won = [won_deal(sales, f"Deal {number}") for number in range(3)]
    rows = crm.outbox.rows(limit=100)
    gone = won[1][0]  # the second deal's account, which its update_related row changes
    sales.records("account").delete(gone.id)
    failing = next(row for row in rows if row["kind"] == "update_related" and row["payload"]["record_id"] == gone.id)
    outcomes = crm.outbox.work_many([row["id"] for row in rows] + [999_999])
    assert outcomes.pop(failing["id"]) == "dead" and outcomes.pop(999_999) == "skipped"
    assert set(outcomes.values()) == {"done"}
    assert sorted(tasks(sales)) == ["Kick-off Deal 0", "Kick-off Deal 1", "Kick-off Deal 2"]
    assert crm.outbox.work_many([row["id"] for row in rows]) == dict.fromkeys(sorted(row["id"] for row in rows),
                                                                               "skipped")


def test_the_development_server_works_the_queue_in_threads_of_its_own_and_keeps_its_ctrl_c(sales, crm, tmp_path):
    """`crmkit serve` runs the queue's consumer inside the server (queue.embedded): huey's consumer
    installs signal handlers as it starts, which would leave Ctrl+C to a consumer nobody asked."""
    crm.queue = AutomationQueue.open(crm, path=str(tmp_path / "queue.db"))
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    with crm.queue.embedded():
        assert {signum: signal.getsignal(signum) for signum in handlers} == handlers
        won_deal(sales, "Served deal")
        deadline = time.monotonic() + 30  # a handoff between threads, not a clock: bounded, polled
        while set(statuses(crm).values()) != {"done"} and time.monotonic() < deadline:
            time.sleep(0.05)
    assert set(statuses(crm).values()) == {"done"} and tasks(sales) == ["Kick-off Served deal"]


def test_a_row_another_worker_holds_is_skipped_not_done_twice(sales, crm, database_url):
    if crm.runtime.is_sqlite:
        pytest.skip("SQLite has one writer at a time: a second worker waits for the first instead")
    won_deal(sales)
    table = crm.runtime.system_table("crmkit_outbox")
    row_id = crm.outbox.rows()[0]["id"]
    with crm.engine.connect() as other, other.begin():  # another worker in the middle of this row
        other.execute(select(table.c.id).where(table.c.id == row_id).with_for_update())
        assert crm.outbox.work(row_id) == "skipped"
    assert crm.outbox.work(row_id) == "done"


def test_the_worker_and_outbox_commands(sales, crm, database_url):
    account, _ = won_deal(sales)
    sales.records("account").delete(account.id)
    runner = CliRunner()

    def run(*args: str):
        result = runner.invoke(main, ["--database", database_url, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    worked = run("worker", "--once")
    assert "dead" in worked and "done" in worked and worked.endswith("Worked 2 outbox row(s).\n")
    listed = run("outbox", "--status", "dead")
    dead_id = crm.outbox.rows(status="dead")[0]["id"]
    assert f"{dead_id:>8}  dead     deal.won" in listed
    assert f"there is no account record with id {account.id}." in listed
    assert run("outbox", "--replay", str(dead_id)).startswith(f"Replayed 1 row(s): {dead_id}.")
    refused = runner.invoke(main, ["--database", database_url, "outbox", "--replay", str(dead_id + 1000)])
    assert refused.exit_code != 0 and f"there is no outbox record with id {dead_id + 1000}" in refused.output
    assert run("outbox", "--status", "stopped") == "No outbox rows with status stopped.\n"
    done_id = crm.outbox.rows(status="done")[0]["id"]
    not_dead = runner.invoke(main, ["--database", database_url, "outbox", "--replay", str(done_id)])
    assert not_dead.exit_code != 0 and f"outbox row {done_id} is done, not dead" in not_dead.output
