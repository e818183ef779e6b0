"""Attack on SQLite's direct driver path (precompiled.run_on_driver): every way a save can fail
gives a field error or a sentence (a CrmkitError), never a driver error, and leaves nothing
half-written; listeners still see each statement."""
from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from crmkit.engine import Crm
from crmkit.errors import CrmkitError

PACKAGE = """
package: attack4
version: "1.0.0"
objects:
  deal:
    title_field: name
    track_history: true
    fields:
      name: {type: text, required: true, searchable: true}
      code: {type: text, unique: true}
      seats: {type: integer}
      amount: {type: currency}
"""


@pytest.fixture
def deals(crm, install):
    install(PACKAGE)
    return crm.as_system().records("deal")


def counts(crm) -> tuple[int, int, int, int]:
    with crm.engine.connect() as connection:
        return tuple(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() for table in (
            "deal", "crmkit_history", "crmkit_deal_search", "crmkit_change"))


def refused_cleanly(crm, deals, action) -> CrmkitError:
    before = counts(crm)
    with pytest.raises(Exception) as raised:
        action()
    assert isinstance(raised.value, CrmkitError), repr(raised.value)
    assert counts(crm) == before
    return raised.value


@pytest.mark.parametrize("value", ["a\x00b", "bad \udc80 text"])
def test_unstorable_text_in_a_create_is_refused_without_a_trace(crm, deals, value):
    refused_cleanly(crm, deals, lambda: deals.create({"name": value}))
    record = deals.create({"name": "fine"})
    refused_cleanly(crm, deals, lambda: deals.update(record.id, {"name": value}, version=record["version"]))
    assert deals.get(record.id)["name"] == "fine"


@pytest.mark.parametrize("value", [2 ** 63, -(2 ** 63) - 1, 2 ** 70])
def test_an_integer_beyond_64_bits_is_refused_without_a_trace(crm, deals, value):
    refused_cleanly(crm, deals, lambda: deals.create({"name": "big", "seats": value}))


def test_a_unique_violation_is_a_field_error_and_nothing_else_is_written(crm, deals):
    deals.create({"name": "one", "code": "X"})
    error = refused_cleanly(crm, deals, lambda: deals.create({"name": "two", "code": "X"}))
    assert "code" in getattr(error, "errors", {})


def test_a_failure_after_some_statements_ran_rolls_the_whole_save_back(crm, deals, monkeypatch):
    """The record's INSERT and its history ran on the driver; the change log's insert fails."""
    if crm.engine.dialect.name != "sqlite":
        pytest.skip("the direct path is SQLite's")
    deals.create({"name": "warm up"})  # compiled statements kept

    def fail_on_change(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT INTO crmkit_change"):
            raise sqlite3.OperationalError("disk I/O error")

    before = counts(crm)
    event.listen(crm.engine, "before_cursor_execute", fail_on_change)
    try:
        with pytest.raises(DBAPIError):  # a disk error is no user's to fix: the web layer's 500, no trace
            deals.create({"name": "half"})
    finally:
        event.remove(crm.engine, "before_cursor_execute", fail_on_change)
    assert counts(crm) == before
    assert deals.create({"name": "after"})["name"] == "after"


def test_a_database_locked_by_another_writer_is_a_busy_sentence_and_nothing_is_written(sqlite_url, write_package):
    crm = Crm.open(sqlite_url, busy_timeout=0.2)
    try:
        crm.install(write_package(PACKAGE))
        deals = crm.as_system().records("deal")
        record = deals.create({"name": "first"})
        binned = deals.delete(deals.create({"name": "binned"}).id)
        holder = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None, timeout=0)
        holder.execute("BEGIN IMMEDIATE")
        try:
            for action in (lambda: deals.create({"name": "blocked"}),
                           lambda: deals.update(record.id, {"name": "blocked"}, version=record["version"]),
                           lambda: deals.delete(record.id),
                           lambda: deals.bulk_create([{"name": "b1"}, {"name": "b2"}]),
                           lambda: crm.as_system().recycle_bin.restore(binned)):
                with pytest.raises(Exception) as raised:
                    action()
                assert isinstance(raised.value, CrmkitError), repr(raised.value)
                assert "busy" in str(raised.value)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert [found["name"] for found in deals.query().records] == ["first"]
        assert deals.create({"name": "free again"})["name"] == "free again"
    finally:
        crm.close()


