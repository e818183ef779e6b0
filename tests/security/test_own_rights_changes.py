"""A write transaction counts the rights changes it made itself (security/rights.py `own_changes`), so that
UserContext.transaction tells them from other processes' changes; a savepoint rolled back takes its changes
back out of that count, one released keeps them. On both databases: the count is the engine's, not the server's.
"""
from __future__ import annotations

from crmkit.engine.database import write_transaction
from crmkit.engine.security.rights import forget_own_changes, own_changes, rights_changed, rights_version


def test_a_rolled_back_savepoint_takes_its_changes_out_of_the_count_and_a_released_one_keeps_them(crm):
    with write_transaction(crm.write_engine) as connection:
        forget_own_changes(connection)
        start = rights_version(connection, crm.runtime)
        rights_changed(connection, crm.runtime)
        with connection.begin_nested():  # released: its change stays
            rights_changed(connection, crm.runtime)
        outer = connection.begin_nested()
        rights_changed(connection, crm.runtime)
        inner = connection.begin_nested()
        rights_changed(connection, crm.runtime)
        inner.rollback()
        assert own_changes(connection) == 3 == rights_version(connection, crm.runtime) - start
        outer.rollback()
        assert own_changes(connection) == 2 == rights_version(connection, crm.runtime) - start
        connection.rollback()


def test_the_count_starts_afresh_with_each_transaction_on_a_pooled_connection(crm):
    with write_transaction(crm.write_engine) as connection:
        forget_own_changes(connection)
        rights_changed(connection, crm.runtime)
        connection.begin_nested()  # left open when the transaction ends
        rights_changed(connection, crm.runtime)
        connection.rollback()
    with write_transaction(crm.write_engine) as connection:
        forget_own_changes(connection)
        assert own_changes(connection) == 0
        savepoint = connection.begin_nested()
        savepoint.rollback()
        assert own_changes(connection) == 0
        connection.rollback()
