"""attack14: merging duplicates (transfer/merge.py) when a unique value or a unique lookup is involved.

1. The survivor's empty fields take the merged record's values (docs/import.md, "Merging duplicates"), but the
   merged record is moved to the recycle bin only after the survivor is saved: a unique field (an ERP code, a
   badge) filled from the merged record is "already used by another record" (the merged one), so any merge of two
   duplicates where only the merged one holds a unique value is refused, though the merge would leave it used
   once. Expected: the merge succeeds and the survivor holds the value.
2. Children are re-parented by one raw UPDATE per lookup; a child object whose lookup is unique (one badge card per
   person) with a child on each side makes that UPDATE violate the unique index: a raw IntegrityError
   (sqlite3.IntegrityError / psycopg UniqueViolation: a 500 on /r/<object>/<id>/merge) naming the table and index,
   even to a user who may not read that child object. Expected: a refusal with a sentence (a CrmkitError), nothing
   changed. SQLite and PostgreSQL.
"""
from __future__ import annotations

import pytest

from crmkit.errors import CrmkitError
from crmkit.engine.transfer.merge import MergeService

PACKAGE = """
package: attack14_merge
version: "1.0.0"
objects:
  member:
    title_field: name
    sharing: public_read_write
    fields:
      name: {type: text, required: true}
      email: {type: email}
      badge: {type: text, unique: true}
  badgecard:
    title_field: note
    fields:
      note: {type: text}
      holder: {type: lookup, to: member, unique: true}
"""


@pytest.fixture
def members(crm, write_package, install_once):
    install_once(write_package(PACKAGE))
    return crm.as_system()


def test_a_merge_fills_a_unique_field_from_the_merged_duplicate(members):
    people = members.records("member")
    kept = people.create({"name": "Li Lei", "email": "li@example.cn"})
    duplicate = people.create({"name": "Li Lei", "email": "li@example.cn", "badge": "B-001"})
    MergeService(members, "member").merge(kept.id, [duplicate.id])
    assert people.get(kept.id)["badge"] == "B-001"


def test_a_merge_moving_children_onto_a_unique_lookup_is_refused_with_a_sentence(members):
    people, cards = members.records("member"), members.records("badgecard")
    kept = people.create({"name": "Han Mei"})
    duplicate = people.create({"name": "Han Mei"})
    cards.create({"note": "first", "holder": kept.id})
    cards.create({"note": "second", "holder": duplicate.id})
    try:
        MergeService(members, "member").merge(kept.id, [duplicate.id])
    except CrmkitError:
        pass  # refused with a sentence
    except Exception as error:  # a raw driver error
        pytest.fail(f"raw {type(error).__module__}.{type(error).__name__}: {error}")
    else:
        pytest.fail("the merge gave one member two badge cards")
    assert people.get(duplicate.id)["name"] == "Han Mei"  # nothing changed: the duplicate is not binned
