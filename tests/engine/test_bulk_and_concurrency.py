"""Bulk creation runs the same pipeline; concurrent savers never share an autonumber."""
from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from crmkit.engine import Crm
from crmkit.engine.records.bulk import BulkValidationError


def test_bulk_create_runs_the_pipeline_and_updates_rollups(all_types):
    acme = all_types.records("company").create({"name": "Acme"})
    created = all_types.records("project").bulk_create(
        ({"name": f"P{n}", "budget": n, "company": acme.id} for n in range(1, 251)), batch_size=100)
    assert created == 250
    company = all_types.records("company").get(acme.id)
    assert company["project_count"] == 250 and company["total_budget"] == Decimal(sum(range(1, 251)))
    first = all_types.records("project").query(sort=["id"], limit=1).records[0]
    assert first["margin"] == Decimal("0.20") and first["status"] == "Planned"


def test_bulk_create_refuses_a_batch_with_an_invalid_row_and_names_it(all_types):
    rows = [{"name": "ok"}, {"name": "bad", "budget": -1}, {"budget": 3}]
    with pytest.raises(BulkValidationError) as caught:
        all_types.records("project").bulk_create(rows)
    assert caught.value.row_errors == {2: {"budget": ["Budget must not be negative"]}, 3: {"name": ["is required."]}}
    assert all_types.records("project").count().value == 0


def test_bulk_autonumbers_continue_the_sequence(all_types):
    companies = all_types.records("company")
    companies.create({"name": "first"})
    companies.bulk_create([{"name": f"c{n}"} for n in range(3)])
    codes = [record["code"] for record in companies.query(sort=["id"]).records]
    assert codes == ["CO-0001", "CO-0002", "CO-0003", "CO-0004"]


def test_bulk_ids_follow_the_rows_and_history_and_creates_continue_after_them(all_types):
    companies = all_types.records("company")
    before = companies.create({"name": "before"})
    assert companies.bulk_create(({"name": f"c{n}"} for n in range(7)), batch_size=3) == 7
    after = companies.create({"name": "after"})
    stored = [(record.id, record["name"]) for record in companies.query(sort=["id"], limit=100).records]
    assert [name for _, name in stored] == ["before", *(f"c{n}" for n in range(7)), "after"]
    ids = [record_id for record_id, _ in stored]
    assert ids == sorted(set(ids)) and ids[0] == before.id and ids[-1] == after.id
    for record_id in ids:  # each record has its own history row, written for its id
        assert [entry["operation"] for entry in companies.history(record_id)] == ["create"]


def test_concurrent_creates_get_distinct_autonumbers(crm, database_url):
    from pathlib import Path

    crm.install(Path(__file__).resolve().parent.parent / "packages" / "all_types_v1.yaml")
    errors: list[BaseException] = []

    def worker(number: int) -> None:
        own = Crm.open(database_url)
        try:
            records = own.as_system().records("company")
            for index in range(10):
                records.create({"name": f"w{number}-{index}"})
        except BaseException as error:  # collected and asserted below
            errors.append(error)
        finally:
            own.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    codes = [r["code"] for r in crm.as_system().records("company").query(limit=100).records]
    assert len(codes) == 40 and len(set(codes)) == 40


def test_bulk_create_checks_lookups_once_per_batch_and_names_the_row(all_types):
    acme = all_types.records("company").create({"name": "Acme"})
    rows = [{"name": "ok", "company": acme.id}, {"name": "lost", "company": 999}]
    with pytest.raises(BulkValidationError) as caught:
        all_types.records("project").bulk_create(rows)
    assert caught.value.row_errors == {2: {"company": ["there is no company record with id 999."]}}


def test_bulk_create_checks_owners_once_per_batch(all_types):
    with pytest.raises(BulkValidationError) as caught:
        all_types.records("company").bulk_create([{"name": "ok"}, {"name": "orphan", "owner_id": 31337}])
    assert caught.value.row_errors == {2: {"owner_id": ["there is no active user with id 31337."]}}


