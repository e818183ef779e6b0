"""The assign_owner action: a new record gets its owner inside its own save, by round robin, least load or a
rule table, over the active users of a role or team; nobody eligible keeps the owner and says so in the log."""
from __future__ import annotations

import logging
import threading

import pytest
from sqlalchemy import insert, select, update

from tests.conftest import add_users

LEADS = """
package: leads
version: "1.0.0"
roles:
  sales_rep: {label: {en: Sales rep, zh: 销售代表}}
  support: {label: {en: Support, zh: 客服}}
objects:
  lead:
    title_field: name
    fields:
      name: {type: text, required: true}
      region: {type: picklist, options: [East, West, North]}
      industry: {type: picklist, options: [Technology, Finance, Retail]}
      status: {type: picklist, options: [New, Working, Closed], default: New}
    automations:
      - name: assign
        on: [created]
        actions:
          - {type: assign_owner, strategy: round_robin, role: sales_rep}
"""


def leads_with(action: str) -> str:
    """LEADS with the assign rule's action replaced by `action` (one YAML flow mapping)."""
    return LEADS.replace("{type: assign_owner, strategy: round_robin, role: sales_rep}", action)


@pytest.fixture
def reps(crm, install, clock):
    """Three active sales reps, an inactive one between them and a support user: {username: id}."""
    install(LEADS)
    ids = add_users(crm, [("ann", "sales_rep", []), ("ben", "sales_rep", []), ("gone", "sales_rep", []),
                          ("cat", "sales_rep", []), ("sue", "support", [])])
    users = crm.runtime.system_table("crmkit_user")
    with crm.engine.begin() as connection:
        connection.execute(update(users).where(users.c.id == ids["gone"]).values(active=False))
    return ids


def owners(context, count: int, **values) -> list[int]:
    leads = context.records("lead")
    return [leads.create({"name": f"Lead {number}", **values})["owner_id"] for number in range(count)]


def test_round_robin_gives_each_active_user_of_the_role_a_turn_skipping_inactive_users(crm, reps):
    system = crm.as_system()
    assert owners(system, 7) == [reps[name] for name in ("ann", "ben", "cat", "ann", "ben", "cat", "ann")]


def test_the_turn_is_kept_in_the_database_and_a_new_eligible_user_joins_the_rotation(crm, reps):
    assert owners(crm.as_system(), 2) == [reps["ann"], reps["ben"]]
    dan = add_users(crm, [("dan", "sales_rep", [])])["dan"]
    # Another process (a fresh context) continues where the last record left off.
    assert owners(crm.as_system(), 3) == [reps["cat"], dan, reps["ann"]]


def test_assignment_is_part_of_the_records_save_even_when_the_creator_gives_an_owner(crm, reps):
    lead = crm.as_system().records("lead").create({"name": "Given", "owner_id": reps["sue"]})
    assert lead["owner_id"] == reps["ann"] and lead.version == 1


def test_least_loaded_counts_the_open_records_in_sql_and_takes_turns_among_equals(crm, install, reps):
    install(leads_with("{type: assign_owner, strategy: least_loaded, role: sales_rep, "
                       "open: {status: [New, Working]}}"))
    leads = crm.as_system().records("lead")
    for owner, status in ((reps["ann"], "New"), (reps["ann"], "Working"), (reps["ben"], "Working"),
                          (reps["cat"], "Closed"), (reps["cat"], "Closed")):
        lead = leads.create({"name": "old"})  # the rule fires on create only: set the owner afterwards
        leads.update(lead.id, {"owner_id": owner, "status": status}, version=lead.version)
    # Open loads: ann 2, ben 1, cat 0 (closed ones do not count).
    assert leads.create({"name": "First"})["owner_id"] == reps["cat"]
    assert leads.create({"name": "Second"})["owner_id"] == reps["ben"]  # ben 1, cat 1: ben is next in turn
    assert leads.create({"name": "Third"})["owner_id"] == reps["cat"]  # ben 2, cat 1


