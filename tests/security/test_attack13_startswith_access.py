"""Attacks on `startswith` pages read as ranges (query/prefix_ranges.py) through the records service, as users.

Every path that lists records by a `startswith` on a field sorted by it (lists page by page
through their cursors, export, the lookup autocomplete, the REST API) must answer exactly
what the filter read the usual way answers (`startswith_ranges` answering None), for a rep
who sees their own records, those shared with them and those a sharing rule reaches, never
one in the recycle bin; a protected field and a formula masked for the user are never read
as ranges of their stored values. FEW_PREFIXED is lowered to 1, so every prefix whose
spellings are known is read as ranges.
"""
from __future__ import annotations

from typing import Any, Callable

import pytest

from crmkit.engine.query import QueryError, prefix_ranges as prefix_ranges_module, sorting
from tests.conftest import add_users

PACKAGE = """
package: attack13
version: "1.0.0"
roles:
  rep: {label: Rep}
  support: {label: Support}
permission_sets:
  sales:
    roles: [rep, support]
    objects:
      company: [create, read, edit, delete, export]
  auditors:
    objects:
      company: [read]
    fields:
      company.secret: [read]
objects:
  company:
    title_field: name
    sharing: private
    default_sort: [name]
    sharing_rules:
      - name: gold_to_support
        criteria: {tier: Gold}
        share_with: {role: support}
        access: read
    fields:
      name: {type: text, indexed: true, searchable: true}
      tier: {type: text}
      secret: {type: text, indexed: true}
      parent: {type: lookup, to: company}
      label: {type: formula, returns: text, formula: "parent.name + ' unit'", indexed: true}
"""
NAMES = ("Wonka", "wonka", "WONKA", "Won\u212aa", "Wonder", "kelvin", "\u212aelvin", "İstanbul", "istanbul", "a%b",
         "a_b", "Acme", "acme", "Zeta")


@pytest.fixture
def people(crm, write_package, install_once, monkeypatch) -> dict[str, Any]:
    """System, two reps (ann, bob) and a support user (sue): each rep owns companies, bob shares some with ann,
    gold ones reach sue by a rule, some are in the recycle bin; bob's secret names start like the names."""
    monkeypatch.setattr(prefix_ranges_module, "FEW_PREFIXED", 1)
    install_once(write_package(PACKAGE))
    users = add_users(crm, [("ann", "rep", ["sales"]), ("bob", "rep", ["sales"]), ("sue", "support", ["sales"])])
    system, ann, bob = crm.as_system().records("company"), crm.as_user(users["ann"]), crm.as_user(users["bob"])
    parents = {who: system.create({"name": f"Wonka parent of {who}", "owner_id": users[who]}).id
               for who in ("ann", "bob")}
    for number in range(len(NAMES) * 3):
        who, session = ("ann", ann) if number % 3 == 0 else ("bob", bob)
        record = system.create({
            "name": f"{NAMES[number % len(NAMES)]} {number % 5}", "tier": "Gold" if number % 4 == 0 else None,
            "secret": f"wonka secret {number}", "parent": parents["bob"] if number % 2 else parents[who],
            "owner_id": users[who]})
        if who == "bob" and number % 5 == 0:
            bob.sharing.share("company", record.id, user_id=users["ann"])
        if number % 7 == 0:
            session.records("company").delete(record.id)
    chosen: list[bool] = []
    real = sorting.startswith_ranges

    def spied(*args: Any, **kwargs: Any) -> Any:
        ranges = real(*args, **kwargs)
        chosen.append(ranges is not None)
        return ranges

    monkeypatch.setattr(sorting, "startswith_ranges", spied)
    return {"system": crm.as_system(), "ann": ann, "bob": bob, "sue": crm.as_user(users["sue"]), "ranges read": chosen}


