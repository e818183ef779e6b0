"""Edit access is not ownership; a delete never destroys what the user may not delete; privacy
requests need the rights they exercise (docs/permissions.md). The permission matrix's company:

    ceo ─ sales_director ─┬─ east_rep (east1, east2)
        │                 └─ west_rep (west1, in the key_accounts team: edits the CEO's A5 by a rule)
        └─ support_lead (support)
"""
# ruff: noqa: F401, F811 - the matrix's `world` fixture is imported, then named as the tests' argument
from __future__ import annotations

import pytest

from crmkit.engine import CascadeDeleteError, RecordNotFound, RecordValidationError
from crmkit.engine.security.access import PermissionDenied

from .test_permission_matrix import PACKAGE, move_east2_deal_off_a1, session, world

#: The matrix's package, one version on: reps may import accounts; contacts have tasks (private,
#: deleted with their contact) and accounts have visits (everyone edits them, only admins delete them).
EXTENDED = PACKAGE.replace('version: "1.0.0"', 'version: "1.1.0"').replace("""  privacy:
    system: [manage_privacy]
""", """  privacy:
    system: [manage_privacy]
  field_work:
    roles: [sales_director, east_rep, west_rep]
    objects:
      account: [import]
      task: [create, read, edit, delete]
      visit: [create, read, edit]
""").replace("""  product:
    sharing: public_read
""", """  task:
    title_field: name
    sharing: private
    fields:
      name: {type: text}
      contact: {type: lookup, to: contact, on_delete: cascade}
  visit:
    sharing: public_read_write
    fields:
      name: {type: text}
      account: {type: lookup, to: account, on_delete: cascade}
  product:
    sharing: public_read
""")


@pytest.fixture
def matrix_package() -> str:
    """The matrix's company, installed with the package one version on (EXTENDED)."""
    return EXTENDED


@pytest.fixture
def company(world):
    return world


def owner_of(world, object_name: str, record_id: int) -> int:
    return world["crm"].as_system().records(object_name).get(record_id)["owner_id"]


# -- edit access is not ownership ---------------------------------------------------------------


def test_an_edit_share_lets_the_recipient_edit_the_record_but_not_take_it(world):
    a1, users = world["accounts"]["A1"], world["users"]
    session(world, "east1").sharing.share("account", a1.id, user_id=users["east2"], access="edit")
    accounts = session(world, "east2").records("account")
    with pytest.raises(RecordValidationError) as caught:
        accounts.update(a1.id, {"owner_id": users["east2"]}, version=a1.version)
    assert list(caught.value.errors) == ["owner_id"]
    assert "owner" in caught.value.errors["owner_id"][0]
    assert owner_of(world, "account", a1.id) == users["east1"]
    assert session(world, "east1").records("account").get(a1.id)["name"] == "A1"
    # Editing the values, and naming the owner it already has, stay allowed.
    edited = accounts.update(a1.id, {"name": "A1 Ltd", "owner_id": str(users["east1"])}, version=a1.version)
    assert (edited["name"], edited["owner_id"]) == ("A1 Ltd", users["east1"])


def test_a_team_edit_rule_lets_members_edit_the_ceos_account_but_not_take_it(world):
    a5, users = world["accounts"]["A5"], world["users"]
    accounts = session(world, "west1").records("account")
    with pytest.raises(RecordValidationError) as caught:
        accounts.update(a5.id, {"owner_id": users["west1"]}, version=a5.version)
    assert list(caught.value.errors) == ["owner_id"]
    assert owner_of(world, "account", a5.id) == users["ceo"]
    assert accounts.update(a5.id, {"name": "A5 Group"}, version=a5.version)["name"] == "A5 Group"


def test_owners_and_those_above_them_or_with_modify_all_give_records_away(world):
    users, accounts = world["users"], world["accounts"]
    director = session(world, "director").records("account")
    moved = director.update(accounts["A1"].id, {"owner_id": users["west1"]}, version=accounts["A1"].version)
    assert moved["owner_id"] == users["west1"]
    with pytest.raises(RecordValidationError):  # above the owner, but only to people below oneself
        director.update(accounts["A2"].id, {"owner_id": users["ceo"]}, version=accounts["A2"].version)
    given = session(world, "admin").records("account").update(accounts["A5"].id, {"owner_id": users["east2"]},
                                                              version=accounts["A5"].version)
    assert given["owner_id"] == users["east2"]
    mine = session(world, "east1").records("account").create({"name": "Mine"})
    with pytest.raises(RecordValidationError):
        session(world, "east1").records("account").update(mine.id, {"owner_id": users["east2"]},
                                                          version=mine.version)


