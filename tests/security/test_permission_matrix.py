"""Who sees, edits and deletes what: the permission matrix over a sample hierarchy, on every path.

    ceo ─ sales_director ─┬─ east_rep (east1, east2)
        │                 └─ west_rep (west1)
        └─ support_lead (support)
"""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import insert

from crmkit.engine import RecordNotFound, RecordValidationError
from crmkit.engine.query import QueryError
from crmkit.engine.security.access import PermissionDenied

PACKAGE = """
package: acme
version: "1.0.0"
roles:
  ceo: {label: {en: CEO, zh: 首席执行官}}
  sales_director: {parent: ceo, label: {en: Sales director, zh: 销售总监}}
  east_rep: {parent: sales_director}
  west_rep: {parent: sales_director}
  support_lead: {parent: ceo}
permission_sets:
  sales:
    roles: [sales_director, east_rep, west_rep]
    objects:
      account: [create, read, edit, delete]
      contact: [create, read, edit, delete]
      deal: [create, read, edit, delete]
      product: [read]
      note: [create, read, edit, delete]
      invoice: [create, read, edit, delete]
  credit:
    roles: [sales_director]
    fields:
      account.credit_limit: [read]
      account.account_code: [read]
      deal.cost: [read]
      invoice.reference: [read]
  privacy:
    system: [manage_privacy]
  executive:
    roles: [ceo]
    objects:
      account: [read, view_all, export]
      deal: [read, view_all]
  support:
    roles: [support_lead]
    objects:
      account: [read]
objects:
  account:
    title_field: name
    sharing: private
    track_history: true
    sharing_rules:
      - name: gold_to_support
        criteria: {tier: Gold}
        share_with: {role: support_lead}
      - name: key_accounts_team
        criteria: {tier: Key}
        share_with: {team: key_accounts}
        access: edit
    fields:
      name: {type: text, searchable: true, personal: true}
      tier: {type: picklist, options: [Gold, Silver, Key]}
      credit_limit: {type: currency}
      deal_count: {type: rollup, from: deal.account, aggregate: count}
      pipeline: {type: rollup, from: deal.account, aggregate: sum, field: amount}
      # Derived from protected fields: hidden wherever what they derive from is.
      account_code: {type: text, unique: true, personal: true, default: {expression: "upper(name)"}}
      credit_band: {type: formula, returns: text, formula: "'high' if credit_limit and credit_limit > 500 else 'low'"}
      total_cost: {type: rollup, from: deal.account, aggregate: sum, field: cost}
  contact:
    title_field: name
    sharing: controlled_by_parent
    sharing_parent: account
    fields:
      name: {type: text, searchable: true}
      account: {type: lookup, to: account, on_delete: cascade}
  deal:
    title_field: name
    sharing: private
    fields:
      name: {type: text}
      amount: {type: currency}
      account: {type: lookup, to: account, on_delete: cascade}
      cost: {type: currency}
      account_credit: {type: formula, returns: currency, formula: "account.credit_limit"}
  product:
    sharing: public_read
    fields:
      name: {type: text}
  note:
    title_field: name
    sharing: private
    fields:
      name: {type: text}
      account: {type: lookup, to: account, on_delete: set_null}
  invoice:
    title_field: reference
    sharing: private
    fields:
      reference: {type: text, searchable: true}
      account: {type: lookup, to: account, on_delete: restrict}
"""

USERS = {  # name: (role, directly granted permission sets)
    "admin": (None, ["admin"]),
    "ceo": ("ceo", []),
    "director": ("sales_director", []),
    "east1": ("east_rep", ["privacy"]),
    "east2": ("east_rep", []),
    "west1": ("west_rep", []),
    "support": ("support_lead", ["privacy"]),
    "nobody": (None, []),
}


@pytest.fixture
def matrix_package() -> str:
    """The package `world` installs (test_derived_values.py adds derived fields to it)."""
    return PACKAGE


