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
