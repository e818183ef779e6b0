"""The direct path (precompiled.run_on_driver): a create's statements skip SQLAlchemy's execution
context, and nothing a caller can observe changes.

Inside a transaction, the kept statements of a save run on the DBAPI cursor (sqlite3's, and
psycopg's on PostgreSQL), and so does SQLite's BEGIN. These tests pin what must hold all the
same, on both databases: the rows a create writes (record, history, search index, change log),
statement listeners seeing every statement, the database's refusals told as field errors and
leaving the transaction as the usual path does, values the driver cannot bind translated as
before, and the usual path wherever the direct one does not apply.
"""
from __future__ import annotations

import pytest
from sqlalchemy import event, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, NoResultFound

from crmkit.engine.database import NumberOutOfRange
from crmkit.engine.precompiled import DriverResult, execute_compiled, run_on_driver
from crmkit.engine.records.errors import RecordValidationError
from crmkit.engine.records.pipeline import SavePipeline

PACKAGE = """
package: direct
version: "1.0.0"
objects:
  deal:
    title_field: name
    track_history: true
    fields:
      name: {type: text, required: true, searchable: true}
      code: {type: text, unique: true}
      amount: {type: currency}
      probability: {type: percent, default: 10}
      expected: {type: formula, returns: currency, formula: "amount * probability / 100 if amount else 0"}
    validations:
      - name: amount_not_negative
        condition: "amount is not None and amount < 0"
        message: {en: Amount must not be negative}
        field: amount
"""


@pytest.fixture
def deals(crm, install):
    install(PACKAGE)
    return crm.as_system().records("deal")


class Seen:
    """(statement, execution context) of every statement sent while active."""

    def __init__(self, engine) -> None:
        self.engine, self.sent = engine, []

    def __enter__(self) -> list[tuple[str, object]]:
        event.listen(self.engine, "before_cursor_execute", self._note)
        return self.sent

    def __exit__(self, *exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._note)

    def _note(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.sent.append((" ".join(statement.split()), context))


def test_a_create_sends_its_statements_on_the_driver_cursor_and_listeners_see_each(crm, deals):
    with Seen(crm.engine) as sent:
        record = deals.create({"name": "星辰科技 renewal", "amount": "1000"})
    statements = [statement for statement, _ in sent]
    if crm.engine.dialect.name == "sqlite":
        assert statements[0] == "BEGIN IMMEDIATE"
        assert [statement.split(" (")[0] for statement in statements if statement.startswith("INSERT")] == [
            "INSERT INTO deal", "INSERT INTO crmkit_history", "INSERT INTO crmkit_deal_search_pending",
            "INSERT INTO crmkit_change"]  # the search row waits in the pending table (query/search_index.py)
    else:  # psycopg begins the transaction itself; the writes are one statement (records/create_statement.py)
        assert len(statements) == 2 and statements[0].startswith("SELECT crmkit_metadata_state.generation")
        assert all(f"INSERT INTO {table} " in statements[1]
                   for table in ("deal", "crmkit_history", "crmkit_deal_search", "crmkit_change")), statements[1]
    assert all(context is None for _, context in sent)  # no SQLAlchemy execution context was built
    assert record["expected"] == 100 and record["version"] == 1


def test_a_create_on_the_direct_path_writes_history_search_and_change_rows(crm, deals):
    record = deals.create({"name": "Acme renewal", "amount": "250"})
    with crm.engine.connect() as connection:
        history = connection.execute(text(
            "SELECT operation FROM crmkit_history WHERE object = 'deal' AND record_id = :id"), {"id": record.id}).all()
        changes = connection.execute(text(
            "SELECT operation FROM crmkit_change WHERE object = 'deal' AND record_id = :id"), {"id": record.id}).all()
    assert history == [("create",)] and changes == [("create",)]
    assert [found.id for found in deals.query(search="acme").records] == [record.id]


def test_the_databases_refusal_on_the_direct_path_is_a_field_error(crm, deals, monkeypatch):
    deals.create({"name": "First", "code": "D-1"})
    # Two saves can pass the pipeline's own check at once: the database's unique index is the last word.
    monkeypatch.setattr(SavePipeline, "_check_unique", lambda self, connection, values, previous, errors: None)
    with pytest.raises(RecordValidationError) as refused:
        deals.create({"name": "Second", "code": "D-1"})
    assert list(refused.value.errors) == ["code"]
    assert "D-1" in refused.value.errors["code"][0]
    assert len(deals.query().records) == 1


def test_a_validation_rule_still_refuses_before_anything_is_written(crm, deals):
    with pytest.raises(RecordValidationError) as refused:
        deals.create({"name": "Negative", "amount": "-1"})
    assert refused.value.errors == {"amount": ["Amount must not be negative"]}
    assert deals.query().records == []


def test_a_value_the_driver_cannot_bind_is_translated_as_on_the_usual_path(crm, deals):
    history = crm.runtime.system_table("crmkit_history")
    entry = {"object": "deal", "record_id": 2 ** 70, "operation": "create", "field": None, "old_value": None,
             "new_value": None, "changed_at": None, "changed_by": None}
    for run in (lambda connection: execute_compiled(connection, insert(history), entry),
                lambda connection: connection.execute(insert(history), entry)):
        with pytest.raises(NumberOutOfRange), crm.engine.begin() as connection:
            run(connection)


def test_a_refused_statement_leaves_the_transaction_as_the_usual_path_does(crm, deals):
    """SQLite: usable, nothing written; PostgreSQL: aborted until rolled back (InFailedSqlTransaction)."""
    marker = "?" if crm.engine.dialect.name == "sqlite" else "%s"
    refused = f"INSERT INTO deal (id, name) VALUES ({marker}, {marker})"
    paths = {"direct": run_on_driver, "usual": lambda connection, sql, values=(): connection.exec_driver_sql(sql, values)}
    after: dict[str, object] = {}
    for name, run in paths.items():
        with crm.engine.connect() as connection:
            connection.begin()
            with pytest.raises(IntegrityError):
                run(connection, refused, (1, None))
            try:
                after[name] = run(connection, "SELECT count(*) FROM deal").scalar_one()
            except DBAPIError as error:
                after[name] = type(error.orig).__name__
            connection.rollback()
    assert after["direct"] == after["usual"]
    assert after["direct"] == (0 if crm.engine.dialect.name == "sqlite" else "InFailedSqlTransaction")
    with crm.engine.connect() as connection:
        assert connection.execute(select(crm.runtime.table("deal").c.id)).all() == []


def test_outside_a_transaction_the_usual_path_begins_one(crm, deals):
    with crm.engine.connect() as connection:
        assert not connection.in_transaction()
        result = run_on_driver(connection, "SELECT 1")
        assert not isinstance(result, DriverResult) and result.scalar_one() == 1
        assert connection.in_transaction()  # autobegun, as exec_driver_sql does
    with crm.engine.begin() as connection:
        assert isinstance(run_on_driver(connection, "SELECT 1"), DriverResult)


def test_a_driver_result_answers_as_a_cursor_result():
    rows = DriverResult([(7, "a")], 1)
    assert rows.first() == (7, "a") and rows.one() == (7, "a") and rows.scalar_one() == 7 and rows.all() == [(7, "a")]
    assert DriverResult([], -1).first() is None
    with pytest.raises(NoResultFound):
        DriverResult([], -1).scalar_one()
