"""PostgreSQL: a search's rare part read first, where its bitmap would read every row holding a common word.

    >>> part = rare_part(connection, match, costly=0.01, probed=2_000)   # "wonka zo": the match of "zo" alone
    >>> ids = rare_part_ids(connection, match, part)                      # every id "wonka zo" matches, or None

A GIN bitmap of several terms reads each term's whole list of rows before it intersects them,
so a search whose terms together match few costs what its most common term does: "wonka zo"
(no account at 1,000,000: "wonka" is held by 4% of them, "zo" starts the words of 50) read
every row holding "wonka", 23-25 ms. When the statistics (search_statistics.py, no statement)
know one term to be costly and another part is expected to match at most RARE_PART rows, the
ids of that part alone are read (a small bitmap), and every term is tested on their search
rows only, newest first: 5 ms for the page of "wonka zo" (sorted by name: 8 ms, 16-20 before; load 3).
A part is rare by its share when the statistics know it, else (a prefix or a word they know
nothing of: "zo", "12", "zorb") by its share of the newest search rows (`probed_shares`, 0.7 ms
for every such part at once: "12", 1.7% of the bench's accounts, is not rare; "zo" is). The
read of the part's ids is bounded (RARE_PART + 1): a part more common than its newest rows
said costs that read, and the search is read as a whole after it. query/search_pages.py reads
a page among the ids, newest first; a page sorted by fields sorts them, and a count counts
them (search_pages.py `rare_part_search`: the list page's count of "wonka zo", 21 -> 5 ms).

A search of terms each common alone but rare together ("zhang wonka": "zhang" starts 18 pinyin
words of some 5,000 rows each, "wonka" is held by 41,650 rows at 1,000,000 accounts, no row holds
both) has no rare part: its bitmap ORs the 18 words' lists before intersecting (33-37 ms). Its
*coarse* match (`coarse_match`) asks each prefix of more than SHORT_PREFIX characters as its
prefix token of SHORT_PREFIX characters ('ᵖzh'), or as its one listed word where it starts only
one ('wonka'): exact keys, which the GIN index intersects inside the index, driving along the
shortest list (6 ms for no id). Every row the search matches holds them (tokens.py: every word,
number and pinyin word a Latin, Cyrillic, Greek, ... prefix can start is indexed with its prefix
tokens, kept or dropped together with it), so it matches a superset of the search's rows. When
the newest `probed` rows say it matches at most RARE_PART rows (`coarse_part`), its ids are read
and tested as a rare part's are (`few_part_ids`): "zhang wonka" 33 -> 8 ms.
"""
from __future__ import annotations

from typing import Sequence

from sqlalchemy import Connection, column, func, select, table

from crmkit.engine.query.lists import one_of_ids
from crmkit.engine.query.search import ASSIGNMENTS, IndexCondition, SearchMatch
from crmkit.engine.query.search_statistics import known_term_shares
from crmkit.engine.query.tokens import SHORT_PREFIX, index_form

#: The most rows one term of a search may match to be read first, alone, when another term is costly; its
#: ids are then tested against every term. At 1,000,000 records the 1,709 ids of "123" were read in 3.1 ms and
#: tested, newest first, to a page of 11 in 1.2, where the bitmap of "wonka 123" took 30 (every row holding "wonka").
RARE_PART = 1_000


def rare_part(connection: Connection, match: SearchMatch, *, costly: float, probed: int) -> SearchMatch | None:
    """The term of `match` to read first, alone (a match of its own), or None: read the search as a whole.

    Only for a search of two terms or more of which the statistics know one to be held by
    `costly` of the rows or more (a share, 0 to 1): the rarest other term, when it is expected
    to match at most RARE_PART rows, by its share when the statistics know it, else by its share
    of the newest `probed` rows of the search table (one statement for every such term).
    None for a table of at most FEW_MATCHES rows (or never analyzed): every read is cheap.
    """
    known = known_term_shares(connection, match)
    if known is None or len(match.terms) < 2:
        return None
    rows, shares = known
    if not max(shares) or max(shares) < costly:
        return None
    unknown = [position for position, share in enumerate(shares) if not share]
    if unknown:
        share, position = min(zip(probed_shares(connection, [match.term(number) for number in unknown], probed),
                                  unknown))
        if share * rows <= RARE_PART:
            return match.term(position)
    share, position = min((share, position) for position, share in enumerate(shares) if share)
    return match.term(position) if share * rows <= RARE_PART else None


def few_part_ids(connection: Connection, match: SearchMatch, *, costly: float, probed: int, after: int | None = None,
                 descending: bool = True, limit: int | None = None) -> list[int] | None:
    """The ids `match` matches, found among those of a part of it that matches few rows, in id order; None: read the
    search as a whole. Its rare part first (`rare_part`), else its coarse match (`coarse_part`); `rare_part_ids`
    reads the part's ids and tests them (after, descending, limit: as there)."""
    part = rare_part(connection, match, costly=costly, probed=probed)
    if part is None:
        part = coarse_part(connection, match, costly=costly, probed=probed)
    if part is None:
        return None
    return rare_part_ids(connection, match, part, after=after, descending=descending, limit=limit)


