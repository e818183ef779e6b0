"""Filters through lookups (`account.industry`) and the security layer's row filter."""
from __future__ import annotations

import pytest

from crmkit.engine.query import QueryError, QuerySpec, compile_filter, count_records


@pytest.fixture
def crm(db):
    acme, globex, initech, shanghai = db.insert(
        "account",
        {"name": "Acme", "industry": "Tech", "owner_id": 1},
        {"name": "Globex", "industry": "Finance", "owner_id": 2},
        {"name": "Initech", "industry": None, "owner_id": 1},
        {"name": "上海科技", "industry": "科技", "owner_id": 1},
    )
    db.insert("account", {"name": "Acme Labs", "parent": acme, "owner_id": 1},
              {"name": "Globex Bank", "parent": globex, "owner_id": 2})
    db.insert(
        "opportunity",
        {"name": "acme-1", "account": acme, "owner_id": 1},
        {"name": "acme-2", "account": acme, "owner_id": 2},
        {"name": "globex-1", "account": globex, "owner_id": 1},
        {"name": "initech-1", "account": initech, "owner_id": 1},
        {"name": "shanghai-1", "account": shanghai, "owner_id": 1},
        {"name": "orphan", "account": None, "owner_id": 1},
    )
    return db


def test_a_field_of_the_linked_record(crm):
    assert crm.names("opportunity", {"account.industry": "Tech"}) == {"acme-1", "acme-2"}
    assert crm.names("opportunity", {"account.industry": {"in": ["Tech", "Finance"]}}) == {
        "acme-1", "acme-2", "globex-1"}
    assert crm.names("opportunity", {"account.name": {"contains": "科技"}}) == {"shanghai-1"}


def test_several_operators_apply_to_the_same_linked_record(crm):
    condition = {"account.name": {"startswith": "a", "contains": "me"}}
    assert crm.names("opportunity", condition) == {"acme-1", "acme-2"}


def test_negative_operators_need_a_linked_record(crm):
    # "account industry is not Tech": records whose account's industry differs, empty included;
    # a record without an account has no account industry at all.
    assert crm.names("opportunity", {"account.industry": {"ne": "Tech"}}) == {"globex-1", "initech-1", "shanghai-1"}
    assert crm.names("opportunity", {"account.industry": None}) == {"initech-1"}


def test_not_through_a_lookup_matches_every_other_record(crm):
    assert crm.names("opportunity", {"not": {"account.industry": "Tech"}}) == {
        "globex-1", "initech-1", "shanghai-1", "orphan"}


def test_a_lookup_to_the_same_object(crm):
    assert crm.names("account", {"parent.name": "Acme"}) == {"Acme Labs"}
    assert crm.names("account", {"parent.industry": {"ne": "Tech"}}) == {"Globex Bank"}


def test_system_fields_of_the_linked_record(crm):
    assert crm.names("opportunity", {"account.owner_id": 2}) == {"globex-1"}


@pytest.mark.parametrize("key, message", [
    ("stage.name", "'stage' is not a lookup field of opportunity, so 'stage.name' cannot reach another object's "
                   "field; lookup fields: account."),
    ("owner_id.name", "'owner_id' is not a lookup field of opportunity, so 'owner_id.name' cannot reach another "
                      "object's field; lookup fields: account."),
    ("account.parent.name", "'account.parent.name' goes through more than one lookup; filters reach one level deep, "
                            "like 'account.parent'."),
    ("account.nme", "account has no field 'nme'. Did you mean 'name'?"),
    ("acount.name", "opportunity has no field 'acount'. Did you mean 'account'?"),
])
def test_bad_paths(ctx, key, message):
    with pytest.raises(QueryError) as error:
        compile_filter(ctx, "opportunity", {key: "x"})
    assert error.value.message == message


def owned_by(db, user: int, objects=("account", "opportunity")):
    """A row filter like the security layer's: only records the user owns."""
    return lambda name: db.table(name).c.owner_id == user if name in objects else None


def test_the_row_filter_applies_inside_lookup_conditions(crm):
    # Globex belongs to user 2: for user 1 no account is "Finance", so nothing matches through it.
    only_accounts = owned_by(crm, 1, objects=("account",))
    assert crm.names("opportunity", {"account.industry": "Finance"}, row_filter=only_accounts) == set()
    assert crm.names("opportunity", {"account.industry": "Finance"}) == {"globex-1"}
    assert crm.names("account", {"parent.name": {"startswith": "Globex"}},
                     row_filter=owned_by(crm, 1, objects=("account",))) == set()


def test_a_hidden_linked_record_never_reveals_its_values(crm):
    # Whatever Globex's industry is, user 1's results do not depend on it.
    hidden = owned_by(crm, 1, objects=("account",))
    for industry in ("Finance", "Tech"):
        table = crm.table("account")
        crm.execute(table.update().where(table.c.name == "Globex").values(industry=industry))
        assert crm.names("opportunity", {"account.industry": "Tech"}, row_filter=hidden) == {"acme-1", "acme-2"}
        assert "globex-1" in crm.names("opportunity", {"not": {"account.industry": "Tech"}}, row_filter=hidden)


def test_compile_filter_leaves_the_main_tables_row_filter_to_the_caller(crm):
    clause = compile_filter(crm.ctx(row_filter=owned_by(crm, 1)), "opportunity", {"account.industry": "Tech"})
    assert "owner_id" in str(clause)  # only inside the subquery over account
    assert crm.names("opportunity", {"account.industry": "Tech"}, row_filter=owned_by(crm, 1)) == {"acme-1", "acme-2"}


def test_pages_and_counts_apply_the_row_filter_to_the_main_table_and_subqueries(crm):
    rule = owned_by(crm, 1)
    spec = QuerySpec(filter={"account.industry": "Tech"})
    assert [row["name"] for row in crm.page("opportunity", spec, row_filter=rule)] == ["acme-1"]
    assert count_records(crm.connection, crm.ctx(row_filter=rule), "opportunity", spec).value == 1
    everything = count_records(crm.connection, crm.ctx(row_filter=rule), "opportunity", QuerySpec(), exact=True)
    assert everything.value == 5


def test_a_row_filter_of_none_means_no_restriction(crm):
    spec = QuerySpec(filter={"account.industry": "Finance"})
    assert [row["name"] for row in crm.page("opportunity", spec, row_filter=lambda name: None)] == ["globex-1"]
