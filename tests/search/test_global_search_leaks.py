"""What the global search (`search`, `search_by_object`) tells a user about records and fields they
may not read: hits, counts, titles, snippets, the matched field, the pinyin flag, the order of objects.

The probe CRM of tests/search/conftest.py, on SQLite and PostgreSQL: accounts are private (rep2
sees none of rep1's), `account.secret` is readable only with `secrets`, a contact's `company`
is its account's name (masked for who may not see the account), a deal's `client` is its
contact's company, and a lead's title `name` is readable only with `names`.
"""
from __future__ import annotations

import pytest

from crmkit.engine.query.counting import Count
from tests.conftest import add_users, analyze_own_tables


def everything_shown(groups) -> str:
    """Every text a search page shows of these groups: labels, counts, titles, snippets, matched fields."""
    parts = []
    for group in groups:
        parts += [group.object, str(group.count.value)]
        for hit in group.hits:
            parts += [hit.title, *(text for text, _marked in hit.title_segments)]
            for found in hit.fields:
                parts += [found.field, *(text for text, _marked in found.segments)]
    return " ".join(parts)


def test_a_private_account_reaches_another_rep_through_no_object_no_count_and_no_formula(crm, probe, users):
    rep1 = crm.as_user(users["rep1"])
    account = rep1.records("account").create({"name": "Wombatine Mining", "notes": "ore"})
    contact = rep1.records("contact").create({"name": "Pat Example", "account": account.id})
    rep1.records("deal").create({"name": "Ore deal", "contact": contact.id})
    assert "account" in {group.object for group in rep1.search_by_object("wombatine")}
    rep2 = crm.as_user(users["rep2"])
    assert rep2.search_by_object("wombatine") == [] and rep2.search("wombatine") == []
    # the contact and the deal are public to rep2, but not through the account's name
    assert {group.object for group in rep2.search_by_object("pat example")} == {"contact", "deal"}  # deal.person
    assert "Wombatine" not in everything_shown(rep2.search_by_object("pat example"))
    assert "Wombatine" not in everything_shown(rep2.search_by_object("ore deal"))


def test_a_hidden_title_is_neither_searched_nor_shown_nor_ranked(crm, probe, users):
    people = add_users(crm, [("leadsonly", None, ["leads"])])
    crm.as_system().records("lead").create({"name": "Okapina Veldt", "email": "okapi@veldt.example"})
    reader = crm.as_user(people["leadsonly"])
    assert reader.search_by_object("okapina") == [] and reader.search("okapina") == []
    found = reader.search_by_object("veldt")
    assert [group.object for group in found] == ["lead"] and found[0].count.value == 1
    assert "Okapina" not in everything_shown(found)
    hit = found[0].hits[0]
    assert hit.title == str(hit.id) and [field.field for field in hit.fields] == ["email"]
    assert crm.as_user(users["leader"]).search("okapina")[0].title == "Okapina Veldt"


def test_a_hidden_field_changes_no_count_and_no_order_of_objects(crm, probe, users):
    admin, rep1 = crm.as_user(users["admin"]), crm.as_user(users["rep1"])
    for number in range(3):
        rep1.records("account").create({"name": f"Kestrelia {number}", "notes": "plain"})
    crm.as_system().records("account").update(
        rep1.records("account").query(search="kestrelia 0").records[0].id, {"secret": "capybarine"}, version=1)
    rep1.records("contact").create({"name": "capybarine keeper"})
    assert [(group.object, group.count.value) for group in admin.search_by_object("capybarine")] in (
        [("account", 1), ("contact", 1)], [("contact", 1), ("account", 1)])
    assert [(group.object, group.count.value) for group in rep1.search_by_object("capybarine")] == [("contact", 1)]
    assert [(group.object, group.count.value) for group in rep1.search_by_object("kestrelia")] == [("account", 3)]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_count_beyond_the_cap_is_no_estimate_of_records_the_user_may_not_see(crm, probe, users):
    """PostgreSQL's planner estimates from statistics of the whole table: for rep1, who sees 12
    of 3,012 accounts naming "acme", it said "~284", telling how many of rep2's accounts match."""
    system = crm.as_system().records("account")
    system.bulk_create([{"name": f"Acme {n}", "owner_id": users["rep2"]} for n in range(3000)])
    system.bulk_create([{"name": f"Acme mine {n}", "owner_id": users["rep1"]} for n in range(12)])
    system.bulk_create([{"name": f"Other {n}", "owner_id": users["rep1"]} for n in range(300)])
    with crm.engine.begin() as connection:
        analyze_own_tables(connection)
    rep1 = crm.as_user(users["rep1"])
    assert [(group.object, group.count) for group in rep1.search_by_object("acme", count_cap=10)] == \
        [("account", Count(10, "at_least"))]
    assert rep1.records("account").count(search="acme", cap=10) == Count(10, "at_least")
    assert rep1.records("account").count(search="acme", cap=20) == Count(12, "exact")
    # who sees every account is still given the estimate
    assert crm.as_user(users["admin"]).records("account").count(search="acme", cap=10).kind == "estimate"
