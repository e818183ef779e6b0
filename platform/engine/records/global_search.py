"""Search across objects, for the search box: `crm.as_user(7).search("张伟")`.

Each object is searched exactly as its lookup autocomplete is (RecordService.suggestions:
the object's read permission, its row filter and field-level security all apply), so a hit
is a record the user could open. Objects the user may not read, and objects with nothing
the user may search, are skipped without a word. The whole search is one operation: one
connection, the user's rights read once, every object read on it.

Hits are ranked: the title equal to the text first, then titles starting with it (each by
title), then the other matches, newest first (by creation time, across objects). Each
object offers at most `limit` candidates: titles starting with the text (an index range
on an indexed title), then its other matches newest first (the search index's own order,
query/search_pages.py), so no object sorts all its matches.

On PostgreSQL every statement is a round trip, and most objects hold no match for most
texts: one statement first asks every object's search index whether it holds any match
(`objects_with_matches`: the GIN index alone, each object's own fields the user may search),
and only those objects are read. An object whose statistics expect a common word is not
asked (its bitmap costs more than its page) and is read directly.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import TYPE_CHECKING, Sequence

from sqlalchemy import Connection, column, exists, literal, select, table, union_all

from crmkit.engine import messages
from crmkit.engine.query.errors import QueryError
from crmkit.engine.query.search import IndexCondition, SearchMatch, search_clause, search_fields, search_terms
from crmkit.engine.query.search_pages import COMMON_SHARE
from crmkit.engine.query.search_statistics import expected_share
from crmkit.engine.query.tokens import normalise
from crmkit.engine.records.service import Suggestion
from crmkit.engine.security.access import PermissionDenied

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext
    from crmkit.engine.query.filters import QueryContext

#: Hits returned when the caller gives no limit, and the most they may ask for.
DEFAULT_LIMIT = 20
MAX_LIMIT = 200


class Match(IntEnum):
    """How well a hit matches, best first."""

    EXACT_TITLE = 0
    TITLE_PREFIX = 1
    OTHER = 2


@dataclass(frozen=True)
class SearchHit:
    """One record found: its object, id, title as the user may see it (the id when hidden), and how it matched."""

    object: str
    id: int
    title: str
    match: Match


def search_objects(context: "UserContext", text: str, objects: Sequence[str] | None = None,
                   limit: int = DEFAULT_LIMIT) -> list[SearchHit]:
    """The best `limit` hits for `text` across `objects` (None: every object with a search index).

    Raises QueryError for a malformed search or limit, UnknownObject for a name no object has.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise QueryError(messages.SEARCH_RESULTS_COUNT(max=MAX_LIMIT))
    if not search_terms(text):
        return []
    wanted = normalise(text.strip())
    names = list(context.runtime.registry.objects) if objects is None else list(dict.fromkeys(objects))
    found: list[tuple[str, Suggestion]] = []
    with context.reading() as connection:  # one operation for every object
        services = {name: context.records(name) for name in names}
        skipped = objects_without_matches(connection, {name: service.query_context() for name, service in services.items()},
                                          text)
        for name, service in services.items():
            try:
                if name in skipped or not search_fields(service.query_context(), name):
                    continue
                found.extend((name, suggestion) for suggestion in service.suggestions(connection, text, limit=limit))
            except PermissionDenied:
                continue
    hits = [SearchHit(name, suggestion.record.id, suggestion.title, _match(normalise(suggestion.title), wanted))
            for name, suggestion in found]
    created = {(name, suggestion.record.id): _moment(suggestion.record.get("created_at")) for name, suggestion in found}
    hits.sort(key=lambda hit: _rank(hit, created[hit.object, hit.id]))
    return hits[:limit]


def objects_without_matches(connection: Connection, contexts: "dict[str, QueryContext]", text: str) -> set[str]:
    """PostgreSQL: the objects whose search index holds no match for `text` in the fields each caller may search.

    One statement, `SELECT 'account' WHERE EXISTS (SELECT 1 FROM found_0) UNION ALL ...`, each
    object's matches a MATERIALIZED CTE so that PostgreSQL reads them from the GIN index
    (left to itself it may walk a large search table row by row looking for a first match,
    every row of it for a word nobody holds); EXISTS stops at the first match. Objects whose
    statistics expect a common word (query/search_statistics.py) are not asked. It reads the
    index alone, not the records: whether the caller may read the object or a matching
    record is decided when an object is read, so this only spares reads (SQLite: none,
    every statement there is in-process).
    """
    if connection.dialect.name != "postgresql":
        return set()
    asked = []
    for number, (name, ctx) in enumerate(contexts.items()):
        match = search_clause(ctx, name, text) if search_fields(ctx, name) else None
        if not isinstance(match, SearchMatch) or expected_share(connection, match) > COMMON_SHARE:
            continue
        index = table(match.index_table, column("id"))
        found = select(index.c.id).where(IndexCondition(match)).cte(f"found_{number}").prefix_with("MATERIALIZED")
        asked.append((name, select(literal(name).label("object")).where(exists(select(found.c.id)))))
    if not asked:
        return set()
    statements = [statement for _name, statement in asked]
    statement = statements[0] if len(statements) == 1 else union_all(*statements)
    held = set(connection.execute(statement).scalars())
    return {name for name, _statement in asked if name not in held}


def _rank(hit: SearchHit, created: float) -> tuple:
    """Exact and prefix title matches by title; the other matches newest first."""
    if hit.match is Match.OTHER:
        return (hit.match, "", -created, hit.object, -hit.id)
    return (hit.match, normalise(hit.title), 0.0, hit.object, hit.id)


def _moment(value: object) -> float:
    """A record's creation time as seconds since 1970 (a record without one counts as the oldest)."""
    return value.timestamp() if isinstance(value, datetime) else float("-inf")


def _match(title: str, wanted: str) -> Match:
    if title == wanted:
        return Match.EXACT_TITLE
    return Match.TITLE_PREFIX if title.startswith(wanted) else Match.OTHER
