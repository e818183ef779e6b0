"""A record's timeline: field history and linked activities, newest first, a keyset page at a time,
showing a user nothing they may not see (records/timeline.py), on SQLite and PostgreSQL.

    manager ─┬─ rep1
             └─ rep2          account.discount is protected: only the manager reads it
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event

from crmkit.engine import RecordNotFound
from crmkit.engine.query import QueryError
from crmkit.engine.records.record import Record
from crmkit.engine.records.timeline import ActivityEntry, HistoryEntry
from crmkit.engine.tables import HISTORY_INDEX
from tests.conftest import add_users

PACKAGE = """
package: shop
version: "1.0.0"
roles:
  manager: {}
  rep: {parent: manager}
permission_sets:
  sales:
    roles: [manager, rep]
    objects:
      account: [create, read, edit, delete]
      note: [create, read, edit, delete]
  margins:
    roles: [manager]
    fields:
      account.discount: [read, edit]
objects:
  account:
    title_field: name
    sharing: public_read_write
    track_history: true
    fields:
      name: {type: text}
      rating: {type: picklist, options: [Hot, Cold]}
      discount: {type: percent}
  note:
    title_field: subject
    sharing: private
    fields:
      subject: {type: text}
      account: {type: lookup, to: account, on_delete: set_null}
