"""Who sees, restores and purges what in the recycle bin (records/recycle.py), on SQLite and PostgreSQL.

A user sees what they deleted themselves; `modify_all` on an object (administrators have
it everywhere) shows every deletion of that object. Purging needs `delete` on the object.
"""
# ruff: noqa: F811 - the timeline tests' `shop` fixture is imported, then named as the tests' argument
from __future__ import annotations

import pytest

from crmkit.engine import RecordNotFound
from crmkit.engine.security.access import PermissionDenied
from tests.conftest import add_users

from .test_timeline import PACKAGE, shop  # noqa: F401


@pytest.fixture
def admin(shop, crm):
    return crm.as_user(add_users(crm, [("admin", None, ["admin"])])["admin"])


def deleted(context, *names: str) -> dict[str, str]:
    """{name: bin batch} of accounts `context` creates and deletes."""
    batches = {}
    for name in names:
        account = context.records("account").create({"name": name})
        batches[name] = context.records("account").delete(account.id)
    return batches


def titles(context, **options) -> list[str]:
    return [entry["title"] for entry in context.recycle_bin.entries(**options)]


def test_a_rep_does_not_see_another_reps_deleted_records_in_the_bin(shop, admin):
    rep1, rep2 = shop["rep1"], shop["rep2"]
    deleted(rep1, "Rep one's account")
    theirs = deleted(rep2, "Rep two's account")["Rep two's account"]

    assert titles(rep1) == ["Rep one's account"]
    assert shop["rep1"].recycle_bin.objects() == ["account"]
    for action in (rep1.recycle_bin.restore, rep1.recycle_bin.purge):
        with pytest.raises(RecordNotFound):
            action(theirs)
    assert titles(rep2) == ["Rep two's account"]
    assert titles(admin) == ["Rep two's account", "Rep one's account"]
    assert titles(shop["manager"]) == []  # above them in the role tree, without modify_all


def test_an_administrator_restores_anyones_deletion(shop, admin):
    batch = deleted(shop["rep1"], "Back again")["Back again"]
    ((object_name, record_id),) = admin.recycle_bin.restore(batch)
    assert shop["rep1"].records("account").get(record_id)["name"] == "Back again" and object_name == "account"


def test_the_bin_is_paged_newest_first_and_filtered_by_object(shop):
    rep1 = shop["rep1"]
    deleted(rep1, "A", "B", "C")
    note = rep1.records("note").create({"subject": "Gone note"})
    rep1.records("note").delete(note.id)

    first = rep1.recycle_bin.entries(limit=2)
    assert [entry["title"] for entry in first] == ["Gone note", "C"]
    assert titles(rep1, limit=2, before=first[-1]["id"]) == ["B", "A"]
    assert titles(rep1, object_name="note") == ["Gone note"]
    assert rep1.recycle_bin.objects() == ["account", "note"]


def test_purging_needs_the_delete_permission_on_the_object(shop, crm, install):
    install(PACKAGE.replace('version: "1.0.0"', 'version: "1.1.0"').replace(
        "  margins:\n", "  cleanup:\n    roles: [manager]\n    objects:\n      account: [modify_all]\n  margins:\n"))
    rep1, manager = crm.as_user(shop["ids"]["rep1"]), crm.as_user(shop["ids"]["manager"])
    batches = deleted(rep1, "Purge me", "Keep me")
    assert [entry["may_purge"] for entry in manager.recycle_bin.entries()] == [True, True]
    assert manager.recycle_bin.purge(batches["Purge me"]) == 1

    install(PACKAGE.replace('version: "1.0.0"', 'version: "1.2.0"').replace(
        "      account: [create, read, edit, delete]\n", "      account: [create, read, edit]\n"))
    (entry,) = rep1.recycle_bin.entries()  # rep1 deleted it while they still could; now they may not delete
    assert entry["may_purge"] is False
    with pytest.raises(PermissionDenied):
        rep1.recycle_bin.purge(batches["Keep me"])
    assert rep1.recycle_bin.restore(batches["Keep me"]) == [("account", entry["record_id"])]


def test_user_names_give_display_names_of_the_ids_asked_only(shop):
    ids = shop["ids"]
    assert shop["rep1"].user_names([ids["rep2"], ids["manager"], "x", None, 10**30]) == {
        ids["rep2"]: "rep2", ids["manager"]: "manager"}
    assert shop["rep1"].user_names([]) == {}
