"""Objects and fields named like SQL words (order, case, group, select, ...) work everywhere."""
from __future__ import annotations

from decimal import Decimal

import pytest

WORDS = """
package: words
version: "1.0.0"
objects:
  group:
    title_field: name
    fields:
      name: {type: text, required: true, searchable: true}
  case:
    title_field: name
    track_history: true
    sharing: private
    indexes: [{fields: [desc]}]
    fields:
      name: {type: text, required: true, searchable: true}
      group: {type: lookup, to: group}
      desc: {type: text, searchable: true}
      order_total: {type: rollup, from: order.case, aggregate: sum, field: limit}
      order_count: {type: rollup, from: order.case, aggregate: count}
      highest_order: {type: rollup, from: order.case, aggregate: max, field: order}
  order:
    title_field: select
    track_history: true
    default_sort: [-order]
    indexes: [{fields: [order, group]}, {fields: [primary, index], unique: true}]
    validations:
      - name: limit_not_negative
        condition: "limit is not None and limit < 0"
        message: The limit cannot be negative.
        field: limit
    fields:
      select: {type: text, required: true, searchable: true}
      order: {type: integer, indexed: true}
      group: {type: picklist, options: [A, B]}
      limit: {type: currency}
      desc: {type: text}
      index: {type: integer}
      primary: {type: boolean}
      table: {type: formula, returns: integer, formula: "(order or 0) * 2"}
      case: {type: lookup, to: case, on_delete: cascade}
  table:
    fields:
      order: {type: lookup, to: order}
      user: {type: text, unique: true}
  select:
    title_field: where
    fields:
      where: {type: text, searchable: true}
  user:
    fields:
      having: {type: text}
      primary: {type: lookup, to: user}
permission_sets:
  select:
    objects:
      case: [create, read, edit, delete]
      order: [create, read, edit, delete]
      group: [read]
    fields:
      order.limit: [read]
"""


@pytest.fixture
def words(crm, install):
    install(WORDS)
    session = crm.as_system()
    group = session.records("group").create({"name": "Support"})
    case = session.records("case").create({"name": "Broken printer", "group": group.id, "desc": "paper jam"})
    orders = session.records("order")
    first = orders.create({"select": "Toner", "order": 1, "group": "A", "limit": "10.50", "desc": "x",
                           "index": 1, "primary": True, "case": case.id})
    second = orders.create({"select": "Drum", "order": 2, "group": "B", "limit": "5", "index": 2,
                            "primary": True, "case": case.id})
    session.records("table").create({"order": first.id, "user": "u1"})
    session.records("select").create({"where": "here"})
    user = session.records("user").create({"having": "yes"})
    session.records("user").create({"having": "no", "primary": user.id})
    return session, case, first, second


def test_sql_words_name_objects_and_fields(words):
    session, case, first, second = words
    orders = session.records("order")
    assert first["table"] == 2
    assert [r["select"] for r in orders.query().records] == ["Drum", "Toner"]
    assert [r["select"] for r in orders.query({"order": {"gte": 2}}).records] == ["Drum"]
    assert [r["select"] for r in orders.query({"group": "A", "primary": True}, sort=["order"]).records] == ["Toner"]
    assert [r["select"] for r in orders.query({"case.desc": "paper jam"}, sort=["-limit"]).records] == [
        "Toner", "Drum"]
    assert orders.count({"desc": None}).value == 1
    assert orders.count({"group": ["A", "B"]}, cap=1).kind in ("at_least", "estimate")
    assert [r["select"] for r in orders.query(search="drum").records] == ["Drum"]
    tables = session.records("table")
    assert tables.count({"order.group": "A", "order.order": 1}).value == 1
    assert [r["user"] for r in tables.query(sort=["-order"]).records] == ["u1"]
    assert session.records("select").suggest("her") == [(1, "here")]
    assert session.records("user").count({"primary.having": "yes"}).value == 1


