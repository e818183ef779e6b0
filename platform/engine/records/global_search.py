"""Search across objects, for the search box: `crm.as_user(7).search("张伟")`.

Each object is searched exactly as its lookup autocomplete is (RecordService.suggestions:
the object's read permission, its row filter and field-level security all apply), so a hit
is a record the user could open. Objects the user may not read, and objects with nothing
the user may search, are skipped without a word. The whole search is one operation: one
connection, the user's rights read once, every object read on it.

Hits are ranked by where the text matched, then by object, so that a record named by the
text comes before the records that mention it:
1. titles equal to the text (EXACT_TITLE);
2. titles that match the text themselves: starting with it (TITLE_PREFIX) or holding every
   term where a word of the title starts (TITLE_WORD: "Acme" in "The Acme Corp"; a Chinese
   title has no spaces, so 华创 anywhere in 上海华创软件有限公司 or 有限公司 at its end);
3. the other matches (OTHER, found through another field), newest first (by creation time).
Within the first two, objects come in the order their package declares them (the order of
the navigation's tabs: an account before the activities about it), then prefixes before
words, then by title. Each object offers at most `limit` candidates: titles starting with
the text (an index range on an indexed title; a searchable title without an index is looked
up among the text's matches, never by testing every record's title), then its other matches
newest first (the search index's own order, query/search_pages.py), so no object sorts all its matches; an
older record whose title holds the text in the middle can be left out of a busy object's
candidates by newer matches.

Most objects hold no match for most texts, and reading one costs a statement (on
PostgreSQL a round trip) and the Python that builds its page: one statement first asks
every object's search index whether it holds any match (`objects_without_matches`: the
index alone, each object's own fields the user may search), and only those objects are
read. On PostgreSQL an object whose statistics expect a common word, or know the word to
be held, is not asked (its bitmap costs more than its page) and is read directly. The same
statement asks, of each object whose title is read by `startswith` as an index range,
whether any title starts with the text (RecordService.title_prefix_condition), of the
objects read without asking: an object whose matches fill its candidates reads its titles
starting with the text after them (another round trip), and that read is left out where
none does (张伟 in account names, which start with a company: 3 statements at 1,000,000
accounts instead of 4).

Each hit carries what a search page shows of it (records/search_snippets.py): its title
and up to three matched fields with the matched words marked, and whether it matched only
through pinyin. `search_by_object` gives the best hits of each object with how many
records of it match (counted through the same index, capped like a list's count).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import IntEnum
from typing import TYPE_CHECKING, Callable, Sequence

from sqlalchemy import ColumnElement, Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.visitors import InternalTraversal

from crmkit.engine import messages
from crmkit.engine.query.counting import Count, count_records
from crmkit.engine.query.errors import QueryError
from crmkit.engine.query.highlight import Segment, holds_every_term
from crmkit.engine.query.querystring import QuerySpec
from crmkit.engine.query.search import (ContentHeld, IndexCondition, SearchMatch, Term, content_table_name, pending_exists,
                                        search_clause, search_fields, search_terms)
from crmkit.engine.query.search_pages import COMMON_SHARE, PROBED
from crmkit.engine.query.search_statistics import expected_share, short_prefix, unknown_short_prefix
from crmkit.engine.query.search_words import with_words
from crmkit.engine.query.tokens import normalise
from crmkit.engine.records.search_snippets import FieldMatch, described
from crmkit.engine.records.service import Suggestion
from crmkit.engine.security.access import PermissionDenied
from crmkit.metadata.model import Label

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext
    from crmkit.engine.query.filters import QueryContext

#: Hits returned when the caller gives no limit, and the most they may ask for.
DEFAULT_LIMIT = 20
MAX_LIMIT = 200


class Match(IntEnum):
    """How well a hit matches, best first."""

    EXACT_TITLE = 0
    #: The title starts with the text.
    TITLE_PREFIX = 1
    #: The title holds every term at the start of a word (a Chinese term anywhere), but does not start with the text.
    TITLE_WORD = 2
    #: Found through another field.
    OTHER = 3


@dataclass(frozen=True)
class SearchHit:
    """One record found: its object, id, title as the user may see it (the id when hidden), and how it matched.

    `title_segments`: the title with the matched words marked; `fields`: up to three other
    fields the search matched, each a marked snippet; `pinyin`: some term matched only
    through the pinyin of Chinese text (records/search_snippets.py).
    """

    object: str
    id: int
    title: str
    match: Match
    title_segments: tuple[Segment, ...] = ()
    fields: tuple[FieldMatch, ...] = ()
    pinyin: bool = False


@dataclass(frozen=True)
class ObjectHits:
    """One object's part of a search: its plural label, how many records match (a Count), and the best hits."""

    object: str
    label: Label
    count: Count
    hits: tuple[SearchHit, ...]


