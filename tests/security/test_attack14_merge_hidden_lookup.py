"""attack14: a merge's result names a lookup field the user may not read, and counts the records linked through it.

`MergeService.merge` returns `reparented` {"object.field": count} counting, per lookup pointing at the merged
record, the moved children the user may read (by their row filter only). ann may read visits but not their
`referee` field (auditors only): merging person B into A tells her {"visit.referee": 1}, the name of a field that
is refused to her everywhere else as one the object has not, and that one of the visits she reads names B as its
referee. Merging (restorable) duplicates one by one, she learns whose referee field points where.

Expected: a lookup field the user may not read is left out of `reparented` (the security log keeps the full
counts), as children of rows they may not read are. SQLite and PostgreSQL.
"""
from __future__ import annotations

import pytest

from crmkit.engine.transfer.merge import MergeService
from tests.conftest import add_users

PACKAGE = """
package: attack14_merge_hidden_lookup
version: "1.0.0"
permission_sets:
  clerks:
    objects:
      person: [create, read, edit, delete]
      visit: [create, read, edit, delete]
  auditors:
    objects:
      visit: [read]
    fields:
      visit.referee: [read]
objects:
  person:
    title_field: last_name
    sharing: public_read_write
    fields:
      last_name: {type: text, required: true}
  visit:
    title_field: note
    sharing: public_read_write
    fields:
      note: {type: text}
      person: {type: lookup, to: person}
      referee: {type: lookup, to: person}
"""


@pytest.fixture
def ann(crm, write_package, install_once):
    install_once(write_package(PACKAGE))
    return crm.as_user(add_users(crm, [("ann", None, ["clerks"])])["ann"])


def test_a_merge_tells_nothing_of_children_linked_by_a_field_the_user_may_not_read(crm, ann):
    persons = ann.records("person")
    keep, other = (persons.create({"last_name": name}).id for name in ("A", "B"))
    visit = crm.as_system().records("visit").create({"note": "call", "referee": other}).id
    assert "referee" not in ann.records("visit").get(visit)  # the field is hidden from ann
    result = MergeService(ann, "person").merge(keep, [other])
    assert crm.as_system().records("visit").get(visit)["referee"] == keep  # moved all the same
    assert result.reparented == {}