@pytest.fixture
def world(crm, write_package, state_snapshots, matrix_package):
    """The sample company: users, a team, accounts owned across the hierarchy, deals and contacts."""
    path = write_package(matrix_package)

    def build(crm) -> dict:
        crm.install(path)
        world = build_world(crm)
        del world["crm"]
        return world

    return {**state_snapshots.apply(crm, ("permission matrix world", matrix_package), build, source=path), "crm": crm}


@pytest.fixture(scope="module")
def shared_world(module_database_url, tmp_path_factory):
    """The sample company built once per module and database, for tests that only read it."""
    from crmkit.engine import Crm

    crm = Crm.open(module_database_url)
    package = tmp_path_factory.mktemp("matrix") / "package.yaml"
    package.write_text(PACKAGE, encoding="utf-8")
    crm.install(package)
    yield build_world(crm)
    crm.close()


def build_world(crm) -> dict:
    runtime = crm.runtime
    now = datetime.now(timezone.utc)
    ids: dict[str, int] = {}
    with crm.engine.begin() as connection:
        for name, (role, sets) in USERS.items():
            ids[name] = connection.execute(insert(runtime.system_table("crmkit_user")).values(
                username=name, display_name=name, role=role, active=True, language="en", timezone="UTC",
                created_at=now, updated_at=now).returning(runtime.system_table("crmkit_user").c.id)).scalar_one()
            for permission_set in sets:
                connection.execute(insert(runtime.system_table("crmkit_grant")).values(
                    permission_set=permission_set, user_id=ids[name], granted_at=now))
        team = connection.execute(insert(runtime.system_table("crmkit_team")).values(name="key_accounts")
                                  .returning(runtime.system_table("crmkit_team").c.id)).scalar_one()
        connection.execute(insert(runtime.system_table("crmkit_team_member")).values(team_id=team, user_id=ids["west1"]))
    system = crm.as_system()
    accounts = {}
    for name, owner, tier in [("A1", "east1", "Gold"), ("A2", "east2", "Silver"), ("A3", "west1", "Silver"),
                              ("A4", "director", "Silver"), ("A5", "ceo", "Key")]:
        accounts[name] = system.records("account").create(
            {"name": name, "tier": tier, "owner_id": ids[owner], "credit_limit": 1000})
    deals = {}
    for name, account, owner, amount in [("D1", "A1", "east1", 100), ("D2", "A1", "east2", 50), ("D3", "A3", "west1", 70)]:
        deals[name] = system.records("deal").create(
            {"name": name, "account": accounts[account].id, "owner_id": ids[owner], "amount": amount})
    contacts = {name: system.records("contact").create({"name": name, "account": accounts[account].id,
                                                           "owner_id": ids["east1"]})
                for name, account in [("C1", "A1"), ("C2", "A2")]}
    return {"crm": crm, "users": ids, "accounts": accounts, "deals": deals, "contacts": contacts, "team": team}


def session(world, name: str):
    return world["crm"].as_user(world["users"][name])


def names(page) -> set[str]:
    return {record["name"] for record in page.records}


def move_east2_deal_off_a1(world) -> None:
    """D2 (east2's deal on east1's account A1) moves to A2, so east1 may delete A1 and all it cascades to."""
    d2 = world["deals"]["D2"]
    world["crm"].as_system().records("deal").update(d2.id, {"account": world["accounts"]["A2"].id},
                                                    version=d2.version)


READABLE_ACCOUNTS = {
    "admin": {"A1", "A2", "A3", "A4", "A5"},
    "ceo": {"A1", "A2", "A3", "A4", "A5"},
    "director": {"A1", "A2", "A3", "A4"},
    "east1": {"A1"},
    "east2": {"A2"},
    "west1": {"A3", "A5"},
    "support": {"A1"},
}


