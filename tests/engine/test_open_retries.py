"""Opening a database whose system tables are missing asks again when a deadlock rolled the creation back."""
from __future__ import annotations

from contextlib import contextmanager

import pytest

from crmkit.engine import Crm, crm as crm_module
from crmkit.engine.database import DatabaseBusy


def busy_first(times: int, monkeypatch) -> list[int]:
    """write_transaction refuses its first `times` calls as a deadlock would; the calls made are counted."""
    real, calls = crm_module.write_transaction, []

    @contextmanager
    def flaky(engine, *args, **kwargs):
        calls.append(1)
        if len(calls) <= times:
            raise DatabaseBusy("deadlock detected")
        with real(engine, *args, **kwargs) as connection:
            yield connection
    monkeypatch.setattr(crm_module, "write_transaction", flaky)
    return calls


def test_a_deadlock_while_creating_the_system_tables_is_asked_again(tmp_path, monkeypatch):
    calls = busy_first(crm_module.SYSTEM_TABLE_ATTEMPTS - 1, monkeypatch)
    monkeypatch.setattr(crm_module.time, "sleep", lambda seconds: None)
    crm = Crm.open(f"sqlite:///{tmp_path / 'crm.db'}")
    try:
        assert len(calls) >= crm_module.SYSTEM_TABLE_ATTEMPTS
        crm.install("default_crm")
    finally:
        crm.close()


def test_a_database_busy_every_time_is_told_as_busy(tmp_path, monkeypatch):
    busy_first(100, monkeypatch)
    monkeypatch.setattr(crm_module.time, "sleep", lambda seconds: None)
    with pytest.raises(DatabaseBusy):
        Crm.open(f"sqlite:///{tmp_path / 'crm.db'}")