def test_a_rule_table_picks_the_first_matching_rule_and_falls_back(crm, install, reps):
    install(leads_with("""{type: assign_owner, strategy: rules, rules: [
                {when: {region: East, industry: [Technology, Finance]}, user: ben},
                {when: {region: East}, team: east},
                {when: {region: North}, user: gone}],
              fallback: {role: support}}"""))
    teams, members = crm.runtime.system_table("crmkit_team"), crm.runtime.system_table("crmkit_team_member")
    with crm.engine.begin() as connection:
        team = connection.execute(insert(teams).values(name="east").returning(teams.c.id)).scalar_one()
        for name in ("cat", "ann"):
            connection.execute(insert(members).values(team_id=team, user_id=reps[name]))
    leads = crm.as_system().records("lead")
    assert leads.create({"name": "A", "region": "East", "industry": "Finance"})["owner_id"] == reps["ben"]
    east = [leads.create({"name": f"E{n}", "region": "East", "industry": "Retail"})["owner_id"] for n in range(3)]
    assert east == [reps["ann"], reps["cat"], reps["ann"]]  # the team's members in turn
    assert leads.create({"name": "W", "region": "West"})["owner_id"] == reps["sue"]  # no rule: the fallback


def test_nobody_eligible_keeps_the_owner_and_logs_a_line_instead_of_refusing_the_save(crm, install, reps, caplog):
    install(leads_with("{type: assign_owner, strategy: round_robin, team: nobody_here}"))
    admin = add_users(crm, [("admin", None, [])])["admin"]
    with caplog.at_level(logging.WARNING, logger="crmkit.automation"):
        created = crm.as_system().records("lead").create({"name": "Orphan", "owner_id": admin})
    assert created["owner_id"] == admin
    assert "no active user in team nobody_here to own lead record (new); the owner stays" in caplog.text


def test_an_inactive_named_user_is_not_eligible(crm, install, reps, caplog):
    install(leads_with("{type: assign_owner, strategy: rules, rules: [{when: {region: North}, user: gone}]}"))
    with caplog.at_level(logging.WARNING, logger="crmkit.automation"):
        lead = crm.as_system().records("lead").create({"name": "N", "region": "North"})
    assert lead["owner_id"] is None and "no active user in user gone" in caplog.text


def test_assignment_is_undone_with_a_refused_save(crm, reps):
    from crmkit.engine import RecordValidationError

    leads = crm.as_system().records("lead")
    with pytest.raises(RecordValidationError):
        leads.create({"name": "Bad", "region": "South"})
    assert owners(crm.as_system(), 1) == [reps["ann"]]  # the refused save took no turn
    turns = crm.runtime.system_table("crmkit_assignment_turn")
    with crm.engine.connect() as connection:
        assert connection.execute(select(turns.c.turns)).scalar_one() == 1


def test_two_concurrent_creates_never_get_the_same_turn(crm, reps):
    """The first save holds the turn counter until it commits; the second waits, then takes the next turn."""
    first, second = crm.as_system(), crm.as_system()
    assert owners(first, 1) == [reps["ann"]]  # the counter row exists: only its lock can order the two saves
    results: dict[str, int] = {}
    with first.transaction():
        results["first"] = first.records("lead").create({"name": "First"})["owner_id"]
        other = threading.Thread(target=lambda: results.update(
            second=second.records("lead").create({"name": "Second"})["owner_id"]))
        other.start()
        other.join(timeout=1.0)
        assert other.is_alive(), "the second save must wait for the first one's turn"
    other.join(timeout=30)
    assert (results["first"], results["second"]) == (reps["ben"], reps["cat"])



def test_with_keep_own_an_eligible_person_keeps_the_record_they_save_and_others_are_assigned(crm, install, reps):
    install(leads_with("{type: assign_owner, strategy: round_robin, role: sales_rep, keep_own: true}")
            .replace("objects:\n", "permission_sets:\n  leads_user:\n    roles: [sales_rep, support]\n"
                                    "    objects: {lead: [create, read, edit]}\nobjects:\n", 1))
    assert crm.as_user(reps["cat"]).records("lead").create({"name": "Cat's own"})["owner_id"] == reps["cat"]
    assert crm.as_user(reps["sue"]).records("lead").create({"name": "From support"})["owner_id"] == reps["ann"]
    assert owners(crm.as_system(), 1) == [reps["ben"]]  # cat's own lead took no turn