def test_bulk_create_with_one_bad_row_writes_no_row(crm, deals):
    with pytest.raises(Exception) as raised:
        deals.bulk_create([{"name": "good"}, {"name": "bad\x00"}, {"name": "good too"}])
    assert isinstance(raised.value, CrmkitError), repr(raised.value)
    assert counts(crm)[0] == 0


def test_delete_and_restore_through_the_recycle_bin_on_the_direct_path(crm, deals):
    record = deals.create({"name": "to bin", "code": "B"})
    batch = deals.delete(record.id)
    clash = deals.create({"name": "clash", "code": "B"})
    before = counts(crm)
    with pytest.raises(Exception) as raised:
        crm.as_system().recycle_bin.restore(batch)
    assert isinstance(raised.value, CrmkitError), repr(raised.value)
    assert counts(crm) == before
    deals.delete(clash.id)
    crm.as_system().recycle_bin.restore(batch)
    assert deals.get(record.id)["code"] == "B"


def test_update_many_in_one_transaction_undoes_only_the_record_the_database_refused(crm, deals, monkeypatch):
    """A savepoint per record: the database's unique refusal (the pipeline's own check bypassed)
    undoes that record's statements, the others and the outer transaction stay."""
    from crmkit.engine.records.pipeline import SavePipeline

    first = deals.create({"name": "a", "code": "A"})
    second = deals.create({"name": "b", "code": "B"})
    third = deals.create({"name": "c"})
    monkeypatch.setattr(SavePipeline, "_check_unique", lambda self, connection, values, previous, errors: None)
    session = crm.as_system()
    with session.transaction():
        result = session.records("deal").update_many(
            {first.id: first["version"], second.id: second["version"], third.id: third["version"]}, {"code": "B"})
        session.records("deal").create({"name": "same transaction"})
    assert len(result.failed) == 2 and all(failure.status < 500 for failure in result.failed)
    names = {record["name"]: record["code"] for record in deals.query().records}
    # exactly one record holds B: whichever the savepoints let through, never two, never a lost outer write
    assert list(names.values()).count("B") == 1 and "same transaction" in names
    with crm.engine.connect() as connection:
        history_codes = connection.execute(text(
            "SELECT count(*) FROM crmkit_history WHERE object = 'deal' AND operation <> 'create' AND record_id IN (:a, :c)"
        ), {"a": first.id, "c": third.id}).scalar_one()
    assert history_codes == 0  # the refused updates left no history



@pytest.mark.parametrize("hook", ["before_cursor_execute", "after_cursor_execute"])
def test_an_error_raised_by_a_statement_listener_is_handled_as_on_the_usual_path(crm, deals, hook):
    """exec_driver_sql runs the cursor listeners inside its error handling: a driver error raised there
    goes through `handle_error` (the engine's translations: here SQLITE_BUSY becomes DatabaseBusy), and
    the direct path must do the same, not let the raw sqlite3 error out."""
    if crm.engine.dialect.name != "sqlite":
        pytest.skip("the direct path is SQLite's")
    from crmkit.engine.database import DatabaseBusy
    from crmkit.engine.precompiled import run_on_driver

    def locked(conn, cursor, statement, *rest):
        if statement.startswith("SELECT 42"):
            raise sqlite3.OperationalError("database is locked")

    event.listen(crm.engine, hook, locked)
    try:
        for run in (lambda connection: connection.exec_driver_sql("SELECT 42"),
                    lambda connection: run_on_driver(connection, "SELECT 42")):
            with crm.engine.begin() as connection:
                with pytest.raises(DatabaseBusy):
                    run(connection)
    finally:
        event.remove(crm.engine, hook, locked)


AUTOMATION = """
package: attack4auto
version: "1.0.0"
objects:
  deal:
    title_field: name
    fields:
      name: {type: text, required: true}
    automations:
      - name: kick_off
        on: [created]
        actions:
          - {type: create_record, object: task, set: {subject: "'Kick-off ' + name", code: "'K'"}}
  task:
    title_field: subject
    track_history: true
    fields:
      subject: {type: text, required: true, searchable: true}
      code: {type: text, unique: true}
"""


