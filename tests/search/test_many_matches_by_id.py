"""A filtered search page with a few hundred matches reads them by id (query/search_pages.py, the
"few" path): the ids travel as one bound text (query/lists.py `IdList`), so the page is right, the
statement is the same for any ids (one compilation per shape), and no id is written into the SQL."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import event

from crmkit.engine.query import search_pages
from crmkit.engine.query.lists import INLINE_VALUES

PACKAGE = """
package: many
version: "1.0.0"
objects:
  company:
    title_field: name
    fields:
      name: {type: text, searchable: true}
      city: {type: text}
"""


@pytest.fixture
def companies(crm, install, monkeypatch):
    monkeypatch.setattr(search_pages, "COMMON_SHARE", 1.0)  # PostgreSQL: no word is common enough to walk for
    install(PACKAGE)
    records = crm.as_system().records("company")
    records.bulk_create([{"name": f"{'Acme' if number % 2 else 'Zeta'} {number}", "city": "Paris" if number % 3 else "Rome"}
                         for number in range(4 * INLINE_VALUES)])
    return records


def _statements(crm, call) -> list[tuple[str, bool]]:
    """Each statement `call` executes, and whether it came compiled from a cache: SQLAlchemy's statement
    cache, or the kept compilation of the operation's fixed statements (engine/precompiled.py, run as
    driver SQL: no compiled object in the context, or on SQLite's direct path no context at all)."""
    seen: list[tuple[str, bool]] = []

    def before(_connection, _cursor, statement, _parameters, context, _many) -> None:
        seen.append((statement, context is None or context.compiled is None or context.cache_hit == context.cache_hit.CACHE_HIT))

    event.listen(crm.engine, "before_cursor_execute", before)
    try:
        call()
    finally:
        event.remove(crm.engine, "before_cursor_execute", before)
    return seen


def test_a_filtered_search_with_hundreds_of_matches_reads_the_right_page_by_id(crm, companies):
    expected = {}
    for word in ("acme", "zeta"):
        every = [record for record in companies.query({"city": "Paris"}, limit=1000).records
                 if record["name"].lower().startswith(word)]
        expected[word] = sorted((record.id for record in every), reverse=True)[:20]
        assert len(every) > INLINE_VALUES  # more matches than are bound one by one
    page = [record.id for record in companies.query({"city": "Paris"}, search="acme", limit=20).records]
    assert page == expected["acme"]
    seen: list = []
    statements = _statements(crm, lambda: seen.extend(companies.query({"city": "Paris"}, search="zeta", limit=20).records))
    assert [record.id for record in seen] == expected["zeta"]
    # other ids, the same compiled statements (SQLite's BEGIN is text)
    assert [sql for sql, cached in statements if not cached and sql != "BEGIN"] == []
    assert not any(re.search(rf"\b{expected['zeta'][0]}\b", sql) for sql, _cached in statements)
