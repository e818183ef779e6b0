"""Attack9: a user changes their own password (Authenticator.change_password) inside their session's transaction.

The account services are operations of the session now (SystemDirectory(context=...)), but change_password was not:
it wrote the new hash through `SystemDirectory(crm)` on a transaction of its own. After the user changed their own
language in their transaction (MyAccount.set_preferences, which updates their crmkit_user row on the transaction's
connection), that other transaction updated the same row:

- PostgreSQL: it waited for the row lock its own caller's transaction holds, for ever (no lock timeout);
- SQLite: it waited for the write lock its own caller's transaction holds and failed DatabaseBusy after the busy
  timeout (30 s by default; 1 s here).

Given the session's context, it writes on that transaction's connection, as MyAccount does.
"""
from __future__ import annotations

import threading
from typing import Callable

import pytest

from crmkit.engine import Crm
from crmkit.engine.context import UserContext
from crmkit.engine.security.account import MyAccount
from crmkit.engine.security.audit import SecurityLog
from crmkit.engine.security.authentication import Authenticator, CurrentPasswordWrong
from tests.security.test_operation_start import PASSWORD, desk  # noqa: F401 (fixtures)

NEW = "a brand new passphrase 9"


@pytest.fixture
def impatient(database_url, desk):  # noqa: F811
    crm = Crm.open(database_url, busy_timeout=1) if database_url.startswith("sqlite") else Crm.open(database_url)
    yield crm
    crm.close()


def in_a_transaction(crm: Crm, context: UserContext, step: Callable[[], None]) -> list[object]:
    """Runs `step` inside `context.transaction()` after the user changed their own language in it, on a thread of
    its own: ["done"], or [the error it ended with]. A step still waiting after 10 s fails the test (on PostgreSQL
    its statement waiting for the transaction's lock is cancelled first, so the test does not hang)."""
    outcome: list[object] = []
    holder: list[int] = []

    def work() -> None:
        try:
            with context.transaction():
                MyAccount(context).set_preferences(language="zh")
                if crm.engine.dialect.name == "postgresql":
                    with context.writing() as connection:
                        holder.append(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar())
                step()
            outcome.append("done")
        except Exception as error:  # noqa: BLE001 (whatever ends it, the test says how)
            outcome.append(error)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(10)
    hung = worker.is_alive()
    if hung and holder:  # free it: cancel the statement waiting for the transaction's row lock
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True) as admin:
            admin.execute("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                          (holder[0],))
        worker.join(10)
    assert not hung, outcome
    return outcome


def test_a_user_changing_language_then_password_in_one_transaction_neither_hangs_nor_is_refused(
        impatient, desk):  # noqa: F811
    auth = Authenticator(impatient)
    token, elsewhere = auth.login("rep", PASSWORD).token, auth.login("rep", PASSWORD).token
    context = impatient.as_user(desk["rep"])
    outcome = in_a_transaction(impatient, context, lambda: auth.change_password(token, PASSWORD, NEW, context=context))
    assert outcome == ["done"], outcome
    assert auth.session_user(token) is not None and auth.session_user(elsewhere) is None  # the others end
    assert auth.login("rep", NEW).user.language == "zh"  # both saved, together


def test_a_wrong_current_password_in_a_transaction_is_counted_once_it_ended(impatient, desk):  # noqa: F811
    auth = Authenticator(impatient)
    token = auth.login("rep", PASSWORD).token
    context = impatient.as_user(desk["rep"])
    outcome = in_a_transaction(impatient, context, lambda: auth.change_password(token, "a wrong guess", NEW,
                                                                                context=context))
    assert len(outcome) == 1 and isinstance(outcome[0], CurrentPasswordWrong), outcome
    events = [entry["event"] for entry in SecurityLog(impatient).entries(user_id=desk["rep"])]
    assert "password_change.failed" in events
    assert auth.login("rep", PASSWORD).user.language == "en"  # the transaction was rolled back