def test_outbox_rows_whose_records_the_database_refuses_undo_only_their_savepoint(crm, install, monkeypatch):
    """Three created deals queue three tasks with the same unique code: worked in one transaction, the
    database's refusal of the second and third (the pipeline's own check bypassed) undoes their savepoints
    alone; the first task is kept with its history and search rows, the others leave none."""
    from crmkit.engine.records.pipeline import SavePipeline

    install(AUTOMATION)
    system = crm.as_system()
    for number in range(3):
        system.records("deal").create({"name": f"D{number}"})
    rows = crm.outbox.rows(limit=100)
    assert len(rows) == 3
    monkeypatch.setattr(SavePipeline, "_check_unique", lambda self, connection, values, previous, errors: None)
    outcomes = crm.outbox.work_many([row["id"] for row in rows])
    assert sorted(outcomes.values()).count("done") == 1, outcomes
    tasks = system.records("task").query().records
    assert [task["code"] for task in tasks] == ["K"]
    with crm.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM crmkit_history WHERE object = 'task'")).scalar_one() == 1
        pending = " UNION ALL SELECT id FROM crmkit_task_search_pending" if crm.engine.dialect.name == "sqlite" else ""
        assert connection.execute(text(  # SQLite: a single create's search row waits in the pending table
            f"SELECT count(*) FROM (SELECT 1 FROM crmkit_task_search{pending}) AS rows")).scalar_one() == 1
        assert connection.execute(text(
            "SELECT count(*) FROM crmkit_change WHERE object = 'task'")).scalar_one() == 1


OVERFLOWING = """
package: attack4big
version: "1.0.0"
objects:
  deal:
    title_field: name
    track_history: true
    fields:
      name: {type: text, required: true, searchable: true}
      seats: {type: integer}
      huge: {type: formula, returns: integer, formula: "seats * 100000000000 if seats else 0"}
"""



def test_a_stored_formula_beyond_64_bits_is_stored_empty_with_its_reason(crm, install):
    """Each input is in range; the formula's integer is not (10**9 * 10**11 = 10**20 > 2**63 - 1): the
    value reaches no statement (no driver error on the direct path), the save keeps it empty and says why."""
    install(OVERFLOWING)
    deals = crm.as_system().records("deal")
    fine = deals.create({"name": "fine", "seats": 3})
    big = deals.create({"name": "big", "seats": 10 ** 9})
    changed = deals.update(fine.id, {"seats": 10 ** 9}, version=fine["version"])
    for record in (big, changed):
        assert record["huge"] is None and "too large" in record.values["formula_errors"]["huge"]
        assert deals.get(record.id)["huge"] is None


LOOKUPS = """
package: attack4fk
version: "1.0.0"
objects:
  company:
    title_field: name
    fields:
      name: {type: text, required: true}
  deal:
    title_field: name
    track_history: true
    fields:
      name: {type: text, required: true, searchable: true}
      company: {type: lookup, to: company}
"""


def test_a_lookup_to_a_record_deleted_meanwhile_is_a_field_error_and_nothing_is_written(crm, install, monkeypatch):
    """The pipeline's lookup check passed (bypassed here: a concurrent delete); the foreign key refuses. PostgreSQL
    names the constraint; SQLite names none, and the lookup is the one the save fills."""
    from crmkit.engine.records.pipeline import SavePipeline

    install(LOOKUPS)
    system = crm.as_system()
    company = system.records("company").create({"name": "Gone soon"})
    deals = system.records("deal")
    deals.create({"name": "warm up"})
    with crm.engine.begin() as connection:
        connection.execute(text("DELETE FROM company WHERE id = :id"), {"id": company.id})
    monkeypatch.setattr(SavePipeline, "_check_lookups", lambda self, *args, **kwargs: None)
    before = counts(crm)
    with pytest.raises(Exception) as raised:
        deals.create({"name": "dangling", "company": company.id})
    assert isinstance(raised.value, CrmkitError), repr(raised.value)
    assert "company" in getattr(raised.value, "errors", {}), raised.value
    assert counts(crm) == before


@pytest.mark.parametrize("rows", [1, 3, 40])
def test_bulk_create_refused_by_the_unique_index_writes_no_row(crm, deals, monkeypatch, rows):
    """The pipeline's check passed (bypassed: another transaction committed the code meanwhile); the
    database's unique index refuses one row of the batch: a field error, and none of the rows written."""
    from crmkit.engine.records.pipeline import SavePipeline

    deals.create({"name": "taken", "code": "T"})
    monkeypatch.setattr(SavePipeline, "_check_unique", lambda self, connection, values, previous, errors: None)
    before = counts(crm)
    batch = [{"name": f"row {number}", "code": f"C{number}"} for number in range(rows)]
    batch[rows // 2]["code"] = "T"
    with pytest.raises(Exception) as raised:
        deals.bulk_create(batch)
    assert isinstance(raised.value, CrmkitError), repr(raised.value)
    assert counts(crm) == before
