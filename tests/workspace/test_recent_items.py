"""Recent items: a cheap capped upsert per view or edit, read back through the user's own permissions."""
from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import replace
from typing import Iterator

import pytest
from sqlalchemy import event, func, select

from crmkit.engine import RecordNotFound
from crmkit.engine.records.errors import RecordError
from crmkit.engine.records.record import Record
from crmkit.engine.security.access import PermissionDenied
from crmkit.engine.security.users import SystemDirectory
from crmkit.engine.recent_items import CAP, RecentItems


def recent(office, name):
    return RecentItems(office.session(name))


def stored_rows(office, **where) -> int:
    table = office.crm.runtime.system_table("crmkit_recent_item")
    query = select(func.count()).select_from(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with office.crm.engine.connect() as connection:
        return connection.execute(query).scalar()


def test_recent_records_come_back_newest_first_across_objects_with_their_titles(office):
    rep = office.session("rep_a")
    acme = rep.records("deal").create({"name": "Acme renewal"})
    memo = rep.records("memo").create({"body": "call back"})
    beta = rep.records("deal").create({"name": "Beta 新单"})
    mine = recent(office, "rep_a")
    mine.touch("deal", acme.id)
    mine.touch("memo", memo.id)
    mine.touch("deal", beta.id, "edited")
    items = mine.items()
    assert [(item.object, item.id, item.title, item.action) for item in items] == [
        ("deal", beta.id, "Beta 新单", "edited"), ("memo", memo.id, str(memo.id), "viewed"),
        ("deal", acme.id, "Acme renewal", "viewed")]
    assert items[0].at > items[1].at > items[2].at
    assert [item.id for item in mine.items(limit=1)] == [beta.id]
    assert recent(office, "rep_b").items() == []


def test_touching_again_moves_the_record_to_the_top_in_one_row(office):
    rep = office.session("rep_a")
    first, second = (rep.records("deal").create({"name": name}) for name in ("First", "Second"))
    mine = recent(office, "rep_a")
    mine.touch("deal", first.id)
    mine.touch("deal", second.id)
    mine.touch("deal", first.id, "edited")
    assert [(item.title, item.action) for item in mine.items()] == [("First", "edited"), ("Second", "viewed")]
    assert stored_rows(office, user_id=office.ids["rep_a"]) == 2


def test_each_user_keeps_at_most_the_cap_dropping_the_oldest(office):
    records = office.session("rep_a").records("memo")
    created = [records.create({"body": f"memo {n}"}) for n in range(CAP + 5)]
    mine = recent(office, "rep_a")
    for memo in created:
        mine.touch("memo", memo.id)
    recent(office, "rep_b").touch("deal", office.session("rep_b").records("deal").create({"name": "B"}).id)
    assert stored_rows(office, user_id=office.ids["rep_a"]) == CAP
    assert stored_rows(office, user_id=office.ids["rep_b"]) == 1
    assert [item.id for item in mine.items(limit=CAP)] == [memo.id for memo in reversed(created[5:])]


def test_a_record_shared_away_since_leaks_nothing_not_even_its_title(office):
    deal = office.session("rep_a").records("deal").create({"name": "Secret merger"})
    share = office.session("rep_a").sharing.share("deal", deal.id, user_id=office.ids["rep_b"])
    theirs = recent(office, "rep_b")
    theirs.touch("deal", deal.id)
    assert [item.title for item in theirs.items()] == ["Secret merger"]
    office.session("rep_a").sharing.unshare(share)
    assert theirs.items() == []
    assert "Secret merger" not in repr(theirs.items())


def test_a_record_in_the_recycle_bin_is_left_out_until_it_is_restored(office):
    rep = office.session("rep_a")
    deal = rep.records("deal").create({"name": "Gone for now"})
    mine = recent(office, "rep_a")
    mine.touch("deal", deal.id)
    batch = rep.records("deal").delete(deal.id)
    assert mine.items() == []
    rep.recycle_bin.restore(batch)
    assert [item.title for item in mine.items()] == ["Gone for now"]


def test_an_erased_record_is_removed_from_everyones_recent_items(office):
    deal = office.session("rep_a").records("deal").create({"name": "Li Lei"})
    recent(office, "rep_a").touch("deal", deal.id)
    recent(office, "boss").touch("deal", deal.id)
    office.session("admin").privacy.erase("deal", deal.id)
    assert stored_rows(office, object="deal", record_id=deal.id) == 0
    assert recent(office, "rep_a").items() == [] and recent(office, "boss").items() == []


def test_a_title_the_user_may_not_read_shows_as_the_record_id(office):
    memo = office.session("finance").records("memo").create({"code": "M-77 layoffs", "body": "x"})
    boss = recent(office, "boss")  # above finance's role: sees the memo, not its protected code
    boss.touch("memo", memo.id)
    assert [item.title for item in boss.items()] == [str(memo.id)]
    recent(office, "finance").touch("memo", memo.id)
    assert [item.title for item in recent(office, "finance").items()] == ["M-77 layoffs"]


def test_a_record_the_user_cannot_see_is_not_recorded(office):
    deal = office.session("rep_a").records("deal").create({"name": "A's"})
    with pytest.raises(RecordNotFound):
        recent(office, "rep_b").touch("deal", deal.id)
    with pytest.raises(RecordNotFound):
        recent(office, "rep_b").touch("deal", 10**30)
    assert stored_rows(office, user_id=office.ids["rep_b"]) == 0
    nobody = SystemDirectory(office.crm).create_user("nobody").id
    with pytest.raises(PermissionDenied):
        RecentItems(office.crm.as_user(nobody)).touch("deal", deal.id)


def test_losing_the_object_permission_hides_its_recent_records(office):
    directory = SystemDirectory(office.crm)
    reader = directory.create_user("reader", permission_sets=["memo_reader"]).id
    memo = office.session("admin").records("memo").create({"body": "for all"})
    office.session("admin").sharing.share("memo", memo.id, user_id=reader)
    theirs = RecentItems(office.crm.as_user(reader))
    theirs.touch("memo", memo.id)
    assert [item.id for item in theirs.items()] == [memo.id]
    directory.revoke("memo_reader", user_id=reader)
    assert theirs.items() == []


def test_bad_input_is_refused_with_a_sentence(office):
    mine = recent(office, "rep_a")
    deal = office.session("rep_a").records("deal").create({"name": "X"})
    with pytest.raises(RecordError, match="viewed or edited"):
        mine.touch("deal", deal.id, "liked")
    for limit in (0, CAP + 1, True, "5"):
        with pytest.raises(RecordError, match=f"from 1 to {CAP}"):
            mine.items(limit=limit)
    with pytest.raises(RecordError, match="belong to a user"):
        RecentItems(office.crm.as_system())


def test_clearing_forgets_only_the_users_own_items(office):
    deal = office.session("rep_a").records("deal").create({"name": "Shared"})
    recent(office, "rep_a").touch("deal", deal.id)
    recent(office, "boss").touch("deal", deal.id)
    recent(office, "rep_a").clear()
    assert recent(office, "rep_a").items() == [] and len(recent(office, "boss").items()) == 1


@contextmanager
def statements_on(crm) -> Iterator[list[str]]:
    """The SQL statements run on the CRM's engine (reads and writes) inside the block."""
    seen: list[str] = []

    def executed(connection, cursor, statement, *rest) -> None:
        seen.append(statement)

    event.listen(crm.engine, "before_cursor_execute", executed)  # the write engine shares its events
    try:
        yield seen
    finally:
        event.remove(crm.engine, "before_cursor_execute", executed)


def deal_reads(statements: list[str]) -> list[str]:
    return [sql for sql in statements if re.search(r"FROM deal\s+WHERE deal\.id (=|IN) ", sql)]


def test_a_record_the_engine_just_read_for_the_user_is_recorded_without_reading_it_again(office):
    rep = office.session("rep_a")
    deal = rep.records("deal").create({"name": "Seen on its page"})
    shown = rep.records("deal").get(deal.id)
    with statements_on(office.crm) as statements:
        RecentItems(rep).touch("deal", shown)
    assert deal_reads(statements) == [] and statements
    assert [item.title for item in RecentItems(rep).items()] == ["Seen on its page"]
    with statements_on(office.crm) as statements:  # a bare id is checked, as before
        RecentItems(rep).touch("deal", deal.id)
    assert len(deal_reads(statements)) == 1, deal_reads(statements)


def test_a_record_read_for_another_user_or_made_by_hand_is_checked_by_its_id(office):
    deal = office.session("rep_a").records("deal").create({"name": "A's"})
    read_for_a = office.session("rep_a").records("deal").get(deal.id)
    rep_b = office.session("rep_b")
    made = Record("deal", dict(read_for_a.values))
    other = office.session("rep_b").records("deal").create({"name": "B's"})
    copied = replace(rep_b.records("deal").get(other.id), values={**read_for_a.values})
    for handed in (read_for_a, made, copied):  # never taken as read for rep_b: each is checked, and refused
        with pytest.raises(RecordNotFound):
            RecentItems(rep_b).touch("deal", handed)
    with pytest.raises(RecordNotFound):  # a record read as a deal is not taken for a memo of the same id
        RecentItems(office.session("rep_a")).touch("memo", read_for_a)
    assert stored_rows(office, user_id=office.ids["rep_b"]) == 0


def test_a_record_read_before_the_users_rights_changed_is_checked_again(office):
    deal = office.session("rep_a").records("deal").create({"name": "A's"})
    share = office.session("rep_a").sharing.share("deal", deal.id, user_id=office.ids["rep_b"])
    rep_b = office.session("rep_b")
    shown = rep_b.records("deal").get(deal.id)
    office.session("rep_a").sharing.unshare(share)
    with pytest.raises(RecordNotFound):
        RecentItems(rep_b).touch("deal", shown)
    assert stored_rows(office, user_id=office.ids["rep_b"]) == 0


def test_touching_a_record_already_among_them_is_one_update_and_drops_nothing(office):
    """Opening a record's page again moves its row up with one UPDATE: no upsert, no trim read, and with the cap
    reached no other row goes; a record not among them is upserted and trimmed as before."""
    records = office.session("rep_a").records("memo")
    created = [records.create({"body": f"memo {n}"}) for n in range(CAP)]
    mine = recent(office, "rep_a")
    for memo in created:
        mine.touch("memo", memo.id)
    oldest = created[0]
    with statements_on(office.crm) as statements:
        mine.touch("memo", oldest.id, "edited")
    writes = [sql for sql in statements if "crmkit_recent_item" in sql]
    assert len(writes) == 1 and writes[0].startswith("UPDATE crmkit_recent_item"), writes
    assert stored_rows(office, user_id=office.ids["rep_a"]) == CAP
    items = mine.items(limit=CAP)
    assert (items[0].id, items[0].action) == (oldest.id, "edited") and len(items) == CAP
    newer = records.create({"body": "one more"})
    with statements_on(office.crm) as statements:
        mine.touch("memo", newer.id)
    assert any(sql.startswith("INSERT INTO crmkit_recent_item") for sql in statements)
    assert stored_rows(office, user_id=office.ids["rep_a"]) == CAP
    assert [item.id for item in mine.items(limit=2)] == [newer.id, oldest.id]
    assert created[1].id not in {item.id for item in mine.items(limit=CAP)}  # the oldest not touched again went
