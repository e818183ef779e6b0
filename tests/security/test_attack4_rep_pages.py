"""Attack on rep pages merged by ids (query/sorting.py `merged_page`, derived_page `page_ids`).

A sales rep's list with records reached through several row-filter branches (owned, a role
below, a manual share, a sharing rule to a role, a sharing rule to a team) must hold exactly
the records the rules give, once each, in the order an administrator's list gives them,
on every keyset page, for ascending and descending sorts over values with NULLs and ties;
with the rollups counting only children the rep may see.
"""
from __future__ import annotations

import pytest
from sqlalchemy import update

from crmkit.engine import RecordNotFound
from crmkit.engine.query import QueryError
from crmkit.engine.security.users import SystemDirectory

PACKAGE = """
package: attack4pages
version: "1.0.0"
roles:
  boss: {}
  rep: {parent: boss}
  junior: {parent: rep}
  support: {}
permission_sets:
  sales:
    roles: [boss, rep, junior, support]
    objects:
      account: [create, read, edit, delete]
      deal: [create, read, edit, delete]
  secret:
    roles: [boss]
    fields:
      account.credit: [read]
objects:
  account:
    title_field: name
    sharing: private
    sharing_rules:
      - name: gold_to_support
        criteria: {tier: Gold}
        share_with: {role: support, subordinates: true}
      - name: key_to_team
        criteria: {tier: Key}
        share_with: {team: keyteam}
    fields:
      name: {type: text, searchable: true}
      tier: {type: picklist, options: [Gold, Silver, Key]}
      score: {type: integer}
      credit: {type: currency}
      deals: {type: rollup, from: deal.account, aggregate: count}
      pipeline: {type: rollup, from: deal.account, aggregate: sum, field: amount}
  deal:
    title_field: name
    sharing: private
    fields:
      name: {type: text}
      amount: {type: currency}
      account: {type: lookup, to: account}
"""

NAMES = ["Tie", None, "Aaa", "Zzz", "Tie", "Mid", None, "Tie"]
SCORES = [5, None, 5, None, 1, 5, 3, None]
TIERS = [None, "Gold", "Key", "Silver", "Gold", "Key", None, "Gold"]


@pytest.fixture
def world(crm, write_package, state_snapshots):
    """Five users (a role tree and a team), eight accounts each for four of them, a deal on each.

    Built once per worker and database kind (tests/snapshots.py); each test gets its own copy.
    """
    path = write_package(PACKAGE)
    people, owned, team = state_snapshots.apply(crm, ("attack4 rep pages world", PACKAGE),
                                                lambda crm: build_world(crm, path), source=path)
    return crm, people, owned, team


def build_world(crm, path) -> tuple[dict[str, int], dict[str, list[int]], int]:
    crm.install(path)
    directory = SystemDirectory(crm)
    roles = {"boss": "boss", "rep": "rep", "junior": "junior", "other": "rep", "helper": "support"}
    people = {name: directory.create_user(name, role=role).id for name, role in roles.items()}
    team = directory.create_team("keyteam")
    directory.add_to_team(team, people["rep"])
    owned: dict[str, list[int]] = {}
    table = crm.runtime.table("account")
    for owner in ("rep", "junior", "other", "boss"):
        session = crm.as_user(people[owner])
        owned[owner] = []
        for number, (name, score, tier) in enumerate(zip(NAMES, SCORES, TIERS)):
            account = session.records("account").create({"name": name, "score": score, "tier": tier})
            owned[owner].append(account.id)
            if number % 3 == 0:
                with crm.engine.begin() as connection:
                    connection.execute(update(table).where(table.c.id == account.id).values(credit=100 * number))
            session.records("deal").create({"name": f"{owner} deal", "account": account.id, "amount": 10})
    return people, owned, team


def admin_order(crm, sort: tuple[str, ...]) -> list[int]:
    return [record.id for record in crm.as_system().records("account").query(sort=sort, limit=1000).records]


