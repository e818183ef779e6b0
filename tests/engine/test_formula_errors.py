"""Formulas fail loudly: a failed formula keeps no value, and the record, the log and a filter say why.

Validation rules and formulas read lookups as their authors mean: `depot is None` is
true when the lookup is empty.
"""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import text

from crmkit.engine import Crm, MigrationError
from crmkit.engine.records.errors import RECORD_ERRORS, RecordValidationError
from crmkit.metadata import MetadataError

PACKAGE = """
package: logistics
version: "1.0.0"
objects:
  depot:
    title_field: name
    fields:
      name: {type: text}
      capacity: {type: integer}
  shipment:
    title_field: name
    fields:
      name: {type: text}
      quantity: {type: integer}
      total: {type: integer}
      template: {type: text}
      code: {type: text}
      depot: {type: lookup, to: depot}
      unit_price: {type: formula, returns: decimal, formula: "total / quantity if total is not None else None"}
      depot_share: {type: formula, returns: decimal, formula: "quantity / depot.capacity if depot else None"}
      depot_label: {type: formula, returns: text, formula: "'none' if depot is None else depot.name"}
      code_number: {type: formula, returns: integer, formula: "code"}
      padded: {type: formula, returns: text, formula: "'x' * (quantity or 0)"}
      formatted: {type: formula, returns: text, formula: "template.format(name) if template else ''"}
    validations:
      - {name: over_capacity, condition: "depot is not None and quantity > depot.capacity",
         message: The depot is too small, field: quantity}
      - {name: big_average, condition: "total is not None and total / quantity > 1000", message: Too expensive,
         on: [update]}
"""


@pytest.fixture
def logistics(crm, install):
    install(PACKAGE)
    return crm.as_system()


@pytest.fixture
def shipments(logistics):
    return logistics.records("shipment")


@pytest.fixture
def depots(logistics):
    return logistics.records("depot")


def test_a_formula_that_fails_keeps_no_value_and_the_record_says_why(shipments, caplog):
    with caplog.at_level(logging.WARNING, logger="crmkit.formulas"):
        created = shipments.create({"name": "S1", "quantity": 0, "total": 10})
    assert created["unit_price"] is None
    assert created.formula_errors == {"unit_price": "division by zero: a value used as a divisor is 0"}
    stored = shipments.get(created.id)
    assert stored.formula_errors == created.formula_errors
    assert stored["formula_errors"] == {"unit_price": "division by zero: a value used as a divisor is 0"}
    logged = [r for r in caplog.records if r.name == "crmkit.formulas"]
    assert any("shipment.unit_price" in r.getMessage() and "division by zero" in r.getMessage() for r in logged)


def test_the_failure_is_cleared_when_the_formula_computes_again(shipments):
    created = shipments.create({"name": "S1", "quantity": 0, "total": 10})
    updated = shipments.update(created.id, {"quantity": 4}, version=created.version)
    assert str(updated["unit_price"]) == "2.5000"
    assert updated.formula_errors == {}
    assert shipments.get(created.id)["formula_errors"] is None


@pytest.mark.parametrize(("values", "field", "reason"), [
    ({"name": "S", "code": "abc"}, "code_number", "the result 'abc' is not a valid integer value"),
    ({"name": "S", "quantity": 2_000_000}, "padded", "the repeated text would be longer than the limit"),
    ({"name": "S", "quantity": 1, "template": "{0.__class__}"}, "formatted", "'.format()' is not allowed"),
])
def test_every_kind_of_failure_is_recorded(shipments, values, field, reason):
    """A wrong result type, a sandbox limit, a refused operation: each is a reason, not a silent None."""
    created = shipments.create(values)
    assert created[field] is None
    assert reason in created.formula_errors[field]


def test_an_admin_lists_the_records_whose_formulas_failed(shipments):
    failing = shipments.create({"name": "S1", "quantity": 0, "total": 10})
    shipments.create({"name": "S2", "quantity": 5, "total": 10})
    page = shipments.query({"formula_errors": {"is_null": False}})
    assert [record.id for record in page.records] == [failing.id]
    assert shipments.count({"formula_errors": {"contains": "unit_price"}}).value == 1
    assert shipments.count({"formula_errors": {"is_null": True}}).value == 1


