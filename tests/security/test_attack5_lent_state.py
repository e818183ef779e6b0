"""Attack on the state read with the sign-in check (UserContext.lend_read; commit 6ff02bf: the rights check made
before a detail page's snapshot keeps the lent state for the snapshot too).

A field permission set revoked in another process after the sign-in statement, then a new value written to that
field: the page's reads may act on the rights of the sign-in statement only if they also see the data of that
moment. On SQLite the lent read is one snapshot (BEGIN, then the sign-in statement), so rights and data are of one
moment. On PostgreSQL a READ COMMITTED transaction gives each statement what was committed before it, so the
snapshot's reads saw the value written after the revoke while acting on the rights from before it: reads now run in
REPEATABLE READ (database.read_connection), and a READ COMMITTED connection is not lent.
SQLite and PostgreSQL (the desk package of test_operation_start.py).
"""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import text

from crmkit.engine import Crm
from crmkit.engine.context import operation_state_columns
from crmkit.engine.database import read_connection
from crmkit.engine.security.authentication import Authenticator

from tests.security.test_operation_start import PASSWORD, desk, other_process  # noqa: F401 (fixtures)

SECRET = Decimal("777777.77")


@pytest.fixture
def ticket(crm, desk, other_process):  # noqa: F811 (fixtures)
    """A ticket of the rep's with a margin of 10, and the rep granted the `margins` field set directly."""
    other_process.grant("margins", user_id=desk["rep"])
    return crm.as_system().records("ticket").create({"name": "lent", "margin": 10, "owner_id": desk["rep"]}).id


def revoke_then_write(database_url, desk, other_process, ticket_id):  # noqa: F811
    """Another process takes the margins set back from the rep, then writes a margin the rep may no longer read."""
    other_process.revoke("margins", user_id=desk["rep"])
    other = Crm.open(database_url)
    try:
        tickets = other.as_system().records("ticket")
        tickets.update(ticket_id, {"margin": SECRET}, version=tickets.get(ticket_id).version)
    finally:
        other.close()


def held_connection(crm, kind):
    """The connection a web request holds for its sign-in statement: the UI's (`read_connection`), or a plain one
    of the engine (READ COMMITTED on PostgreSQL), which the context must not take as one moment."""
    return read_connection(crm.engine) if kind == "read connection" else crm.engine.connect()


@pytest.mark.parametrize("held_kind", ["read connection", "plain connection"])
@pytest.mark.parametrize("rights_first", [True, False], ids=["detail page", "list page"])
def test_rights_and_data_read_after_the_sign_in_statement_are_of_one_moment(crm, desk, other_process, ticket,  # noqa: F811
                                                                           database_url, rights_first, held_kind):
    authenticator = Authenticator(crm)
    token = authenticator.login("rep", PASSWORD).token
    crm.as_user(desk["rep"]).records("ticket").get(ticket)  # the rep's rights with margins compiled and kept
    with held_connection(crm, held_kind) as held:
        user, state = authenticator.session_user_reading(token, operation_state_columns(crm.runtime),
                                                         connection=held)
        revoke_then_write(database_url, desk, other_process, ticket)
        context = crm.as_user(user.id, lazy=True)
        context.lend_read(held, state)
        if rights_first:
            assert context.policy is not None  # the detail page's rights check before its snapshot
        with context.snapshot():
            shown = context.records("ticket").get(ticket)
            listed = context.records("ticket").query(fields=("name",) if not rights_first else None).records
        assert not held.in_transaction()  # the context leaves no read open on its holder's connection
    assert shown.get("margin") != SECRET, shown.values
    assert all(record.get("margin") != SECRET for record in listed)


def test_a_read_connection_keeps_its_moment_and_gives_the_pool_back_its_default(crm):
    """`read_connection` on PostgreSQL: its transactions are REPEATABLE READ; the next plain checkout of the pool
    is READ COMMITTED again (a write on it must not inherit the read's isolation)."""
    if crm.engine.dialect.name != "postgresql":
        pytest.skip("SQLite reads one snapshot per transaction in any case")
    level = text("SELECT current_setting('transaction_isolation')")
    for _ in range(2):  # a second transaction on the same connection begins the same way
        with read_connection(crm.engine) as connection:
            assert connection.execute(level).scalar_one() == "repeatable read"
            connection.commit()
            assert connection.execute(level).scalar_one() == "repeatable read"
    with crm.engine.connect() as connection:
        assert connection.execute(level).scalar_one() == "read committed"


def test_a_snapshot_of_its_own_reads_rights_and_data_of_one_moment(crm, desk, other_process, ticket,  # noqa: F811
                                                                   database_url):
    """The same without a lent read: a snapshot's first read, then the revoke and the write, then the snapshot's
    next read. The root of the PostgreSQL case above: a snapshot is one READ COMMITTED transaction there."""
    context = crm.as_user(desk["rep"])
    with context.snapshot():
        assert context.records("ticket").get(ticket)["margin"] == Decimal("10.00")
        revoke_then_write(database_url, desk, other_process, ticket)
        shown = context.records("ticket").get(ticket)
    assert shown.get("margin") != SECRET, shown.values


def test_the_next_request_acts_on_the_revoke(crm, desk, other_process, ticket, database_url):  # noqa: F811
    authenticator = Authenticator(crm)
    token = authenticator.login("rep", PASSWORD).token
    revoke_then_write(database_url, desk, other_process, ticket)
    with read_connection(crm.engine) as held:
        user, state = authenticator.session_user_reading(token, operation_state_columns(crm.runtime),
                                                         connection=held)
        context = crm.as_user(user.id, lazy=True)
        context.lend_read(held, state)
        assert context.policy is not None
        with context.snapshot():
            assert "margin" not in context.records("ticket").get(ticket)
