"""The statements a create and a bulk create send, and that the faster paths write the same rows.

On PostgreSQL a create writes its record, its history row and its search row in one
statement (records/create_statement.py), and a bulk batch writes each table in one
INSERT ... SELECT FROM unnest (engine/batch_insert.py). These tests pin the statement
counts, so a regression to one statement per row fails here, and check that the rows
written are exactly those of the separate statements (SQLite's path, kept on PostgreSQL
behind a switch).
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import MetaData, Table, Text, event, select, text

from crmkit.engine.batch_insert import insert_rows
from crmkit.engine.records.pipeline import SavePipeline

PACKAGE = """
package: writes
version: "1.0.0"
objects:
  deal:
    title_field: name
    track_history: true
    fields:
      name: {type: text, required: true, searchable: true}
      notes: {type: text, searchable: true}
      amount: {type: currency}
      probability: {type: percent, default: 10}
      close_date: {type: date}
      expected: {type: formula, returns: currency, formula: "amount * probability / 100 if amount else 0"}
      account: {type: lookup, to: account}
    validations:
      - name: amount_not_negative
        condition: "amount is not None and amount < 0"
        message: {en: Amount must not be negative}
        field: amount
  account:
    title_field: name
    fields:
      name: {type: text, required: true}
      deals: {type: rollup, from: deal.account, aggregate: count}
      pipeline: {type: rollup, from: deal.account, aggregate: sum, field: expected}
