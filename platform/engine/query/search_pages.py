"""A search page in the order the search index yields without sorting: by record id, newest first.

    >>> rows = id_ordered_matches(connection, ctx, "account", spec, selected, descending=True, after=None)

A search whose caller names no sort is read newest first (query/sorting.py `page_sort`), so
no page of a search has to sort every match: a word held by 60,000 of a million records
costs what a rare one does. Each database reads it its own way:

- SQLite: FTS5 hands out a term's matches in rowid order (the rowid is the record id,
  query/search_index.py) and reads its index backwards just as well, so one statement
  joins the FTS5 table to the records, `ORDER BY <fts>.rowid DESC LIMIT n`: the filter and
  the row filter are tested on each match as it comes, and the read stops at a full page.
  The page's ids are a CTE (`page_ids`) that the rollups a sales rep sees recomputed read
  too (query/derived_page.py), so FTS5 is walked once per page. A sales rep (row filter
  `owner_id = me`, no filter) searching a word that many of the newest records hold whole
  (`_newest_share` > COMMON_SHARE: the newest 64 matches of its whole words, 0.06 ms) has
  their own records walked instead (`_owner_walked`): newest first along the owner index,
  at most OWNER_WALKED of them, each tested against its search row. A short prefix ("1", "12",
  "wonka 12": search_statistics.py `short_prefix`) is asked as its prefix token (tokens.py; it
  cost FTS5 a merge of the list of every word starting with it before its first row, 280-390 ms
  for "1" at 1,000,000 records), a list as long as the records holding it (64% for "1"); with
  no filter, when the caller's newest records say a bounded walk fills the page
  (`_content_walk_fills`, `_owner_walk_fills`), it is walked instead: for an administrator the newest SHORT_WALKED
  rows of the FTS5 content table, each row's tokens tested (`_content_walked`); for a rep the
  owner walk above. FTS5 after a walk that does not fill the page.
- PostgreSQL: a GIN index hands out matches as a bitmap, in no useful order, and a bitmap of
  several words reads each word's whole list of rows. So a search whose words the statistics
  say hold one costly word (held by COSTLY_TERM of the records or more) and a rare part (a
  word or prefix expected to match at most RARE_PART rows: by the statistics, or by its share
  of the newest PROBED search rows when they know nothing of it) reads that part first
  (search_parts.py): its ids alone, at most RARE_PART + 1, then their search rows by primary
  key, newest first, each tested against every word; those are every match, and the page is
  read among them as among few matches below ("wonka zo", no match at 1,000,000 records: 5 ms,
  where the bitmap read every row holding "wonka", 23-25 ms; the lookup autocomplete's
  `suggest('wonka zo')` 24.5 -> 7.1 ms, load 1.2-1.7). A search of words each common alone
  but rare together ("zhang wonka") has no rare part; its coarse match (search_parts.py
  `coarse_part`: 'ᵖzh' & 'wonka', exact keys, a superset of its rows) is read so instead when
  the newest PROBED rows say it holds few (30 -> 8 ms at 1,000,000 accounts, load 4). A part
  with more ids than RARE_PART costs that read, and the ways below follow. For a common
  word the walk below comes first, since building the bitmap of a common word alone costs more than the page
  (25 ms for 60,000 matches of a prefix at 1,000,000 records): when the planner's statistics
  expect more than COMMON_SHARE of all records to match (query/search_statistics.py works
  that out from `pg_stats`, read once per search table every few minutes: no statement per
  search); with a filter or a row filter also when the statistics know the word to be that
  common (a prefix of few common tokens: the planner guesses 2% for "1", held by 64% of the
  bench's accounts). A short prefix the statistics know nothing of ("12": `unknown_short_prefix`)
  is judged by its share of the newest PROBED rows of the search table instead (`_probed_share`):
  walked when that share says a walk fills the page, as the search table's newest rows without
  a filter; without a filter also when the statistics say so beside it (`_index_walk_fills`:
  "wonka 12", too rare among the newest 2,000 rows for the probe to count, and its bitmap reads
  every row holding "wonka": 30 ms at 1,000,000 records, the walk 6; a wrong guess costs one
  bounded walk before the bitmap: "wonka 123", 5 ms then 11). Otherwise, without a filter or a row filter, every match is a row of the page,
  so one statement reads the page: when the statistics know the word to be held by at
  least (limit + 1) / INDEX_WALKED of the records, the newest INDEX_WALKED rows of the search
  table along its own primary key (`_index_walked`: 4 ms for 张伟 at 1,000,000 records,
  where its bitmap visits 4,500 pages in 19 ms), and so when one of the words is known to be
  common and the planner's guess for all of them says the walk fills the page
  (`_index_walk_fills`: "wonka 12"), unless that guess is of several words the statistics know alone and
  the newest PROBED rows hold none of them together ("wonka z": "ᵖz" 25%, "wonka" 4%, together none of the
  newest; the walk read 20,000 rows for nothing, 13.6 ms); else, or when that walk holds no full
  page, the records of the newest limit + 1 ids of the bitmap (`_newest_matches`). With a filter or a row filter, or when the walk finds no full page,
  one read of at most FEW_MATCHES + 1 ids decides:
  - none: nothing more is read;
  - few: the page is read by primary key among those ids, newest first (`id IN (ids)
    ORDER BY id DESC LIMIT n`, an index scan that stops at a full page); without a filter
    or a row filter every id is a row of the page, so only the newest n ids are sent; with
    one, the page's ids are found once, as a CTE (`page_ids`) that the rollups a rep sees
    read too (a rep's 张伟: some 30 of 5,000 ids kept, filtered once instead of three times);
  - many: the records are walked along the primary key, newest first, and each is tested
    against its own search row, at most WALKED of them; when those hold no full page
    (the matches lie further back, or the filter or the row filter keeps few of them),
    every match is read as a set instead: the one slow case, a cost that grows with the
    number of matches as a sorted search's does.

Keyset pages (`after`: the last id of the previous page) start below that id the same way.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from sqlalchemy import (Column, ColumnElement, Connection, column, false, func, literal, literal_column, select, table,
                        true, union_all)
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression

from crmkit.engine.query.derived_page import page_ids
from crmkit.engine.query.filters import QueryContext
from crmkit.engine.query.lists import one_of_ids
from crmkit.engine.query.querystring import QuerySpec
from crmkit.engine.query.search import (FEW_MATCHES, ContentHeld, IndexCondition, PendingHeld, SearchIds, SearchMatch,
                                        content_table_name, match_pending_name, planned_search, search_clause,
                                        where_clause)
from crmkit.engine.query.search_parts import few_part_ids, probed_shares
from crmkit.engine.query.search_words import with_words
from crmkit.engine.query.search_statistics import (expected_share, for_index_reads, largest_known_term, short_prefix,
                                                   unknown_short_prefix)
from crmkit.engine.query.tokens import SHORT_PREFIX

#: PostgreSQL, many matches: how many records a page walks newest first, testing each, before it reads every match.
WALKED = 5_000
#: PostgreSQL: the share of all records a word must be expected to match (planner statistics) for its
#: page to walk the records before reading any match. The planner guesses about 2% for a word it
#: knows nothing of (no match, say), so this sits above that; a wrong guess costs one bounded walk.
COMMON_SHARE = 0.04
#: PostgreSQL, no filter: the most rows of the search table a page reads along its primary key, newest
#: first, for a word the statistics know to be held by at least (limit + 1) / INDEX_WALKED of the
#: records (张伟, 0.5%: about 10,000 rows, cheaper than a bitmap of its 5,000 matches scattered over
#: as many pages of the search table).
INDEX_WALKED = 20_000
#: PostgreSQL, no filter: the share of the records a word must be known to be held by (planner statistics)
#: for a bitmap of a search with it to cost more than the index walk. At 1,000,000 records a bitmap of
#: "wonka 12" ("wonka": 4%) took 30-240 ms where the walk found its newest 11 matches in 6-10 ms (load 5).
COSTLY_TERM = 0.01
#: PostgreSQL: the newest rows of the search table whose matches give the share of a search with a short prefix
#: the statistics do not know (`_probed_share`): 2,000 rows tell a 1% share (some 20 matches) from 0.1% (some 2).
PROBED = 2_000
#: SQLite, a sales rep's common word: the most of their own records a page walks, newest first, testing each (`_owner_walked`).
OWNER_WALKED = 2_000
#: SQLite: the newest matches of a search's whole words that give its share among the newest records (`_newest_share`).
NEWEST_PROBED = 64
#: SQLite, an administrator's short prefix ("1", "12"): the most rows of the FTS5 content table a page walks,
#: newest first, testing each (`_content_walked`, 3.5 ms at most), when the share of the newest PROBED records
#: says the walk fills the page: a share of 0.5% and more for a page of 50 ("12": 1.2%, FTS5 7 ms; "1": 280 ms).
SHORT_WALKED = 10_000
#: SQLite, an administrator's capped count of a short prefix: the most rows of the FTS5 content table it walks, newest
#: first, testing each (`walked_count`; some 0.4 us a row): "1" (64% of the bench's accounts) finds a list
#: count's 10,001 in some 16,000 rows, where FTS5 merges first (280-390 ms at 1,000,000 accounts); "12" (1.7%) would
#: need 70,000 for global search's 1,001, and FTS5 counts it.
COUNT_WALKED = 25_000
#: SQLite, a rep's capped count of a short prefix: the most of their own records it walks along the owner index, each
#: looked up in the content table (some 3.5 us a record): a rep's list count of "1" at 1,000,000 accounts walks all
#: 5,036 of theirs in 19 ms, where FTS5 took 530-700 ms.
OWNER_COUNT_WALKED = 20_000
#: SQLite, a rep's short prefix: their newest records whose share tells whether the prefix is common among them
#: (`_owner_walk_fills`: above COMMON_SHARE, "1"; their records are scattered, each looked up in the content
#: table, so "12" costs their walk 23 ms against FTS5's 11 at 1,000,000 records, load 8: FTS5 reads it).
OWNER_PROBED = 200


def id_ordered_matches(connection: Connection, ctx: QueryContext, object_name: str, spec: QuerySpec,
                       selected: Sequence[Any], match: SearchMatch, *, descending: bool,
                       after: int | None, read: Callable[[Any], list[Any]] | None = None) -> list[Any]:
    """The rows of one search page sorted by id alone (descending: newest first), at most spec.limit + 1.

    `selected` are the columns to read, `match` the search (query/search.py `search_clause`),
    `after` the id the page starts after (a keyset page) or None (the first page); the filter
    and the caller's row filter of `spec` apply; `read` executes a statement of rows (by
    default `connection.execute(...).all()`; query/sorting.py adds the caller's derived
    values with it). See the module docstring for the plans.
    """
    if read is None:
        def read(statement: Any) -> list[Any]:
            return connection.execute(statement).all()
    if connection.dialect.name == "sqlite":
        if descending and not spec.filter and short_prefix(match):
            # "1", "12": FTS5 would merge every matching word's list before its first row; the caller's newest
            # records tell whether a bounded walk of them fills the page.
            rows = None
            if ctx.restriction(object_name) is None:
                if _content_walk_fills(connection, match, after, spec.limit + 1):
                    rows = _content_walked(connection, ctx, object_name, spec, selected, match, after, read)
            elif _owned_only(ctx, object_name):
                if _owner_walk_fills(connection, ctx, object_name, match, after, spec.limit + 1):
                    rows = _owner_walked(connection, ctx, object_name, spec, selected, match, after, read)
            if rows is not None:
                return rows
        elif (descending and not spec.filter and _owned_only(ctx, object_name)
              and _newest_share(connection, ctx, object_name, match, after) > COMMON_SHARE):
            rows = _owner_walked(connection, ctx, object_name, spec, selected, match, after, read)
            if rows is not None:
                return rows
        return read(_fts_ordered(ctx, object_name, spec, selected, match, descending, after))
    source = ctx.schema.table(object_name)
    words = with_words(connection, match)  # "wonka z": 'wonka' & 'ᵖz', exact keys (query/search_words.py)
    if words is None:
        return []  # a prefix no indexed word starts
    match = for_index_reads(connection, words)  # "wonka z": its index reads intersect "ᵖz" inside the GIN index
    unsearched = where_clause(ctx, object_name, spec, true())
    def walk() -> list[Any]:
        return read(_walked(source, selected, unsearched, match, descending, after, spec.limit + 1))

    unfiltered = not spec.filter and ctx.restriction(object_name) is None
    # "wonka zo": the rows holding "zo" are few, those holding "wonka" many; "zhang wonka": those holding 'ᵖzh' and
    # 'wonka' together are few (search_parts.py): the search's ids are found among those of the part
    ids = few_part_ids(connection, match, costly=COSTLY_TERM, probed=PROBED, after=after, descending=descending,
                       limit=spec.limit + 1 if unfiltered else None)
    if ids is not None:
        return _few_matches(source, selected, unsearched, ids, unfiltered, descending, after, spec.limit + 1, read)
    short = unknown_short_prefix(connection, match)
    if short:  # "12": the statistics cannot tell; the newest records can
        walked = not unfiltered and _probed_share(connection, match) * WALKED >= spec.limit + 1
    else:  # a rep's "1": the planner guesses 2%, the statistics know 64% (phone numbers)
        walked = (expected_share(connection, match) > COMMON_SHARE
                  or (not unfiltered and expected_share(connection, match, known=True) > COMMON_SHARE))
    if walked:
        rows = walk()  # a common word: its newest matches are near
        if len(rows) > spec.limit:
            return rows
    elif unfiltered:
        # Every match is a row of the page (the index is written with its records, in the same
        # transaction): the page is the records of the newest limit + 1 matching ids, in one statement.
        probed = _probed_share(connection, match) if short else None
        if (probed is not None and probed * INDEX_WALKED >= spec.limit + 1) or (
                _index_walk_fills(connection, match, spec.limit + 1)
                and (short or len(match.terms) < 2 or _probed_share(connection, match) > 0)):
            rows = read(_index_walked(source, selected, match, descending, after, spec.limit + 1))
            if len(rows) > spec.limit:
                return rows
        return read(_newest_matches(source, selected, match, descending, after, spec.limit + 1))
    ids = connection.execute(SearchIds(match, FEW_MATCHES + 1)).scalars().all()
    if not ids:
        return []
    if len(ids) <= FEW_MATCHES:
        return _few_matches(source, selected, unsearched, ids, unfiltered, descending, after, spec.limit + 1, read)
    if not walked:
        rows = walk()
        if len(rows) > spec.limit:
            return rows
    everything = select(*selected).where(match.as_set(), unsearched, *_after(source.c.id, after, descending))
    return read(_id_ordered(everything, source.c.id, descending, spec.limit + 1))


def planned_search_by_parts(connection: Connection, ctx: QueryContext, object_name: str, text: str | None) -> ColumnElement:
    """query/search.py `planned_search` for a page sorted by fields; on PostgreSQL a rare part read first when there is one.

    "wonka zo" sorted by name: `rare_part_search`'s clause (5-8 ms at 1,000,000 accounts,
    where `planned_search` read the bitmap of every row holding "wonka" as well, 16-20 ms);
    otherwise (no rare part, or more of its ids than RARE_PART) `planned_search`'s.
    """
    found = rare_part_search(connection, ctx, object_name, text)
    return found if found is not None else planned_search(connection, ctx, object_name, text)


def rare_part_search(connection: Connection, ctx: QueryContext, object_name: str,
                     text: str | None) -> ColumnElement | None:
    """PostgreSQL: `id IN (<the ids the text matches>)` (false() for none), found among its rare part's; else None.

    None on SQLite, and where the search has no rare part beside a costly word or the part
    has more ids than RARE_PART (search_parts.py): the caller reads the search as it would.
    A sorted page (`planned_search_by_parts`) and a count (query/counting.py: the list
    page's count of "wonka zo", 21 -> 5 ms at 1,000,000 accounts) read their records among them.
    """
    if connection.dialect.name != "postgresql" or not text:
        return None
    match = search_clause(ctx, object_name, text)
    if not isinstance(match, SearchMatch):
        return None
    match = with_words(connection, match)
    if match is None:
        return false()  # a prefix no indexed word starts
    ids = few_part_ids(connection, match, costly=COSTLY_TERM, probed=PROBED)
    if ids is None:
        return None
    return one_of_ids(match.id_column, ids) if ids else false()


def counted_search(connection: Connection, ctx: QueryContext, object_name: str, text: str | None) -> ColumnElement | None:
    """PostgreSQL: the search clause of a count (query/counting.py) where `rare_part_search` found none: its
    prefixes asked as words (query/search_words.py; false() when one starts none), its index read as the OR of
    each way to give its terms fields where the statistics say so (search_statistics.py `for_index_reads`).
    None on SQLite and for a blank search: the count's own clause."""
    if connection.dialect.name != "postgresql" or not text:
        return None
    match = search_clause(ctx, object_name, text)
    if not isinstance(match, SearchMatch):
        return None
    words = with_words(connection, match)
    return false() if words is None else for_index_reads(connection, words)


def _few_matches(source, selected: Sequence[Any], unsearched, ids: Sequence[int], unfiltered: bool,
                 descending: bool, after: int | None, limit: int, read: Callable[[Any], list[Any]]) -> list[Any]:
    """PostgreSQL: the page among `ids`, every id the search matches (at most FEW_MATCHES), at most `limit` rows.

    Read by primary key among those ids, newest first (`id IN (ids) ORDER BY id DESC LIMIT n`,
    an index scan that stops at a full page): without a filter or a row filter every id is a
    row of the page, so only the newest `limit` ids beyond `after` are sent; with one, the page's
    ids are found once, as a CTE (`page_ids`) that the rollups a rep sees read too.
    """
    ids = sorted((record_id for record_id in ids if _beyond(record_id, after, descending)), reverse=descending)
    if not ids:
        return []
    if unfiltered:
        ids = ids[:limit]  # every id a match: the first `limit` of them are the page
        return read(_id_ordered(select(*selected).where(one_of_ids(source.c.id, ids)), source.c.id, descending, limit))
    # The filter and the row filter may keep few of the ids (a rep's 张伟: some 30 of 5,000): the page's
    # ids are found once, as a CTE that the page and the rollups a rep sees read (query/derived_page.py).
    found = page_ids(_id_ordered(select(source.c.id).where(one_of_ids(source.c.id, ids), unsearched),
                                 source.c.id, descending, limit))
    return read(_id_ordered(select(*selected).select_from(source.join(found, source.c.id == found.c.id)),
                            found.c.id, descending, limit))


def _probed_share(connection: Connection, match: SearchMatch) -> float:
    """PostgreSQL: the share (0 to 1) of the newest PROBED rows of the search table that `match` matches.

    For a search the statistics cannot guess (search_statistics.py `unknown_short_prefix`):
    `SELECT count(*) FILTER (WHERE <match>) FROM (SELECT * FROM <search table> ORDER BY id DESC
    LIMIT :probed) AS probed` (search_parts.py `probed_shares`), a walk along the search table's primary key testing each row (0.5 ms
    for "12" at 1,000,000 records, where its bitmap takes 18-70 ms). The newest rows are those a
    page newest first walks, so their share is the one that says whether a walk fills the page.
    """
    return probed_shares(connection, [match], PROBED)[0]


def _index_walk_fills(connection: Connection, match: SearchMatch, rows: int) -> bool:
    """PostgreSQL, no filter: whether the newest INDEX_WALKED rows of the search table are expected to hold `rows` matches.

    Yes when the statistics know the words to be held that often (张伟). Also when they know
    one of the words to be held by COSTLY_TERM of the records or more and the planner's guess
    for all the words together says yes ("wonka 12": "wonka" 4%, "12" a prefix they know
    nothing of): the bitmap the walk would save then reads that word's whole list of rows. A
    wrong guess costs one bounded walk before the bitmap.
    """
    if expected_share(connection, match, known=True) * INDEX_WALKED >= rows:
        return True
    return largest_known_term(connection, match) >= COSTLY_TERM and expected_share(connection, match) * INDEX_WALKED >= rows


def _newest_matches(source, selected: Sequence[Any], match: SearchMatch, descending: bool, after: int | None,
                    limit: int):
    """PostgreSQL, no filter: the records of the first `limit` matching ids in id order, read from the GIN index.

    `WITH found AS MATERIALIZED (SELECT id FROM <search table> WHERE <match>) SELECT ... FROM
    (SELECT id FROM found [WHERE id < :after] ORDER BY id DESC LIMIT n) AS newest JOIN <table>
    ON <table>.id = newest.id ORDER BY newest.id DESC`: the CTE keeps the matches a bitmap read
    of the index (left to itself, PostgreSQL may walk the search table's primary key for them,
    every row of it for a word nobody holds); only their ids are sorted (a top-n heapsort), and
    each record of the page is read by its primary key in that order, no row sorted.
    """
    index = table(match.index_table, column("id"))
    found = select(index.c.id).where(IndexCondition(match, indexed=True)).cte("found").prefix_with("MATERIALIZED")
    newest = _id_ordered(select(found.c.id).where(*_after(found.c.id, after, descending)), found.c.id,
                         descending, limit).subquery("newest")
    statement = select(*selected).select_from(newest.join(source, source.c.id == newest.c.id))
    return _id_ordered(statement, newest.c.id, descending, limit)


def _index_walked(source, selected: Sequence[Any], match: SearchMatch, descending: bool, after: int | None,
                  limit: int):
    """PostgreSQL, no filter: the records of the first `limit` matching ids among the newest INDEX_WALKED rows of the search table.

    `SELECT ... FROM (SELECT id FROM (SELECT * FROM <search table> ORDER BY id DESC LIMIT :walked)
    AS recent WHERE <match> ORDER BY id DESC LIMIT n) AS newest JOIN <table> ...`: the inner LIMIT
    bounds the walk along the search table's primary key; the outer stops at a full page.
    """
    index = table(match.index_table, column("id"), *(column(name) for name in match.columns))
    recent = _id_ordered(select(index).where(*_after(index.c.id, after, descending)), index.c.id, descending,
                         INDEX_WALKED).subquery("recent")
    newest = _id_ordered(select(recent.c.id).where(IndexCondition(match)), recent.c.id, descending,
                         limit).subquery("newest")
    statement = select(*selected).select_from(newest.join(source, source.c.id == newest.c.id))
    return _id_ordered(statement, newest.c.id, descending, limit)


def _fts_ordered(ctx: QueryContext, object_name: str, spec: QuerySpec, selected: Sequence[Any], match: SearchMatch,
                 descending: bool, after: int | None):
    """SQLite: the records joined to their FTS5 rows, in the FTS5 table's rowid order (its doclists', unsorted).

    `WITH page_ids AS (SELECT <table>.id FROM <fts> JOIN <table> ON <table>.id = <fts>.rowid
    WHERE <fts> MATCH :q AND <filter> ORDER BY <fts>.rowid DESC LIMIT n) SELECT ... FROM <table>
    WHERE id IN (SELECT id FROM page_ids) ORDER BY id DESC LIMIT n` (SQLite reads an IN list in
    order: no sort; the grouped rollups a rep sees read the same CTE, which SQLite then
    materializes once: before it, a rep's page walked FTS5 three times): the walk over the
    matches reads no more of each record than its filter and row filter need, so SQLite tests them on an index
    that covers them where there is one (a sales rep's `owner_id = :me` on the owner index:
    some 10,000 matches tested for a page of 50 in 7 ms, where reading each record whole
    took 30 ms), and only the page's records are read whole.
    """
    source = ctx.schema.table(object_name)
    index = table(match.index_table, column("rowid"))
    wanted = where_clause(ctx, object_name, spec, true())
    walk = (select(index.c.rowid.label("id")).select_from(index.join(source, source.c.id == index.c.rowid))
            .where(IndexCondition(match), wanted, *_after(index.c.rowid, after, descending)))
    # The pending rows (query/search_index.py), each tested, merged in id order with FTS5's: a compound
    # SELECT ordered by its `id` is a merge of its two arms, FTS5's walked in its rowid order as before.
    pending = table(match_pending_name(match), column("id"))
    waiting = select(pending.c.id.label("id")).where(
        PendingHeld(match), *_after(pending.c.id, after, descending),
        select(literal(1)).where(source.c.id == pending.c.id, wanted).correlate(pending).exists())
    return _page_of(source, selected, union_all(walk, waiting), literal_column("id"), descending, spec.limit + 1)


def _page_of(source, selected: Sequence[Any], walk, order: Any, descending: bool, limit: int):
    """SQLite: the records of the first `limit` ids `walk` (a select of ids) gives in `order`, in id order.

    The ids are a CTE (`page_ids`), which the grouped rollups a rep sees read too (query/derived_page.py).
    """
    hits = page_ids(_id_ordered(walk, order, descending, limit))
    return _id_ordered(select(*selected).where(source.c.id.in_(select(hits.c.id))), source.c.id, descending, limit)


def _owned_only(ctx: QueryContext, object_name: str) -> bool:
    """Whether the caller's row filter is `owner_id = <one user>` (a sales rep under private sharing, no share or rule).

    Its records are then one range of the owner index (owner_id, id), newest first without a sort:
    SQLite reads several owners' ranges (`owner_id IN (...)`) or an OR of branches only by sorting them.
    """
    restriction = ctx.restriction(object_name)
    if not isinstance(restriction, BinaryExpression) or restriction.operator is not operators.eq:
        return False
    owner = restriction.left
    return isinstance(owner, Column) and owner.name == "owner_id" and owner.table is ctx.schema.table(object_name)


def _newest_share(connection: Connection, ctx: QueryContext, object_name: str, match: SearchMatch,
                  after: int | None) -> float:
    """SQLite: the share (0 to 1) of the newest records (below `after`) holding the search's tokens as whole words.

    `SELECT min(rowid), count(*), (SELECT max(id) FROM <table>) FROM (SELECT rowid FROM <fts> WHERE
    <fts> MATCH <the tokens, none a prefix> ORDER BY rowid DESC LIMIT :probed)`: the newest
    NEWEST_PROBED matches over the ids they span. A whole word's list is read lazily, newest first
    (0.06 ms for "industries" at 1,000,000 records), where a prefix ("industries"*) merges the lists
    of every word starting with it before its first row (1.8 ms); the words held whole are some of
    the prefix's matches, so the share is a floor of its share, and a word typed in part
    ("indus") counts as rare: its page is read as before. A prefix of at most SHORT_PREFIX
    characters ("z", "12") is asked as its prefix token (tokens.py `index_form`), an exact list
    as well: its share is its own.
    """
    exact = tuple(tuple((token, prefix and len(token) <= SHORT_PREFIX) for token, prefix in term)
                  for term in match.terms)  # a short prefix is asked as its prefix token: one exact list too
    words = SearchMatch(match.id_column, match.index_table, match.columns, exact, positions=match.positions)
    index = table(match.index_table, column("rowid"))
    newest = _id_ordered(select(index.c.rowid).where(IndexCondition(words), *_after(index.c.rowid, after, True)),
                         index.c.rowid, True, NEWEST_PROBED).subquery("newest")
    top = select(func.max(ctx.schema.table(object_name).c.id)).scalar_subquery()
    oldest, found, last = connection.execute(
        select(func.min(newest.c.rowid), func.count(), top).select_from(newest)).one()
    if not found:
        return 0.0
    first = last if after is None else min(last, after - 1)
    return found / max(first - oldest + 1, found)


def _content_walk_fills(connection: Connection, match: SearchMatch, after: int | None, rows: int) -> bool:
    """SQLite, an administrator's short prefix: whether the newest SHORT_WALKED rows of the FTS5 content table (below `after`) are expected to hold `rows` matches.

    Judged by its newest PROBED rows: `SELECT count(*) FILTER (WHERE <the row's token text
    holds the terms>), count(*) FROM (SELECT * FROM <search table>_content [WHERE id < :after]
    ORDER BY id DESC LIMIT :probed) AS probed`, the rows `_content_walked` reads first (0.9 ms
    at 1,000,000 records). "12" (1.2% of the bench's newest accounts) is walked; "wonka 12"
    (0.1%) and "zq", held by few, are read from FTS5 at once. Yes too when there are fewer than
    PROBED rows: the walk reads each of them, as the probe did.
    """
    found, probed = _content_probe(connection, match, after)
    return probed < PROBED or found * SHORT_WALKED >= rows * PROBED


def _content_probe(connection: Connection, match: SearchMatch, after: int | None) -> tuple[int, int]:
    """SQLite: (rows holding `match`, rows read) among the newest PROBED rows of the FTS5 content table below `after`."""
    content = table(content_table_name(match), column("id"), *(column(f"c{position}") for position in match.positions))
    newest = _id_ordered(select(content).where(*_after(content.c.id, after, True)), content.c.id, True,
                         PROBED).subquery("probed")
    found, probed = connection.execute(
        select(func.count().filter(ContentHeld(match, "probed")), func.count()).select_from(newest)).one()
    return found, probed


def walked_count(connection: Connection, ctx: QueryContext, object_name: str, spec: QuerySpec,
                 cap: int) -> int | None:
    """A count of a search with a short prefix ("1", "12") and no filter: how many records match, read from the
    caller's newest records; None when the index is to count instead.

    FTS5 merges the list of every word starting with a short prefix before its first row (280-390 ms
    for "1" at 1,000,000 accounts), and a capped count (query/counting.py) asks it for cap + 1 of them.
    The newest records are probed first, as a page judges its walk: an administrator's newest PROBED rows
    of the FTS5 content table (`_content_probe`), a rep's newest OWNER_PROBED records (`_owner_probe`).
    When their share says that a quarter more than the records expected to hold cap + 1 matches are at
    most COUNT_WALKED (a rep's: OWNER_COUNT_WALKED), or the caller has no more records than that (a rep's
    5,036 of 1,000,000 for a list count capped at 10,000), those are walked, each tested:
    `SELECT count(*) FROM (SELECT 1 FROM <content> WHERE <content>.id >= :bound AND <its token text holds
    the terms> AND EXISTS (<its record>) LIMIT :cap + 1)`, for a rep `SELECT 1 FROM <table> WHERE
    owner_id = :me AND id >= :bound AND EXISTS (<its search row holds the terms>) ...` along the owner
    index. More than `cap` found is the count's "at least" (the value returned, above `cap`); records the
    walk reads whole give the exact count. Fewer found among those walked, a rarer prefix, another row
    filter: None, and FTS5 counts.

    PostgreSQL, the same for a short prefix or a word the statistics expect in more than COMMON_SHARE of the
    records (`_postgres_walked_count`): the capped count of "1" asked the GIN index for a bitmap of every
    match first (640,000 of 1,000,000 accounts).
    """
    if spec.filter:
        return None
    admin = ctx.restriction(object_name) is None
    if not admin and not _owned_only(ctx, object_name):
        return None
    match = search_clause(ctx, object_name, spec.search)
    if not isinstance(match, SearchMatch):
        return None
    if connection.dialect.name == "postgresql":
        if short_prefix(match) or expected_share(connection, match) > COMMON_SHARE:
            return _postgres_walked_count(connection, ctx, object_name, match, cap, admin)
        return None
    if not short_prefix(match):
        return None
    source = ctx.schema.table(object_name)
    if admin:  # the content table's rows, each tested and kept when its record exists
        content = table(content_table_name(match), column("id"))
        rows, key, scope, tests = content, content.c.id, [], [ContentHeld(match), _a_record(source, content)]
        (found, probed), most, least = _content_probe(connection, match, None), COUNT_WALKED, PROBED
    else:  # the rep's records along the owner index, each tested against its search row
        rows, key, scope, tests = source, source.c.id, [ctx.restriction(object_name)], [match.row_by_row(source.c.id)]
        (found, probed), most, least = _owner_probe(connection, ctx, object_name, match, None), \
            OWNER_COUNT_WALKED, OWNER_PROBED
    if probed < least:
        needed = walked = least  # every one of them: fewer than the probe reads
    elif not found:
        return None
    else:  # a quarter more than the probe's share says hold cap + 1: a share of 5% among 2,000 rows is some 100
        needed = -(-5 * (cap + 1) * probed // (4 * found))
        walked = min(needed, most)
    bound = connection.execute(select(key).where(*scope).order_by(key.desc()).limit(1).offset(walked - 1)).scalar()
    if bound is not None and walked < needed:  # more of them than the walk may read, and they hold fewer matches
        return None
    held = select(literal(1)).select_from(rows).where(*scope, *([] if bound is None else [key >= bound]), *tests)
    if admin:  # and the pending rows (query/search_index.py), each tested the same way
        held = union_all(held, _pending_walk(source, match, None, bound, literal(1)))
    held = held.limit(cap + 1).subquery("held")
    counted = connection.execute(select(func.count()).select_from(held)).scalar_one()
    return counted if counted > cap or bound is None else None


def _postgres_walked_count(connection: Connection, ctx: QueryContext, object_name: str, match: SearchMatch, cap: int,
                           admin: bool) -> int | None:
    """PostgreSQL, `walked_count`: an administrator's newest rows of the search table along its primary key (each
    row is a record's: both are written in one transaction), a rep's newest records along the owner index, each
    tested (`SELECT count(*) FILTER (WHERE <match>), count(*) FROM (<the newest n> ) AS walked`): first the
    newest PROBED (a rep's OWNER_PROBED) for the share, then as many as a quarter more than that share says hold
    cap + 1, when that many are at most COUNT_WALKED (OWNER_COUNT_WALKED) or there are no more rows than that.
    Matches above `cap`, or all of them when the walk read every row there is; else None."""
    if admin:
        index = table(match.index_table, column("id"), *(column(name) for name in match.columns))

        def walk(rows: int) -> Any:
            return _id_ordered(select(index), index.c.id, True, rows).subquery("walked")

        def test(walked: Any) -> Any:
            return IndexCondition(match)  # on the walked rows' own columns

        least, most, key, scope = PROBED, COUNT_WALKED, index.c.id, []
    else:
        source = ctx.schema.table(object_name)

        def walk(rows: int) -> Any:
            return _id_ordered(select(source.c.id).where(ctx.restriction(object_name)), source.c.id, True,
                               rows).subquery("walked")

        def test(walked: Any) -> Any:
            return match.row_by_row(walked.c.id)

        least, most, key, scope = OWNER_PROBED, OWNER_COUNT_WALKED, source.c.id, [ctx.restriction(object_name)]

    def counted(rows: int) -> tuple[int, int]:
        walked = walk(rows)
        found, read = connection.execute(select(func.count().filter(test(walked)), func.count())
                                         .select_from(walked)).one()
        return found, read

    found, probed = counted(least)
    if probed < least:
        return found  # every row there is: exact
    if not found:
        return None
    needed = -(-5 * (cap + 1) * probed // (4 * found))
    if needed > most and connection.execute(select(key).where(*scope).order_by(key.desc()).limit(1)
                                            .offset(most - 1)).scalar() is not None:
        return None  # more rows than the walk may read, and too few of them match
    rows = min(needed, most)
    found, read = counted(rows)
    return found if found > cap or read < rows else None


def _owner_walk_fills(connection: Connection, ctx: QueryContext, object_name: str, match: SearchMatch,
                      after: int | None, rows: int) -> bool:
    """SQLite, a rep's short prefix: whether it is common among their newest records, so their newest OWNER_WALKED hold `rows` matches.

    Judged by their newest OWNER_PROBED records along the owner index: `SELECT count(*) FILTER
    (WHERE EXISTS (<its search row holds the terms>)), count(*) FROM (SELECT id FROM <table>
    WHERE owner_id = :me [AND id < :after] ORDER BY id DESC LIMIT :probed) AS probed`. A rep's
    records are scattered, each looked up in the content table, so the walk costs more per
    record than FTS5 per match; FTS5's cost grows with the prefix's matches: a share above
    COMMON_SHARE ("1": most records) is walked, "12" (1.2%: FTS5 8-18 ms, a walk 23) is not.
    Yes too when the rep has fewer than OWNER_PROBED records: the walk reads each of them.
    """
    found, probed = _owner_probe(connection, ctx, object_name, match, after)
    return probed < OWNER_PROBED or (found > COMMON_SHARE * probed and found * OWNER_WALKED >= rows * probed)


def _owner_probe(connection: Connection, ctx: QueryContext, object_name: str, match: SearchMatch,
                 after: int | None) -> tuple[int, int]:
    """SQLite: (records holding `match`, records read) among the rep's newest OWNER_PROBED records below `after`."""
    source = ctx.schema.table(object_name)
    newest = _id_ordered(select(source.c.id).where(ctx.restriction(object_name), *_after(source.c.id, after, True)),
                         source.c.id, True, OWNER_PROBED).subquery("probed")
    found, probed = connection.execute(
        select(func.count().filter(match.row_by_row(newest.c.id)), func.count()).select_from(newest)).one()
    return found, probed


def _content_walked(connection: Connection, ctx: QueryContext, object_name: str, spec: QuerySpec,
                    selected: Sequence[Any], match: SearchMatch, after: int | None,
                    read: Callable[[Any], list[Any]]) -> list[Any] | None:
    """SQLite, an administrator's short prefix: the newest SHORT_WALKED rows of the FTS5 content table, each tested.

    `SELECT <content>.id FROM <search table>_content WHERE <content>.id >= :bound [AND <content>.id
    < :after] AND <its token text holds the terms> AND EXISTS (<its record>) ORDER BY <content>.id
    DESC LIMIT n` (the page's ids, a CTE): the content table is
    an ordinary table keyed by record id, holding only the tokens, so walking it costs a third
    of walking the records and looking each one's row up (1.5 ms against 4.8 for the newest
    51 of "12" at 1,000,000 records, some 4,400 rows; FTS5 took 7 ms, and 280 ms for "1");
    EXISTS (`_a_record`) keeps only ids that are records, as FTS5's walk does. :bound, the id of its
    SHORT_WALKED-th newest row, is read first along its primary key. None when those hold no
    full page and older rows remain: the FTS5 walk reads the page instead.
    """
    source = ctx.schema.table(object_name)
    content = table(content_table_name(match), column("id"))
    bound = connection.execute(select(content.c.id).where(*_after(content.c.id, after, True))
                               .order_by(content.c.id.desc()).limit(1).offset(SHORT_WALKED - 1)).scalar()
    walk = select(content.c.id).select_from(content).where(*_after(content.c.id, after, True),
                                      *([] if bound is None else [content.c.id >= bound]), ContentHeld(match),
                                      _a_record(source, content))
    walk = union_all(walk, _pending_walk(source, match, after, bound))
    rows = read(_page_of(source, selected, walk, literal_column("id"), True, spec.limit + 1))
    return rows if len(rows) > spec.limit or bound is None else None


def _pending_walk(source, match: SearchMatch, after: int | None, bound: int | None, selected: Any = None) -> Any:
    """SQLite: the ids of the pending rows (query/search_index.py) at or above `bound` (below `after`) that hold
    `match` and are records, for a walk of the content table, which they join in id order (`union_all`)."""
    pending = table(match_pending_name(match), column("id"))
    return select(pending.c.id if selected is None else selected).select_from(pending).where(
        *_after(pending.c.id, after, True), *([] if bound is None else [pending.c.id >= bound]),
        PendingHeld(match), _a_record(source, pending))


def _a_record(source, content) -> Any:
    """SQLite: `EXISTS (SELECT 1 FROM <table> WHERE <table>.id = <content>.id)`, for a walk of the content table: it
    keeps the walk the outer loop (a join may be turned round to scan the records when the content table has no
    statistics yet) and each row a lookup by primary key."""
    return select(literal(1)).where(source.c.id == content.c.id).correlate(content).exists()


def _owner_walked(connection: Connection, ctx: QueryContext, object_name: str, spec: QuerySpec,
                  selected: Sequence[Any], match: SearchMatch, after: int | None,
                  read: Callable[[Any], list[Any]]) -> list[Any] | None:
    """SQLite, a sales rep's common word or short prefix: their newest OWNER_WALKED records along the owner index, each tested against its search row.

    `SELECT id FROM <table> WHERE owner_id = :me AND id >= :bound [AND id < :after] AND EXISTS
    (<its search row holds the words>) ORDER BY id DESC LIMIT n` (the page's ids, a CTE the
    rollups read too): :bound, the id of the OWNER_WALKED-th newest of their records, is read
    first from the same index. Where the FTS5 walk tests each match of the word (a rep owning
    one record in 175: some 9,000 matches of "Industries" for a page of 50, 3.7 ms at
    1,000,000 records), this tests some 850 of the rep's records (1.3 ms); for "1" (a short
    prefix held by most records) some 80 of them (0.1 ms, where FTS5 merged the lists of every
    word starting with "1" first: 390 ms). None when those hold no full page and the rep has
    older records: the FTS5 walk reads the page instead.
    """
    source = ctx.schema.table(object_name)
    owned, below = ctx.restriction(object_name), _after(source.c.id, after, True)
    bound = connection.execute(select(source.c.id).where(owned, *below).order_by(source.c.id.desc())
                               .limit(1).offset(OWNER_WALKED - 1)).scalar()
    walk = select(source.c.id).where(owned, *below, *([] if bound is None else [source.c.id >= bound]),
                                     match.row_by_row(source.c.id))
    rows = read(_page_of(source, selected, walk, source.c.id, True, spec.limit + 1))
    return rows if len(rows) > spec.limit or bound is None else None


def _walked(source, selected: Sequence[Any], unsearched, match: SearchMatch, descending: bool, after: int | None,
            limit: int):
    """PostgreSQL: the first WALKED records in id order (filter and row filter applied), each tested against its search row.

    `SELECT ... FROM (SELECT id FROM (SELECT id FROM <table> WHERE <filter> ORDER BY id DESC
    LIMIT :walked) AS walked WHERE <its search row matches> ORDER BY id DESC LIMIT n) AS hits
    JOIN <table> ON <table>.id = hits.id ORDER BY hits.id DESC`: the walk carries ids alone (a
    sales rep's walk along the owner index tests some 750 records for a page of 50; carrying
    every column of each cost a third of the page), and only the page's records are read
    whole. The walk's LIMIT keeps PostgreSQL from merging it into the outer query, so the
    walk is bounded; the next LIMIT stops it as soon as the page is full.
    """
    walked = _id_ordered(select(source.c.id).where(unsearched, *_after(source.c.id, after, descending)),
                         source.c.id, descending, WALKED).subquery("walked")
    hits = _id_ordered(select(walked.c.id).where(match.row_by_row(walked.c.id)), walked.c.id, descending,
                       limit).subquery("hits")
    statement = select(*selected).select_from(hits.join(source, source.c.id == hits.c.id))
    return _id_ordered(statement, hits.c.id, descending, limit)


def _id_ordered(statement, id_column, descending: bool, limit: int):
    return statement.order_by(id_column.desc() if descending else id_column.asc()).limit(limit)


def _after(id_column, after: int | None, descending: bool) -> list[Any]:
    if after is None:
        return []
    return [id_column < after] if descending else [id_column > after]


def _beyond(record_id: int, after: int | None, descending: bool) -> bool:
    return after is None or (record_id < after if descending else record_id > after)