@dataclass(frozen=True)
class _Found:
    """What one object offered: its suggestions, the fields the user's search looked in, and its count."""

    suggestions: list[Suggestion]
    fields: list[str]
    count: Count | None


def search_objects(context: "UserContext", text: str, objects: Sequence[str] | None = None,
                   limit: int = DEFAULT_LIMIT) -> list[SearchHit]:
    """The best `limit` hits for `text` across `objects` (None: every object with a search index).

    Raises QueryError for a malformed search or limit, UnknownObject for a name no object has.
    """
    _checked_limit(limit)
    terms = search_terms(text)
    if not terms:
        return []
    found = _find(context, text, objects, limit, count_cap=None)
    order = _object_order(context)
    hits = [hit for name, each in found.items() for hit in _ranked(name, each, text, terms, order)]
    hits.sort(key=lambda hit: hit.rank)
    return [_described(context, hit, found[hit.hit.object], terms) for hit in hits[:limit]]


def search_by_object(context: "UserContext", text: str, objects: Sequence[str] | None = None, *,
                     per_object: int = 10, count_cap: int = 1000) -> list[ObjectHits]:
    """The best `per_object` hits of each object holding matches for `text`, with how many match.

    Objects come in the order of their best hit (the ranking of `search_objects`); an object
    without a hit is left out. Each count is the object's list count for the same search
    (`records.count(search=text, cap=...)`: exact up to the larger of `count_cap` and
    `per_object`), never fewer than the hits shown. Raises QueryError for a malformed
    search, `per_object` or `count_cap`.
    """
    _checked_limit(per_object)
    if isinstance(count_cap, bool) or not isinstance(count_cap, int) or count_cap < 1:
        raise QueryError(f"count_cap must be a whole number of at least 1, not {count_cap!r}.")
    terms = search_terms(text)
    if not terms:
        return []
    groups = []
    order = _object_order(context)
    for name, each in _find(context, text, objects, per_object, count_cap=max(count_cap, per_object)).items():
        ranked = sorted(_ranked(name, each, text, terms, order), key=lambda hit: hit.rank)
        if not ranked:
            continue
        count = each.count or Count(len(ranked), "exact")
        if count.value < len(ranked):  # a title starting with the text that the search itself does not hold
            count = Count(len(ranked), count.kind)
        label = context.runtime.registry.object(name).plural_label
        hits = tuple(_described(context, hit, each, terms) for hit in ranked)
        groups.append((ranked[0].rank, ObjectHits(name, label, count, hits)))
    return [group for _rank, group in sorted(groups, key=lambda item: item[0])]


def too_short(text: str) -> bool:
    """Whether a search box's text is too short to search: no term of two letters or digits and no Chinese,
    Japanese or Korean character ("a", "7", "a b"; but "ab" and "张" are searches). QueryError as `search_terms`."""
    return not any(not prefix or len(token) >= 2 for term in search_terms(text) for token, prefix in term)


def _checked_limit(limit: object) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise QueryError(messages.SEARCH_RESULTS_COUNT(max=MAX_LIMIT))


def _find(context: "UserContext", text: str, objects: Sequence[str] | None, limit: int,
          count_cap: int | None) -> dict[str, _Found]:
    """Each object's candidates for `text` (and, with `count_cap`, its count), read in one operation."""
    names = list(context.runtime.registry.objects) if objects is None else list(dict.fromkeys(objects))
    found: dict[str, _Found] = {}
    with context.reading() as connection:  # one operation for every object
        services = {name: context.records(name) for name in names}
        skipped, untitled = _held(connection, {name: service.query_context() for name, service in services.items()},
                                  text, lambda name: services[name].title_prefix_condition(text))
        for name, service in services.items():
            try:
                ctx = service.query_context()
                fields = search_fields(ctx, name) if name not in skipped else []
                if not fields:
                    continue
                suggestions = service.suggestions(connection, text, limit=limit,
                                                  titles_held=False if name in untitled else None)
                count = None
                if count_cap is not None and suggestions:
                    count = count_records(connection, ctx, name, QuerySpec(search=text), cap=count_cap)
            except PermissionDenied:
                continue
            found[name] = _Found(suggestions, fields, count)
    return found


@dataclass(frozen=True)
class _Ranked:
    """A hit without its details yet (they are worked out for the hits kept), its rank, and its record."""

    hit: SearchHit
    rank: tuple
    suggestion: Suggestion


def _ranked(name: str, found: _Found, text: str, terms: list[Term], order: dict[str, int]) -> list[_Ranked]:
    """The object's suggestions as hits with their rank (`order`: each object's position, `_object_order`)."""
    wanted = normalise(text.strip())
    ranked = []
    for suggestion in found.suggestions:
        hit = SearchHit(name, suggestion.record.id, suggestion.title, _match(suggestion.title, wanted, terms))
        rank = _rank(hit, order.get(name, len(order)), _moment(suggestion.record.get("created_at")))
        ranked.append(_Ranked(hit, rank, suggestion))
    return ranked


