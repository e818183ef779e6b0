"""PostgreSQL reads that keep psycopg's prepared statements, and page limits a prepared plan knows.

psycopg 3 prepares a statement on the server once a connection has run its text
`prepare_threshold` times (5; https://www.psycopg.org/psycopg3/docs/advanced/prepare.html),
and then sends only its name and parameters: no parsing and planning per page. Two things
undid that here:

- psycopg forgets every prepared statement of a connection on ROLLBACK (a rolled-back
  transaction may have dropped what they refer to), and every read ended with one: the
  connection went back to the pool with its transaction open, which SQLAlchemy rolls back.
  A read that succeeded now ends with COMMIT (`end_read`): the same for a transaction that
  wrote nothing, and the statements stay. A read that failed is still rolled back.
- LIMIT and OFFSET were bound parameters, so a prepared page statement's generic plan did
  not know how many rows the page wants (PostgreSQL then guesses a tenth of the table, and
  may sort where an index walk would stop after 51 rows). They are written into the SQL as
  numbers (`LIMIT 51`), rendered when the statement runs so SQLAlchemy's compiled cache is
  unchanged: each page size has its own prepared statement, planned for its size.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine


def end_read(connection: Connection) -> None:
    """End a read's transaction on PostgreSQL with COMMIT, so psycopg keeps the connection's prepared statements."""
    if connection.dialect.name == "postgresql" and connection.in_transaction():
        connection.commit()


def literal_page_limits(engine: Engine) -> None:
    """Write LIMIT and OFFSET into this PostgreSQL engine's SQL as numbers, rendered at execution."""
    base = engine.dialect.statement_compiler

    class PageLimitCompiler(base):  # type: ignore[misc, valid-type]
        def limit_clause(self, select: Any, **kw: Any) -> str:
            return super().limit_clause(select, **{**kw, "literal_execute": True})

        def fetch_clause(self, select: Any, **kw: Any) -> str:
            return super().fetch_clause(select, **{**kw, "literal_execute": True})

    engine.dialect.statement_compiler = PageLimitCompiler
