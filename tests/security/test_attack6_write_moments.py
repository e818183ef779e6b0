"""Attack on the rights and data of a write transaction on PostgreSQL (after 8c0150d made reads one moment).

`UserContext.transaction()` checks the user's rights as it starts, "and they hold for all of it"; its reads run
on its write connection, which stays READ COMMITTED on PostgreSQL (writes must not fail on serialization), so a
read later in the transaction got data committed after a revoke while acting on the rights of before it: the
very fault test_attack5_lent_state.py found for a page's reads, for a transaction's. The attack5 scenario: the
margins field set taken back from the rep in another process, then a margin written that the rep may no longer
read. Each operation in a transaction now asks the rights version again after it ran: a change by another process
that touches this user's rights stops the transaction (RightsChanged, nothing saved); one that leaves them as
they were, or the transaction's own, does not. PostgreSQL only: on SQLite the transaction holds the write lock
from its start, so the other process waits.
"""
from __future__ import annotations

import pytest

from crmkit.engine import messages
from crmkit.engine.security.access import RightsChanged
from tests.security.test_attack5_lent_state import SECRET, revoke_then_write, ticket  # noqa: F401 (fixtures)
from tests.security.test_operation_start import PASSWORD, desk, other_process  # noqa: F401 (fixtures)

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def test_a_transactions_later_read_never_shows_a_value_written_after_its_rights_were_taken_back(
        crm, desk, other_process, ticket, database_url):  # noqa: F811
    context = crm.as_user(desk["rep"])
    with pytest.raises(RightsChanged) as refused:
        with context.transaction():
            tickets = context.records("ticket")
            assert "margin" in tickets.get(ticket)
            tickets.create({"name": "written before the revoke"})
            revoke_then_write(database_url, desk, other_process, ticket)
            tickets.get(ticket)
    assert refused.value.status == 409
    assert "do it again" in refused.value.message
    assert messages.translated(refused.value.message, "zh-CN") == messages.RIGHTS_CHANGED.zh
    assert messages.title_in(refused.value.title, "zh") == "权限已变更"
    names = {record["name"] for record in crm.as_system().records("ticket").query().records}
    assert "written before the revoke" not in names  # the whole transaction rolled back
    again = crm.as_user(desk["rep"]).records("ticket").get(ticket)
    assert "margin" not in again.values  # done again: the rights of now, the value of now withheld


def test_a_write_after_the_revoke_stops_the_transaction_too(crm, desk, other_process, ticket, database_url):  # noqa: F811
    context = crm.as_user(desk["rep"])
    with pytest.raises(RightsChanged):
        with context.transaction():
            tickets = context.records("ticket")
            tickets.get(ticket)
            revoke_then_write(database_url, desk, other_process, ticket)
            tickets.create({"name": "after the revoke"})  # its result (formulas, defaults) read the data of now
    assert not crm.as_system().records("ticket").query({"name": "after the revoke"}).records


def test_a_change_that_leaves_the_users_rights_as_they_were_does_not_stop_it(crm, desk, other_process, ticket):  # noqa: F811
    context = crm.as_user(desk["rep"])
    with context.transaction():
        tickets = context.records("ticket")
        first = tickets.get(ticket)
        other_process.create_user("rep2", password=PASSWORD, role="rep")  # the boss sees more; the rep not
        assert tickets.get(ticket)["margin"] == first["margin"]
        tickets.create({"name": "kept"})
    assert crm.as_system().records("ticket").query({"name": "kept"}).records


def test_the_transactions_own_rights_changes_do_not_stop_it(crm, desk, ticket):  # noqa: F811
    boss = crm.as_user(desk["boss"])
    with boss.transaction():
        shared = boss.records("ticket").create({"name": "shared by the boss"})
        boss.sharing.share("ticket", shared.id, user_id=desk["rep"], access="read")  # advances the rights version
        assert boss.records("ticket").get(shared.id)["name"] == "shared by the boss"
    assert crm.as_user(desk["rep"]).records("ticket").get(shared.id)["name"] == "shared by the boss"


def test_a_revoke_before_the_transaction_started_is_simply_its_rights(crm, desk, other_process, ticket,  # noqa: F811
                                                                      database_url):
    context = crm.as_user(desk["rep"])
    context.records("ticket").get(ticket)  # rights with margins compiled
    revoke_then_write(database_url, desk, other_process, ticket)
    with context.transaction():
        assert "margin" not in context.records("ticket").get(ticket).values


def test_a_caller_that_catches_rights_changed_and_carries_on_still_saves_nothing(crm, desk, other_process, ticket,  # noqa: F811
                                                                               database_url):
    context = crm.as_user(desk["rep"])
    with pytest.raises(RightsChanged):
        with context.transaction():
            tickets = context.records("ticket")
            tickets.create({"name": "written before the revoke"})
            revoke_then_write(database_url, desk, other_process, ticket)
            with pytest.raises(RightsChanged):
                tickets.get(ticket)
            with pytest.raises(RightsChanged):  # every next operation is refused too
                tickets.create({"name": "written after the refusal"})
    names = {record["name"] for record in crm.as_system().records("ticket").query().records}
    assert not names & {"written before the revoke", "written after the refusal"}


def test_a_rights_change_during_a_bulk_change_stops_it_instead_of_failing_one_record(crm, desk, other_process, ticket,  # noqa: F811
                                                                                     database_url, monkeypatch):
    context = crm.as_user(desk["rep"])
    tickets = context.records("ticket")
    others = [tickets.create({"name": f"bulk {number}"}).id for number in range(2)]
    update, saved = type(tickets)._update, []

    def revoked_while_it_runs(service, connection, record_id, *rest):  # the revoke commits as the first is saved
        if service.session is context:  # not the other process's own save
            saved.append(record_id)
            if len(saved) == 1:
                revoke_then_write(database_url, desk, other_process, ticket)
        return update(service, connection, record_id, *rest)

    monkeypatch.setattr(type(tickets), "_update", revoked_while_it_runs)
    with pytest.raises(RightsChanged):
        with context.transaction():
            context.records("ticket").update_many([*others, ticket], {"rank": 7})
    assert saved == others[:1]  # stopped at the first record, not one record's failure among the others
    assert all(crm.as_system().records("ticket").get(record_id)["rank"] is None for record_id in [*others, ticket])


def test_a_rights_change_undone_by_a_rolled_back_savepoint_is_not_taken_for_the_transactions_own(
        crm, desk, other_process, ticket, database_url):  # noqa: F811
    context = crm.as_user(desk["rep"])
    with pytest.raises(RightsChanged):
        with context.transaction():
            tickets = context.records("ticket")
            mine = tickets.create({"name": "mine"})
            with context.writing() as connection:
                savepoint = connection.begin_nested()
                context.sharing.share("ticket", mine.id, user_id=desk["boss"], access="read")  # advances the version
                savepoint.rollback()  # ... and takes it back
                revoke_then_write(database_url, desk, other_process, ticket)  # advances it: one change, not ours
                tickets.get(ticket)
