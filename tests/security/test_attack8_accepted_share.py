"""Attack on c4f7bae's "a change by another process that leaves this user's rights as they were is taken in":
`_rights_still_held` compares only `UserRights` and then moves the context's rights version on
(`self._rights_version = version - own`), keeping the compiled AccessPolicy. A record shared with the user by
another process leaves UserRights equal, but the policy remembers per object whether any share reaches the user
(`AccessPolicy._has_shares`, asked once): with the version moved on, the next operation after the transaction
sees no change and keeps that policy, so the shared record stays invisible to the context for its whole life
(a worker's, a job's), until some other rights change. Outside a transaction the same share is seen at once.
PostgreSQL only (on SQLite the transaction holds the write lock from its start).

Now: a change taken in recompiles the context's policy, so its share presence is read again.
"""
from __future__ import annotations

import pytest

from crmkit.engine import Crm
from tests.security.test_attack5_lent_state import ticket  # noqa: F401 (fixtures)
from tests.security.test_operation_start import desk, other_process  # noqa: F401 (fixtures)

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def test_a_record_shared_meanwhile_is_seen_by_the_context_once_its_transaction_ended(
        crm, desk, other_process, ticket, database_url):  # noqa: F811
    bosses = crm.as_system().records("ticket")
    shared = bosses.create({"name": "the boss's", "owner_id": desk["boss"]}).id
    context = crm.as_user(desk["rep"])
    tickets = context.records("ticket")
    assert len(tickets.query().records) == 1  # the rep's own ticket; no share reaches the rep yet
    with context.transaction():
        tickets.get(ticket)
        other = Crm.open(database_url)
        try:
            other.as_user(desk["boss"]).sharing.share("ticket", shared, user_id=desk["rep"], access="read")
        finally:
            other.close()
        tickets.get(ticket)  # the share is another process's change that leaves UserRights as they were
    assert tickets.get(shared)["name"] == "the boss's"


def test_outside_a_transaction_the_same_context_sees_a_record_shared_meanwhile(
        crm, desk, other_process, ticket, database_url):  # noqa: F811
    bosses = crm.as_system().records("ticket")
    shared = bosses.create({"name": "the boss's", "owner_id": desk["boss"]}).id
    context = crm.as_user(desk["rep"])
    tickets = context.records("ticket")
    assert len(tickets.query().records) == 1
    other = Crm.open(database_url)
    try:
        other.as_user(desk["boss"]).sharing.share("ticket", shared, user_id=desk["rep"], access="read")
    finally:
        other.close()
    assert tickets.get(shared)["name"] == "the boss's"