def rep_pages(session, sort: tuple[str, ...], limit: int, filter=None) -> list[list]:
    pages, cursor = [], None
    while True:
        page = session.records("account").query(sort=sort, limit=limit, after=cursor, filter=filter)
        pages.append(page.records)
        cursor = page.next_cursor
        if cursor is None or len(pages) > 100:
            return pages


def expected_visible(crm, people, owned) -> set[int]:
    """What `rep` may see by the rules: own, the junior's (role below), Key accounts (the team's rule)."""
    system = crm.as_system().records("account")
    key = {record.id for record in system.query(filter={"tier": "Key"}, limit=1000).records}
    return set(owned["rep"]) | set(owned["junior"]) | key


SORTS = [(), ("name",), ("-name",), ("score",), ("-score",), ("score", "-name"), ("-score", "name"), ("tier",),
         ("-tier", "-name"), ("deals",), ("owner_id", "name"), ("-owner_id",), ("-created_at",), ("-id",),
         ("tier", "score", "-name")]


def test_a_reps_pages_are_the_admins_list_cut_to_what_they_may_see(world):
    """Every sort in SORTS, in pages of 3 and of 1000 (one world for them all: building it is most of the cost)."""
    crm, people, owned, team = world
    shared = owned["other"][2]  # Key tier: the team's rule; and a manual share of a Silver one
    other = crm.as_user(people["other"])
    other.sharing.share("account", owned["other"][3], user_id=people["rep"])
    visible = expected_visible(crm, people, owned) | {owned["other"][3]}
    assert shared in visible
    rep = crm.as_user(people["rep"])
    refused = []
    for sort in SORTS:
        for limit in (3, 1000):
            try:
                pages = rep_pages(rep, sort, limit)
            except QueryError:
                refused.append(sort)
                continue
            seen = [record.id for page in pages for record in page]
            if sort == ("deals",):  # the rep's rollup (their own deals), not the stored one over everyone's
                counts = {record_id: rep.records("account").get(record_id)["deals"] for record_id in visible}
                assert seen == sorted(visible, key=lambda record_id: (counts[record_id], record_id)), (sort, limit)
            else:
                assert seen == [record_id for record_id in admin_order(crm, sort) if record_id in visible], \
                    (sort, limit)
            assert all(len(page) == limit for page in pages[:-1]), (sort, limit)
    assert not {(), ("name",), ("-name",), ("score", "-name")} & set(refused), refused


@pytest.mark.parametrize("limit", [2, 1000])
def test_a_revoked_share_and_a_changed_owner_leave_the_reps_pages_at_once(world, limit):
    crm, people, owned, team = world
    other = crm.as_user(people["other"])
    record_id = owned["other"][3]
    share = other.sharing.share("account", record_id, user_id=people["rep"])
    rep = crm.as_user(people["rep"])
    assert record_id in {record.id for page in rep_pages(rep, ("name",), limit) for record in page}
    other.sharing.unshare(share)
    for session in (rep, crm.as_user(people["rep"])):
        assert record_id not in {record.id for page in rep_pages(session, ("name",), limit) for record in page}
    # the junior's account given to someone outside the rep's reach
    moved = owned["junior"][0]
    junior = crm.as_user(people["junior"])
    crm.as_system().records("account").update(moved, {"owner_id": people["other"]},
                                              version=junior.records("account").get(moved)["version"])
    for session in (rep, crm.as_user(people["rep"])):
        assert moved not in {record.id for page in rep_pages(session, ("-name",), limit) for record in page}
    directory = SystemDirectory(crm)
    directory.remove_from_team(team, people["rep"])
    key = owned["other"][2]
    for session in (crm.as_user(people["rep"]),):
        assert key not in {record.id for page in rep_pages(session, ("name",), limit) for record in page}
        with pytest.raises(RecordNotFound):
            session.records("account").get(key)