def test_records_cannot_be_created_or_imported_for_someone_not_below_you(company):
    users = company["users"]
    east1 = session(company, "east1").records("account")
    with pytest.raises(RecordValidationError) as caught:
        east1.bulk_create([{"name": "Mine"}, {"name": "Gift", "owner_id": users["east2"]}])
    assert caught.value.row_errors == {2: {"owner_id": ["you may only give records to yourself or to people below you."]}}
    assert session(company, "director").records("account").bulk_create(
        [{"name": "Team", "owner_id": users["east2"]}]) == 1
    assert {record["owner_id"] for record in session(company, "east2").records("account").query(
        {"name": "Team"}).records} == {users["east2"]}


def test_only_those_with_full_access_share_a_record_or_see_and_remove_its_shares(world):
    a1, a5, users = world["accounts"]["A1"], world["accounts"]["A5"], world["users"]
    share = session(world, "east1").sharing.share("account", a1.id, user_id=users["east2"], access="edit")
    east2 = session(world, "east2").sharing
    for attempt in (lambda: east2.share("account", a1.id, user_id=users["west1"], access="edit"),
                    lambda: east2.unshare(share), lambda: east2.shares("account", a1.id)):
        with pytest.raises(PermissionDenied, match="owner"):
            attempt()
    with pytest.raises(PermissionDenied, match="owner"):  # edit access by a team rule is not ownership either
        session(world, "west1").sharing.share("account", a5.id, user_id=users["east1"])
    with pytest.raises(RecordNotFound):
        session(world, "west1").records("account").get(a1.id)
    assert [row["id"] for row in session(world, "director").sharing.shares("account", a1.id)] == [share]
    session(world, "admin").sharing.share("account", a5.id, user_id=users["east1"])
    assert session(world, "east1").records("account").get(a5.id)["name"] == "A5"


# -- a delete never destroys what the user may not delete ----------------------------------------


def test_sharing_lets_a_user_edit_a_record_never_delete_it(world):
    """Sharing grants edit, not delete (Salesforce's Full Access): the owner's record never lands in
    the bin of someone the owner cannot see."""
    users, a1, a5 = world["users"], world["accounts"]["A1"], world["accounts"]["A5"]
    move_east2_deal_off_a1(world)
    session(world, "east1").sharing.share("account", a1.id, user_id=users["east2"], access="edit")
    for user, account in (("east2", a1), ("west1", a5)):  # a manual edit share; a team's edit rule
        with pytest.raises(PermissionDenied, match="only its owner"):
            session(world, user).records("account").delete(account.id)
        assert world["crm"].as_system().records("account").get(account.id)["owner_id"] == owner_of(
            world, "account", account.id)
        assert session(world, user).recycle_bin.entries() == []
    batch = session(world, "east1").records("account").delete(a1.id)  # the owner may
    assert [entry["batch"] for entry in session(world, "east1").recycle_bin.entries()] == [batch]


def test_a_delete_that_would_cascade_to_records_the_user_may_not_delete_is_refused(world):
    a1, deals = world["accounts"]["A1"], world["deals"]
    east1 = session(world, "east1")
    with pytest.raises(CascadeDeleteError) as caught:  # D2 is east2's deal, which east1 cannot even see
        east1.records("account").delete(a1.id)
    assert str(caught.value) == (
        f"account {a1.id} cannot be deleted: it has related records that would be deleted with it and that you "
        f"may not delete. Ask their owners or an administrator to delete or move them first.")
    system = world["crm"].as_system()
    assert system.records("account").get(a1.id)["name"] == "A1"
    assert {system.records("deal").get(deal.id)["name"] for deal in deals.values()} == {"D1", "D2", "D3"}
    assert east1.recycle_bin.entries() == []
    # Above both owners, the director may delete A1 and all it cascades to; the batch is theirs to restore.
    director = session(world, "director")
    batch = director.records("account").delete(a1.id)
    with pytest.raises(RecordNotFound):
        system.records("deal").get(deals["D2"].id)
    assert [entry["batch"] for entry in director.recycle_bin.entries()] == [batch]
    director.recycle_bin.restore(batch)
    assert system.records("deal").get(deals["D2"].id)["owner_id"] == world["users"]["east2"]


