"""Attack on PostgreSQL's search walk (query/search_pages.py `_index_walk_fills`, `_index_walked`):
the walk over the newest rows of the search table gives the same rows, in the same order, on
every keyset page, as the bitmap read of every match, and as SQLite's FTS read; after deletes
(recycle bin), restores and updates that change a record's search row."""
from __future__ import annotations

import pytest
from sqlalchemy import event

from crmkit.engine.query import search_pages

PACKAGE = """
package: attack4search
version: "1.0.0"
objects:
  firm:
    title_field: name
    fields:
      name: {type: text, searchable: true}
      city: {type: text, searchable: true}
"""

SEARCHES = ["wonka", "wonka 12", "wonka choc", "choc 1", "12 wonka", "zzz", "wonka bar", "bar"]


@pytest.fixture
def firms(crm, install):
    install(PACKAGE)
    firms = crm.as_system().records("firm")
    created = []
    for number in range(120):
        name = f"Wonka {number} {'Choc' if number % 3 == 0 else 'Bar'}"
        created.append(firms.create({"name": name, "city": "Berlin 12" if number % 5 == 0 else "Paris"}))
    # deleted to the recycle bin, among the newest and among the oldest
    bins = [firms.delete(record.id) for record in created[-7:-3] + created[2:4]]
    # search rows rewritten: words gained and lost
    for record in created[10:14]:
        firms.update(record.id, {"name": "Someone else"}, version=record["version"])
    for record in created[-3:]:
        firms.update(record.id, {"city": "Zzz 12"}, version=record["version"])
    # one restored from the bin: back with its id, among the newest
    crm.as_system().recycle_bin.restore(bins[0])
    for number in range(5):
        firms.create({"name": f"Late wonka {number}"})
    return firms


def every_page(firms, words: str, limit: int, sort=None) -> list[int]:
    seen, cursor, pages = [], None, 0
    while True:
        page = firms.query(search=words, limit=limit, after=cursor, **({"sort": sort} if sort else {}))
        seen += [record.id for record in page.records]
        cursor, pages = page.next_cursor, pages + 1
        if cursor is None or pages > 200:
            return seen


def oracle(firms, words: str) -> list[int]:
    """Every live firm whose name or city holds each word as a prefix of one of its words, newest first."""
    wanted = words.lower().split()
    found = []
    for record in firms.query(limit=1000, sort=("-id",)).records:
        tokens = f"{record['name'] or ''} {record['city'] or ''}".lower().split()
        if all(any(token.startswith(word) for token in tokens) for word in wanted):
            found.append(record.id)
    return found


@pytest.mark.parametrize("walked", [30, 1_000_000])
@pytest.mark.parametrize("limit", [4, 25])
def test_the_walk_and_the_bitmap_give_every_page_alike(crm, firms, monkeypatch, walked, limit):
    expected = {words: oracle(firms, words) for words in SEARCHES}
    monkeypatch.setattr(search_pages, "COMMON_SHARE", 1.0)  # no walk along the records first
    monkeypatch.setattr(search_pages, "INDEX_WALKED", walked)
    for forced in (True, False):
        monkeypatch.setattr(search_pages, "_index_walk_fills", lambda connection, match, rows, forced=forced: forced)
        sent: list[str] = []
        note = lambda conn, cursor, statement, *rest, sent=sent: sent.append(statement)  # noqa: E731
        event.listen(crm.engine, "before_cursor_execute", note)
        try:
            for words in SEARCHES:
                assert every_page(firms, words, limit) == expected[words], (forced, words)
                assert every_page(firms, words, limit, ("-id",)) == expected[words], (forced, words)
                assert every_page(firms, words, limit, ("id",)) == expected[words][::-1], (forced, words)
        finally:
            event.remove(crm.engine, "before_cursor_execute", note)
        if crm.engine.dialect.name == "postgresql":
            assert any("AS recent" in statement for statement in sent) == forced
