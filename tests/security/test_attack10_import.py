"""Attack on an import's lookup cells (transfer/lookups.py): naming a related record by a title the user sees masked.

A lookup cell names the related record by its title, matched on the stored title column through the user's
row filter. When the title is a formula reading a record the user may not see (masked: empty on `get`,
lists, autocomplete and search, security/derived.py), the stored value still answers: a dry run, which
writes nothing, tells for each guessed text whether it is the masked title, so a rep learns the name of an
account they cannot see. SQLite and PostgreSQL.
"""
from __future__ import annotations

import pytest

from crmkit.engine.transfer.importer import ImportOptions, ImportService
from tests.conftest import add_users

SECRET = "Bob's secret client"

PACKAGE = """
package: attack10_import
version: "1.0.0"
roles:
  rep: {label: Rep}
permission_sets:
  sales:
    roles: [rep]
    objects:
      account: [create, read, edit]
      deal: [create, read, edit]
      task: [create, read, edit, import]
objects:
  account:
    title_field: name
    sharing: private
    fields:
      name: {type: text}
  deal:
    title_field: label
    sharing: private
    fields:
      code: {type: text}
      account: {type: lookup, to: account}
      label: {type: formula, returns: text, formula: "account.name + ' renewal'"}
  task:
    title_field: subject
    sharing: private
    fields:
      subject: {type: text}
      deal: {type: lookup, to: deal}
"""


@pytest.fixture
def guessing(crm, write_package, install_once, tmp_path):
    """(Ann's import into task, a function writing a one-row CSV naming a deal by `text`)."""
    install_once(write_package(PACKAGE))
    users = add_users(crm, [("ann", "rep", ["sales"]), ("bob", "rep", ["sales"])])
    bobs = crm.as_user(users["bob"]).records("account").create({"name": SECRET})
    deal = crm.as_system().records("deal").create({"code": "D-1", "account": bobs.id, "owner_id": users["ann"]})
    ann = crm.as_user(users["ann"])
    assert ann.records("deal").get(deal.id)["label"] is None     # get: masked
    assert ann.records("deal").suggest(SECRET) == []              # autocomplete: not found by it

    def csv(text: str):
        path = tmp_path / "tasks.csv"
        path.write_text(f"Subject,Deal\nCall,{text}\n", encoding="utf-8")
        return path

    return ImportService(ann, "task"), csv


OPTIONS = ImportOptions(mapping={"Subject": "subject", "Deal": "deal"})


def test_a_lookup_cell_does_not_find_a_record_by_a_title_the_user_sees_masked(guessing):
    imports, csv = guessing
    wrong = imports.dry_run(csv("Someone else renewal"), OPTIONS)
    assert (wrong.created, wrong.failed) == (0, 1)
    guessed = imports.dry_run(csv(f"{SECRET} renewal"), OPTIONS)
    assert (guessed.created, guessed.failed) == (0, 1), "the masked title was matched"