def test_formulas_recomputed_after_a_related_change_record_and_clear_failures(shipments, depots):
    depot = depots.create({"name": "North", "capacity": 0})
    shipment = shipments.create({"name": "S1", "quantity": 0, "total": 10, "depot": depot.id})
    assert set(shipment.formula_errors) == {"unit_price", "depot_share"}
    depots.update(depot.id, {"capacity": 8}, version=depot.version)
    after = shipments.get(shipment.id)
    assert after["depot_share"] == 0
    # Only the formulas that read the depot were recomputed; the other failure still stands.
    assert set(after.formula_errors) == {"unit_price"}
    depots.update(depot.id, {"capacity": 0}, version=depot.version + 1)
    assert set(shipments.get(shipment.id).formula_errors) == {"unit_price", "depot_share"}


def test_comparing_a_lookup_with_none_means_the_lookup_is_empty(shipments, depots):
    depot = depots.create({"name": "North", "capacity": 10})
    without = shipments.create({"name": "S1", "quantity": 50, "total": 10})
    assert without["depot_label"] == "none"
    assert without.formula_errors == {}
    with_depot = shipments.create({"name": "S2", "quantity": 5, "total": 10, "depot": depot.id})
    assert with_depot["depot_label"] == "North"
    with pytest.raises(RecordValidationError) as caught:
        shipments.create({"name": "S3", "quantity": 50, "total": 10, "depot": depot.id})
    assert caught.value.errors == {"quantity": ["The depot is too small"]}


def test_a_rule_written_with_is_none_accepts_and_refuses_as_meant(install, crm):
    install(PACKAGE.replace('condition: "depot is not None and quantity > depot.capacity"',
                            'condition: "depot is None"'))
    records = crm.as_system()
    depot = records.records("depot").create({"name": "North", "capacity": 10})
    accepted = records.records("shipment").create({"name": "S1", "quantity": 1, "depot": depot.id})
    assert accepted["depot"] == depot.id
    with pytest.raises(RecordValidationError) as caught:
        records.records("shipment").create({"name": "S2", "quantity": 1})
    assert caught.value.errors == {"quantity": ["The depot is too small"]}


def test_a_rule_that_cannot_be_checked_refuses_the_save_and_names_the_rule(shipments, caplog):
    created = shipments.create({"name": "S1", "quantity": 1, "total": 10})
    with caplog.at_level(logging.WARNING, logger="crmkit.formulas"), pytest.raises(RecordValidationError) as caught:
        shipments.update(created.id, {"quantity": 0}, version=created.version)
    (message,) = caught.value.errors[RECORD_ERRORS]
    assert message == ("the validation rule 'big_average' could not be checked: "
                       "division by zero: a value used as a divisor is 0")
    assert any("big_average" in r.getMessage() for r in caplog.records if r.name == "crmkit.formulas")
    assert shipments.get(created.id)["quantity"] == 1


def test_an_existing_table_gets_the_column_through_a_migration(database_url, write_package):
    path = write_package(PACKAGE)
    crm = Crm.open(database_url)
    crm.install(path)
    created = crm.as_system().records("shipment").create({"name": "Old", "quantity": 0, "total": 1})
    with crm.engine.begin() as connection:  # a database made before formula errors were kept
        connection.execute(text("ALTER TABLE shipment DROP COLUMN formula_errors"))
    crm.close()
    crm = Crm.open(database_url)
    try:
        with pytest.raises(MigrationError, match="shipment lacks the system column formula_errors.*crmkit migrate"):
            crm.as_system()  # a sentence, not the driver's "no such column" on the first read
        plan = crm.plan()
        assert "add the system column shipment.formula_errors" in plan.describe()
        assert "depot.formula_errors" not in plan.describe()
        crm.migrate()
        assert crm.plan().is_empty
        records = crm.as_system().records("shipment")
        assert records.get(created.id)["name"] == "Old"
        assert records.get(created.id).formula_errors == {}  # recorded before the column existed
        new = records.create({"name": "New", "quantity": 0, "total": 1})
        assert records.get(new.id).formula_errors == {
            "unit_price": "division by zero: a value used as a divisor is 0"}
    finally:
        crm.close()


