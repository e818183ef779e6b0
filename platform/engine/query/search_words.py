"""PostgreSQL: a search's prefixes asked as the few words they start, read from the search table's word list.

    >>> with_words(connection, match)   # "wonka z": 'wonka':* & 'ᵖz' asked as 'wonka' & 'ᵖz'; None: no word starts it

A GIN index answers a prefix ('wonka':*) by a *partial match*: it reads the list of rows of every
key starting with it into one bitmap before intersecting it with the other words, so a search
costs what its most common prefix does even where the words together match nothing ("wonka z"
at 1,000,000 accounts: 'wonka':* & 'ᵖz' 20-25 ms, each way to give the terms fields building it
again). Exact keys are intersected inside the index (GIN's fast scan skips along the rarer
list): 'wonka' & 'ᵖz' 5.8 ms, 'keji' & 'wonka' 3.9 against 30 with prefixes.

Each PostgreSQL search table keeps a word list (query/search_index.py: every token a prefix of
more than SHORT_PREFIX characters can start, added in the transaction writing its row, never
removed). One statement reads, for each prefix of a search, at most MOST_WORDS + 1 words it
starts, along the list's primary key (0.2 ms); a prefix starting at most MOST_WORDS is asked as
the OR of them (query/search.py `tsquery_text`), the same rows ('wonka' | 'wonkas': a row holds
a token starting with "wonka" exactly when it holds one of the words starting it); one starting
more keeps its prefix; one starting none matches no row, and neither does the search. Only the
tsqueries' values change: every plan reads the same SQL.

Not for a table of at most WORDS_FROM rows (or never analyzed, or without a word list, built by an
older crmkit before `upgrade_search_words`): every read of it is cheap.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, text

from crmkit.engine.query.prefix_ranges import text_after
from crmkit.engine.query.search import FEW_MATCHES, SearchMatch, _asked
from crmkit.engine.query.search_index import listed, words_table_name
from crmkit.engine.query.search_statistics import table_statistics

#: The most words a prefix is asked as; one starting more keeps its prefix. 'zhang' starts 18 of the bench's words
#: (pinyin names): 'zhang':* & 'wonka' 53 ms at 1,000,000 accounts, the OR of its 18 words & 'wonka' 32.
MOST_WORDS = 32
#: A search table of more rows than this has its prefixes asked as words.
WORDS_FROM = FEW_MATCHES


def with_words(connection: Connection, match: SearchMatch) -> SearchMatch | None:
    """`match` with each of its prefixes that starts at most MOST_WORDS listed words asked as them; None when a prefix
    starts no word (nothing matches); `match` itself where nothing is to be asked so (module docstring)."""
    if connection.dialect.name != "postgresql" or match.words:
        return match
    prefixes = sorted({token for term in match.terms for token, prefix in map(_asked, term)
                       if prefix and listed(token) and text_after(token) is not None})
    if not prefixes:
        return match
    statistics = table_statistics(connection, match.index_table)
    if not statistics.words or statistics.rows <= WORDS_FROM:
        return match
    found: dict[str, list[str]] = {prefix: [] for prefix in prefixes}
    for prefix, word in connection.execute(_words_statement(match.index_table), {
            "prefixes": prefixes, "bounds": [text_after(prefix) for prefix in prefixes], "most": MOST_WORDS + 1}):
        found[prefix].append(word)
    if not all(found.values()):
        return None
    words = {prefix: tuple(listed_words) for prefix, listed_words in found.items() if len(listed_words) <= MOST_WORDS}
    return match.with_words(words) if words else match


@lru_cache(maxsize=256)
def _words_statement(table_name: str) -> Any:
    """At most :most words starting each prefix (`word >= prefix AND word < bound`, along the primary key)."""
    words = '"' + words_table_name(table_name).replace('"', '""') + '"'
    return text(
        f"SELECT asked.prefix, listed.word FROM unnest(CAST(:prefixes AS text[]), CAST(:bounds AS text[])) "
        f"AS asked(prefix, bound) CROSS JOIN LATERAL (SELECT word FROM {words} WHERE word >= asked.prefix "
        f"AND word < asked.bound ORDER BY word LIMIT :most) AS listed")