def the_usual_way(monkeypatch, read: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`read(*args, **kwargs)` with no `startswith` read as ranges."""
    with monkeypatch.context() as patch:
        patch.setattr(sorting, "startswith_ranges", lambda *args, **kwargs: None)
        return read(*args, **kwargs)


def exported(session, filter: Any, sort: tuple[str, ...]) -> list[Any]:
    return list(session.records("company").export(filter, sort=sort, fields=["name"], format="values"))


def every_page(session, filter: Any, sort: tuple[str, ...], limit: int = 4) -> list[tuple[int, Any]]:
    records, found, after = session.records("company"), [], None
    while True:
        page = records.query(filter, sort=sort, limit=limit, after=after)
        found += [(record.id, record.get(sort[0].lstrip("-"))) for record in page.records]
        if page.next_cursor is None:
            return found
        after = page.next_cursor


@pytest.mark.parametrize("who", ["system", "ann", "sue"])
def test_every_page_export_and_suggestion_of_a_user_hold_what_the_usual_read_holds(people, monkeypatch, who):
    session, records = people[who], people[who].records("company")
    for prefix in ["wonka", "Won", "k", "i", "a%", ["a", "wonka", "Won"]]:
        filter = {"name": {"startswith": prefix}}
        for sort in [("name",), ("-name",)]:
            assert every_page(session, filter, sort) == the_usual_way(monkeypatch, every_page, session, filter, sort)
            assert exported(session, filter, sort) == the_usual_way(monkeypatch, exported, session, filter, sort)
        if isinstance(prefix, str):
            assert records.suggest(prefix, limit=7) == the_usual_way(monkeypatch, records.suggest, prefix, limit=7)
    assert any(people["ranges read"])


def test_a_protected_field_is_refused_as_a_filter_and_a_sort_alike(people, monkeypatch):
    ann = people["ann"].records("company")
    for sort in [("secret",), ("-secret",)]:
        with pytest.raises(QueryError) as ranged:
            ann.query({"secret": {"startswith": "wonka"}}, sort=sort)
        with pytest.raises(QueryError) as usual:
            the_usual_way(monkeypatch, ann.query, {"secret": {"startswith": "wonka"}}, sort=sort)
        assert str(ranged.value) == str(usual.value) and "wonka secret" not in str(ranged.value)


def test_a_formula_masked_for_the_user_is_not_read_as_ranges_of_its_stored_values(people, monkeypatch):
    """Ann may not see bob's parent company: a label over it is empty for her, so no label of hers starts with its
    name, read as ranges or not (the stored label does)."""
    for prefix in ["wonka", "Wonka parent of bob"]:
        filter = {"label": {"startswith": prefix}}
        labels = every_page(people["system"], filter, ("label",))
        assert any(label.startswith("Wonka parent of bob") for _, label in labels)
        for sort in [("label",), ("-label",)]:
            seen = every_page(people["ann"], filter, sort)
            assert seen == the_usual_way(monkeypatch, every_page, people["ann"], filter, sort)
            assert not any(label and label.startswith("Wonka parent of bob") for _, label in seen)
    assert any(people["ranges read"])  # the system's read of the stored labels


def test_a_statement_remembered_for_one_user_s_filter_shape_answers_another_as_their_own(people, monkeypatch):
    """The range page's statement is kept per filter shape and row filter: a filter through a lookup holds the
    linked object's row filter too (parent.name: the parents each user may see). Users taking turns, page by page,
    each get what the usual read gives them."""
    for prefix in ["wonka", "won"]:
        filter = {"name": {"startswith": prefix}, "parent.name": {"startswith": "Wonka parent"}}
        for who in ["ann", "bob", "sue", "system", "ann", "bob"]:
            for sort in [("name",), ("-name",)]:
                session = people[who]
                assert every_page(session, filter, sort) == the_usual_way(monkeypatch, every_page, session, filter,
                                                                          sort)
    assert any(people["ranges read"])


def test_records_created_in_the_transaction_are_listed_by_its_range_pages(people, monkeypatch):
    """Inside one transaction the rep's new records (and one shared with them) are on the range pages read in it,
    as on the usual read's; rolled back, on neither."""
    ann, bob = people["ann"], people["bob"]
    filter = {"name": {"startswith": "wonka"}}
    before = every_page(ann, filter, ("name",))
    with pytest.raises(RuntimeError), ann.transaction():
        created = [ann.records("company").create({"name": f"WONKA new {number}"}).id for number in range(3)]
        for sort in [("name",), ("-name",)]:
            listed = every_page(ann, filter, sort)
            assert listed == the_usual_way(monkeypatch, every_page, ann, filter, sort)
            assert set(created) <= {record_id for record_id, _ in listed}
        raise RuntimeError("roll back")
    assert every_page(ann, filter, ("name",)) == before
    assert every_page(bob, filter, ("name",)) == the_usual_way(monkeypatch, every_page, bob, filter, ("name",))