def _object_order(context: "UserContext") -> dict[str, int]:
    """Each object's position in the order the packages declare them (the navigation's tabs)."""
    registry = context.runtime.registry
    names = [name for package in registry.packages.values() for name in package.objects if name in registry.objects]
    names.extend(name for name in registry.objects if name not in names)
    return {name: position for position, name in enumerate(dict.fromkeys(names))}


def _described(context: "UserContext", ranked: _Ranked, found: _Found, terms: list[Term]) -> SearchHit:
    """The hit with its marked title, matched fields and pinyin flag (records/search_snippets.py)."""
    hit, suggestion = ranked.hit, ranked.suggestion
    details = described(suggestion.record, context.runtime.registry.object(hit.object), hit.title, found.fields, terms)
    return replace(hit, title_segments=details.title, fields=details.fields, pinyin=details.pinyin)


def objects_without_matches(connection: Connection, contexts: "dict[str, QueryContext]", text: str) -> set[str]:
    """The objects whose search index holds no match for `text` in the fields each caller may search.

    One statement (`HeldMatches`); EXISTS stops at an object's first match. On PostgreSQL
    each object's matches are a MATERIALIZED CTE so that PostgreSQL reads them from the GIN
    index (left to itself it may walk a large search table row by row looking for a first
    match, every row of it for a word nobody holds), and objects whose statistics expect a
    common word or know the word to be held (query/search_statistics.py) are read without
    asking; an object asked has its prefixes asked as the words they start (query/search_words.py
    `with_words`: exact keys, as its page and count ask them), and one whose prefix starts no
    indexed word holds no match without asking. SQLite asks its FTS5 tables (a few microseconds each, where reading an object
    costs a page's Python). It reads the index
    alone, not the records: whether the caller may read the object or a matching record is
    decided when an object is read, so this only spares reads.
    """
    return _held(connection, contexts, text, {})[0]


def _held(connection: Connection, contexts: "dict[str, QueryContext]", text: str,
          title_condition: "Callable[[str], ColumnElement | None] | None" = None) -> tuple[set[str], set[str]]:
    """`objects_without_matches`, and in the same statement the objects without a title starting with `text` among
    those PostgreSQL reads without asking.

    `title_condition(object)`: RecordService.title_prefix_condition, an index range (EXISTS
    stops at the first), asked of every record, seen or not: it only spares the page of
    titles an object's suggestions read after its matches when those fill a page. That is
    likely where the statistics expect many matches (the objects not asked about: global
    search's account for 张伟, a round trip that finds nothing), so only those are asked; on
    SQLite a page costs no round trip, and nothing is asked.
    """
    postgres = connection.dialect.name == "postgresql"
    asked: list[tuple[str, SearchMatch]] = []
    nothing: set[str] = set()
    titles: dict[str, tuple[str, ColumnElement]] = {}
    for name, ctx in contexts.items():
        match = search_clause(ctx, name, text) if search_fields(ctx, name) else None
        if not isinstance(match, SearchMatch):
            continue
        if not postgres or _worth_asking(connection, match):
            words = with_words(connection, match) if postgres else match  # exact keys (query/search_words.py)
            if words is None:
                nothing.add(name)  # a prefix no indexed word starts: nothing to ask
                continue
            asked.append((name, words))
        elif title_condition is not None and (condition := title_condition(name)) is not None:
            titles[name] = (ctx.schema.table(name).name, condition)
    if not asked and not titles:
        return nothing, set()
    held = set(connection.execute(HeldMatches(tuple(match for _name, match in asked),
                                              tuple(table_name for table_name, _condition in titles.values()),
                                              tuple(condition for _source, condition in titles.values()))).scalars())
    without = nothing | {name for number, (name, _match) in enumerate(asked) if number not in held}
    untitled = {name for number, name in enumerate(titles, start=len(asked)) if number not in held}
    return without, untitled


def _worth_asking(connection: Connection, match: SearchMatch) -> bool:
    """PostgreSQL: whether to ask an object's index for a first match before reading it: not when its statistics
    expect a common word (its bitmap costs more than its page), nor when they know the word to be held (张伟 in
    a large table of people: the answer is yes, after a bitmap of all its matches), nor for a short prefix they do
    not know ("12": its bitmap reads every index key starting with it; search_statistics.py `unknown_short_prefix`)."""
    return (expected_share(connection, match) <= COMMON_SHARE and not expected_share(connection, match, known=True)
            and not unknown_short_prefix(connection, match))