CODES = """
package: codes
version: "1.0.0"
objects:
  item:
    fields:
      code: {type: text, unique: true}
"""


def test_a_bulk_create_racing_a_create_of_the_same_unique_value_gets_the_sequential_sentence(
        postgres_url, write_package, monkeypatch):
    from crmkit.engine.records import bulk

    crm = Crm.open(postgres_url)
    crm.install(write_package(CODES))
    real_insert, raced = bulk._insert_many, []

    def insert_after_a_concurrent_create(connection, service, rows):
        if not raced:  # between the bulk's checks and its insert, another user commits 'K1'
            raced.append(crm.as_system().records("item").create({"code": "K1"}).id)
        return real_insert(connection, service, rows)

    monkeypatch.setattr(bulk, "_insert_many", insert_after_a_concurrent_create)
    with pytest.raises(BulkValidationError) as caught:
        crm.as_system().records("item").bulk_create([{"code": "K0"}, {"code": "K1"}])
    assert caught.value.row_errors == {2: {"code": ["'K1' is already used by another item record."]}}
    assert [r["code"] for r in crm.as_system().records("item").query({}).records] == ["K1"]
    crm.close()


NAMES = """
package: names
version: "1.0.0"
objects:
  par:
    fields:
      name: {type: text}
      kids: {type: rollup, from: kid.par, aggregate: count}
  kid:
    fields:
      name: {type: text}
      par: {type: lookup, to: par}
      pname: {type: formula, returns: text, formula: "par.name"}
"""


