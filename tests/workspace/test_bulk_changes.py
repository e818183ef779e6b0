"""Bulk edit and bulk delete: each chosen record saved on its own, through the normal pipeline and per-record permissions."""
from __future__ import annotations

import pytest

from crmkit.engine.records.bulk_changes import MAX_RECORDS, BulkResult
from crmkit.engine.records.errors import RecordError
from crmkit.engine.security.access import PermissionDenied
from crmkit.engine.security.users import SystemDirectory


def deals(office, name, *names):
    records = office.session(name).records("deal")
    return [records.create({"name": text, "stage": "New"}) for text in names]


def stages(office, *records):
    system = office.crm.as_system().records("deal")
    return [system.get(record.id)["stage"] for record in records]


def test_bulk_edit_saves_each_record_through_the_pipeline_with_history_and_search(office):
    one, two, three = deals(office, "rep_a", "Alpha", "Bravo", "Charlie")
    rep = office.session("rep_a").records("deal")
    result = rep.update_many({one.id: one.version, two.id: two.version, three.id: three.version}, {"stage": "Won"})
    assert result == BulkResult(succeeded=(one.id, two.id, three.id), failed=()) and result.complete
    assert stages(office, one, two, three) == ["Won", "Won", "Won"]
    assert [rep.get(record.id).version for record in (one, two, three)] == [2, 2, 2]
    renamed = rep.update_many([one.id], {"name": "Zulu tango"})
    assert renamed.succeeded == (one.id,)
    assert [hit.id for hit in office.session("rep_a").search("Zulu")] == [one.id]


def test_records_a_rep_cannot_see_are_reported_like_missing_ones_and_left_alone(office):
    mine, = deals(office, "rep_a", "Mine")
    theirs, = deals(office, "rep_b", "Theirs")
    missing = theirs.id + 1000
    result = office.session("rep_a").records("deal").update_many([mine.id, theirs.id, missing], {"stage": "Lost"})
    assert result.succeeded == (mine.id,)
    assert [(failure.id, failure.status, failure.message) for failure in result.failed] == [
        (theirs.id, 404, f"there is no deal record with id {theirs.id}."),
        (missing, 404, f"there is no deal record with id {missing}."),
    ]
    assert "Theirs" not in repr(result)
    assert stages(office, mine, theirs) == ["Lost", "New"]
    deleted = office.session("rep_a").records("deal").delete_many([theirs.id])
    assert deleted.succeeded == () and deleted.failed[0].message == f"there is no deal record with id {theirs.id}."
    assert office.crm.as_system().records("deal").get(theirs.id)["name"] == "Theirs"


def test_each_failure_carries_the_engines_field_messages_and_the_others_are_saved(office):
    good, stale, other = deals(office, "rep_a", "Good", "Stale", "Other")
    rep = office.session("rep_a").records("deal")
    rep.update(stale.id, {"name": "Stale, edited meanwhile"}, version=stale.version)
    result = rep.update_many({good.id: 1, stale.id: 1}, {"stage": "Won"})
    assert result.succeeded == (good.id,)
    failure, = result.failed
    assert failure.status == 409 and "changed by someone else" in failure.message
    invalid = rep.update_many([other.id], {"stage": "Maybe"})
    assert invalid.failed[0].status == 422 and list(invalid.failed[0].errors) == ["stage"]
    hidden = rep.update_many([other.id], {"margin": "5"})
    assert hidden.failed[0].errors == {"margin": ("is not a field of deal.",)}
    assert stages(office, good, stale, other) == ["Won", "New", "New"]


def test_a_whole_call_without_the_object_permission_or_beyond_the_cap_is_refused(office):
    reader = office.crm.as_user(SystemDirectory(office.crm).create_user("reader", permission_sets=["memo_reader"]).id)
    memo = office.session("admin").records("memo").create({"code": "M-1"})
    with pytest.raises(PermissionDenied):
        reader.records("memo").update_many([memo.id], {"body": "x"})
    with pytest.raises(PermissionDenied):
        reader.records("memo").delete_many([memo.id])
    mine, = deals(office, "rep_a", "Capped")
    with pytest.raises(RecordError, match=f"at most {MAX_RECORDS} records"):
        office.session("rep_a").records("deal").update_many([mine.id] + list(range(10**6, 10**6 + MAX_RECORDS)),
                                                            {"stage": "Won"})
    assert stages(office, mine) == ["New"]


def test_bulk_delete_moves_each_record_to_the_recycle_bin_and_a_rep_cannot_delete_above_them(office):
    one, two = deals(office, "rep_a", "One", "Two")
    rep = office.session("rep_a")
    result = rep.records("deal").delete_many({one.id: one.version, two.id: two.version + 5})
    assert result.succeeded == (one.id,) and result.failed[0].status == 409
    assert [entry["record_id"] for entry in rep.recycle_bin.entries("deal")] == [one.id]
    boss_deal = office.session("boss").records("deal").create({"name": "Boss deal"})
    office.session("boss").sharing.share("deal", boss_deal.id, user_id=office.ids["rep_a"], access="edit")
    refused = rep.records("deal").delete_many([boss_deal.id])
    assert refused.failed[0].status == 403 and refused.succeeded == ()


def test_inside_a_transaction_a_failing_record_is_undone_alone(office):
    good, bad = deals(office, "rep_a", "Good", "Bad")
    session = office.session("rep_a")
    with session.transaction():
        result = session.records("deal").update_many({good.id: good.version, bad.id: bad.version + 1},
                                                     {"stage": "Won"})
    assert result.succeeded == (good.id,)
    assert stages(office, good, bad) == ["Won", "New"]