def coarse_part(connection: Connection, match: SearchMatch, *, costly: float, probed: int) -> SearchMatch | None:
    """The coarse match of `match` (`coarse_match`) when it is expected to match at most RARE_PART rows; else None.

    Only for a search of two terms or more of which the statistics know one to be held by `costly` of the rows
    or more (else its bitmap is cheap), over few enough fields for its index read to be written as the OR of each
    way to give its terms fields (at most search.ASSIGNMENTS: each way intersects its keys inside the GIN index),
    and whose coarse match keeps two terms or more; expected by its
    share of the newest `probed` rows of the search table (`probed_shares`, one statement: 0.7 ms at 1,000,000
    accounts): "zhang wonka"'s 'ᵖzh' & 'wonka' none of 2,000. A share the newest rows misjudge costs the bounded
    read of RARE_PART + 1 ids ("wang 12"'s 'ᵖwa' & 'ᵖ12': 1,465 rows, none of the newest 2,000; 5-10 ms), and the
    search is read as a whole after it. None for a table of at most FEW_MATCHES rows (or never analyzed).
    """
    if len(match.terms) < 2 or len(match.columns) ** len(match.terms) > ASSIGNMENTS:
        return None  # more ways than ASSIGNMENTS: each term's bitmap would be built whole, 'ᵖzh' one of 221,000 rows
    known = known_term_shares(connection, match)
    if known is None:
        return None
    rows, shares = known
    if max(shares) < costly:
        return None
    coarse = coarse_match(match)
    if len(coarse.terms) < 2:
        return None  # one term alone ("zhang zhao": 'ᵖzh'): as common as it is
    share, = probed_shares(connection, [coarse], probed)
    return coarse if share * rows <= RARE_PART else None


def coarse_match(match: SearchMatch) -> SearchMatch:
    """`match` with each prefix of more than SHORT_PREFIX characters asked as its prefix token of SHORT_PREFIX
    characters, or as its one word where the search asks it as a single word (query/search_words.py); every other
    token (a CJK pair, a short prefix) as it is. Exact keys only, in the same terms over the same columns, its
    index reads written as the OR of each way to give the terms columns: a superset of the rows `match` matches
    (module docstring)."""
    terms: dict[tuple[tuple[str, bool], ...], None] = {}
    words: dict[str, tuple[str, ...]] = {}
    for term in match.terms:
        tokens: dict[tuple[str, bool], None] = {}
        for token, prefix in term:
            asked, asked_prefix = index_form(token, prefix)
            if not asked_prefix:
                tokens[(token, prefix)] = None
            elif len(match.words.get(asked, ())) == 1:
                tokens[(token, prefix)] = None
                words[asked] = match.words[asked]
            else:
                tokens[(token[:SHORT_PREFIX], True)] = None
        terms[tuple(tokens)] = None
    return SearchMatch(match.id_column, match.index_table, match.columns, tuple(terms), positions=match.positions,
                       ways=True, words=words)


def rare_part_ids(connection: Connection, match: SearchMatch, part: SearchMatch, *, after: int | None = None,
                  descending: bool = True, limit: int | None = None) -> list[int] | None:
    """The ids `match` matches, found among the few its rare `part` matches, in id order; None when those are not few.

    Two statements. The part's ids, at most RARE_PART + 1: `WITH rare_part AS MATERIALIZED
    (SELECT id FROM <search table> WHERE <part>) SELECT id FROM rare_part LIMIT :n`, a bitmap
    of the part alone (a CTE is planned as read whole: a bitmap; under a plain LIMIT the planner
    may walk the table for a part it guesses to be common). More than RARE_PART: None. Else the
    search rows of those ids beyond `after` (below it when `descending`) are read by primary key
    in id order (newest first when `descending`) and every term tested on each: `SELECT id FROM
    (SELECT * FROM <search table> WHERE id IN (:ids) ORDER BY id DESC LIMIT :k) AS rare WHERE
    <match> ORDER BY id DESC [LIMIT :limit]` (the inner LIMIT keeps the test out of the index
    read: no bitmap of the common term). `limit` stops the walk after that many matches.
    """
    index = table(match.index_table, column("id"), *(column(name) for name in match.columns))
    found = select(index.c.id).where(IndexCondition(part, indexed=True)).cte("rare_part").prefix_with("MATERIALIZED")
    ids = connection.execute(select(found.c.id).limit(RARE_PART + 1)).scalars().all()
    if len(ids) > RARE_PART:
        return None
    ids = [record_id for record_id in ids if after is None or (record_id < after if descending else record_id > after)]
    if not ids:
        return []
    order = index.c.id.desc() if descending else index.c.id.asc()
    rare = select(index).where(one_of_ids(index.c.id, ids)).order_by(order).limit(len(ids)).subquery("rare")
    tested = select(rare.c.id).where(IndexCondition(match)).order_by(rare.c.id.desc() if descending else rare.c.id)
    return list(connection.execute(tested if limit is None else tested.limit(limit)).scalars())


def probed_shares(connection: Connection, matches: Sequence[SearchMatch], probed: int) -> list[float]:
    """The share (0 to 1) of the newest `probed` rows of the search table each of `matches` matches, in one statement.

    `SELECT count(*) FILTER (WHERE <first>), count(*) FILTER (WHERE <second>), ... FROM (SELECT *
    FROM <search table> ORDER BY id DESC LIMIT :probed) AS probed`: a walk along the search
    table's primary key testing each row (0.7 ms for 2,000 rows at 1,000,000 records). A
    table of fewer rows counts them against `probed` all the same.
    """
    first = matches[0]
    index = table(first.index_table, column("id"), *(column(name) for name in first.columns))
    newest = select(index).order_by(index.c.id.desc()).limit(probed).subquery("probed")
    found = connection.execute(select(*(func.count().filter(IndexCondition(match)) for match in matches))
                               .select_from(newest)).one()
    return [count / probed for count in found]
