"""A sales rep's account list with records shared with them: the rows, order and rollups the rules give.

The list is read branch by branch and merged (query/sorting.py `merged_page`), its rollups
read for the merged page's ids (query/derived_page.py). Whatever the reading, the rep's
pages are every account they own or that is shared with them, once each, in name order
(empty names first, ties by id), and each record's rollups are the ones `get` gives them:
over the opportunities the rep may see, not the stored totals over everyone's.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from crmkit.engine.security.users import SystemDirectory

DEFAULT_CRM = Path(__file__).resolve().parents[2] / "apps" / "default_crm.yaml"
ROLLUPS = ("open_opportunity_count", "pipeline_amount", "won_amount")


@pytest.fixture
def shared_world(crm, state_snapshots):
    """wang and li (sales reps) with accounts named to tie and sort first and last; li shares three with wang.

    Every account of li's has an opportunity of li's, and wang's accounts one of wang's, and
    one li shares has one of wang's too: its stored totals count li's, which wang may not see.
    Built once per worker and database kind (tests/snapshots.py); each test gets its own copy.
    """
    people, ids, chosen = state_snapshots.apply(crm, "merged rep pages world", build_world, source=DEFAULT_CRM)
    return crm, people, ids, chosen


def build_world(crm) -> tuple[dict[str, int], dict[str, list[int]], tuple[int, int, int]]:
    crm.install(DEFAULT_CRM)
    directory = SystemDirectory(crm)
    people = {name: directory.create_user(name, role="sales_rep").id for name in ("wang", "li")}
    wang, li = crm.as_user(people["wang"]), crm.as_user(people["li"])
    ids: dict[str, list[int]] = {"wang": [], "li": []}
    for owner, session, names in (("wang", wang, ["Tie", None, "Beta", "Tie", "Tie"]),
                                  ("li", li, ["Tie", None, "Aaa", "Zzz", "Tie", "Mid"])):
        for name in names:
            account = session.records("account").create({"name": name or "to be emptied"})
            ids[owner].append(account.id)
            if name is None:  # a required field, empty in older data (an import, a field made required later)
                table = crm.runtime.table("account")
                with crm.engine.begin() as connection:
                    connection.execute(update(table).where(table.c.id == account.id).values(name=None))
            session.records("opportunity").create({"name": f"{owner} deal", "account": account.id, "amount": 100,
                                                   "stage": "Prospecting"})
    empty, tie, last = ids["li"][1], ids["li"][4], ids["li"][3]
    for record_id in (empty, tie, last):
        li.sharing.share("account", record_id, user_id=people["wang"])
    wang.records("opportunity").create({"name": "wang on li's", "account": tie, "amount": 7, "stage": "Prospecting"})
    return people, ids, (empty, tie, last)


def read_all(records, sort: tuple[str, ...], limit: int) -> list[list]:
    """Every page of `records` in `sort` order, `limit` records each, following the cursors."""
    pages, cursor = [], None
    while True:
        page = records.query(sort=sort, limit=limit, after=cursor)
        pages.append(page.records)
        cursor = page.next_cursor
        if cursor is None:
            return pages


def expected_order(crm, visible: set[int], sort: tuple[str, ...]) -> list[int]:
    """The ids of `visible` in the order an administrator's list gives them."""
    everything = crm.as_system().records("account").query(sort=sort, limit=1000).records
    return [record.id for record in everything if record.id in visible]


def test_a_reps_pages_hold_what_they_own_and_what_is_shared_with_them_in_list_order(shared_world):
    """By default, ascending and descending name, in pages of 3 and of 50."""
    crm, people, ids, shared = shared_world
    visible = set(ids["wang"]) | set(shared)
    for sort in ((), ("name",), ("-name",)):
        for limit in (3, 50):
            pages = read_all(crm.as_user(people["wang"]).records("account"), sort, limit)
            seen = [record.id for page in pages for record in page]
            assert seen == expected_order(crm, visible, sort or ("name",)), (sort, limit)
            assert all(len(page) == limit for page in pages[:-1]), (sort, limit)


def test_the_shared_empty_name_comes_first_and_the_shared_zzz_last(shared_world):
    crm, people, ids, (empty, tie, last) = shared_world
    pages = read_all(crm.as_user(people["wang"]).records("account"), ("name",), 3)
    assert pages[0][0].id in (empty, ids["wang"][1])  # both empty: the smaller id first
    assert pages[0][0].id == min(empty, ids["wang"][1])
    assert pages[-1][-1].id == last
    ties = [record.id for page in pages for record in page if record.values["name"] == "Tie"]
    assert ties == sorted([ids["wang"][0], ids["wang"][3], ids["wang"][4], tie])


@pytest.mark.parametrize("limit", [2, 50])
def test_a_reps_page_shows_each_records_rollups_as_get_does(shared_world, limit):
    crm, people, ids, (empty, tie, last) = shared_world
    accounts = crm.as_user(people["wang"]).records("account")
    listed = {record.id: record for page in read_all(accounts, ("name",), limit) for record in page}
    for record_id, record in listed.items():
        one = accounts.get(record_id)
        assert {name: record.values[name] for name in ROLLUPS} == {name: one.values[name] for name in ROLLUPS}
    assert listed[tie].values["open_opportunity_count"] == 1  # wang's own deal on it, not li's
    assert listed[empty].values["open_opportunity_count"] == 0
    stored = crm.as_system().records("account").get(tie)
    assert stored.values["open_opportunity_count"] == 2