def _problems(write_package, catalog, formula: str, extra_field: str = "") -> list[str]:
    from crmkit.metadata import validate_paths

    path = write_package(
        'package: p\nversion: "1.0.0"\nobjects:\n  item:\n    fields:\n      name: {type: text}\n'
        f"{extra_field}"
        f"      computed: {{type: formula, returns: text, formula: \"{formula}\"}}\n")
    try:
        validate_paths([path], catalog)
    except MetadataError as error:
        return [problem.format() for problem in error.problems]
    return []


@pytest.mark.parametrize(("formula", "column", "message"), [
    ("name + text(10**10**10)", 13, "more than 4,096 bits"),
    ("name + 'x' * 10**9", 8, "the repeated text would be longer"),
    ("name + text(len(range(10**12)))", 13, "range() may produce at most 1,000,000 numbers"),
    ("name + text(1 << 10**9)", 13, "more than 4,096 bits"),
    ("'{0.__class__}'.format(name)", 17, "'.format()' is not allowed"),
    ("'{0[0]}'.format(name)", 10, "'.format()' is not allowed"),
    ("'{x.y}'.format_map(name)", 9, "'.format_map()' is not allowed"),
])
def test_formulas_that_can_never_run_are_refused_when_validated(write_package, catalog, formula, column, message):
    (problem,) = _problems(write_package, catalog, formula)
    assert "package.yaml:7:" in problem, problem
    assert "the formula does not compile" in problem and message in problem
    assert f"column {column})" in problem


def test_a_field_that_shadows_a_built_in_is_not_treated_as_a_constant(write_package, catalog):
    assert _problems(write_package, catalog, "text(range(10**12))", "      range: {type: text}\n") == []


PROTECTED = """
package: finance
version: "1.0.0"
roles:
  rep: {}
permission_sets:
  reps:
    roles: [rep]
    objects:
      deal: [create, read, edit]
  controllers:
    fields:
      deal.margin: [read]
objects:
  deal:
    title_field: name
    fields:
      name: {type: text}
      price: {type: integer}
      cost: {type: integer}
      quantity: {type: integer}
      margin: {type: formula, returns: decimal, formula: "(price - cost) / price"}
      per_unit: {type: formula, returns: decimal, formula: "price / quantity"}
"""


def test_a_user_sees_the_failures_of_the_formulas_they_may_see(crm, install):
    from datetime import datetime, timezone

    from sqlalchemy import insert

    install(PROTECTED)
    users = crm.runtime.system_table("crmkit_user")
    now = datetime.now(timezone.utc)
    with crm.engine.begin() as connection:
        rep = connection.execute(insert(users).values(
            username="rep", display_name="Rep", role="rep", active=True, language="en", timezone="UTC",
            created_at=now, updated_at=now).returning(users.c.id)).scalar_one()
    deals = crm.as_user(rep).records("deal")
    created = deals.create({"name": "D1", "price": 0, "cost": 5, "quantity": 0})
    assert set(created.formula_errors) == {"per_unit"}
    assert set(deals.get(created.id).formula_errors) == {"per_unit"}
    assert set(crm.as_system().records("deal").get(created.id).formula_errors) == {"margin", "per_unit"}


def test_bulk_created_records_record_their_failures_too(shipments):
    assert shipments.bulk_create([{"name": "B1", "quantity": 0, "total": 5},
                                  {"name": "B2", "quantity": 5, "total": 5}]) == 2
    failing = shipments.query({"formula_errors": {"is_null": False}}).records
    assert [record["name"] for record in failing] == ["B1"]
    assert failing[0].formula_errors == {"unit_price": "division by zero: a value used as a divisor is 0"}


def test_a_restored_record_keeps_its_failures(logistics, shipments):
    created = shipments.create({"name": "S1", "quantity": 0, "total": 10})
    batch = shipments.delete(created.id)
    logistics.recycle_bin.restore(batch)
    assert shipments.get(created.id).formula_errors == created.formula_errors
