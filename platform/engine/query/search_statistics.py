"""How many records a search is expected to match, from PostgreSQL's statistics, without a round trip per search.

    >>> expected_share(connection, match)      # 0.06: about 6% of the records hold the word
    >>> largest_known_term(connection, match)  # the most common of its terms, as far as the statistics know
    >>> known_term_shares(connection, match)   # (1e6, (0.04, 0.0)): the rows, and each term's known share

A PostgreSQL search page first guesses whether its words are common (query/search_pages.py):
a common word's newest matches are found by walking the records, a rare word's by reading
its ids from the GIN index. The guess used to be the planner's (an EXPLAIN of the index
read: a round trip and a plan per search, per object for a global search). ANALYZE keeps the
same knowledge in `pg_stats`: for each tsvector column its most common tokens
(`most_common_elems`) and the share of rows holding each (`most_common_elem_freqs`, followed
by the smallest and largest of those shares). They are read once per search table and kept
for STATISTICS_SECONDS, and the share is worked out here as the planner works it out
(PostgreSQL's tsselfuncs.c `tsquery_opr_selec`), so a search costs no statement for its guess:

- an exact token: its share when it is among the common ones, else half the smallest
  common share (at most DEFAULT_MATCH_SHARE);
- a prefix of at most tokens.SHORT_PREFIX characters ("z", "12"): its prefix token's, an exact
  token ("ᵖz"; the index is asked for that token: tokens.py `index_form`);
- a longer prefix: the common tokens starting with it, combined as independent events and
  extrapolated to the tokens not counted (at least what an exact token would get);
- the tokens of one term in one column: the product; a term over several columns: any
  of them (1 - the product of the misses); several terms: the product.

A table of at most FEW_MATCHES rows (or never analyzed) counts as 0: reading its matching
ids is cheap whatever the word. The guess only chooses the plan: every plan finds the same rows.
"""
from __future__ import annotations

import time
from bisect import bisect_left
from dataclasses import dataclass
from functools import cached_property
from threading import Lock
from typing import Mapping

from sqlalchemy import Connection, text

from crmkit.engine.query.search import FEW_MATCHES, SearchMatch, Term
from crmkit.engine.query.search_index import words_table_name
from crmkit.engine.query.tokens import index_form

#: Seconds the statistics of one search table are kept before they are read again.
STATISTICS_SECONDS = 300.0
#: PostgreSQL's DEFAULT_TS_MATCH_SEL: the share guessed for a token without statistics.
DEFAULT_MATCH_SHARE = 0.005
#: Fewer common tokens than this and PostgreSQL does not extrapolate a prefix's share.
PREFIX_MINIMUM = 100
#: A prefix of at most this many characters is one whose share the statistics cannot guess when they know
#: no common token starting with it (`unknown_short_prefix`).
SHORT_PREFIX = 2
#: A term the statistics know to be held by this share of the rows or more has its index reads written term by
#: column way (`for_index_reads`).
WAYS_SHARE = 0.1

_STATISTICS_SQL = text(
    "SELECT c.reltuples, to_regclass(quote_ident(:words_name)) IS NOT NULL AS words, s.attname, "
    "s.most_common_elems::text::text[] AS tokens, "
    "s.most_common_elem_freqs AS shares "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname "
    "WHERE c.oid = to_regclass(quote_ident(:table_name))")


@dataclass(frozen=True)
class ColumnStatistics:
    """One tsvector column's common tokens: {token: share of rows holding it}, and the smallest share."""

    shares: Mapping[str, float]
    smallest: float

    @cached_property
    def ordered(self) -> tuple[str, ...]:
        """The common tokens in code point order: those starting with a prefix are next to each other."""
        return tuple(sorted(self.shares))

    @cached_property
    def every(self) -> float:
        """The share of rows holding any common token (each independent of the others), at most 1."""
        every = 0.0
        for share in self.shares.values():
            every += share - every * share
        return min(max(every, 0.0), 1.0)

    def prefixed(self, prefix: str) -> float:
        """The share of rows holding a common token starting with `prefix` (each independent), at most 1."""
        matched = 0.0
        for token in self.ordered[bisect_left(self.ordered, prefix):]:
            if not token.startswith(prefix):
                break
            share = self.shares[token]
            matched += share - matched * share
        return min(max(matched, 0.0), 1.0)


