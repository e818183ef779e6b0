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
