"""Looking an unindexed title up among the text's matches (records/service.py `_title_among_matches`) tells a user
nothing more than the search does: a title derived from a record they may not see (a formula over a private
parent) is neither matched nor ranked first by the hidden value, and a title hidden from them is never used; on
both databases, with enough matches to fill the list (the path that reads the titles among the matches)."""
from __future__ import annotations

import pytest

from tests.conftest import add_users

PACKAGE = """
package: attack15_titles
version: "1.0.0"
roles:
  rep: {label: Rep}
permission_sets:
  sales:
    roles: [rep]
    objects:
      account: [create, read, edit]
      contact: [create, read, edit]
      lead: [create, read, edit]
  names:
    fields:
      lead.name: [read]
objects:
  account:
    title_field: name
    sharing: private
    fields:
      name: {type: text, searchable: true}
  contact:
    title_field: company
    sharing: public_read
    fields:
      name: {type: text, searchable: true}
      notes: {type: textarea, searchable: true}
      account: {type: lookup, to: account, on_delete: cascade}
      company: {type: formula, returns: text, formula: "account.name", searchable: true}
  lead:
    title_field: name
    sharing: public_read
    fields:
      name: {type: text, searchable: true}
      notes: {type: textarea, searchable: true}
"""


@pytest.fixture
def people(crm, install):
    install(PACKAGE)
    return add_users(crm, [("rep1", "rep", []), ("rep2", "rep", [])])


def test_a_title_derived_from_a_private_parent_is_not_found_or_ranked_by_it(crm, people):
    rep1 = crm.as_user(people["rep1"])
    account = rep1.records("account").create({"name": "Wombatine Mining"})
    named = rep1.records("contact").create({"name": "Pat", "account": account.id})
    for number in range(15):
        rep1.records("contact").create({"name": f"Other {number}", "notes": "wombatine talk"})
    own = rep1.records("contact").suggest("wombatine", limit=5)
    assert own[0] == (named.id, "Wombatine Mining")  # the owner: the title starting with the text first
    rep2 = crm.as_user(people["rep2"]).records("contact")
    offered = rep2.suggest("wombatine", limit=20)
    assert named.id not in [record_id for record_id, _title in offered]
    assert "Wombatine Mining" not in [title for _id, title in offered]
    assert named.id not in [hit.id for hit in crm.as_user(people["rep2"]).search("wombatine mining")]


def test_a_title_hidden_from_the_user_is_never_used_to_find_or_rank(crm, people):
    system = crm.as_system()
    secret = system.records("lead").create({"name": "Quokka Holdings", "notes": "met once"})
    system.records("lead").bulk_create([{"name": f"Lead {n}", "notes": "quokka fans"} for n in range(15)])
    rep = crm.as_user(people["rep1"]).records("lead")
    offered = rep.suggest("quokka", limit=20)
    assert secret.id not in [record_id for record_id, _title in offered]
    assert all(title == str(record_id) for record_id, title in offered)  # titles shown as ids
