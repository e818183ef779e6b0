"""crmkit.engine: the only layer that touches the database. No Flask here.

    from crmkit.engine import Crm
    crm = Crm.open("sqlite:///instance/crmkit.db")

Names are imported on first use, so `crmkit validate` does not load the record engine.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Crm": "crmkit.engine.crm",
    "CrmkitError": "crmkit.errors",
    "DatabaseBusy": "crmkit.engine.database",
    "DatabaseError": "crmkit.engine.database",
    "NoDatabase": "crmkit.engine.database",
    "PermissionDenied": "crmkit.engine.security.access",
    "QueryError": "crmkit.engine.query",
    "MigrationError": "crmkit.engine.migrations",
    "MigrationPlan": "crmkit.engine.migrations",
    "CascadeDeleteError": "crmkit.engine.records",
    "DeleteRestrictedError": "crmkit.engine.records",
    "Record": "crmkit.engine.records",
    "RecordError": "crmkit.engine.records",
    "RecordNotFound": "crmkit.engine.records",
    "RecordValidationError": "crmkit.engine.records",
    "StaleRecordError": "crmkit.engine.records",
}

__all__ = [
    "Crm", "CrmkitError", "DatabaseBusy", "DatabaseError", "NoDatabase", "PermissionDenied", "QueryError",
    "CascadeDeleteError", "DeleteRestrictedError", "MigrationError", "MigrationPlan", "Record", "RecordError",
    "RecordNotFound", "RecordValidationError", "StaleRecordError",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'crmkit.engine' has no attribute {name!r}")
