"""Derived values (formulas, rollups) on every path: what `get` shows is all a filter, sort, count or history tells.

The permission matrix's company (test_permission_matrix.py: its package, users and records),
with derived fields added: formulas over rollups, over linked records and over protected
fields of linked records, and fields declared `system_visible`. Runs on SQLite and PostgreSQL.

    east1 sees account A1 and its deal D1; A1's other deal D2 belongs to east2,
    who sees D2 but not A1. The ceo sees every account and deal (view_all).
"""
from __future__ import annotations

import importlib.util
from decimal import Decimal
from pathlib import Path

import pytest

from crmkit.engine.query import QueryError


def _matrix():
    """The permission matrix module, loaded under a private name for its package and fixture."""
    path = Path(__file__).with_name("test_permission_matrix.py")
    spec = importlib.util.spec_from_file_location("_crmkit_permission_matrix", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_MATRIX = _matrix()
world = _MATRIX.world  # the fixture; it installs `matrix_package`, extended below
session, names = _MATRIX.session, _MATRIX.names


def _extended(package: str) -> str:
    account_fields = """\
      total_cost: {type: rollup, from: deal.account, aggregate: sum, field: cost}
      busy: {type: formula, returns: boolean, formula: "deal_count > 1"}
      busy_declared: {type: formula, returns: boolean, formula: "deal_count > 1", system_visible: true}
      deal_count_declared: {type: rollup, from: deal.account, aggregate: count, system_visible: true}
"""
    deal_fields = """\
      account_credit: {type: formula, returns: currency, formula: "account.credit_limit"}
      account_name: {type: formula, returns: text, formula: "account.name", searchable: true}
      account_label: {type: formula, returns: text, formula: "'Deal for ' + text(account_name)"}
      account_name_declared: {type: formula, returns: text, formula: "account.name", system_visible: true}
      account_deals: {type: formula, returns: integer, formula: "account.deal_count"}
      product: {type: lookup, to: product}
      margin: {type: formula, returns: currency, formula: "(amount or 0) - (product.cost or 0)"}
"""
    replacements = {
        "      total_cost: {type: rollup, from: deal.account, aggregate: sum, field: cost}\n": account_fields,
        '      account_credit: {type: formula, returns: currency, formula: "account.credit_limit"}\n': deal_fields,
        "      account: [create, read, edit, delete]\n": "      account: [create, read, edit, delete, export]\n",
        "      deal: [create, read, edit, delete]\n": "      deal: [create, read, edit, delete, export]\n",
        "  deal:\n    title_field: name\n    sharing: private\n":
            "  deal:\n    title_field: name\n    sharing: private\n    track_history: true\n",
        "      invoice.reference: [read]\n": "      invoice.reference: [read]\n      product.cost: [read]\n",
        "  product:\n    sharing: public_read\n    fields:\n      name: {type: text}\n":
            "  product:\n    sharing: public_read\n    fields:\n      name: {type: text}\n      cost: {type: currency}\n",
    }
    for anchor, replacement in replacements.items():
        assert package.count(anchor) == 1, anchor
        package = package.replace(anchor, replacement)
    return package


@pytest.fixture
def install(install):
    """The matrix's `install`, given the matrix package with the derived fields above."""
    return lambda text, name="package.yaml": install(_extended(text), name)


@pytest.fixture
def matrix_package() -> str:
    """The matrix's package with the derived fields above, for `world`."""
    return _extended(_MATRIX.PACKAGE)


def ids_of(page) -> list[int]:
    return [record.id for record in page.records]


# ---- rollups over children the user cannot all see -----------------------------------------

def test_a_filter_on_a_rollup_matches_the_value_get_shows(world):
    """east1 is shown deal_count 1 (of 2) on A1: equality with the stored total finds nothing."""
    accounts = session(world, "east1").records("account")
    a1 = world["accounts"]["A1"].id
    assert accounts.get(a1)["deal_count"] == 1
    assert names(accounts.query({"deal_count": 2})) == set()
    assert names(accounts.query({"deal_count": 1})) == {"A1"}
    assert names(accounts.query({"pipeline": Decimal("100")})) == {"A1"}
    exported = list(accounts.export({"deal_count": 1}, format="json"))
    assert [(row["name"], row["deal_count"]) for row in exported] == [("A1", 1)]
    assert names(session(world, "ceo").records("account").query({"deal_count": 2})) == {"A1"}


def test_a_count_cannot_bisect_a_sum_over_hidden_children(world):
    accounts = session(world, "east1").records("account")
    assert accounts.count({"pipeline": {"gt": 100}}).value == 0
    assert accounts.count({"pipeline": {"gte": 100}}).value == 1
    assert accounts.count({"deal_count": {"between": [2, 5]}}).value == 0
    assert session(world, "ceo").records("account").count({"pipeline": {"gt": 100}}).value == 1


def _busy_unseen_account(world) -> int:
    """An account of east1's with three deals of west1's, which east1 cannot see: stored 3, seen 0."""
    system = world["crm"].as_system()
    a6 = system.records("account").create({"name": "A6", "owner_id": world["users"]["east1"]})
    for number in range(3):
        system.records("deal").create({"name": f"W{number}", "account": a6.id, "amount": 500,
                                       "owner_id": world["users"]["west1"]})
    return a6.id


@pytest.mark.parametrize("sort", [["-deal_count"], ["deal_count"], ["-pipeline"]])
def test_sorting_by_a_rollup_orders_by_the_values_the_user_sees(world, sort):
    a6 = _busy_unseen_account(world)
    a1 = world["accounts"]["A1"].id
    accounts = session(world, "east1").records("account")
    expected = [a6, a1] if sort == ["deal_count"] else [a1, a6]  # seen: A1 1 deal of 100, A6 none
    assert ids_of(accounts.query(sort=sort)) == expected
    first = accounts.query(sort=sort, limit=1)
    second = accounts.query(sort=sort, limit=1, after=first.next_cursor)
    assert ids_of(first) + ids_of(second) == expected and not second.has_more


def test_a_filter_through_a_lookup_uses_the_rollup_the_user_sees(world):
    contacts = session(world, "east1").records("contact")
    assert names(contacts.query({"account.deal_count": 2})) == set()
    assert names(contacts.query({"account.deal_count": 1})) == {"C1"}
    assert contacts.count({"account.pipeline": {"gt": 100}}).value == 0


def test_a_formula_over_a_rollup_of_unseen_children_is_hidden(world):
    a1 = world["accounts"]["A1"].id
    accounts = session(world, "east1").records("account")
    assert "busy" not in accounts.get(a1)
    with pytest.raises(QueryError, match="busy"):
        accounts.query({"busy": True})
    with pytest.raises(QueryError, match="busy"):
        accounts.query(sort=["busy"])
    assert "account_deals" not in session(world, "east1").records("deal").get(world["deals"]["D1"].id)
    assert session(world, "ceo").records("account").get(a1)["busy"] is True


def test_a_bin_entry_leaves_out_a_formula_over_a_linked_record_the_user_cannot_see(world):
    east2 = session(world, "east2")
    east2.records("deal").delete(world["deals"]["D2"].id)
    (entry,) = east2.recycle_bin.entries()
    assert entry["data"]["name"] == "D2" and "account_name" not in entry["data"]
    assert entry["data"]["account_name_declared"] == "A1"


# ---- formulas reading a linked record -----------------------------------------------------

def test_a_formula_over_a_linked_record_the_user_cannot_see_is_empty_on_every_path(world):
    """east2 sees deal D2 but not its account A1: the formula copying A1's name shows nothing."""
    deals = session(world, "east2").records("deal")
    d2 = world["deals"]["D2"].id
    assert deals.get(d2)["account_name"] is None
    assert names(deals.query({"account_name": "A1"})) == set()
    assert names(deals.query({"account_name": {"startswith": "A"}})) == set()
    assert deals.count({"account_name": {"is_null": True}}).value == 1
    assert names(deals.query(search="A1")) == set() and deals.suggest("A1") == []
    assert [row["account_name"] for row in deals.export(format="json")] == [None]
    assert deals.get(d2)["account_label"] is None  # a formula over the masked one is masked too
    assert names(deals.query({"account_label": {"contains": "A1"}})) == set()
    assert session(world, "east1").records("deal").get(world["deals"]["D1"].id)["account_name"] == "A1"
    assert session(world, "ceo").records("deal").get(d2)["account_name"] == "A1"


@pytest.mark.parametrize("descending", [False, True])
def test_sorting_by_a_formula_over_unseen_records_orders_by_the_empty_value(world, descending):
    system = world["crm"].as_system()
    a0 = system.records("account").create({"name": "A0", "owner_id": world["users"]["east2"]})
    mine = system.records("deal").create({"name": "D4", "account": a0.id, "owner_id": world["users"]["east2"]})
    deals = session(world, "east2").records("deal")
    d2 = world["deals"]["D2"].id  # on A1, which east2 cannot see: its empty name sorts before A0
    expected = [mine.id, d2] if descending else [d2, mine.id]
    sort = ["-account_name"] if descending else ["account_name"]
    assert ids_of(deals.query(sort=sort)) == expected
    first = deals.query(sort=sort, limit=1)
    assert ids_of(first) + ids_of(deals.query(sort=sort, limit=1, after=first.next_cursor)) == expected


def test_history_of_a_formula_over_linked_records_is_left_out_for_users_who_cannot_see_them_all(world):
    d2 = world["deals"]["D2"]
    world["crm"].as_system().records("deal").update(d2.id, {"account": world["accounts"]["A2"].id},
                                                    version=d2.version)
    east2_fields = {entry["field"] for entry in session(world, "east2").records("deal").history(d2.id)}
    assert "account" in east2_fields and "account_name" not in east2_fields
    ceo_entries = session(world, "ceo").records("deal").history(d2.id)
    assert ("A1", "A2") in {(e["old_value"], e["new_value"]) for e in ceo_entries if e["field"] == "account_name"}


def test_a_formula_over_a_linked_records_derived_value_the_user_sees_otherwise_is_hidden(world):
    deal = session(world, "east1").records("deal")
    assert "account_deals" not in deal.get(world["deals"]["D1"].id)
    with pytest.raises(QueryError, match="account_deals"):
        deal.count({"account_deals": 2})


# ---- formulas reading protected fields -----------------------------------------------------

def test_a_band_formula_over_a_protected_field_tells_nothing_on_any_path(world):
    a1 = world["accounts"]["A1"]
    east1 = session(world, "east1").records("account")
    for attempt in ({"credit_band": "high"}, {"credit_band": {"is_null": False}}):
        with pytest.raises(QueryError, match="credit_band"):
            east1.count(attempt)
    with pytest.raises(QueryError, match="credit_band"):
        east1.query(sort=["credit_band"])
    world["crm"].as_system().records("account").update(a1.id, {"credit_limit": 10}, version=a1.version)
    assert "credit_band" not in {entry["field"] for entry in east1.history(a1.id)}


def test_a_child_formula_copying_a_protected_parent_field_tells_nothing_on_any_path(world):
    deals = session(world, "east1").records("deal")
    with pytest.raises(QueryError, match="account_credit"):
        deals.query({"account_credit": {"gt": 500}})
    with pytest.raises(QueryError, match="account_credit"):
        deals.query(sort=["account_credit"])
    assert all("account_credit" not in row for row in deals.export(format="json"))


def test_a_margin_over_a_protected_cost_of_a_linked_record_is_hidden(world):
    system = world["crm"].as_system()
    widget = system.records("product").create({"name": "Widget", "cost": 60})
    d1 = world["deals"]["D1"]
    system.records("deal").update(d1.id, {"product": widget.id}, version=d1.version)
    deals = session(world, "east1").records("deal")
    assert "margin" not in deals.get(d1.id)
    with pytest.raises(QueryError, match="margin"):
        deals.count({"margin": {"lt": 50}})
    assert session(world, "director").records("deal").get(d1.id)["margin"] == Decimal("40.00")


# ---- the opt-out ---------------------------------------------------------------------------

def test_fields_declared_system_visible_show_the_stored_value_on_every_path(world):
    a1 = world["accounts"]["A1"].id
    accounts = session(world, "east1").records("account")
    shown = accounts.get(a1)
    assert (shown["deal_count_declared"], shown["busy_declared"], shown["deal_count"]) == (2, True, 1)
    assert names(accounts.query({"deal_count_declared": 2, "busy_declared": True})) == {"A1"}
    deals = session(world, "east2").records("deal")
    assert deals.get(world["deals"]["D2"].id)["account_name_declared"] == "A1"
    assert deals.count({"account_name_declared": "A1"}).value == 1


def test_only_users_with_a_restriction_get_per_user_expressions(world):
    """Admins and view_all holders keep the stored column, and its indexes."""
    crm = world["crm"]
    for user in ("admin", "ceo"):
        policy = session(world, user).policy
        assert policy.derived_expression("account", "deal_count") is None
    east2 = session(world, "east2").policy
    assert east2.derived_expression("account", "deal_count") is not None
    assert east2.derived_expression("deal", "account_name") is not None
    assert east2.derived_expression("contact", "name") is None
    assert crm.as_system().policy is None


DECLARING = """\
package: declared
version: "1.0.0"
objects:
  account:
    fields:
      name: {type: text}
      deal_count: {type: rollup, from: deal.account, aggregate: count, system_visible: true}
  deal:
    fields:
      account: {type: lookup, to: account}
      account_name: {type: formula, returns: text, formula: "account.name", system_visible: true}
"""


def test_validation_notes_what_a_system_visible_declaration_exposes(write_package):
    from click.testing import CliRunner

    from crmkit.cli import main

    path = write_package(DECLARING)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (f"{path}:7:7: note: account.deal_count is system_visible: everyone who may read it sees its "
                        "stored value, the count over every deal record whose account points here, "
                        "even users who may not see all of that.")
    assert lines[1].startswith(f"{path}:11:7: note: deal.account_name is system_visible") \
        and "the linked record's account.name" in lines[1]
    assert lines[2] == "valid: declared 1.0.0 (2 objects)"


def test_system_visible_is_refused_on_a_field_that_derives_nothing(write_package, catalog):
    from crmkit.metadata import MetadataError, validate_paths

    path = write_package(DECLARING.replace("name: {type: text}", "name: {type: text, system_visible: true}"))
    with pytest.raises(MetadataError, match="system_visible"):
        validate_paths([path], catalog)


SELF_RELATED = """\
package: org
version: "1.0.0"
roles:
  member: {}
permission_sets:
  members:
    roles: [member]
    objects:
      person: [create, read, edit]
objects:
  person:
    title_field: name
    sharing: private
    fields:
      name: {type: text}
      manager: {type: lookup, to: person}
      reports: {type: rollup, from: person.manager, aggregate: count}
      manager_name: {type: formula, returns: text, formula: "manager.name"}
"""


def test_rollups_and_formulas_over_the_same_object_follow_the_same_rules(crm, write_package):
    from crmkit.engine.security.users import SystemDirectory

    crm.install(write_package(SELF_RELATED))
    directory = SystemDirectory(crm)
    u1, u2 = (directory.create_user(name, role="member").id for name in ("u1", "u2"))
    people = crm.as_system().records("person")
    boss = people.create({"name": "Boss", "owner_id": u1})
    for name, owner in (("R1", u1), ("R2", u2)):
        people.create({"name": name, "manager": boss.id, "owner_id": owner})
    mine = crm.as_user(u1).records("person")
    assert mine.get(boss.id)["reports"] == 1
    assert names(mine.query({"reports": 1})) == {"Boss"} and mine.count({"reports": 2}).value == 0
    theirs = crm.as_user(u2).records("person")
    assert [(p["name"], p["manager_name"]) for p in theirs.query().records] == [("R2", None)]
    assert theirs.count({"manager_name": "Boss"}).value == 0
    assert [(p["name"], p["manager_name"]) for p in mine.query({"name": "R1"}).records] == [("R1", "Boss")]
