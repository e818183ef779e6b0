"""Attack on RightsChanged (commits c4f7bae, 399e443): a write transaction on PostgreSQL asks the rights version
again after each operation inside it, counts its own rights changes on its connection, and stops with
RightsChanged (409) when another process changed the user's rights.

The account and administration services (security/users.py SystemDirectory, used by UserAdministration and
MyAccount) do not write on the transaction's connection: each change is a `write_transaction` of its own, committed
at once, and their permission checks read `context.policy`, which inside a transaction is the one of its start
(`refresh_rights` does nothing there). So inside a transaction:

- an administrator whose `admin` set another process took back still grants (and the grant is kept);
- what they change is kept even when the transaction rolls back ("all are saved, or none");
- a user's own change of language or team, made through those services, is taken for another process's change and
  stops their own transaction with RightsChanged (whose sentence then wrongly says none of it is saved).

And a plain write operation (outside `transaction()`) is not checked at all after it ran: it returns values read
after a revoke with the rights of before it (the attack6 fault, for one operation).
PostgreSQL only (on SQLite the transaction holds the write lock from its start).

Now: UserAdministration and MyAccount read and write through their session (SystemDirectory(context=...)):
inside its transaction on its connection, else as an operation of their own with its checks; a write operation
asks the rights version once more before it commits; an export in a transaction asks it before each batch.
"""
from __future__ import annotations

import pytest

from crmkit.engine.records.service import RecordService
from crmkit.engine.security.access import PermissionDenied, RightsChanged
from crmkit.engine.security.account import MyAccount
from crmkit.engine.security.administration import UserAdministration
from crmkit.engine.security.users import SystemDirectory
from tests.security.test_attack5_lent_state import SECRET, revoke_then_write, ticket  # noqa: F401 (fixtures)
from tests.security.test_operation_start import PASSWORD, desk, other_process  # noqa: F401 (fixtures)

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def admins(crm, desk):  # noqa: F811
    """Two administrators (so that taking `admin` from one leaves one) and a team."""
    directory = SystemDirectory(crm)
    first = directory.create_user("adm1", password=PASSWORD, permission_sets=["admin"])
    second = directory.create_user("adm2", password=PASSWORD, permission_sets=["admin"])
    return {"adm1": first.id, "adm2": second.id, "team": directory.create_team("emea")}


@pytest.mark.parametrize("action", ["grant", "list accounts"])
def test_an_administrator_whose_admin_set_was_taken_back_meanwhile_is_refused_inside_a_transaction(
        crm, desk, admins, other_process, action):  # noqa: F811
    context = crm.as_user(admins["adm1"])
    administration = UserAdministration(context)
    with pytest.raises((RightsChanged, PermissionDenied)):
        with context.transaction():
            context.records("ticket").create({"name": "before the revoke"})
            other_process.revoke("admin", user_id=admins["adm1"])
            if action == "grant":
                administration.grant("margins", user_id=desk["rep"])
            else:
                administration.users()  # every user's name and email, read with the admin set of before
    assert "margins" not in SystemDirectory(crm).permission_sets_of(desk["rep"])
    assert not crm.as_system().records("ticket").query({"name": "before the revoke"}).records


def test_a_grant_made_inside_a_transaction_that_rolls_back_is_not_kept(crm, desk, admins):  # noqa: F811
    context = crm.as_user(admins["adm1"])
    with pytest.raises(LookupError):
        with context.transaction():
            UserAdministration(context).grant("margins", user_id=desk["rep"])
            raise LookupError("a later step fails: the transaction rolls back")
    assert "margins" not in SystemDirectory(crm).permission_sets_of(desk["rep"])


def test_a_user_changing_their_own_language_inside_their_transaction_is_not_refused(crm, desk, ticket):  # noqa: F811
    context = crm.as_user(desk["rep"])
    with context.transaction():
        tickets = context.records("ticket")
        tickets.create({"name": "kept"})
        MyAccount(context).set_preferences(language="zh")
        tickets.get(ticket)
    assert crm.as_system().records("ticket").query({"name": "kept"}).records


def test_an_administrator_adding_themselves_to_a_team_inside_their_transaction_is_not_refused(
        crm, desk, admins):  # noqa: F811
    context = crm.as_user(admins["adm1"])
    with context.transaction():
        tickets = context.records("ticket")
        tickets.create({"name": "kept"})
        UserAdministration(context).add_to_team(admins["team"], admins["adm1"])
        tickets.query({"name": "kept"})
    assert crm.as_system().records("ticket").query({"name": "kept"}).records


def test_a_plain_update_never_returns_a_value_written_after_the_rights_were_taken_back(
        crm, desk, other_process, ticket, database_url, monkeypatch):  # noqa: F811
    context = crm.as_user(desk["rep"])
    tickets = context.records("ticket")
    version = tickets.get(ticket).version  # the rep's rights, with margins, compiled
    update = RecordService._update

    def revoked_while_it_runs(service, connection, record_id, values, expected):  # after the operation read
        if service.session is context:
            revoke_then_write(database_url, desk, other_process, ticket)
            expected += 1  # the other process's write (a caller may well send the version it expects next)
        return update(service, connection, record_id, values, expected)

    monkeypatch.setattr(RecordService, "_update", revoked_while_it_runs)
    try:
        saved = tickets.update(ticket, {"rank": 7}, version=version)
    except RightsChanged:
        return
    assert saved.get("margin") != SECRET, saved.values


def test_a_user_who_shared_a_record_then_changes_their_language_in_one_transaction_does_not_hang(
        crm, desk, database_url):  # noqa: F811
    import threading

    import psycopg

    context = crm.as_user(desk["rep"])
    outcome: list[object] = []
    holder: list[int] = []  # the transaction's server process

    def work() -> None:
        try:
            with context.transaction():
                mine = context.records("ticket").create({"name": "shared"})
                context.sharing.share("ticket", mine.id, user_id=desk["boss"], access="read")
                with context.writing() as connection:
                    holder.append(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar())
                MyAccount(context).set_preferences(language="zh")
            outcome.append("done")
        except Exception as error:  # noqa: BLE001 (whatever ends it, the test says it ended)
            outcome.append(error)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(10)
    hung = worker.is_alive()
    if hung:  # free it: cancel the account change's statement waiting for the transaction's lock
        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True) as admin:
            admin.execute("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                          (holder[0],))
        worker.join(10)
    assert not hung, outcome


def test_an_export_inside_a_transaction_never_hands_out_a_value_written_after_the_rights_were_taken_back(
        crm, desk, other_process, ticket, database_url):  # noqa: F811
    context = crm.as_user(desk["rep"])
    exported: list[dict] = []
    with pytest.raises(RightsChanged):
        with context.transaction():
            tickets = context.records("ticket")
            tickets.get(ticket)
            revoke_then_write(database_url, desk, other_process, ticket)
            for row in tickets.export(format="json"):
                exported.append(row)
    assert all(row.get("margin") != str(SECRET) for row in exported), exported
