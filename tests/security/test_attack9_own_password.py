"""Attack9: a user changes their own password (Authenticator.change_password) inside their session's transaction.

The account services are operations of the session now (SystemDirectory(context=...)), but change_password is not:
it writes the new hash through `SystemDirectory(crm)` on a transaction of its own. After the user changed their own
language in their transaction (MyAccount.set_preferences, which updates their crmkit_user row on the transaction's
connection), that other transaction updates the same row:

- PostgreSQL: it waits for the row lock its own caller's transaction holds, for ever (no lock timeout);
- SQLite: it waits for the write lock its own caller's transaction holds and fails DatabaseBusy after the busy
  timeout (30 s by default; 1 s here).
"""
from __future__ import annotations

import threading

import pytest

from crmkit.engine import Crm
from crmkit.engine.security.account import MyAccount
from crmkit.engine.security.authentication import Authenticator
from tests.security.test_operation_start import PASSWORD, desk  # noqa: F401 (fixtures)

NEW = "a brand new passphrase 9"


@pytest.fixture
def impatient(database_url, desk):  # noqa: F811
    crm = Crm.open(database_url, busy_timeout=1) if database_url.startswith("sqlite") else Crm.open(database_url)
    yield crm
    crm.close()


@pytest.mark.xfail(strict=True, reason="attack9: change_password writes on a transaction of its own: inside the "
                                       "user's transaction after an own preference change it waits for that "
                                       "transaction's lock (PostgreSQL: hangs; SQLite: DatabaseBusy)")
def test_a_user_changing_language_then_password_in_one_transaction_neither_hangs_nor_is_refused(
        impatient, desk, database_url):  # noqa: F811
    auth = Authenticator(impatient)
    token = auth.login("rep", PASSWORD).token
    context = impatient.as_user(desk["rep"])
    outcome: list[object] = []
    holder: list[int] = []

    def work() -> None:
        try:
            with context.transaction():
                MyAccount(context).set_preferences(language="zh")
                if impatient.engine.dialect.name == "postgresql":
                    with context.writing() as connection:
                        holder.append(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar())
                auth.change_password(token, PASSWORD, NEW)
            outcome.append("done")
        except Exception as error:  # noqa: BLE001 (whatever ends it, the test says how)
            outcome.append(error)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(10)
    hung = worker.is_alive()
    if hung:  # free it: cancel the statement waiting for the transaction's row lock
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True) as admin:
            admin.execute("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                          (holder[0],))
        worker.join(10)
    assert not hung and outcome == ["done"], outcome