@pytest.mark.parametrize("limit", [2, 1000])
def test_the_role_above_sees_below_and_the_junior_never_sees_above(world, limit):
    crm, people, owned, team = world
    junior = crm.as_user(people["junior"])
    seen = {record.id for page in rep_pages(junior, ("name",), limit) for record in page}
    assert seen == set(owned["junior"])
    helper = crm.as_user(people["helper"])
    gold = {record.id for record in crm.as_system().records("account").query(
        filter={"tier": "Gold"}, limit=1000).records}
    for sort in (("name",), ("-score", "name")):
        seen = [record.id for page in rep_pages(helper, sort, limit) for record in page]
        assert seen == [record_id for record_id in admin_order(crm, sort) if record_id in gold]


@pytest.mark.parametrize("filter", [{"tier": "Gold"}, {"score": 5}, {"name": "Tie"}, {"tier": "Key"}])
@pytest.mark.parametrize("limit", [2, 1000])
def test_a_filter_combined_with_the_row_filter_on_every_page(world, filter, limit):
    crm, people, owned, team = world
    rep = crm.as_user(people["rep"])
    visible = expected_visible(crm, people, owned)
    chosen = {record.id for record in crm.as_system().records("account").query(filter=filter, limit=1000).records}
    seen = [record.id for page in rep_pages(rep, ("name",), limit, filter=filter) for record in page]
    assert seen == [record_id for record_id in admin_order(crm, ("name",)) if record_id in visible & chosen]


def test_sorting_on_a_field_hidden_from_the_rep_is_refused(world):
    crm, people, owned, team = world
    rep = crm.as_user(people["rep"])
    with pytest.raises(QueryError):
        rep.records("account").query(sort=("credit",), limit=2)
    page = rep.records("account").query(sort=("name",), limit=2)
    assert all("credit" not in record.values for record in page.records)


@pytest.mark.parametrize("limit", [2, 1000])
def test_rollups_on_a_reps_pages_count_only_deals_they_may_see(world, limit):
    crm, people, owned, team = world
    rep = crm.as_user(people["rep"])
    key = owned["other"][2]
    rep.records("deal").create({"name": "rep's on other's", "account": key, "amount": 7})
    listed = {record.id: record for page in rep_pages(rep, ("name",), limit) for record in page}
    assert listed[key].values["deals"] == 1 and listed[key].values["pipeline"] == 7
    for record_id, record in listed.items():
        one = rep.records("account").get(record_id)
        assert (record.values["deals"], record.values["pipeline"]) == (one.values["deals"], one.values["pipeline"])


@pytest.mark.parametrize("limit", [2, 1000])
def test_a_record_that_leaves_a_sharing_rules_criteria_leaves_the_reps_pages(world, limit):
    crm, people, owned, team = world
    key = owned["other"][2]
    rep = crm.as_user(people["rep"])
    assert key in {record.id for page in rep_pages(rep, ("-name",), limit) for record in page}
    system = crm.as_system().records("account")
    system.update(key, {"tier": "Silver"}, version=system.get(key)["version"])
    for session in (rep, crm.as_user(people["rep"])):
        assert key not in {record.id for page in rep_pages(session, ("-name",), limit) for record in page}
        assert key not in {record.id for page in rep_pages(session, ("score", "name"), limit) for record in page}


@pytest.mark.parametrize("limit", [2, 1000])
def test_a_session_opened_before_the_rep_left_the_team_or_the_role_sees_no_more_than_a_new_one(world, limit):
    """Rights change while a session is open (a long request, a worker): its next page follows them."""
    crm, people, owned, team = world
    rep = crm.as_user(people["rep"])
    key = owned["other"][2]
    below = owned["junior"][0]
    seen = {record.id for page in rep_pages(rep, ("name",), limit) for record in page}
    assert {key, below} <= seen
    directory = SystemDirectory(crm)
    directory.remove_from_team(team, people["rep"])
    directory.set_role(people["rep"], "support")
    fresh = {record.id for page in rep_pages(crm.as_user(people["rep"]), ("name",), limit) for record in page}
    assert key not in fresh and below not in fresh
    stale = {record.id for page in rep_pages(rep, ("name",), limit) for record in page}
    assert stale == fresh
