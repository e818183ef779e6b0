"""Statements run from a kept compilation (engine/precompiled.py) behave exactly as `connection.execute`.

The save's fixed statements skip SQLAlchemy's per-call compile step; these tests pin that
nothing else changes: the stored values (exact decimals, UTC timestamps, JSON), the ids
returned, the database's errors, and that statements needing per-call work still get it.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from crmkit.engine import precompiled
from crmkit.engine.precompiled import execute_compiled

PACKAGE = """
package: kept
version: "1.0.0"
objects:
  deal:
    title_field: name
    track_history: true
    fields:
      name: {type: text, required: true}
      amount: {type: currency}
      closes: {type: datetime}
"""

MOMENT = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8)))


@pytest.fixture
def deal_table(crm, install):
    install(PACKAGE)
    return crm.runtime.table("deal")


def _row(name: str, amount: Decimal | None) -> dict:
    return {"name": name, "amount": amount, "closes": MOMENT, "created_at": MOMENT, "updated_at": MOMENT,
            "version": 1, "owner_id": None}


def test_a_kept_compilation_stores_exactly_what_execute_stores(crm, deal_table):
    statement = insert(deal_table).returning(deal_table.c.id)
    history = crm.runtime.system_table("crmkit_history")
    entry = {"object": "deal", "record_id": 7, "operation": "update", "field": "amount",
             "old_value": {"text": "星辰", "list": [1, "2.50"]}, "new_value": "1234.56", "changed_at": MOMENT,
             "changed_by": None}
    with crm.engine.begin() as connection:
        ours = [execute_compiled(connection, statement, _row(name, amount)).scalar_one()
                for name, amount in (("a", Decimal("1234.56")), ("b", None), ("c", Decimal("-0.01")))]
        theirs = [connection.execute(statement, _row(name, amount)).scalar_one()
                  for name, amount in (("a", Decimal("1234.56")), ("b", None), ("c", Decimal("-0.01")))]
        execute_compiled(connection, insert(history), entry)
        connection.execute(insert(history), entry)
    assert ours == [theirs[0] - 3, theirs[0] - 2, theirs[0] - 1]
    columns = [deal_table.c.name, deal_table.c.amount, deal_table.c.closes, deal_table.c.created_at]
    with crm.engine.connect() as connection:
        rows = connection.execute(select(*columns).where(deal_table.c.id.in_(ours + theirs))
                                  .order_by(deal_table.c.id)).all()
        logged = connection.execute(select(history.c.old_value, history.c.new_value, history.c.changed_at)
                                    .where(history.c.record_id == 7)).all()
    assert rows[:3] == rows[3:]
    assert rows[0] == ("a", Decimal("1234.56"), MOMENT, MOMENT) and rows[0][2].utcoffset() == timedelta(0)
    assert logged[0] == logged[1] == (entry["old_value"], "1234.56", MOMENT)


def test_a_statement_run_again_with_the_same_names_is_compiled_once(crm, deal_table, monkeypatch):
    statement = insert(deal_table).returning(deal_table.c.id)
    compiled = []
    original = precompiled.compile_once
    monkeypatch.setattr(precompiled, "compile_once", lambda *arguments: compiled.append(1) or original(*arguments))
    with crm.engine.begin() as connection:
        for name in ("a", "b", "c"):
            execute_compiled(connection, statement, _row(name, None))
        execute_compiled(connection, statement, {**_row("d", None), "amount": Decimal(1), "formula_errors": None})
    assert len(compiled) == 2  # once per set of names


def test_a_column_default_computed_in_python_is_still_applied(crm, deal_table):
    # `version` has a Python-side default (1): a statement that leaves it out is run the ordinary way.
    statement = insert(deal_table).returning(deal_table.c.id)
    row = _row("no version", None)
    del row["version"]
    with crm.engine.begin() as connection:
        record_id = execute_compiled(connection, statement, row).scalar_one()
        assert connection.execute(select(deal_table.c.version).where(deal_table.c.id == record_id)).scalar() == 1


def test_results_needing_processing_come_back_processed(crm, deal_table):
    with crm.engine.begin() as connection:
        record_id = execute_compiled(connection, insert(deal_table).returning(deal_table.c.id),
                                     _row("a", Decimal("12.30"))).scalar_one()
        query = select(deal_table.c.amount, deal_table.c.closes).where(deal_table.c.id == record_id)
        assert execute_compiled(connection, query, {}).one() == (Decimal("12.30"), MOMENT)


def test_the_databases_refusal_is_sqlalchemys_error_as_with_execute(crm, deal_table):
    statement = insert(deal_table).returning(deal_table.c.id)
    with crm.engine.begin() as connection:
        record_id = execute_compiled(connection, statement, _row("a", None)).scalar_one()
        with pytest.raises(IntegrityError):
            execute_compiled(connection, insert(deal_table), {**_row("b", None), "id": record_id})


def test_a_missing_required_value_is_refused_before_anything_is_sent(crm, deal_table):
    from sqlalchemy import bindparam

    query = select(deal_table.c.id).where(deal_table.c.name == bindparam("wanted"))
    with crm.engine.connect() as connection:
        assert execute_compiled(connection, query, {"wanted": "nobody"}).all() == []
        with pytest.raises(KeyError, match="wanted"):
            execute_compiled(connection, query, {})
