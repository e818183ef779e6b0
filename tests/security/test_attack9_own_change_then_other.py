"""Attack9: a transaction that changed its own user's rights, then sees another process's unrelated rights change.

UserContext.transaction() promises that a change by another process which leaves this user's rights as they were
(another user's role) is taken in, and that the transaction's own rights changes (an administrator adding themselves
to a team, through the session since 7c59c8d) count as its own. But when another process's change commits between two operations and the next one is the own change (no
check in between: after an own change another process's would wait for the transaction's counter row), then once
the version moved by both, `_rights_still_held`
loads the user's rights on the transaction's connection, which hold the transaction's own change, and compares them
with the policy of the transaction's start: they differ (by the transaction's own change), so the unrelated change
of another user stops the transaction with RightsChanged and nothing it did is saved. PostgreSQL only (on SQLite
the transaction holds the write lock from its start).
"""
from __future__ import annotations

import pytest

from crmkit.engine.security.administration import UserAdministration
from tests.security.test_attack8_rights_in_transactions import admins  # noqa: F401 (fixture)
from tests.security.test_operation_start import PASSWORD, desk, other_process  # noqa: F401 (fixtures)

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)




def test_an_own_team_change_then_another_users_role_change_elsewhere_does_not_stop_the_transaction(
        crm, desk, admins, other_process):  # noqa: F811
    context = crm.as_user(admins["adm1"])
    with context.transaction():
        tickets = context.records("ticket")
        tickets.create({"name": "kept"})
        other_process.set_role(desk["boss"], "rep")  # another user's rights: adm1's stay as they are
        UserAdministration(context).add_to_team(admins["team"], admins["adm1"])  # the first operation after it
        tickets.query({"name": "kept"})
    assert crm.as_system().records("ticket").query({"name": "kept"}).records
