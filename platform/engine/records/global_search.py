"""Search across objects, for the search box: `crm.as_user(7).search("张伟")`.

Each object is searched exactly as its list would be (RecordService.suggest and
title_matches: the object's read permission, its row filter and field-level security all
apply), so a hit is a record the user could open. Objects the user may not read, and objects with nothing the user may
search, are skipped without a word. Hits are ranked: the title equal to the text first,
then titles starting with it, then the other matches; within a rank by title.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Sequence

from crmkit.engine.query.errors import QueryError
from crmkit.engine.query.search import search_fields, search_terms
from crmkit.engine.query.tokens import normalise
from crmkit.engine.security.access import PermissionDenied

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext

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
        raise QueryError(f"the number of search results must be a whole number from 1 to {MAX_LIMIT}.")
    if not search_terms(text):
        return []
    wanted = normalise(text.strip())
    hits: list[SearchHit] = []
    names = list(context.runtime.registry.objects) if objects is None else list(dict.fromkeys(objects))
    for name in names:
        service = context.records(name)
        try:
            if not search_fields(service.query_context(), name):
                continue
            # Candidates: titles starting with the text and other matches by title (suggest), and
            # the shortest titles holding every word, so an exact title (any case or width) is among them.
            found = dict(service.suggest(text, limit=limit))
            if len(found) == limit:  # fewer: every match is a candidate already
                found.update(service.title_matches(text, limit=limit))
        except PermissionDenied:
            continue
        hits.extend(SearchHit(name, record_id, title, _match(normalise(title), wanted))
                    for record_id, title in found.items())
    hits.sort(key=lambda hit: (hit.match, normalise(hit.title), hit.object, hit.id))
    return hits[:limit]


def _match(title: str, wanted: str) -> Match:
    if title == wanted:
        return Match.EXACT_TITLE
    return Match.TITLE_PREFIX if title.startswith(wanted) else Match.OTHER