@pytest.mark.parametrize("user", sorted(READABLE_ACCOUNTS))
def test_lists_counts_search_and_reads_by_id_show_exactly_what_the_user_may_see(shared_world, user):
    world = shared_world
    accounts = session(world, user).records("account")
    expected = READABLE_ACCOUNTS[user]
    assert names(accounts.query(limit=100)) == expected
    assert accounts.count().value == len(expected)
    assert names(accounts.query(search="A")) == expected
    for name, record in world["accounts"].items():
        if name in expected:
            assert accounts.get(record.id)["name"] == name
        else:
            with pytest.raises(RecordNotFound) as caught:
                accounts.get(record.id)
            assert str(caught.value) == f"there is no account record with id {record.id}."


def test_a_user_without_permissions_is_refused_not_shown_an_empty_list(world):
    # named by the API name: the label of an object the user may not read is not theirs (security/labels.py)
    with pytest.raises(PermissionDenied, match="you do not have permission to read account"):
        session(world, "nobody").records("account").query()


EDITABLE_ACCOUNTS = {
    "admin": {"A1", "A2", "A3", "A4", "A5"},
    "director": {"A1", "A2", "A3", "A4"},
    "east1": {"A1"},
    "west1": {"A3", "A5"},
}


@pytest.mark.parametrize("user", sorted(EDITABLE_ACCOUNTS))
def test_edits_are_checked_against_the_stored_record(world, user):
    accounts = session(world, user).records("account")
    for name, record in world["accounts"].items():
        if name in EDITABLE_ACCOUNTS[user]:
            assert accounts.update(record.id, {"name": name + "!"}, version=record.version)["name"] == name + "!"
        elif name in READABLE_ACCOUNTS[user]:
            with pytest.raises(PermissionDenied):
                accounts.update(record.id, {"name": "x"}, version=record.version)
        else:
            with pytest.raises(RecordNotFound):
                accounts.update(record.id, {"name": "x"}, version=record.version)


def test_read_only_roles_cannot_edit_at_all(world):
    for user in ("ceo", "support"):
        with pytest.raises(PermissionDenied, match="you do not have permission to edit Accounts"):
            session(world, user).records("account").update(world["accounts"]["A1"].id, {"name": "x"}, version=1)


def test_deletes_need_delete_permission_and_edit_access(world):
    a2 = world["accounts"]["A2"]
    with pytest.raises(RecordNotFound):
        session(world, "east1").records("account").delete(a2.id)
    with pytest.raises(PermissionDenied):
        session(world, "ceo").records("account").delete(a2.id)
    session(world, "director").records("account").delete(a2.id)
    with pytest.raises(RecordNotFound):
        world["crm"].as_system().records("account").get(a2.id)


def test_children_controlled_by_parent_follow_the_parent(world):
    assert names(session(world, "east1").records("contact").query()) == {"C1"}
    assert names(session(world, "east2").records("contact").query()) == {"C2"}
    assert names(session(world, "director").records("contact").query()) == {"C1", "C2"}
    related = session(world, "east1").records("contact").query({"account": world["accounts"]["A1"].id})
    assert names(related) == {"C1"}


def test_filters_through_lookups_are_filtered_on_both_sides(world):
    east2_contacts = session(world, "east2").records("contact")
    assert names(east2_contacts.query({"account.name": "A1"})) == set()


def test_rollups_count_only_what_the_user_can_see(world):
    a1 = world["accounts"]["A1"].id
    assert session(world, "director").records("account").get(a1)["deal_count"] == 2
    east1_view = session(world, "east1").records("account").get(a1)
    assert (east1_view["deal_count"], east1_view["pipeline"]) == (1, Decimal("100.00"))
    assert world["crm"].as_system().records("account").get(a1)["deal_count"] == 2


def test_a_crafted_filter_cannot_widen_the_row_filter(world):
    accounts = session(world, "east1").records("account")
    crafted = {"or": [{"id": {"gte": 0}}, {"owner_id": {"is_null": False}}, {"name": {"contains": "%"}}]}
    assert names(accounts.query(crafted)) == {"A1"}
    assert accounts.count({"or": [{"id": {"gte": 0}}, {"id": {"is_null": True}}]}).value == 1