class HeldMatches(Executable, ClauseElement):
    """The positions in `matches` of those whose search index holds at least one match, then (numbered after them)
    the positions in `titles` of those that hold (each an EXISTS).

    PostgreSQL: `WITH found_0 AS MATERIALIZED (SELECT id FROM <search table> WHERE <match>), ...
    SELECT 0 WHERE EXISTS (SELECT 1 FROM found_0) UNION ALL SELECT 1 WHERE ...`; SQLite:
    `SELECT 0 WHERE EXISTS (SELECT 1 FROM <fts table> WHERE <fts table> MATCH ?) OR EXISTS (<a pending row holds
    it>) UNION ALL ...`; written straight from
    the matches (their search text in their own bound parameters), so that the statement costs
    one cache key and, per shape, one compilation, instead of a CTE, a select and a literal
    built per object and search.
    """

    __visit_name__ = "crmkit_held_matches"
    inherit_cache = True
    _traverse_internals = [("matches", InternalTraversal.dp_clauseelement_tuple),
                           ("title_tables", InternalTraversal.dp_string_list),
                           ("titles", InternalTraversal.dp_clauseelement_tuple),
                           *Executable._executable_traverse_internals]

    def __init__(self, matches: tuple[SearchMatch, ...], title_tables: tuple[str, ...] = (),
                 titles: tuple[ColumnElement, ...] = ()) -> None:
        self.matches = matches
        #: The tables of `titles`, each a condition on its own table's columns.
        self.title_tables = title_tables
        self.titles = titles


@compiles(HeldMatches)
def _held_matches(element: HeldMatches, compiler, **kw) -> str:
    quote = compiler.preparer.quote
    titles = [f"SELECT {number} WHERE EXISTS (SELECT 1 FROM {quote(name)} WHERE {compiler.process(condition, **kw)})"
              for number, (name, condition) in enumerate(zip(element.title_tables, element.titles),
                                                         start=len(element.matches))]
    if compiler.dialect.name == "sqlite":
        return " UNION ALL ".join([
            *(f"SELECT {number} WHERE {_newest_hold(match, compiler, **kw)}EXISTS (SELECT 1 FROM "
              f"{quote(match.index_table)} WHERE {compiler.process(IndexCondition(match), **kw)}) "
              f"OR {pending_exists(match, compiler, **kw)}"
              for number, match in enumerate(element.matches)),
            *titles])
    found = [f"found_{number} AS MATERIALIZED (SELECT id FROM {quote(match.index_table)} "
             f"WHERE {compiler.process(IndexCondition(match, indexed=True), **kw)})"
             for number, match in enumerate(element.matches)]
    held = [f"SELECT {number} WHERE EXISTS (SELECT 1 FROM found_{number})" for number in range(len(element.matches))]
    return (f"WITH {', '.join(found)} " if found else "") + " UNION ALL ".join([*held, *titles])


def _newest_hold(match: SearchMatch, compiler, **kw) -> str:
    """SQLite, a short prefix ("1", "12"): `EXISTS (<one of the newest PROBED rows of the FTS5 content table holds
    it>) OR `, asked before the index; "" for any other search.

    FTS5 merges the list of every word starting with a short prefix before it yields a first match (280-390 ms for
    "1" at 1,000,000 accounts); SQLite evaluates OR from the left and stops at the first true, so a prefix the
    newest records hold ends the question there, as a page's walk of them would (query/search_pages.py
    `_content_walked`), and one they do not hold is asked of the index as before.
    """
    if not short_prefix(match):
        return ""
    columns = ", ".join(f"c{position}" for position in match.positions)
    held = compiler.process(ContentHeld(match, "probed"), **kw)
    return (f"EXISTS (SELECT 1 FROM (SELECT {columns} FROM {compiler.preparer.quote(content_table_name(match))} "
            f"ORDER BY id DESC LIMIT {int(PROBED)}) AS probed WHERE {held}) OR ")


def _rank(hit: SearchHit, position: int, created: float) -> tuple:
    """Exact titles, then title matches, each by object position (prefixes before words) and title; then the
    other matches newest first."""
    if hit.match is Match.OTHER:
        return (2, 0, 0, -created, hit.object, -hit.id)
    return (0 if hit.match is Match.EXACT_TITLE else 1, position, int(hit.match), 0.0, normalise(hit.title), hit.id)


def _moment(value: object) -> float:
    """A record's creation time as seconds since 1970 (a record without one counts as the oldest)."""
    return value.timestamp() if isinstance(value, datetime) else float("-inf")


def _match(title: str, wanted: str, terms: list[Term]) -> Match:
    """How the title the user sees matches the search text (`wanted`: normalised) and its terms."""
    normal = normalise(title)
    if normal == wanted:
        return Match.EXACT_TITLE
    if normal.startswith(wanted):
        return Match.TITLE_PREFIX
    return Match.TITLE_WORD if holds_every_term(title, terms) else Match.OTHER