def test_a_user_sees_only_own_records_of_a_private_object_named_case(crm, words):
    from crmkit.engine.security.users import SystemDirectory

    session, case, first, second = words
    directory = SystemDirectory(crm)
    user = directory.create_user("agent", permission_sets=["select"])
    agent = crm.as_user(user.id)
    assert agent.records("case").count().value == 0
    mine = agent.records("case").create({"name": "Mine", "desc": "own"})
    order = agent.records("order").create({"select": "Paper", "order": 3, "case": mine.id, "index": 3})
    assert [r["name"] for r in agent.records("case").query({"desc": {"contains": "o"}}, sort=["-desc"]).records] == [
        "Mine"]
    assert agent.records("case").get(mine.id)["order_count"] == 1
    assert "limit" not in order or order["limit"] is None


def test_rollups_over_children_of_an_object_named_order(words):
    session, case, first, second = words
    assert session.records("case").get(case.id)["order_total"] == Decimal("15.50")
    updated = session.records("order").update(second.id, {"limit": "1.25", "order": 7}, version=second.version)
    after = session.records("case").get(case.id)
    assert (after["order_total"], after["order_count"], after["highest_order"]) == (Decimal("11.75"), 2, 7)
    assert updated["table"] == 14


def test_history_delete_restore_and_export(words):
    session, case, first, second = words
    orders = session.records("order")
    orders.update(first.id, {"order": 5}, version=first.version)
    changes = [(row["field"], row["old_value"], row["new_value"]) for row in orders.history(first.id)]
    assert ("order", 1, 5) in changes
    batch = session.records("case").delete(case.id)
    assert orders.count().value == 0
    restored = session.recycle_bin.restore(batch)
    assert ("order", first.id) in restored and orders.count().value == 2
    lines = list(orders.export(sort=["order"], fields=["select", "order", "group", "limit"], bom=False))
    assert lines[0].strip() == "select,order,group,limit"
    assert lines[1].strip() == "Drum,2,B,5.00"


def test_migrating_fields_and_objects_named_like_sql_words(crm, words, write_package):
    session, case, first, second = words
    changed = (WORDS.replace('version: "1.0.0"', 'version: "2.0.0"')
               .replace("      order: {type: integer, indexed: true}", "      order: {type: text, indexed: true}")
               .replace("aggregate: max, field: order}", "aggregate: count}")
               .replace('formula: "(order or 0) * 2"', 'formula: "len(order or \'\')"')
               .replace("      desc: {type: text}\n      index:", "      group_by: {type: text, renamed_from: desc}\n      index:")
               .replace("  select:\n    title_field: where", "  from_list:\n    renamed_from: select\n    title_field: where"))
    crm.install(write_package(changed))
    session = crm.as_system()
    orders = session.records("order")
    assert orders.get(first.id)["order"] == "1" and orders.get(first.id)["group_by"] == "x"
    assert [r["select"] for r in orders.query({"order": {"startswith": "2"}}, sort=["-order"]).records] == ["Drum"]
    assert session.records("from_list").count({"where": "here"}).value == 1
    assert session.records("case").get(case.id)["order_count"] == 2


def test_a_retired_lookup_named_order_is_purged(crm, words, write_package):
    session, case, first, second = words
    without = WORDS.replace('version: "1.0.0"', 'version: "2.0.0"').replace(
        "  table:\n    fields:\n      order: {type: lookup, to: order}\n", "  table:\n    fields:\n")
    crm.install(write_package(without))
    crm.migrate(purge=["table.order"])
    tables = crm.as_system().records("table")
    assert [r["user"] for r in tables.query({"user": {"contains": "u"}}).records] == ["u1"]
    assert "order" not in tables.get(1)


def test_demo_data_fills_objects_named_like_sql_words(crm, install):
    from crmkit.demo import DemoGenerator

    install(WORDS)
    created = DemoGenerator(crm, seed=3).fill(60)
    assert created["order"] > 0
    session = crm.as_system()
    assert session.records("order").count().value > 0
    assert session.records("case").count({"order_count": {"gte": 0}}).value > 0