@dataclass(frozen=True)
class TableStatistics:
    """A search table's row estimate (-1: never analyzed) and its columns' statistics (absent: none gathered)."""

    rows: float
    columns: Mapping[str, ColumnStatistics]
    read_at: float
    #: Whether the search table has its word list (query/search_index.py; an index an older crmkit built may not).
    words: bool = False


_KEPT: dict[tuple[str, str], TableStatistics] = {}
_LOCK = Lock()


def expected_share(connection: Connection, match: SearchMatch, *, known: bool = False) -> float:
    """The share of the search table's rows `match` is expected to match (0 to 1), as PostgreSQL's planner guesses it.

    known=True counts only what the statistics know: a token that is not among the common
    ones (nor, for a prefix, the start of one), and a column without statistics, count as 0
    instead of the planner's default guess (a word nobody holds is guessed at 0.5-2%).
    """
    share = 1.0
    for term_held in _term_shares(connection, match, known):
        share *= term_held
    return share


def largest_known_term(connection: Connection, match: SearchMatch) -> float:
    """The share of the search table's rows (0 to 1) that the statistics know hold its most common term.

    What a bitmap read of `match` costs grows with it: PostgreSQL's GIN index reads every term's
    whole list of rows, even where the terms together match few ("wonka 12": "wonka" is held by
    4% of the rows, both words by 0.1%). 0 where the statistics know none of the terms (as
    `expected_share` with known=True).
    """
    return max(_term_shares(connection, match, True), default=0.0)


def for_index_reads(connection: Connection, match: SearchMatch) -> SearchMatch:
    """`match`, written for PostgreSQL's GIN index as the OR of each way to give its terms columns when the
    statistics know one of its several terms to be held by WAYS_SHARE of the rows or more (search.py
    `_index_condition`, where there are at most ASSIGNMENTS ways: that term's bitmap is then not built alone),
    and so when each of its prefixes is asked as the words it starts (query/search_words.py); else `match`
    itself. No statement: the kept statistics tell."""
    if connection.dialect.name != "postgresql" or len(match.terms) < 2 or match.ways:
        return match
    if match.words and all(not prefix or token in match.words
                           for term in match.terms for token, prefix in (index_form(*token) for token in term)):
        # Every prefix asked as its words (query/search_words.py): each way is a scan of exact keys, which GIN
        # intersects inside the index, where each term's whole bitmap would be built first ("keji wonka" at
        # 1,000,000 accounts: 18 ms, the ways 4-6; load 2.5).
        return match.by_ways()
    return match.by_ways() if largest_known_term(connection, match) >= WAYS_SHARE else match


def known_term_shares(connection: Connection, match: SearchMatch) -> tuple[float, tuple[float, ...]] | None:
    """The search table's row estimate and each term's share of its rows (0 to 1) as far as the statistics know.

    A term the statistics know nothing of (no common token it matches: "zo", "12") counts as
    0: it is held by fewer rows than the least common of the common tokens, or it is a prefix
    of many rare ones. query/search_pages.py reads a rare term's matches first ("wonka zo").
    None for a table of at most FEW_MATCHES rows (or never analyzed), where every read is cheap.
    """
    statistics = table_statistics(connection, match.index_table)
    if statistics.rows <= FEW_MATCHES:
        return None
    return statistics.rows, tuple(_term_shares(connection, match, True))


def _term_shares(connection: Connection, match: SearchMatch, known: bool) -> list[float]:
    """Each term's share of the rows in any of the match's columns; [0.0] for a table of at most FEW_MATCHES rows."""
    statistics = table_statistics(connection, match.index_table)
    if statistics.rows <= FEW_MATCHES:
        return [0.0]
    shares = []
    for term in match.terms:
        missed = 1.0
        for name in match.columns:
            missed *= 1.0 - term_share(statistics.columns.get(name), term, known=known)
        shares.append(1.0 - missed)
    return shares