def test_manual_shares_give_read_or_edit_to_a_user(world):
    a1 = world["accounts"]["A1"]
    east1, east2 = session(world, "east1"), session(world, "east2")
    share = east1.sharing.share("account", a1.id, user_id=world["users"]["east2"])
    assert east2.records("account").get(a1.id)["name"] == "A1"
    with pytest.raises(PermissionDenied):
        east2.records("account").update(a1.id, {"name": "x"}, version=a1.version)
    east1.sharing.unshare(share)
    east1.sharing.share("account", a1.id, user_id=world["users"]["east2"], access="edit")
    assert session(world, "east2").records("account").update(a1.id, {"name": "A1+"}, version=a1.version)["name"] == "A1+"


def test_only_those_who_may_edit_a_record_can_share_it(world):
    with pytest.raises(RecordNotFound):
        session(world, "east2").sharing.share("account", world["accounts"]["A1"].id, user_id=world["users"]["east2"])
    with pytest.raises(PermissionDenied):
        session(world, "support").sharing.share("account", world["accounts"]["A1"].id, user_id=world["users"]["west1"])


def test_field_level_security_hides_fields_and_refuses_their_use(world):
    a1 = world["accounts"]["A1"].id
    east1 = session(world, "east1").records("account")
    assert "credit_limit" not in east1.get(a1)
    assert "credit_limit" not in east1.query().records[0]
    for attempt in (lambda: east1.query({"credit_limit": {"gt": 0}}), lambda: east1.query(sort=["-credit_limit"])):
        with pytest.raises(QueryError, match="credit_limit"):
            attempt()
    with pytest.raises(RecordValidationError) as caught:
        east1.create({"name": "New", "credit_limit": 5})
    assert caught.value.errors == {"credit_limit": ["is not a field of account."]}
    director = session(world, "director").records("account")
    assert director.get(a1)["credit_limit"] == Decimal("1000.00")
    with pytest.raises(RecordValidationError) as caught:
        director.update(a1, {"credit_limit": 5}, version=1)
    assert caught.value.errors == {"credit_limit": ["you may see this field but not change it."]}


def test_field_history_of_hidden_fields_is_hidden_too(world):
    system = world["crm"].as_system().records("account")
    a1 = world["accounts"]["A1"]
    system.update(a1.id, {"credit_limit": 2000, "name": "A1 Ltd"}, version=a1.version)
    fields = {entry["field"] for entry in session(world, "east1").records("account").history(a1.id)}
    assert "name" in fields and "credit_limit" not in fields


def test_lookups_can_only_point_at_visible_records(world):
    contacts = session(world, "east1").records("contact")
    with pytest.raises(RecordValidationError) as caught:
        contacts.create({"name": "Sneaky", "account": world["accounts"]["A2"].id})
    assert caught.value.errors == {"account": [f"there is no account record with id {world['accounts']['A2'].id}."]}


def test_records_can_only_be_given_to_yourself_or_people_below_you(world):
    east1 = session(world, "east1").records("account")
    with pytest.raises(RecordValidationError) as caught:
        east1.create({"name": "Gift", "owner_id": world["users"]["west1"]})
    assert list(caught.value.errors) == ["owner_id"]
    gift = session(world, "director").records("account").create({"name": "Gift", "owner_id": world["users"]["west1"]})
    assert gift["owner_id"] == world["users"]["west1"]


def test_new_records_belong_to_their_creator(world):
    record = session(world, "east2").records("account").create({"name": "Mine"})
    assert record["owner_id"] == world["users"]["east2"]
    assert names(session(world, "east1").records("account").query()) == {"A1"}


def test_public_read_objects_are_readable_but_not_editable_without_rights(world):
    product = world["crm"].as_system().records("product").create({"name": "Widget"})
    east1 = session(world, "east1").records("product")
    assert east1.get(product.id)["name"] == "Widget"
    with pytest.raises(PermissionDenied):
        east1.update(product.id, {"name": "x"}, version=1)