"""

VALUES = [
    {"name": "星辰科技 renewal", "notes": "Zhang Wei 张伟, ÉCOLE 42", "amount": Decimal("1234.56"),
     "probability": Decimal(40), "close_date": date(2026, 3, 1)},
    {"name": "Acme", "amount": None},
    {"name": "Globex", "notes": "", "amount": Decimal("0.01"), "probability": Decimal(100)},
]


@pytest.fixture
def deals(crm, install):
    install(PACKAGE)
    return crm.as_system().records("deal")


class Statements:
    """The SQL statements sent to the database while active (executemany counts once; `many` has those)."""

    def __init__(self, engine) -> None:
        self.engine, self.sent, self.many = engine, [], []

    def __enter__(self) -> list[str]:
        event.listen(self.engine, "before_cursor_execute", self._note)
        return self.sent

    def __exit__(self, *exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._note)

    def _note(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.sent.append(" ".join(statement.split()))
        if executemany:
            self.many.append(self.sent[-1])


def inserts_into(statements: list[str], table: str) -> list[str]:
    return [sql for sql in statements if f"INSERT INTO {table} " in sql.replace('"', "")]


def stored(crm, record_ids: list[int]) -> tuple[list[tuple], list[tuple]]:
    """(history rows, search rows) of these deals, without their own ids, in the order of `record_ids` (SQLite: a
    search row in FTS5 or still in the pending table, query/search_index.py)."""
    history = crm.runtime.system_table("crmkit_history")
    is_sqlite = crm.engine.dialect.name == "sqlite"
    search_table = "crmkit_deal_search"
    with crm.engine.connect() as connection:
        token_columns = [row[1] for row in connection.exec_driver_sql(f"PRAGMA table_info({search_table})")] \
            if is_sqlite else [name for name in Table(search_table, MetaData(), autoload_with=connection).c.keys()
                               if name != "id"]
        key = "rowid" if is_sqlite else "id"
        history_rows, search_rows = [], []
        for record_id in record_ids:
            rows = connection.execute(select(history).where(history.c.object == "deal", history.c.record_id == record_id)
                                      .order_by(history.c.id)).mappings().all()
            history_rows.extend(tuple((name, value) for name, value in row.items() if name not in ("id", "record_id"))
                                for row in rows)
            shown = ", ".join(f'"{name}"' if is_sqlite else f'"{name}"::text' for name in token_columns)
            pending = f' UNION ALL SELECT {shown} FROM "{search_table}_pending" WHERE id = :id' if is_sqlite else ""
            found = connection.execute(text(f'SELECT {shown} FROM "{search_table}" WHERE {key} = :id{pending}'),
                                       {"id": record_id}).all()
            search_rows.extend(tuple(row) for row in found)
    return history_rows, search_rows


def test_a_postgresql_create_writes_record_history_and_search_row_in_one_statement(crm, deals):
    deals.create(VALUES[0])  # the first create of a process compiles and reads metadata; count the next
    with Statements(crm.engine) as sent:
        deals.create(VALUES[1])
    writes = [sql for sql in sent if sql.startswith(("INSERT", "WITH", "UPDATE", "DELETE"))]
    if crm.engine.dialect.name == "postgresql":
        assert len(writes) == 1, writes
        assert "INSERT INTO deal " in writes[0].replace('"', "")
        assert "INSERT INTO crmkit_history " in writes[0] and "INSERT INTO crmkit_deal_search " in writes[0]
        assert "INSERT INTO crmkit_change " in writes[0]
    else:
        # The search row waits in the pending table (query/search_index.py), not FTS5.
        assert [len(inserts_into(writes, table)) for table in ("deal", "crmkit_history", "crmkit_deal_search",
                                                               "crmkit_deal_search_pending", "crmkit_change")
                ] == [1, 1, 0, 1, 1]


def test_the_one_statement_create_writes_the_rows_the_separate_statements_write(crm, deals, monkeypatch):
    # Frozen clock: both paths stamp the same moment, so their rows can be compared whole.
    crm.clock = lambda: datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    together = [deals.create(values).id for values in VALUES]
    monkeypatch.setattr(SavePipeline, "create_statement", lambda self, names: None)
    apart = [deals.create(values).id for values in VALUES]
    assert stored(crm, together) == stored(crm, apart)
    history, search = stored(crm, together)
    assert len(history) == len(VALUES) and len(search) == len(VALUES)
    assert all(dict(row)["operation"] == "create" for row in history)
    assert changes(crm, together) == changes(crm, apart) and len(changes(crm, together)) == len(VALUES)
    session = crm.as_system()
    for word in ("张伟", "zhangwei", "école", "globex"):
        found = {record.id for record in session.records("deal").query(search=word).records}
        assert found & set(together) and found & set(apart), word


def changes(crm, record_ids: list[int]) -> list[tuple]:
    """The change-log rows of `record_ids` in order, without their own ids (the feed's record of each create)."""
    log = crm.runtime.system_table("crmkit_change")
    with crm.engine.connect() as connection:
        rows = connection.execute(select(log).where(log.c.record_id.in_(record_ids)).order_by(log.c.id)).mappings()
        return [(row["object"], row["operation"], row["fields"], row["changed_at"], row["changed_by"]) for row in rows]


def test_a_create_that_propagation_rewrites_is_indexed_once_with_its_stored_values(crm, deals):
    account = crm.as_system().records("account").create({"name": "Initech"})
    record = deals.create({"name": "Initech upgrade", "amount": Decimal(500), "account": account.id})
    with crm.engine.connect() as connection:
        key = "rowid" if crm.engine.dialect.name == "sqlite" else "id"
        pending = ' UNION ALL SELECT id FROM "crmkit_deal_search_pending" WHERE id = :id' if key == "rowid" else ""
        count = connection.execute(text(f'SELECT count(*) FROM (SELECT {key} FROM "crmkit_deal_search" '
                                        f'WHERE {key} = :id{pending}) AS found'), {"id": record.id}).scalar_one()
    assert count == 1
    assert crm.as_system().records("account").get(account.id).get("pipeline") == Decimal("50.00")
    assert [r.id for r in deals.query(search="initech").records] == [record.id]


def test_a_bulk_batch_writes_each_table_in_one_statement(crm, deals):
    rows = [dict(VALUES[number % len(VALUES)], name=f"Deal {number} 华为") for number in range(50)]
    watch = Statements(crm.engine)
    with watch as sent:
        assert deals.bulk_create(rows, batch_size=50) == 50
    for table in ("deal", "crmkit_history", "crmkit_deal_search"):
        assert len(inserts_into(sent, table)) == 1, (table, inserts_into(sent, table))
    if crm.engine.dialect.name == "postgresql":  # one statement on the server too, not one per row
        assert watch.many == []


def test_bulk_rows_equal_the_rows_of_single_creates(crm, deals):
    crm.clock = lambda: datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    rows = [dict(VALUES[number % len(VALUES)], name=f"Deal {number} 华为") for number in range(6)]
    singles = [deals.create(row).id for row in rows]
    deals.bulk_create(rows)
    table = crm.runtime.table("deal")
    with crm.engine.connect() as connection:
        stored_rows = connection.execute(select(table).order_by(table.c.id)).mappings().all()
    drop = ("id",)
    by_id = {row["id"]: {k: v for k, v in row.items() if k not in drop} for row in stored_rows}
    bulk_ids = sorted(set(by_id) - set(singles))
    assert [by_id[record_id] for record_id in singles] == [by_id[record_id] for record_id in bulk_ids]
    assert stored(crm, singles) == stored(crm, bulk_ids)


def test_insert_rows_keeps_every_value_exactly(crm, deals):
    table = crm.runtime.system_table("crmkit_history")
    moment = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
    rows = [
        {"object": "deal", "record_id": 1, "operation": "update", "field": "amount", "old_value": "1.50",
         "new_value": {"text": "星辰 'quoted' \"double\" \\ {braces}, commas", "list": [1, None]},
         "changed_at": moment, "changed_by": None},
        {"object": "deal", "record_id": 2, "operation": "update", "field": None, "old_value": None,
         "new_value": "NULL", "changed_at": moment.replace(tzinfo=None), "changed_by": 7},
        {"object": "deal", "record_id": 3, "operation": "create", "changed_at": moment},  # the rest: NULL
        {"object": "deal", "record_id": 4, "operation": "update", "field": "tags", "old_value": ["a"],
         "new_value": ["b", "星辰", "c"], "changed_at": moment, "changed_by": None},  # a list is not an array
    ]
    with crm.engine.begin() as connection:
        insert_rows(connection, table, rows)
        found = connection.execute(select(table).where(table.c.record_id.in_([1, 2, 3, 4]))
                                   .order_by(table.c.record_id)).mappings().all()
    assert [{k: v for k, v in row.items() if k != "id"} for row in found] == [
        rows[0], dict(rows[1], changed_at=moment),
        dict(rows[2], field=None, old_value=None, new_value=None, changed_by=None), rows[3]]


MULTI = """
package: multi
version: "1.0.0"
objects:
  lead:
    title_field: name
    track_history: true
    fields:
      name: {type: text, required: true}
      interests: {type: multi_picklist, options: [Software, Hardware, Services]}
"""


def test_bulk_rows_with_list_values_are_stored_whole(crm, install):
    install(MULTI)
    leads = crm.as_system().records("lead")
    rows = [{"name": "A", "interests": ["Software", "Hardware", "Services"]}, {"name": "B", "interests": ["Hardware"]},
            {"name": "C", "interests": None}]
    leads.bulk_create(rows)
    stored_rows = leads.query(sort=["name"]).records
    assert [record.get("interests") for record in stored_rows] == [row["interests"] for row in rows]


def test_json_documents_of_a_batch_travel_as_one_parameter_and_are_stored_as_written(crm, deals):
    """PostgreSQL sends a batch's documents as one JSON array (engine/batch_insert.py): lists, the
    string "null", nested quotes and backslashes come back as given, SQL NULL stays NULL."""
    table = crm.runtime.system_table("crmkit_history")
    moment = datetime(2026, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    documents = [["a", "星辰"], "null", {"q": "say \"hi\" \\ there", "n": None}, None, 0, []]
    rows = [{"object": "deal", "record_id": 100 + number, "operation": "update", "field": "x", "old_value": value,
             "new_value": {"at": number}, "changed_at": moment, "changed_by": None}
            for number, value in enumerate(documents)]
    with Statements(crm.engine) as sent, crm.engine.begin() as connection:
        insert_rows(connection, table, rows)
    if crm.engine.dialect.name == "postgresql":
        assert len(inserts_into(sent, "crmkit_history")) == 1
    with crm.engine.connect() as connection:
        found = connection.execute(select(table.c.old_value, table.c.new_value, table.c.record_id)
                                   .where(table.c.record_id >= 100).order_by(table.c.id)).all()
        raw = connection.execute(select(table.c.old_value.cast(Text)).where(table.c.record_id == 103)).scalar()
    assert [tuple(row) for row in found] == [(value, {"at": number}, 100 + number)
                                            for number, value in enumerate(documents)]
    assert raw is None
