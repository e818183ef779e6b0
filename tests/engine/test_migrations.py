"""Migrations: planned from metadata, never destructive by themselves, all or nothing."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from crmkit.engine import MigrationError
from crmkit.engine.migrations.steps import AddColumn, ChangeColumnType, CreateTable, RenameColumn, RetireColumn


PACKAGES = Path(__file__).resolve().parent.parent / "packages"
V1, V2 = PACKAGES / "all_types_v1.yaml", PACKAGES / "all_types_v2.yaml"


def columns(crm, table: str) -> set[str]:
    with crm.engine.connect() as connection:
        return {column["name"] for column in inspect(connection).get_columns(table)}


def test_installing_creates_tables_and_records_the_package(crm):
    plan = crm.install(V1)
    assert {type(step) for step in plan.steps} == {CreateTable}
    assert {"id", "created_at", "owner_id", "version", "name", "company", "margin"} <= columns(crm, "project")
    (package,) = crm.installed_packages()
    assert (package["name"], package["version"]) == ("all_types", "1.0.0")
    assert crm.plan([V1]).is_empty


def test_the_plan_is_shown_before_anything_changes(crm):
    crm.install(V1)
    plan = crm.plan([V2])
    described = plan.describe()
    assert "rename project.notes to summary (values are kept)" in described
    assert "add the field project.priority" in described
    assert "stop using the field project.legacy_code" in described
    assert "change project.rating from integer" in described
    assert crm.installed_packages()[0]["version"] == "1.0.0"
    assert "priority" not in columns(crm, "project")


def test_an_upgrade_keeps_every_value(crm):
    crm.install(V1)
    records = crm.as_system().records("project")
    saved = records.create({"name": "Apollo", "notes": "first words", "rating": 4, "legacy_code": "L-1", "budget": 10})
    plan = crm.install(V2)
    kinds = {type(step) for step in plan.steps}
    assert {RenameColumn, AddColumn, RetireColumn, ChangeColumnType} <= kinds
    records = crm.as_system().records("project")
    after = records.get(saved.id)
    assert after["summary"] == "first words"
    assert after["rating"] == Decimal("4.00")
    assert after["name"] == "Apollo" and after["margin"] == Decimal("2.00")
    assert "legacy_code" not in after and "legacy_code" in columns(crm, "project")
    with crm.engine.connect() as connection:
        assert connection.execute(text("SELECT legacy_code FROM project")).scalar_one() == "L-1"
    longer = records.update(saved.id, {"name": "A" * 150, "priority": "High"}, version=after.version)
    assert longer["name"] == "A" * 150 and longer["priority"] == "High"
    assert crm.installed_packages()[0]["version"] == "2.0.0"


def test_a_type_change_that_cannot_convert_every_value_is_refused_and_names_the_records(crm, write_package):
    crm.install(V1)
    records = crm.as_system().records("project")
    records.create({"name": "12"})
    bad = records.create({"name": "twelve"})
    narrowed = V1.read_text().replace(
        "name: {type: text, required: true, max_length: 80, searchable: true}",
        "name: {type: integer, required: true}").replace('version: "1.0.0"', 'version: "1.1.0"')
    with pytest.raises(MigrationError) as caught:
        crm.install(write_package(narrowed))
    message = str(caught.value)
    assert "nothing was changed" in message and f"id {bad.id} ('twelve'" in message
    assert crm.installed_packages()[0]["version"] == "1.0.0"
    assert records.get(bad.id)["name"] == "twelve"


def test_a_failed_migration_leaves_the_database_as_it_was(crm, monkeypatch):
    crm.install(V1)
    crm.as_system().records("project").create({"name": "Apollo", "notes": "kept"})
    from crmkit.engine.migrations.applier import Applier

    def explode(self, step):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Applier, "_AddColumn", explode)
    with pytest.raises(RuntimeError):
        crm.install(V2)
    assert "notes" in columns(crm, "project") and "summary" not in columns(crm, "project")
    assert crm.installed_packages()[0]["version"] == "1.0.0"
    assert crm.as_system().records("project").query().records[0]["notes"] == "kept"


def test_new_computed_fields_are_filled_for_existing_records(crm, write_package):
    crm.install(V1)
    session = crm.as_system()
    acme = session.records("company").create({"name": "Acme"})
    session.records("project").create({"name": "A", "company": acme.id, "budget": 30})
    grown = V1.read_text().replace('version: "1.0.0"', 'version: "1.2.0"').replace(
        "      latest_start: {type: rollup, from: project.company, aggregate: max, field: starts_on}\n",
        "      latest_start: {type: rollup, from: project.company, aggregate: max, field: starts_on}\n"
        "      smallest_budget: {type: rollup, from: project.company, aggregate: min, field: budget}\n"
        '      double_total: {type: formula, returns: currency, formula: "(total_budget or 0) * 2"}\n'
        '      ref: {type: autonumber, format: "R{0}"}\n')
    crm.install(write_package(grown))
    company = crm.as_system().records("company").get(acme.id)
    assert company["smallest_budget"] == Decimal("30.00")
    assert company["double_total"] == Decimal("60.00")
    assert company["ref"] == "R1"


def test_retired_data_is_purged_only_when_asked(crm):
    crm.install(V1)
    crm.install(V2)
    with pytest.raises(MigrationError, match="still in use"):
        crm.plan(purge=["project.name"])
    plan = crm.plan(purge=["project.legacy_code"])
    assert "PURGE: delete the column project.legacy_code" in plan.describe()
    assert "legacy_code" in columns(crm, "project")
    crm.migrate(purge=["project.legacy_code"])
    assert "legacy_code" not in columns(crm, "project")


def test_a_removed_object_keeps_its_table(crm, write_package):
    crm.install(V1)
    crm.as_system().records("company").create({"name": "Acme"})
    without = write_package(
        'package: all_types\nversion: "3.0.0"\nobjects:\n  other:\n    fields:\n      name: {type: text}\n')
    plan = crm.install(without)
    assert "stop using company" in plan.describe()
    with crm.engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM company")).scalar_one() == "Acme"


def test_a_unique_index_on_duplicated_values_is_refused(crm, write_package):
    crm.install(V1)
    records = crm.as_system().records("project")
    records.create({"name": "Same"})
    records.create({"name": "Same"})
    unique = V1.read_text().replace('version: "1.0.0"', 'version: "1.3.0"').replace(
        "max_length: 80, searchable: true}", "max_length: 80, searchable: true, unique: true}")
    with pytest.raises(MigrationError, match="values used more than once: 'Same' \\(2 records\\)"):
        crm.install(write_package(unique))


def test_the_migration_log_records_every_step(crm):
    crm.install(V1)
    crm.install(V2)
    table = crm.runtime.system_table("crmkit_migration")
    with crm.engine.connect() as connection:
        logs = connection.execute(select(table.c.packages, table.c.steps).order_by(table.c.id)).all()
    assert [entry.packages[0]["version"] for entry in logs] == ["1.0.0", "2.0.0"]
    assert any(step["step"] == "RenameColumn" for step in logs[1].steps)


def test_a_declared_object_rename_keeps_its_records_history_and_numbers(crm, write_package):
    crm.install(V1)
    session = crm.as_system()
    acme = session.records("company").create({"name": "Acme"})
    session.records("project").create({"name": "A", "company": acme.id})
    renamed = (V1.read_text().replace('version: "1.0.0"', 'version: "1.4.0"')
               .replace("  company:\n    label:", "  organization:\n    renamed_from: company\n    label:")
               .replace("to: company", "to: organization"))
    plan = crm.install(write_package(renamed))
    assert "rename the table company to organization (its records are kept)" in plan.describe()
    organizations = crm.as_system().records("organization")
    kept = organizations.get(acme.id)
    assert (kept["name"], kept["code"], kept["project_count"]) == ("Acme", "CO-0001", 1)
    assert organizations.create({"name": "Globex"})["code"] == "CO-0002"
    assert [entry["operation"] for entry in organizations.history(acme.id)] == ["create"]
    assert crm.as_system().records("project").query().records[0]["company_name"] == "Acme"