def test_inactive_and_unknown_users_get_no_session(world):
    from sqlalchemy import update

    from crmkit.engine.security.access import UnknownUser

    users = world["crm"].runtime.system_table("crmkit_user")
    with world["crm"].engine.begin() as connection:
        connection.execute(update(users).where(users.c.id == world["users"]["east1"]).values(active=False))
    with pytest.raises(UnknownUser):
        session(world, "east1")
    with pytest.raises(UnknownUser):
        world["crm"].as_user(424242)


def test_exports_need_the_permission_follow_the_row_filter_and_are_logged(world):
    from crmkit.engine.security.audit import SecurityLog

    with pytest.raises(PermissionDenied, match="export"):
        session(world, "east1").records("account").export()
    lines = list(session(world, "admin").records("account").export({"tier": "Silver"}, sort=["name"],
                                                                    fields=["name", "tier"]))
    assert lines == ["\ufeffname,tier\n", "A2,Silver\n", "A3,Silver\n", "A4,Silver\n"]
    (started,) = SecurityLog(world["crm"]).entries(event="records.exported")
    assert started["user_id"] == world["users"]["admin"] and started["detail"]["filter"] == {"tier": "Silver"}
    (completed,) = SecurityLog(world["crm"]).entries(event="records.export_completed")
    assert completed["detail"]["records"] == 3 and completed["user_id"] == world["users"]["admin"]


def test_an_export_is_logged_when_it_starts_even_if_only_two_rows_are_read(world):
    from itertools import islice

    from crmkit.engine.security.audit import SecurityLog

    log = SecurityLog(world["crm"])
    stream = session(world, "ceo").records("account").export(format="json")
    assert len(list(islice(stream, 2))) == 2
    stream.close()
    (entry,) = log.entries(event="records.exported")
    assert entry["user_id"] == world["users"]["ceo"] and entry["detail"]["object"] == "account"
    assert log.entries(event="records.export_completed") == []
    session(world, "ceo").records("account").export()  # never read at all: still logged
    assert len(log.entries(event="records.exported")) == 2


def test_exports_leave_out_protected_fields_the_user_cannot_read(world):
    ceo_rows = list(session(world, "ceo").records("account").export(format="json"))
    assert len(ceo_rows) == 5 and all("credit_limit" not in row for row in ceo_rows)
    with pytest.raises(QueryError, match="credit_limit"):
        session(world, "ceo").records("account").export(fields=["name", "credit_limit"])
    admin_rows = list(session(world, "admin").records("account").export(format="json"))
    assert admin_rows[0]["credit_limit"] == "1000.00"


def test_lookup_suggestions_only_offer_visible_records(world):
    assert session(world, "east1").records("account").suggest("A") == [(world["accounts"]["A1"].id, "A1")]
    assert [title for _, title in session(world, "director").records("account").suggest("A")] == ["A1", "A2", "A3", "A4"]


def test_bulk_creation_is_an_import_and_needs_the_import_permission(world):
    with pytest.raises(PermissionDenied, match="import"):
        session(world, "east1").records("account").bulk_create([{"name": "Many"}])


def test_owners_are_active_users_and_a_record_keeps_one(world):
    director = session(world, "director").records("account")
    a4 = world["accounts"]["A4"]
    with pytest.raises(RecordValidationError) as caught:
        director.update(a4.id, {"owner_id": None}, version=a4.version)
    assert caught.value.errors == {"owner_id": ["a record must keep an owner; give it to someone instead."]}
    with pytest.raises(RecordValidationError) as caught:
        session(world, "admin").records("account").update(a4.id, {"owner_id": 424242}, version=a4.version)
    assert caught.value.errors == {"owner_id": ["there is no active user with id 424242."]}


# -- field-level security on every path that returns record data (docs/permissions.md) ------------

#: Account fields the reps may not read: protected ones, and the formula and rollup derived from them.
HIDDEN_FROM_REPS = {"credit_limit", "account_code", "credit_band", "total_cost"}