"""


class Clock:
    """A minute later at every call: each write has its own moment."""

    def __init__(self) -> None:
        self.now = datetime(2024, 5, 1, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


@pytest.fixture
def shop(crm, install):
    install(PACKAGE)
    crm.clock = Clock()
    users = add_users(crm, [("manager", "manager", []), ("rep1", "rep", []), ("rep2", "rep", [])])
    return {name: crm.as_user(user_id) for name, user_id in users.items()} | {"ids": users}


def entries(context, record_id: int, **options) -> list:
    return list(context.records("account").timeline(record_id, **options).entries)


def describe(entry) -> tuple:
    if isinstance(entry, HistoryEntry):
        return ("history", entry.operation, entry.field, entry.old_value, entry.new_value)
    return ("activity", entry.object, entry.record["subject"], entry.via)


def test_history_and_activities_come_newest_first_with_who_changed_what(shop):
    manager, rep1 = shop["manager"], shop["rep1"]
    account = rep1.records("account").create({"name": "Acme", "rating": "Cold"})
    rep1.records("note").create({"subject": "First call", "account": account.id})
    manager.records("account").update(account.id, {"rating": "Hot"}, version=1)

    shown = entries(rep1, account.id)
    assert [describe(entry) for entry in shown] == [
        ("history", "update", "rating", "Cold", "Hot"),
        ("activity", "note", "First call", ("account",)),
        ("history", "create", None, None, None),
    ]
    assert shown[0].changed_by == shop["ids"]["manager"] and shown[2].changed_by == shop["ids"]["rep1"]
    assert shown[0].at > shown[1].at > shown[2].at


def test_a_rep_does_not_learn_a_hidden_fields_changes_from_the_timeline(shop):
    manager, rep1 = shop["manager"], shop["rep1"]
    account = manager.records("account").create({"name": "Acme", "discount": "5"})
    for version, discount in enumerate(["10", "15", "20"], start=1):
        manager.records("account").update(account.id, {"discount": discount}, version=version)
    manager.records("account").update(account.id, {"rating": "Hot"}, version=4)

    for page in ({}, {"limit": 1}):  # the hidden changes neither show nor take a place on a page
        shown = entries(rep1, account.id, **page)
        assert "discount" not in repr(shown) and "15" not in repr(shown)
        assert describe(shown[0]) == ("history", "update", "rating", None, "Hot")
    page = rep1.records("account").timeline(account.id, limit=1)
    assert [describe(e) for e in entries(rep1, account.id, after=page.next_cursor)] == [
        ("history", "create", None, None, None)]
    assert [entry.field for entry in entries(manager, account.id)].count("discount") == 3
    assert len(rep1.records("account").history(account.id)) == 2


def test_activities_the_user_may_not_see_are_left_out(shop):
    rep1, rep2 = shop["rep1"], shop["rep2"]
    account = rep1.records("account").create({"name": "Shared"})
    rep1.records("note").create({"subject": "Mine", "account": account.id})
    rep2.records("note").create({"subject": "Rep two's private note", "account": account.id})

    assert [describe(e)[2] for e in entries(rep1, account.id) if isinstance(e, ActivityEntry)] == ["Mine"]
    assert [describe(e)[2] for e in entries(rep2, account.id) if isinstance(e, ActivityEntry)] == [
        "Rep two's private note"]
    assert len([e for e in entries(shop["manager"], account.id) if isinstance(e, ActivityEntry)]) == 2


def test_pages_follow_one_another_without_gaps_or_repeats(shop):
    rep1 = shop["rep1"]
    account = rep1.records("account").create({"name": "Busy"})
    version = 1
    for n in range(7):
        rep1.records("note").create({"subject": f"Note {n}", "account": account.id})
        rep1.records("account").update(account.id, {"name": f"Busy {n}"}, version=version)
        version += 1
    everything = [describe(e) for e in entries(rep1, account.id, limit=100)]
    assert len(everything) == 15

    seen, cursor = [], None
    while True:
        page = rep1.records("account").timeline(account.id, after=cursor, limit=4)
        seen.extend(describe(e) for e in page.entries)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == everything


def test_entries_of_the_same_moment_are_paged_by_source_and_id(shop, crm):
    crm.clock = lambda: datetime(2024, 6, 1, tzinfo=timezone.utc)  # everything at once
    rep1 = shop["rep1"]
    account = rep1.records("account").create({"name": "Same time"})
    for n in range(3):
        rep1.records("note").create({"subject": f"Note {n}", "account": account.id})
    rep1.records("account").update(account.id, {"rating": "Hot"}, version=1)
    everything = [describe(e) for e in entries(rep1, account.id)]
    paged, cursor = [], None
    for _ in range(5):
        page = rep1.records("account").timeline(account.id, after=cursor, limit=1)
        paged.extend(describe(e) for e in page.entries)
        cursor = page.next_cursor
    assert paged == everything and cursor is None


def test_the_timeline_of_a_record_the_user_may_not_read_is_not_found(shop, install):
    rep1, rep2 = shop["rep1"], shop["rep2"]
    note = rep1.records("note").create({"subject": "Private"})
    with pytest.raises(RecordNotFound):
        rep2.records("note").timeline(note.id)


def test_a_damaged_cursor_or_page_size_is_refused_in_words(shop):
    account = shop["rep1"].records("account").create({"name": "Acme"})
    for options in ({"after": "not-a-cursor"}, {"after": "W10"}, {"limit": 0}, {"limit": 101}):
        with pytest.raises(QueryError):
            entries(shop["rep1"], account.id, **options)


def test_the_history_page_is_read_along_its_index(shop, crm, plan_reader):
    rep1 = shop["rep1"]
    account = rep1.records("account").create({"name": "Indexed"})
    for version in range(1, 30):
        rep1.records("account").update(account.id, {"name": f"Indexed {version}"}, version=version)
    page = rep1.records("account").timeline(account.id, limit=5)
    plans = plan_reader(crm.engine).plans(
        lambda: rep1.records("account").timeline(account.id, after=page.next_cursor, limit=5))
    (history,) = [plan for plan in plans if "crmkit_history" in str(plan) or HISTORY_INDEX in plan.indexes]
    assert HISTORY_INDEX in history.indexes, str(history)
    assert not history.sorts, str(history)


def test_migrate_builds_the_history_index_of_a_database_written_before_it(shop, crm):
    from sqlalchemy import inspect

    from crmkit.engine.tables import RETIRED_HISTORY_INDEX

    with crm.engine.begin() as connection:  # what crmkit built before the timeline
        connection.exec_driver_sql(f"DROP INDEX {HISTORY_INDEX}")
        connection.exec_driver_sql(f"CREATE INDEX {RETIRED_HISTORY_INDEX} ON crmkit_history (object, record_id, id)")
    crm.migrate()
    with crm.engine.connect() as connection:
        names = {index["name"] for index in inspect(connection).get_indexes("crmkit_history")}
    assert HISTORY_INDEX in names and RETIRED_HISTORY_INDEX not in names


def test_activities_linked_through_a_lookup_the_user_may_not_read_are_left_out(shop, install, crm):
    install(PACKAGE.replace('version: "1.0.0"', 'version: "1.1.0"').replace(
        "      account.discount: [read, edit]\n", "      account.discount: [read, edit]\n      note.account: [read, edit]\n"))
    manager = crm.as_user(shop["ids"]["manager"])
    account = manager.records("account").create({"name": "Linked"})
    note = manager.records("note").create({"subject": "Linked privately", "account": account.id,
                                           "owner_id": shop["ids"]["rep1"]})
    rep1 = crm.as_user(shop["ids"]["rep1"])
    assert rep1.records("note").get(note.id)["subject"] == "Linked privately"  # the note, not its link

    assert [e.record["subject"] for e in entries(manager, account.id) if isinstance(e, ActivityEntry)] == [
        "Linked privately"]
    assert not [e for e in entries(rep1, account.id) if isinstance(e, ActivityEntry)]


def account_reads(crm, call) -> list[str]:
    """The reads of an account row by id that `call()` runs (the write engine shares the engine's events)."""
    seen: list[str] = []

    def executed(connection, cursor, statement, *rest) -> None:
        seen.append(statement)

    event.listen(crm.engine, "before_cursor_execute", executed)
    try:
        call()
    finally:
        event.remove(crm.engine, "before_cursor_execute", executed)
    return [sql for sql in seen if re.search(r"FROM account\s+WHERE account\.id = ", sql)]


def test_the_record_read_in_the_same_operation_is_not_read_again_for_its_timeline(shop, crm):
    rep1 = shop["rep1"]
    account = rep1.records("account").create({"name": "Acme"})

    def page_in_one_snapshot() -> None:
        with rep1.snapshot():
            shown = rep1.records("account").get(account.id)
            page = rep1.records("account").timeline(shown)
            assert [describe(entry) for entry in page.entries] == [("history", "create", None, None, None)]

    assert len(account_reads(crm, page_in_one_snapshot)) == 1  # the get's only
    read_before = rep1.records("account").get(account.id)  # another operation: checked again
    assert len(account_reads(crm, lambda: rep1.records("account").timeline(read_before))) == 1


def test_a_record_read_for_another_user_does_not_open_a_timeline_they_may_not_read(shop):
    rep1, rep2 = shop["rep1"], shop["rep2"]
    note = rep1.records("note").create({"subject": "Private"})
    with rep1.snapshot():
        read_for_rep1 = rep1.records("note").get(note.id)
        with pytest.raises(RecordNotFound):
            rep2.records("note").timeline(read_for_rep1)
    with rep2.snapshot():
        with pytest.raises(RecordNotFound):
            rep2.records("note").timeline(Record("note", {"id": note.id}))
