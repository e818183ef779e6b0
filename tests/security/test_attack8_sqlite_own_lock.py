"""Attack on work done inside `UserContext.transaction()` on SQLite, where the transaction holds the database's
write lock from its start: engine paths that write on a connection of their own (not the transaction's) wait for
that lock, held by their own caller, and fail with DatabaseBusy once the busy timeout passed (30 s by default; 1 s
here). An export logs `records.exported` through `SecurityLog.record` without a connection (records/export.py
`_log`); MyAccount.set_preferences writes through SystemDirectory's own `write_transaction`. SQLite only.

Now: account changes run on the transaction's connection; an export's log entries wait for the transaction's
end (`UserContext.after_transaction`) and are kept whatever becomes of it.
"""
from __future__ import annotations

import pytest

from crmkit.engine import Crm
from crmkit.engine.security.account import MyAccount
from tests.security.test_operation_start import desk  # noqa: F401 (fixtures)

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def impatient(database_url, desk):  # noqa: F811
    """The same database with a busy timeout of 1 s, so a wait on its own lock fails fast."""
    crm = Crm.open(database_url, busy_timeout=1)
    yield crm
    crm.close()


def test_an_export_inside_a_transaction_on_sqlite_is_not_refused_as_busy(impatient, desk):  # noqa: F811
    context = impatient.as_user(desk["rep"])
    with context.transaction():
        tickets = context.records("ticket")
        tickets.create({"name": "exported"})
        lines = list(tickets.export())
    assert any("exported" in line for line in lines)


def test_a_user_changing_their_language_inside_their_transaction_on_sqlite_is_not_refused_as_busy(
        impatient, desk):  # noqa: F811
    context = impatient.as_user(desk["rep"])
    with context.transaction():
        context.records("ticket").create({"name": "kept"})
        MyAccount(context).set_preferences(language="zh")
    assert impatient.as_system().records("ticket").query({"name": "kept"}).records