def test_values_derived_from_hidden_fields_are_hidden_like_the_fields(world):
    a1 = world["accounts"]["A1"].id
    east1 = session(world, "east1")
    assert not HIDDEN_FROM_REPS & set(east1.records("account").get(a1))
    deal = east1.records("deal").get(world["deals"]["D1"].id)
    assert "cost" not in deal and "account_credit" not in deal  # a formula reading account.credit_limit
    with pytest.raises(QueryError, match="credit_band"):
        east1.records("account").query({"credit_band": "high"})
    director = session(world, "director").records("account").get(a1)
    assert HIDDEN_FROM_REPS <= set(director) and (director["credit_band"], director["account_code"]) == ("high", "A1")


def test_records_returned_by_create_and_update_show_only_readable_values(world):
    accounts = session(world, "east1").records("account")
    created = accounts.create({"name": "Fresh"})
    updated = accounts.update(created.id, {"tier": "Gold"}, version=created.version)
    assert not HIDDEN_FROM_REPS & (set(created) | set(updated))
    assert updated["tier"] == "Gold"


def test_history_and_exports_leave_out_values_derived_from_hidden_fields(world):
    a1 = world["accounts"]["A1"]
    world["crm"].as_system().records("account").update(a1.id, {"credit_limit": 100, "name": "A1 Ltd"},
                                                        version=a1.version)
    changed = {entry["field"] for entry in session(world, "east1").records("account").history(a1.id)}
    assert changed == {None, "name"}  # not credit_limit, nor credit_band, which went from high to low
    ceo_rows = list(session(world, "ceo").records("account").export(format="json"))
    assert len(ceo_rows) == 5 and all(not HIDDEN_FROM_REPS & set(row) for row in ceo_rows)


def test_recycle_bin_entries_show_a_deleted_record_as_get_showed_it(world):
    crm, users, a1 = world["crm"], world["users"], world["accounts"]["A1"].id
    move_east2_deal_off_a1(world)  # east1 may not delete it, so it would stop the cascade
    notes = crm.as_system().records("note")
    own = notes.create({"name": "Mine", "account": a1, "owner_id": users["east1"]})
    other = notes.create({"name": "Theirs", "account": a1, "owner_id": users["east2"]})
    east1 = session(world, "east1")
    east1.records("account").delete(a1)
    (entry,) = east1.recycle_bin.entries()
    assert entry["data"]["name"] == "A1" and entry["title"] == "A1"
    assert not HIDDEN_FROM_REPS & set(entry["data"])
    # Stored totals may count deals east1 cannot see; the deals are gone, so nothing is recomputed.
    assert "deal_count" not in entry["data"] and "pipeline" not in entry["data"]
    assert entry["cleared_links"] == {"note": {"account": [own.id]}}
    (as_admin,) = session(world, "admin").recycle_bin.entries()
    assert as_admin["data"]["credit_limit"] == "1000.00" and as_admin["data"]["deal_count"] == 1
    assert sorted(as_admin["cleared_links"]["note"]["account"]) == sorted([own.id, other.id])


def test_privacy_exports_read_the_record_its_history_and_related_records_as_the_user_does(world):
    a1 = world["accounts"]["A1"]
    world["crm"].as_system().records("account").update(a1.id, {"credit_limit": 100, "name": "A1 Ltd"},
                                                        version=a1.version)
    document = session(world, "east1").privacy.export("account", a1.id)
    assert not HIDDEN_FROM_REPS & set(document["record"])
    assert (document["record"]["deal_count"], document["record"]["pipeline"]) == (1, "100.00")
    assert {entry["field"] for entry in document["history"]} == {None, "name"}
    assert [deal["name"] for deal in document["related"]["deal"]] == ["D1"]
    assert not {"cost", "account_credit"} & set(document["related"]["deal"][0])
    assert [contact["name"] for contact in document["related"]["contact"]] == ["C1"]


def test_a_privacy_export_leaves_out_related_objects_the_user_may_not_read(world):
    document = session(world, "support").privacy.export("account", world["accounts"]["A1"].id)
    assert document["record"]["name"] == "A1" and document["related"] == {}


