"""Engine fixtures: a database with the every-field-type package installed."""
from __future__ import annotations

from pathlib import Path

import pytest

PACKAGES = Path(__file__).resolve().parent.parent / "packages"


@pytest.fixture
def all_types(crm):
    """A session on a database with tests/packages/all_types_v1.yaml installed."""
    crm.install(PACKAGES / "all_types_v1.yaml")
    return crm.as_system()


@pytest.fixture
def projects(all_types):
    return all_types.records("project")


@pytest.fixture
def companies(all_types):
    return all_types.records("company")


def stale_derived_values(crm) -> list[str]:
    """Every stored rollup and formula that differs from a fresh recomputation over the database.

    Recomputed from scratch, independently of the engine's propagation: each rollup with
    one grouped query over its children, each formula by evaluating it on the stored row.
    Returns "object id field: stored X, fresh Y" lines (empty when everything is current).
    """
    from sqlalchemy import func, select

    from crmkit.engine.query import QueryContext, compile_filter
    from crmkit.engine.records.evaluation import Evaluator, load_related

    runtime = crm.runtime
    context = QueryContext(runtime.registry, runtime.schema, runtime.field_types)
    aggregates = {"sum": func.sum, "min": func.min, "max": func.max, "avg": func.avg}
    problems = []
    with crm.as_system().reading() as connection:
        for obj in runtime.registry.objects.values():
            table = runtime.table(obj.name)
            rows = [dict(row._mapping) for row in connection.execute(select(table).order_by(table.c.id))]
            for fdef in obj.fields.values():
                rollup = fdef.rollup
                if rollup is None:
                    continue
                child = runtime.table(rollup.child_object)
                measure = func.count() if rollup.aggregate == "count" else aggregates[rollup.aggregate](
                    child.c[rollup.field])
                query = select(child.c[rollup.via], measure).group_by(child.c[rollup.via])
                if rollup.condition:
                    query = query.where(compile_filter(context, rollup.child_object, dict(rollup.condition)))
                fresh = dict(connection.execute(query).all())
                for row in rows:
                    expected = fresh.get(row["id"], 0 if rollup.aggregate == "count" else None)
                    if row[fdef.name] != expected:
                        problems.append(f"{obj.name} {row['id']} {fdef.name}: stored {row[fdef.name]!r}, "
                                        f"fresh {expected!r}")
            evaluator = Evaluator(runtime, obj)
            for row in rows:
                values = dict(row)
                results = evaluator.compute_formulas(values, load_related(connection, runtime, obj, values), None)
                for name, expected in results.items():
                    if row[name] != expected:
                        problems.append(f"{obj.name} {row['id']} {name}: stored {row[name]!r}, fresh {expected!r}")
    return problems


@pytest.fixture
def assert_derived_values_fresh():
    """Call with a Crm: fails listing every stored rollup or formula a fresh recomputation disagrees with."""

    def check(crm) -> None:
        problems = stale_derived_values(crm)
        assert problems == [], "stale derived values:\n" + "\n".join(problems)

    return check


ORGANISATION = """
package: organisation
version: "1.0.0"
objects:
  department:
    title_field: name
    fields:
      name: {type: text, required: true}
      head_count: {type: rollup, from: employee.department, aggregate: count}
      payroll: {type: rollup, from: employee.department, aggregate: sum, field: salary}
      lowest_salary: {type: rollup, from: employee.department, aggregate: min, field: salary}
      highest_salary: {type: rollup, from: employee.department, aggregate: max, field: salary}
      seniors: {type: rollup, from: employee.department, aggregate: count, condition: {level: {gte: 3}}}
      label: {type: formula, returns: text, formula: "text(name) + ' (' + text(head_count) + ')'"}
  employee:
    title_field: name
    track_history: true
    fields:
      name: {type: text, required: true}
      salary: {type: currency}
      level: {type: integer}
      department: {type: lookup, to: department, on_delete: set_null}
      manager: {type: lookup, to: employee, on_delete: set_null}
      direct_reports: {type: rollup, from: employee.manager, aggregate: count}
      team_payroll: {type: rollup, from: employee.manager, aggregate: sum, field: salary}
      senior_reports: {type: rollup, from: employee.manager, aggregate: count, condition: {level: {gte: 3}}}
      boss: {type: formula, returns: text, formula: "manager.name"}
      unit: {type: formula, returns: text, formula: "department.label"}
      department_name: {type: formula, returns: text, formula: "department.name"}
"""


@pytest.fixture
def organisation(crm, install):
    """A system context on a database with departments, employees, a self-lookup and rollups over both."""
    install(ORGANISATION)
    return crm.as_system()