def term_share(column: ColumnStatistics | None, term: Term, *, known: bool = False) -> float:
    """The share of rows whose column holds every token of `term` (each token independent of the others)."""
    share = 1.0
    for token, prefix in term:
        share *= _token_share(column, token, prefix, known)
    return share


def _token_share(column: ColumnStatistics | None, token: str, prefix: bool, known: bool = False) -> float:
    token, prefix = index_form(token, prefix)  # a short prefix is its prefix token's share: one exact token
    if known:
        if column is None:
            return 0.0
        return column.prefixed(token) if prefix else column.shares.get(token, 0.0)
    if column is None:
        return DEFAULT_MATCH_SHARE * 4 if prefix else DEFAULT_MATCH_SHARE
    unknown = min(DEFAULT_MATCH_SHARE, column.smallest / 2)
    if not prefix:
        return column.shares.get(token, unknown)
    if len(column.shares) < PREFIX_MINIMUM:
        return DEFAULT_MATCH_SHARE * 4
    matched = column.prefixed(token)
    return max(unknown, matched + (1.0 - column.every) * (matched / len(column.shares)))


def short_prefix(match: SearchMatch, length: int = SHORT_PREFIX) -> bool:
    """Whether a term of `match` holds a prefix of at most `length` characters ("1", "12"; "wonka 12").

    Such a word is asked as its prefix token (tokens.py `index_form`), one list, no longer a
    merge of the lists of every word starting with it (SQLite's FTS5 merged some 17,000 for
    "12" at 1,000,000 accounts); a common one ("1": 64% of the bench's accounts) still costs a
    count its whole list: query/search_pages.py walks the newest records instead when they
    hold the page. No statement: the tokens alone tell.
    """
    return any(prefix and len(token) <= length for term in match.terms for token, prefix in term)


def unknown_short_prefix(connection: Connection, match: SearchMatch, length: int = SHORT_PREFIX) -> bool:
    """Whether a term of `match` holds a prefix of at most `length` characters and the statistics know no common token that term matches.

    Such a term's share cannot be guessed from the statistics: a prefix of two digits starts
    one number in a hundred (1.7% of the bench's accounts hold a word starting with "12", in
    their phone numbers and names), two letters may start nothing held ("zo": 0.005%), and
    the planner guesses the same 2% for both. It is asked as its prefix token ("ᵖ12",
    tokens.py), whose share the statistics know when it is common; one they do not know is
    rarer than their least common token. query/search_pages.py counts its matches among the
    newest records all the same (0.5 ms). False for a table of at most FEW_MATCHES rows (or
    never analyzed), where every read is cheap.
    """
    statistics = table_statistics(connection, match.index_table)
    if statistics.rows <= FEW_MATCHES:
        return False
    for term in match.terms:
        if any(prefix and len(token) <= length for token, prefix in term) and not any(
                term_share(statistics.columns.get(name), term, known=True) for name in match.columns):
            return True
    return False


def table_statistics(connection: Connection, table_name: str) -> TableStatistics:
    """The kept statistics of `table_name` (read again after STATISTICS_SECONDS): one small catalog query."""
    key = (connection.engine.url.render_as_string(hide_password=True), table_name)
    now = time.monotonic()
    kept = _KEPT.get(key)
    if kept is not None and now - kept.read_at < STATISTICS_SECONDS:
        return kept
    rows, columns, words = -1.0, {}, False
    for row in connection.execute(_STATISTICS_SQL, {"table_name": table_name,
                                                    "words_name": words_table_name(table_name)}):
        rows, words = float(row.reltuples), bool(row.words)
        if row.attname is not None and row.tokens and row.shares:
            tokens, shares = list(row.tokens), [float(share) for share in row.shares]
            columns[row.attname] = ColumnStatistics(dict(zip(tokens, shares)), shares[len(tokens)]
                                                    if len(shares) > len(tokens) else min(shares))
    statistics = TableStatistics(rows, columns, now, words)
    with _LOCK:
        _KEPT[key] = statistics
    return statistics


def forget_statistics() -> None:
    """Drop every kept statistic (tests; after a bulk load and ANALYZE, the next search reads them again)."""
    with _LOCK:
        _KEPT.clear()