def test_an_erasure_reports_only_the_fields_the_user_may_read_but_erases_them_all(world):
    a1 = world["accounts"]["A1"].id
    assert session(world, "east1").privacy.erase("account", a1) == ["name"]
    assert world["crm"].as_system().records("account").get(a1)["account_code"] is None


def test_save_errors_neither_name_nor_quote_a_field_the_user_may_not_read(world):
    with pytest.raises(RecordValidationError) as caught:
        session(world, "east1").records("account").create({"name": "a1"})  # its code, A1, is taken
    assert list(caught.value.errors) == ["_record"]
    assert "A1" not in str(caught.value) and "account_code" not in str(caught.value)
    with pytest.raises(RecordValidationError) as caught:
        session(world, "director").records("account").create({"name": "a1"})
    assert caught.value.errors == {"account_code": ["'A1' is already used by another account record."]}


def test_a_restricted_delete_counts_only_the_records_the_user_may_see(world):
    from crmkit.engine.records.errors import DeleteRestrictedError

    invoices, users, a4 = world["crm"].as_system().records("invoice"), world["users"], world["accounts"]["A4"].id
    invoices.create({"reference": "INV-1", "account": a4, "owner_id": users["ceo"]})  # above the director
    with pytest.raises(DeleteRestrictedError) as caught:
        session(world, "director").records("account").delete(a4)
    assert caught.value.blockers == {}
    assert str(caught.value).startswith(f"account {a4} cannot be deleted: records you may not see still point")
    invoices.create({"reference": "INV-2", "account": a4, "owner_id": users["director"]})
    with pytest.raises(DeleteRestrictedError) as caught:
        session(world, "director").records("account").delete(a4)
    assert caught.value.blockers == {"Invoices (invoice.account)": 1}
    assert "1 Invoices (invoice.account) and records you may not see still point" in str(caught.value)
    with pytest.raises(DeleteRestrictedError) as caught:
        session(world, "admin").records("account").delete(a4)
    assert caught.value.blockers == {"Invoices (invoice.account)": 2} and not caught.value.unseen


def test_a_failed_restore_does_not_quote_a_unique_value_the_user_may_not_read(world):
    from crmkit.engine.records.errors import RestoreError

    move_east2_deal_off_a1(world)
    batch = session(world, "east1").records("account").delete(world["accounts"]["A1"].id)
    world["crm"].as_system().records("account").create({"name": "a1"})  # now holds the code A1
    with pytest.raises(RestoreError) as caught:
        session(world, "east1").recycle_bin.restore(batch)
    assert "'A1'" not in str(caught.value) and "account_code" not in str(caught.value)


def test_suggestions_do_not_show_or_sort_by_a_title_the_user_may_not_read(world):
    invoice = world["crm"].as_system().records("invoice").create(
        {"reference": "INV-9", "account": world["accounts"]["A1"].id, "owner_id": world["users"]["east1"]})
    assert session(world, "east1").records("invoice").suggest() == [(invoice.id, str(invoice.id))]
    assert session(world, "director").records("invoice").suggest() == [(invoice.id, "INV-9")]


def test_a_bin_entry_does_not_show_a_title_the_user_may_not_read(world):
    east1 = session(world, "east1")
    invoice = east1.records("invoice").create({"account": world["accounts"]["A1"].id})
    world["crm"].as_system().records("invoice").update(invoice.id, {"reference": "INV-7"}, version=invoice.version)
    east1.records("invoice").delete(invoice.id)
    (entry,) = east1.recycle_bin.entries("invoice")
    assert entry["title"] is None and "reference" not in entry["data"]
    assert session(world, "admin").recycle_bin.entries("invoice")[0]["title"] == "INV-7"


# -- a context follows the user's rights as they change (security/rights.py) -----------------------


