"""Engine fixtures: a database with the every-field-type package installed."""
from __future__ import annotations

from pathlib import Path

import pytest

PACKAGES = Path(__file__).resolve().parent.parent / "packages"


@pytest.fixture
def all_types(crm, install_once):
    """A session on a database with tests/packages/all_types_v1.yaml installed."""
    install_once(PACKAGES / "all_types_v1.yaml")
    return crm.as_system()


@pytest.fixture
def projects(all_types):
    return all_types.records("project")


@pytest.fixture
def companies(all_types):
    return all_types.records("company")


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
def organisation(crm, write_package, install_once):
    """A system context on a database with departments, employees, a self-lookup and rollups over both."""
    install_once(write_package(ORGANISATION))
    return crm.as_system()
