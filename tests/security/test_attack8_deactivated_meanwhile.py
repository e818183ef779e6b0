"""Attack on RightsChanged (399e443: "a transaction whose rights changed saves nothing even if the caller catches
it"): the user deactivated by another process while their transaction runs on PostgreSQL.

`UserContext._rights_still_held` sees the rights version move and loads the user's rights again; for a user
deactivated meanwhile `load_user_rights` raises UnknownUser before `_rights_lost` is set, so the transaction is not
marked lost: a caller that catches UnknownUser and carries on commits, with what the operation that raised it wrote
after the deactivation; and a bulk change inside counts UnknownUser as each record's own failure and goes on.
Also a change by another process that leaves the user's access as it was but moves their language or time zone
(UserRights carries both) stops the transaction with RightsChanged, though the transaction keeps its actor as it
started. PostgreSQL only (on SQLite the transaction holds the write lock from its start).

Now: UnknownUser marks the transaction lost as RightsChanged does (caught or not, bulk change or not, nothing
is saved), and rights are compared for what they allow (security/access.py `same_access`), not for presentation.
"""
from __future__ import annotations

import pytest

from crmkit.engine.records.service import RecordService
from crmkit.engine.security.access import RightsChanged, UnknownUser
from tests.security.test_attack5_lent_state import ticket  # noqa: F401 (fixtures)
from tests.security.test_operation_start import desk, other_process  # noqa: F401 (fixtures)

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def names(crm) -> set[str]:
    return {record["name"] for record in crm.as_system().records("ticket").query().records}


def test_a_caller_that_catches_the_deactivation_and_carries_on_still_saves_nothing(
        crm, desk, other_process):  # noqa: F811
    context = crm.as_user(desk["rep"])
    with pytest.raises((RightsChanged, UnknownUser)):
        with context.transaction():
            tickets = context.records("ticket")
            tickets.create({"name": "written before the deactivation"})
            other_process.deactivate(desk["rep"])
            try:
                tickets.create({"name": "written after the deactivation"})
            except UnknownUser:
                pass  # a caller that goes on (the composite endpoint of a plugin, a worker loop)
    assert not names(crm) & {"written before the deactivation", "written after the deactivation"}


def test_a_bulk_change_stops_when_the_user_is_deactivated_meanwhile(crm, desk, other_process,  # noqa: F811
                                                                     monkeypatch):
    context = crm.as_user(desk["rep"])
    ids = [context.records("ticket").create({"name": f"bulk {number}"}).id for number in range(2)]
    update, saved = RecordService._update, []

    def deactivated_while_it_runs(service, connection, record_id, *rest):  # as the first record is saved
        if service.session is context:
            saved.append(record_id)
            if len(saved) == 1:
                other_process.deactivate(desk["rep"])
        return update(service, connection, record_id, *rest)

    monkeypatch.setattr(RecordService, "_update", deactivated_while_it_runs)
    with pytest.raises((RightsChanged, UnknownUser)):
        with context.transaction():
            tickets = context.records("ticket")
            tickets.create({"name": "written before the deactivation"})
            tickets.update_many(ids, {"rank": 7})
    assert saved == ids[:1]  # stopped at the first record
    assert "written before the deactivation" not in names(crm)


def test_a_time_zone_changed_in_another_process_does_not_stop_the_transaction(
        crm, desk, other_process, ticket):  # noqa: F811
    context = crm.as_user(desk["rep"])
    with context.transaction():
        tickets = context.records("ticket")
        tickets.create({"name": "kept"})
        other_process.set_preferences(desk["rep"], timezone="Asia/Shanghai")
        tickets.get(ticket)
    assert "kept" in names(crm)