@pytest.fixture
def accounts_admin(world):
    """The user directory of the sample company: changes users, roles, teams and grants."""
    from crmkit.engine.security.users import SystemDirectory

    return SystemDirectory(world["crm"])


def test_a_context_follows_grants_given_and_revoked_after_it_was_made(world, accounts_admin):
    east1 = session(world, "east1")
    accounts = east1.records("account")  # a service kept across the changes, as a worker would
    assert names(accounts.query()) == {"A1"}
    accounts_admin.grant("executive", user_id=world["users"]["east1"])
    assert names(accounts.query()) == READABLE_ACCOUNTS["ceo"]
    assert len(list(east1.records("account").export())) == 6
    accounts_admin.revoke("executive", user_id=world["users"]["east1"])
    assert names(accounts.query()) == {"A1"}
    with pytest.raises(PermissionDenied, match="export"):
        accounts.export()


def test_a_context_follows_grants_to_the_users_role(world, accounts_admin):
    east2 = session(world, "east2")
    assert names(east2.records("account").query()) == {"A2"}
    accounts_admin.grant("executive", role="east_rep")
    assert east2.records("account").count().value == 5


def test_a_demoted_user_loses_what_their_old_role_gave_at_once(world, accounts_admin):
    director = session(world, "director")
    assert names(director.records("account").query()) == READABLE_ACCOUNTS["director"]
    accounts_admin.set_role(world["users"]["director"], "east_rep")
    assert names(director.records("account").query()) == {"A4"}
    with pytest.raises(RecordNotFound):
        director.records("account").get(world["accounts"]["A1"].id)


def test_a_manager_sees_the_records_of_someone_newly_placed_below_them(world, accounts_admin):
    director = session(world, "director")
    assert "A5" not in names(director.records("account").query())
    accounts_admin.set_role(world["users"]["ceo"], "east_rep")  # the CEO's account A5 is now below the director
    assert "A5" in names(director.records("account").query())


def test_a_deactivated_user_context_is_refused_on_its_next_operation(world, accounts_admin):
    from crmkit.engine.security.access import UnknownUser

    east1 = session(world, "east1")
    account = east1.records("account").get(world["accounts"]["A1"].id)
    accounts_admin.deactivate(world["users"]["east1"])
    for operation in (lambda: east1.records("account").query(), lambda: east1.records("account").get(account.id),
                      lambda: east1.records("account").update(account.id, {"name": "X"}, version=account.version),
                      lambda: east1.records("account").create({"name": "New"}), lambda: east1.recycle_bin,
                      lambda: east1.sharing, lambda: east1.transaction().__enter__()):
        with pytest.raises(UnknownUser):
            operation()
    assert world["crm"].as_system().records("account").get(account.id)["name"] == "A1"


def test_a_context_follows_team_membership_and_new_shares(world, accounts_admin):
    west1 = session(world, "west1")
    assert names(west1.records("account").query()) == {"A3", "A5"}  # A5 through the key_accounts team
    accounts_admin.remove_from_team(world["team"], world["users"]["west1"])
    assert names(west1.records("account").query()) == {"A3"}
    session(world, "admin").sharing.share("account", world["accounts"]["A1"].id, user_id=world["users"]["west1"])
    assert names(west1.records("account").query()) == {"A1", "A3"}


def test_a_context_follows_permission_sets_changed_by_a_metadata_install(world, install):
    support = session(world, "support")
    assert names(support.records("account").query()) == {"A1"}
    install(PACKAGE.replace("      account: [read]\n", "      account: [read, view_all]\n"))
    assert names(support.records("account").query()) == READABLE_ACCOUNTS["ceo"]


def test_a_transaction_keeps_the_rights_it_started_with_and_the_next_one_sees_the_change(world, accounts_admin):
    east1 = session(world, "east1")
    with east1.transaction() as context:
        assert names(context.records("account").query()) == {"A1"}
    accounts_admin.grant("executive", user_id=world["users"]["east1"])
    with east1.transaction() as context:
        assert names(context.records("account").query()) == READABLE_ACCOUNTS["ceo"]