def test_the_check_follows_cascades_down_every_level_before_anything_is_deleted(company):
    users, a1 = company["users"], company["accounts"]["A1"].id
    move_east2_deal_off_a1(company)
    c1 = company["contacts"]["C1"].id
    system = company["crm"].as_system()
    task = system.records("task").create({"name": "Call back", "contact": c1, "owner_id": users["east2"]})
    east1 = session(company, "east1")
    with pytest.raises(CascadeDeleteError):  # account -> contact C1 (east1 may delete) -> east2's task
        east1.records("account").delete(a1)
    assert system.records("contact").get(c1)["name"] == "C1" and east1.recycle_bin.entries() == []
    system.records("task").update(task.id, {"owner_id": users["east1"]}, version=task.version)
    batch = east1.records("account").delete(a1)
    with pytest.raises(RecordNotFound):
        system.records("task").get(task.id)
    east1.recycle_bin.restore(batch)
    assert system.records("task").get(task.id)["contact"] == c1


def test_a_record_linked_in_after_the_check_is_not_deleted_unchecked(world, monkeypatch):
    from crmkit.engine.records.recycle import Deleter

    a1 = world["accounts"]["A1"].id
    move_east2_deal_off_a1(world)
    check = Deleter._check_cascade

    def check_then_link(deleter, object_name, record_id):
        check(deleter, object_name, record_id)
        deals = deleter.runtime.table("deal")
        deleter.connection.execute(deals.update().where(deals.c.id == world["deals"]["D3"].id).values(account=a1))

    monkeypatch.setattr(Deleter, "_check_cascade", check_then_link)
    with pytest.raises(CascadeDeleteError):  # west1's D3, linked to A1 between the check and the cascade
        session(world, "east1").records("account").delete(a1)
    assert world["crm"].as_system().records("account").get(a1)["name"] == "A1"


def test_a_cascade_needs_the_delete_permission_on_every_object_it_reaches(company):
    a4 = company["accounts"]["A4"].id
    system = company["crm"].as_system()
    visit = session(company, "director").records("visit").create({"name": "Lunch", "account": a4})
    with pytest.raises(CascadeDeleteError):  # the director may edit every visit, but delete none
        session(company, "director").records("account").delete(a4)
    assert system.records("visit").get(visit.id)["account"] == a4
    session(company, "admin").records("account").delete(a4)
    with pytest.raises(RecordNotFound):
        system.records("visit").get(visit.id)


def test_links_on_records_the_user_may_not_edit_are_cleared_and_come_back_on_restore(world):
    users, a1 = world["users"], world["accounts"]["A1"].id
    move_east2_deal_off_a1(world)
    notes = world["crm"].as_system().records("note")
    theirs = notes.create({"name": "Theirs", "account": a1, "owner_id": users["east2"]})
    east1 = session(world, "east1")
    batch = east1.records("account").delete(a1)
    assert notes.get(theirs.id)["account"] is None
    assert notes.get(theirs.id)["owner_id"] == users["east2"]
    east1.recycle_bin.restore(batch)
    assert notes.get(theirs.id)["account"] == a1


# -- privacy requests need the rights they exercise ---------------------------------------------


def test_an_erasure_needs_edit_access_to_the_record(world):
    users, accounts = world["users"], world["accounts"]
    system = world["crm"].as_system()
    product = system.records("product").create({"name": "Flagship", "owner_id": users["ceo"]})
    east1, support = session(world, "east1").privacy, session(world, "support").privacy
    with pytest.raises(PermissionDenied):  # public read: east1 reads it but may not edit products
        east1.erase("product", product.id)
    with pytest.raises(PermissionDenied):  # support reads A1 through a read-only sharing rule
        support.erase("account", accounts["A1"].id)
    session(world, "east2").sharing.share("account", accounts["A2"].id, user_id=users["east1"], access="read")
    with pytest.raises(PermissionDenied):  # east1 may edit accounts, but not this one
        east1.erase("account", accounts["A2"].id)
    with pytest.raises(RecordNotFound):
        east1.erase("account", accounts["A3"].id)
    assert system.records("product").get(product.id)["name"] == "Flagship"
    assert {system.records("account").get(accounts[name].id)["name"] for name in ("A1", "A2", "A3")} == {
        "A1", "A2", "A3"}
    assert east1.erase("account", accounts["A1"].id) == ["name"]


def test_a_privacy_export_needs_read_access_only(world):
    users, accounts = world["users"], world["accounts"]
    product = world["crm"].as_system().records("product").create({"name": "Flagship", "owner_id": users["ceo"]})
    east1 = session(world, "east1").privacy
    assert east1.export("product", product.id)["record"]["name"] == "Flagship"
    assert session(world, "support").privacy.export("account", accounts["A1"].id)["record"]["name"] == "A1"
    with pytest.raises(RecordNotFound):
        east1.export("account", accounts["A2"].id)
