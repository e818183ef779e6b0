"""Finding duplicates among stored records and merging them: values chosen, children re-parented, the rest in the bin."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from crmkit.engine.security.access import PermissionDenied
from crmkit.engine.transfer.merge import MergeError, MergeService

CHILDREN = """
package: merge_children
version: "1.0.0"
depends_on: [transfer_test]
objects:
  visit:
    title_field: note
    track_history: true
    fields:
      note: {type: text}
      person: {type: lookup, to: person}
"""


@pytest.fixture
def merging(crm, people, write_package):
    crm.install(write_package(CHILDREN, "children.yaml"))
    return MergeService(crm.as_system(), "person")


def test_duplicates_are_found_by_email_phone_or_name_in_groups(crm, merging):
    persons = crm.as_system().records("person")
    ids = [persons.create(values).id for values in (
        {"last_name": "Wang", "email": "wang@example.cn", "phone": "138 0013 8000"},
        {"last_name": "wang", "email": "WANG@example.cn ", "phone": "+86 13800138000"},
        {"last_name": "Li", "email": "li@example.cn", "phone": "+1 415 555 2671"},
        {"last_name": "Zhao", "email": "zhao@example.cn", "phone": "021 5555 2671"},
    )]
    assert merging.find_duplicates("email") == [ids[:2]]
    assert merging.find_duplicates("phone") == [ids[:2]]  # the same last 8 digits, another number: not alike
    assert merging.find_duplicates("name") == [ids[:2]]


def test_a_merge_keeps_chosen_values_fills_empty_ones_and_moves_children_to_the_survivor(crm, merging):
    system = crm.as_system()
    persons, visits = system.records("person"), system.records("visit")
    keep = persons.create({"last_name": "Wang", "email": "wang@example.cn"})
    other = persons.create({"last_name": "Wang Wei", "email": "wang@example.cn", "phone": "13800138000",
                            "company": 1})
    visit = visits.create({"note": "first call", "person": other.id})
    result = merging.merge(keep.id, [other.id], {"last_name": other.id})
    assert result.reparented == {"visit.person": 1} and result.merged == (other.id,)
    survivor = persons.get(keep.id)
    assert (survivor["last_name"], survivor["phone"], survivor["company"]) == ("Wang Wei", "13800138000", 1)
    assert visits.get(visit.id)["person"] == keep.id
    assert persons.count().value == 1  # the merged record is in the recycle bin
    changed = {entry["field"] for entry in persons.history(keep.id) if entry["operation"] == "update"}
    assert {"company", "last_name", "phone"} <= changed  # the survivor's history says what the merge changed
    assert [entry["operation"] for entry in visits.history(visit.id)] == ["create", "update"]
    log = crm.runtime.system_table("crmkit_security_log")
    with crm.engine.connect() as connection:
        details = [row.detail for row in connection.execute(select(log).where(log.c.event == "records.merged"))]
    assert details == [{"object": "person", "survivor": keep.id, "merged": [other.id],
                        "fields": ["company", "last_name", "phone"], "reparented": {"visit.person": 1}}]


def test_a_merge_needs_edit_on_the_survivor_and_delete_on_the_merged(crm, merging, users):
    persons = crm.as_system().records("person")
    keep, other = (persons.create({"last_name": name}) for name in ("A", "B"))
    with pytest.raises(PermissionDenied):
        MergeService(crm.as_user(users["ann"]), "person").merge(keep.id, [other.id])
    assert persons.count().value == 2


def test_a_record_cannot_be_merged_into_itself(merging, crm):
    keep = crm.as_system().records("person").create({"last_name": "A"})
    with pytest.raises(MergeError, match="choose one record to keep"):
        merging.merge(keep.id, [keep.id])


def test_the_duplicates_of_one_record_are_found_by_each_rule_the_object_has(crm, merging):
    persons = crm.as_system().records("person")
    first = persons.create({"last_name": "Wang", "email": "wang@example.cn"})
    second = persons.create({"last_name": "Li", "email": " WANG@example.cn"})
    persons.create({"last_name": "Zhao", "email": "zhao@example.cn"})
    assert merging.rules() == ["email", "phone", "name"]
    assert merging.duplicates_of(first.id, "email") == [second.id]
    assert merging.duplicates_of(first.id, "phone") == []