@pytest.mark.parametrize("first", ["child reads the parent", "parent is renamed"])
def test_a_formula_read_through_a_lookup_stays_current_when_the_parent_changes_at_the_same_time(
        postgres_url, write_package, monkeypatch, first):
    """A child created while its parent is renamed ends with the new name, whichever goes first."""
    from crmkit.engine.records import pipeline, propagation

    crm = Crm.open(postgres_url)
    crm.install(write_package(NAMES))
    parent = crm.as_system().records("par").create({"name": "Old"})
    started, barrier = threading.Event(), threading.Barrier(2)
    real_load, real_written = pipeline.load_related, propagation.Propagator.records_written

    def load_related(connection, runtime, obj, values):
        related = real_load(connection, runtime, obj, values)
        if obj.name == "kid" and first == "child reads the parent":
            started.set()
            threading.Event().wait(0.5)  # the rename runs now; it must wait for this save to commit
        return related

    def records_written(self, object_name, pairs):
        real_written(self, object_name, pairs)
        if object_name == "par" and first == "parent is renamed":
            started.set()
            threading.Event().wait(0.5)  # the child is created now; its read must wait for the rename

    monkeypatch.setattr(pipeline, "load_related", load_related)
    monkeypatch.setattr(propagation.Propagator, "records_written", records_written)

    def create_child():
        barrier.wait()
        if first == "parent is renamed":
            started.wait(5)
        return crm.as_system().records("kid").create({"name": "k", "par": parent.id}).id

    def rename_parent():
        barrier.wait()
        if first == "child reads the parent":
            started.wait(5)
        crm.as_system().records("par").update(parent.id, {"name": "New"}, version=parent.version)

    results = {}
    threads = [threading.Thread(target=lambda f=f: results.setdefault(f.__name__, f())) for f in (create_child,
                                                                                                   rename_parent)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert crm.as_system().records("kid").get(results["create_child"])["pname"] == "New"
    crm.close()


def test_bulk_edit_and_delete_run_history_and_rollups_per_record(all_types, projects, companies):
    acme = companies.create({"name": "Acme"})
    chosen = [projects.create({"name": f"P{n}", "budget": n, "company": acme.id}) for n in (1, 2, 3)]
    result = projects.update_many({project.id: project.version for project in chosen}, {"budget": 10})
    assert result.succeeded == tuple(project.id for project in chosen) and result.complete
    assert companies.get(acme.id)["total_budget"] == Decimal(30)
    assert ("budget", "10.00") in [(row["field"], row["new_value"]) for row in projects.history(chosen[0].id)]
    deleted = projects.delete_many([project.id for project in chosen[:2]])
    assert deleted.succeeded == (chosen[0].id, chosen[1].id)
    assert companies.get(acme.id)["total_budget"] == Decimal(10) and companies.get(acme.id)["project_count"] == 1


TRACKED = """
package: tracked
version: "1.0.0"
objects:
  deal:
    title_field: name
    track_history: true
    fields:
      name: {type: text, required: true, searchable: true}
      amount: {type: currency}
      probability: {type: percent, default: 10}
      expected: {type: formula, returns: currency, formula: "amount * probability / 100 if amount else 0"}
    validations:
      - name: amount_not_negative
        condition: "amount is not None and amount < 0"
        message: {en: Amount must not be negative, zh: 金额不能为负}
        field: amount
"""

#: The statements one batch of a bulk create sends (history, search index and change log on), per database.
#: PostgreSQL: the rights' generation check, the batch's ids from the sequence, and ONE statement writing the
#: records with their history, search and change-log rows. SQLite: BEGIN IMMEDIATE, the generation check,
#: the records' executemany and last_insert_rowid(), then one executemany each for history, search and changes.
STATEMENTS_PER_BATCH = {"postgresql": 3, "sqlite": 7}


def test_a_bulk_create_sends_a_fixed_number_of_statements_per_batch_and_writes_every_row(crm, write_package):
    from sqlalchemy import event, func, select

    crm.install(write_package(TRACKED))
    deals = crm.as_system().records("deal")
    deals.bulk_create([{"name": "warm up"}, {"name": "warm up too"}])  # metadata and statements loaded once
    statements: list[str] = []

    def executed(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    rows = [{"name": f"Deal {n} 星辰科技", "amount": Decimal(n), "probability": Decimal(50)} for n in range(250)]
    event.listen(crm.engine, "before_cursor_execute", executed)
    try:
        assert deals.bulk_create(rows, batch_size=100) == 250
    finally:
        event.remove(crm.engine, "before_cursor_execute", executed)
    assert len(statements) == 3 * STATEMENTS_PER_BATCH[crm.engine.dialect.name], statements

    created = deals.query(sort=["id"], limit=300).records[2:]
    assert [record["name"] for record in created] == [row["name"] for row in rows]
    assert created[7]["expected"] == Decimal("3.50")
    for record in (created[0], created[149], created[249]):  # the first, a middle and the last batch's rows
        assert [entry["operation"] for entry in deals.history(record.id)] == ["create"]
    system = crm.as_system()  # the search index was written with the records: "Deal 149" finds the middle batch's row
    assert [(hit.object, hit.id) for hit in system.search("Deal 149 xingchen")] == [("deal", created[149].id)]
    runtime = crm.runtime
    history, changes = runtime.system_table("crmkit_history"), runtime.system_table("crmkit_change")
    with crm.engine.connect() as connection:
        logged = connection.execute(select(changes.c.record_id, changes.c.fields).where(
            changes.c.object == "deal").order_by(changes.c.id)).all()
        histories = connection.execute(select(func.count()).select_from(history).where(
            history.c.object == "deal")).scalar_one()
    assert [record_id for record_id, _ in logged][2:] == [record.id for record in created]
    assert logged[-1][1]["name"] == "Deal 249 星辰科技" and logged[-1][1]["expected"] == "124.50"
    assert histories == 252


def test_a_bulk_create_with_multi_picklist_values_writes_each_table_on_its_own_and_keeps_everything(projects):
    rows = [{"name": f"Tagged {n}", "tags": ["Internal", "Research"] if n % 2 else ["Customer"]} for n in range(5)]
    assert projects.bulk_create(rows, batch_size=3) == 5
    stored = projects.query(sort=["id"]).records
    assert [record["tags"] for record in stored] == [row["tags"] for row in rows]
    assert [entry["operation"] for entry in projects.history(stored[4].id)] == ["create"]
    assert [hit.id for hit in projects.session.search("Tagged 3")] == [stored[3].id]
