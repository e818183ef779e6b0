"""A search page without a sort is read in the search index's order, on SQLite and on PostgreSQL.

Newest first (query/search_pages.py): no statement of the page may sort its rows or read
the whole account table; SQLite reads the FTS5 table first and each account by its primary
key, PostgreSQL reads accounts in id order along an index (the primary key, or owner_id, id
for a rep; few matches: among the matching ids; many: walking it and testing each record's
search row). How plans are read:
conftest.PlanReader (PostgreSQL with sequential and bitmap scans priced out).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterator

import pytest
from sqlalchemy import insert

from crmkit.engine import Crm
from crmkit.engine.query import QueryContext, QuerySpec, fetch_rows, page_cursor, search_pages, search_parts
from crmkit.engine.query.search_index import SearchIndex, rebuild_index
from crmkit.engine.query.tokens import PREFIX_MARK
from tests.conftest import analyze_own_tables

ROWS = 400
MOMENT = datetime(2024, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def crm(module_database_url) -> Iterator[Crm]:
    """The standard CRM with ROWS accounts (every third named "... Industries", every tenth "... 张伟"), indexed."""
    instance = Crm.open(module_database_url)
    try:
        instance.install("default_crm")
        table = instance.runtime.table("account")
        rows = [{"name": _name(n), "owner_id": 1 + n % 5, "created_at": MOMENT, "updated_at": MOMENT, "version": 1}
                for n in range(ROWS)]
        with instance.engine.begin() as connection:
            connection.execute(insert(table), rows)
            index = SearchIndex.of(instance.runtime.registry, instance.runtime.field_types, "account")
            rebuild_index(connection, instance.runtime.schema, index)
            if connection.dialect.name == "postgresql":
                analyze_own_tables(connection)
        yield instance
    finally:
        instance.close()


def _name(number: int) -> str:
    if number % 10 == 0:
        return f"星辰科技 张伟 {number}"
    return f"Wonka Industries {number}" if number % 3 == 0 else f"Acme Trading {number}"


def context(crm: Crm, owner: int | None = None) -> QueryContext:
    """An admin's query context, or that of a sales rep who sees only the accounts they own."""
    runtime = crm.runtime

    def row_filter(object_name: str) -> Any:
        return runtime.table(object_name).c.owner_id == owner if owner is not None else None

    return QueryContext(runtime.registry, runtime.schema, runtime.field_types, row_filter=row_filter)


def page_plans(crm: Crm, plan_reader, spec: QuerySpec, owner: int | None = None) -> list:
    def read() -> None:
        with crm.engine.connect() as connection:
            rows = fetch_rows(connection, context(crm, owner), "account", spec)
            assert rows, "the search finds accounts"
    return plan_reader(crm.engine).plans(read)


def sorts_rows(plan) -> bool:
    """Whether the plan sorts records; a top-n sort of the matching ids alone (`Sort Key: found.id`,
    search_pages.py `_newest_matches`: few matches, no filter) is not a sort of rows."""
    if plan.dialect == "sqlite" or not plan.sorts:
        return plan.sorts
    keys = [line for line in plan.lines if "Sort Key:" in line]
    return not keys or any("found.id" not in line for line in keys)


def assert_index_order(crm: Crm, plans: list) -> None:
    assert plans, "no statement was run"
    for plan in plans:
        assert not sorts_rows(plan), f"the page is sorted after reading:\n{plan}"
        assert not plan.full_scans("account"), f"the page reads all of account:\n{plan}"
    if crm.engine.dialect.name == "sqlite":
        assert any(line.startswith("SCAN crmkit_account_search VIRTUAL TABLE") for plan in plans
                   for line in plan.lines), "\n\n".join(map(str, plans))
    else:  # the primary key, or (for a rep) the index on owner_id, id: both give id order
        assert any(index == "account_pkey" or index.startswith("ix_account_owner_id") for plan in plans
                   for index in plan.indexes), "\n\n".join(map(str, plans))


def second_page_cursor(crm: Crm, spec: QuerySpec, owner: int | None = None) -> str:
    ctx = context(crm, owner)
    with crm.engine.connect() as connection:
        rows = fetch_rows(connection, ctx, "account", spec)
    return page_cursor(ctx, "account", ("-id",), rows[spec.limit - 1]._mapping)


@pytest.fixture(params=["few", "many", "index walk"])
def matches(request, monkeypatch) -> str:
    """PostgreSQL's ways: few matches read by id among the ids, many walked along the primary key,
    and (no filter) a word the statistics know walked along the search table's primary key."""
    if request.param == "many":
        monkeypatch.setattr(search_pages, "COMMON_SHARE", -1.0)
    if request.param == "index walk":
        monkeypatch.setattr(search_pages, "expected_share", lambda _connection, _match, known=False: float(known))
    return request.param


@pytest.mark.parametrize("word", ["industries", "张伟", "xyzzy"])
def test_a_search_page_without_a_sort_is_read_in_the_index_order(crm, plan_reader, matches, word):
    spec = QuerySpec(search=word, limit=10)
    if word == "xyzzy":
        with crm.engine.connect() as connection:
            assert fetch_rows(connection, context(crm), "account", spec) == []
        return
    assert_index_order(crm, page_plans(crm, plan_reader, spec))


def test_the_second_page_of_a_search_is_read_in_the_index_order(crm, plan_reader, matches):
    spec = QuerySpec(search="industries", limit=10)
    after = second_page_cursor(crm, spec)
    assert_index_order(crm, page_plans(crm, plan_reader, QuerySpec(search="industries", limit=10, after=after)))


def test_a_reps_search_is_read_in_the_index_order(crm, plan_reader, matches):
    assert_index_order(crm, page_plans(crm, plan_reader, QuerySpec(search="industries", limit=5), owner=2))


@pytest.mark.parametrize(("words", "walked"), [("wonka zzz", True), ("xyzzy", False)])
def test_a_search_with_a_common_word_and_one_the_statistics_do_not_know_walks_the_newest_index_rows(
        crm, plan_reader, monkeypatch, words, walked):
    """PostgreSQL: a bitmap of "wonka zzz" reads every search row holding "wonka", which pg_stats know to be common,
    however few hold "zzz" too (a word they do not know): when the planner's guess says the newest rows of the
    search table hold a page, they are walked instead (and, when they do not, the bitmap read after). A search
    with no known word is read from its bitmap, cheap for a rare word. Every way gives the same page. ("zzz" is
    taken to be held by more than RARE_PART records here: a rare part is read first, see the tests below.)"""
    if crm.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's plans: SQLite reads FTS5 in id order")
    from crmkit.engine.query import search_clause, search_statistics

    monkeypatch.setattr(search_statistics, "FEW_MATCHES", 0)  # the statistics of a small table count
    monkeypatch.setattr(search_pages, "COMMON_SHARE", 1.0)  # no walk along the records first
    monkeypatch.setattr(search_pages, "INDEX_WALKED", 1_000_000)  # the planner's guess says: the walk fills a page
    monkeypatch.setattr(search_parts, "RARE_PART", -1)  # no part is rare
    monkeypatch.setattr(search_pages, "_probed_share", lambda _connection, _match: 0.5)  # the newest rows hold them
    search_statistics.forget_statistics()
    spec = QuerySpec(search=words, limit=10)
    try:
        with crm.engine.connect() as connection:
            match = search_clause(context(crm), "account", words)
            assert search_statistics.expected_share(connection, match, known=True) == 0.0, "no word known alone"
        with plan_reader(crm.engine).reads() as seen, crm.engine.connect() as connection:
            rows = fetch_rows(connection, context(crm), "account", spec)
        index_walked = [statement for statement, _ in seen if "AS recent" in statement]
        assert bool(index_walked) == walked, [statement for statement, _ in seen]
        if walked:  # the newest rows hold the words together: walked; none of them: the bitmap at once
            monkeypatch.setattr(search_pages, "_probed_share", lambda _connection, _match: 0.0)
            with plan_reader(crm.engine).reads() as seen, crm.engine.connect() as connection:
                assert [row.id for row in fetch_rows(connection, context(crm), "account", spec)] == [
                    row.id for row in rows]
            assert not [statement for statement, _ in seen if "AS recent" in statement]
        monkeypatch.setattr(search_pages, "COSTLY_TERM", 2.0)  # never: the bitmap of every match
        with crm.engine.connect() as connection:
            assert [row.id for row in fetch_rows(connection, context(crm), "account", spec)] == [row.id for row in rows]
    finally:
        search_statistics.forget_statistics()


def _reads_every_match(statement: str) -> bool:
    """Whether a statement reads every match of a search from the GIN index (a bitmap): the newest matching ids
    (`found AS MATERIALIZED`), the first FEW_MATCHES + 1 ids, or the set of matches."""
    return ("AS MATERIALIZED" in statement or statement.startswith("SELECT id FROM crmkit_account_search")
            or "IN (SELECT id FROM crmkit_account_search WHERE" in statement)


@pytest.fixture
def analyzed(crm, monkeypatch):
    """PostgreSQL with statistics as a large table has them: they count (the table is not small), and they know
    the common words alone (wonka, industries, acme, trading, the Chinese pairs: 10% of the rows or more), not
    the numbers each account's name ends with (ANALYZE of 400 rows keeps every token), nor the prefix tokens of
    one or two characters (query/tokens.py: "ᵖ3" is held by 10% of these 400 rows), so that a short prefix is one
    they know nothing of, as a rarer one is among a million records."""
    if crm.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's plans: SQLite reads FTS5 in id order")
    from crmkit.engine.query import search_statistics

    monkeypatch.setattr(search_statistics, "FEW_MATCHES", 0)
    search_statistics.forget_statistics()
    read = search_statistics.table_statistics

    def common_only(connection, table_name):
        kept = read(connection, table_name)
        columns = {name: search_statistics.ColumnStatistics(
            {token: share for token, share in column.shares.items()
             if share >= 0.1 and not token.startswith(PREFIX_MARK)}, 0.1)
            for name, column in kept.columns.items()}
        return search_statistics.TableStatistics(kept.rows, columns, kept.read_at)

    monkeypatch.setattr(search_statistics, "table_statistics", common_only)
    yield
    search_statistics.forget_statistics()


def _page(crm, plan_reader, spec: QuerySpec, owner: int | None) -> tuple[list[int], list[str]]:
    with plan_reader(crm.engine).reads() as seen, crm.engine.connect() as connection:
        rows = fetch_rows(connection, context(crm, owner), "account", spec)
    return [row.id for row in rows], [statement for statement, _ in seen]


@pytest.mark.parametrize(("owner", "limit", "walk"), [(None, 3, "AS recent"), (2, 1, "AS walked")])
def test_a_short_prefix_the_statistics_do_not_know_is_judged_by_the_newest_rows_instead_of_read_as_a_bitmap(
        crm, plan_reader, analyzed, monkeypatch, owner, limit, walk):
    """PostgreSQL: "12" starts some 17,000 words of a million accounts' phone numbers and names, which the
    statistics do not know; a bitmap of it reads every index key starting with it. Its share among the newest
    search rows (`AS probed`) says that a bounded walk fills the page: the search table's newest rows for an
    administrator, the rep's own records newest first for a rep. No statement reads every match, and the page
    is the one the bitmap gives."""
    from crmkit.engine.query import search_clause, search_statistics

    with crm.engine.connect() as connection:
        assert search_statistics.unknown_short_prefix(connection, search_clause(context(crm), "account", "12"))
    spec = QuerySpec(search="12", limit=limit)
    ids, statements = _page(crm, plan_reader, spec, owner)
    assert any("AS probed" in statement for statement in statements), statements
    assert any(walk in statement for statement in statements), statements
    assert not any(_reads_every_match(statement) for statement in statements), statements
    monkeypatch.setattr(search_pages, "unknown_short_prefix", lambda _connection, _match: False)
    bitmap_ids, statements = _page(crm, plan_reader, spec, owner)
    assert any(_reads_every_match(statement) for statement in statements), statements
    assert ids == bitmap_ids and len(ids) == limit + 1


def test_a_short_prefix_beside_a_costly_word_is_walked_when_the_statistics_say_the_walk_fills_the_page(
        crm, plan_reader, analyzed, monkeypatch):
    """PostgreSQL, no filter: the newest rows of "wonka 12" are too rare for the probe to count (none of the newest
    2,000 at the bench's million: 0.05% of its accounts), but a bitmap reads every row holding "wonka", which the
    statistics know to be common (4%: 30 ms), and the planner's guess says the search table's newest rows hold
    the page: they are walked (6 ms, the lookup autocomplete's `suggest`), and the page is the bitmap's."""
    monkeypatch.setattr(search_pages, "_probed_share", lambda _connection, _match: 0.0)
    monkeypatch.setattr(search_parts, "RARE_PART", -1)  # "12" alone: 1.7% of the bench's accounts, not a rare part
    spec = QuerySpec(search="wonka 3", limit=2)
    ids, statements = _page(crm, plan_reader, spec, None)
    assert any("AS recent" in statement for statement in statements), statements
    assert not any(_reads_every_match(statement) for statement in statements), statements
    monkeypatch.setattr(search_pages, "COSTLY_TERM", 2.0)  # no word costly: the probe alone decides
    bitmap_ids, statements = _page(crm, plan_reader, spec, None)
    assert any(_reads_every_match(statement) for statement in statements), statements
    assert ids == bitmap_ids and len(ids) == spec.limit + 1


@pytest.mark.parametrize("owner", [None, 2])
@pytest.mark.parametrize(("word", "limit"), [("12", 20), ("zq", 5), ("1", 5)])
def test_a_short_prefix_finds_the_same_page_whichever_way_it_is_read(crm, plan_reader, analyzed, monkeypatch,
                                                                     owner, word, limit):
    """PostgreSQL: walked and found full, walked and found short (the bitmap after), or rare among the newest rows
    (the bitmap at once: "zq"): the page is the one the bitmap alone gives, newest first."""
    spec = QuerySpec(search=word, limit=limit)
    ids, statements = _page(crm, plan_reader, spec, owner)
    monkeypatch.setattr(search_pages, "unknown_short_prefix", lambda _connection, _match: False)
    assert ids == _page(crm, plan_reader, spec, owner)[0]
    assert ids == sorted(ids, reverse=True)
    if word == "zq":
        assert ids == [] and not any(" AS walked" in statement or "AS recent" in statement for statement in statements)


def test_a_reps_word_the_statistics_know_to_be_common_is_walked_whatever_the_planner_guesses(
        crm, plan_reader, monkeypatch):
    """PostgreSQL: for a prefix of few common tokens ("1" in phone numbers: 64% of the bench's accounts) the
    planner guesses 2%, below COMMON_SHARE; what the statistics know decides a rep's page: their own records
    are walked newest first instead of reading every match. An administrator's page (every match a row of it)
    walks the search table's newest rows instead, as before."""
    if crm.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's plans: SQLite reads FTS5 in id order")
    monkeypatch.setattr(search_pages, "expected_share", lambda _connection, _match, known=False: 0.5 if known else 0.0)
    monkeypatch.setattr(search_pages, "unknown_short_prefix", lambda _connection, _match: False)
    spec = QuerySpec(search="industries", limit=5)
    rep_ids, statements = _page(crm, plan_reader, spec, 2)
    assert any(" AS walked" in statement for statement in statements), statements
    assert not any(_reads_every_match(statement) for statement in statements), statements
    _ids, statements = _page(crm, plan_reader, spec, None)
    assert not any(" AS walked" in statement for statement in statements), statements
    monkeypatch.setattr(search_pages, "expected_share", lambda _connection, _match, known=False: 0.0)
    assert rep_ids == _page(crm, plan_reader, spec, 2)[0]


def _owned_page(crm, spec: QuerySpec, owner: int) -> list[int]:
    with crm.engine.connect() as connection:
        return [row.id for row in fetch_rows(connection, context(crm, owner), "account", spec)]


@pytest.mark.parametrize("owner_walked", [2_000, 30, 3])
def test_sqlite_walks_a_reps_own_records_for_a_word_common_among_the_newest(crm, plan_reader, monkeypatch, owner_walked):
    """SQLite: a rep owning few of the records, searching a word many of the newest records hold ("industries":
    30% of them here; 6% at the bench's million), has their own records walked newest first along the owner
    index, each tested against its search row, instead of FTS5's matches walked until enough are theirs.
    The page statement reads the owner index in order (no sort) and not the FTS5 table; the pages, first and
    keyset, are the FTS5 walk's, whether the rep's records all fit the walk (2,000), the walk holds the page
    (30) or too few of them do (3: the FTS5 walk after)."""
    if crm.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's plan: PostgreSQL walks a rep's records by its statistics")
    monkeypatch.setattr(search_pages, "OWNER_WALKED", owner_walked)
    first = QuerySpec(search="industries", limit=5)
    plans = page_plans(crm, plan_reader, first, owner=2)
    def walks(plan) -> bool:
        return (any("ix_account_owner_id (owner_id=?" in line for line in plan.lines)
                and not any("crmkit_account_search VIRTUAL TABLE" in line for line in plan.lines))

    assert any(walks(plan) for plan in plans), "\n\n".join(map(str, plans))
    assert walks(plans[-1]) == (owner_walked != 3), "\n\n".join(map(str, plans))  # the statement of the page
    assert not any(plan.sorts or plan.full_scans("account") for plan in plans), "\n\n".join(map(str, plans))
    second = QuerySpec(search="industries", limit=5, after=second_page_cursor(crm, first, owner=2))
    pages = [_owned_page(crm, spec, 2) for spec in (first, second)]
    monkeypatch.setattr(search_pages, "COMMON_SHARE", 2.0)  # no word is common: FTS5 alone
    assert pages == [_owned_page(crm, spec, 2) for spec in (first, second)]
    assert len(pages[0]) == 6 and pages[0] == sorted(pages[0], reverse=True) and max(pages[1]) < min(pages[0][:5])


def test_sqlite_reads_a_reps_rarer_word_and_a_word_typed_in_part_from_fts5(crm, plan_reader, monkeypatch):
    """SQLite: the share among the newest records counts whole words ("industries" held whole; "indus" is typed
    in part and counts as rare), and below COMMON_SHARE the FTS5 walk reads the page as before."""
    if crm.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's plan")
    for word, share in [("indus", search_pages.COMMON_SHARE), ("industries", 0.5)]:
        monkeypatch.setattr(search_pages, "COMMON_SHARE", share)
        plans = page_plans(crm, plan_reader, QuerySpec(search=word, limit=5), owner=2)
        assert not any("ix_account_owner_id (owner_id=?" in line for plan in plans for line in plan.lines), word


def _pages(crm, spec: QuerySpec, owner: int | None) -> list[list[int]]:
    """The ids of a search's first page and of the keyset page after it."""
    first = _owned_page(crm, spec, owner)
    if len(first) <= spec.limit:
        return [first, []]
    second = QuerySpec(search=spec.search, limit=spec.limit, after=second_page_cursor(crm, spec, owner))
    return [first, _owned_page(crm, second, owner)]


def _fts5_reads(statement: str) -> bool:
    """Whether a SQLite statement reads the FTS5 index (a MATCH: a prefix merges every matching word's list)."""
    return " MATCH " in statement


@pytest.mark.parametrize(("owner", "word"), [(None, "3"), (None, "39"), (2, "3"), (2, "2")])
def test_sqlite_walks_the_newest_records_for_a_short_prefix_without_reading_every_match(
        crm, plan_reader, monkeypatch, owner, word):
    """SQLite: FTS5 merges the list of every word starting with a short prefix ("12": some 17,000 words at the bench's
    million) before its first row. When the caller's newest records (here their newest 50, PROBED) say a bounded walk
    fills the page, the records are walked newest first (an administrator's along the primary key, a rep's along
    the owner index), each tested against its search row: no statement reads FTS5, none sorts or reads all of
    account (a rep's along the owner index), and the first and keyset pages are those of FTS5 alone. (The newest accounts' names end in 399, 398, ...: "39" is
    held by one of the newest 50 in five; rep 2 owns those ending in 396, 391, ...)"""
    if crm.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's plan")
    monkeypatch.setattr(search_pages, "PROBED", 50)
    monkeypatch.setattr(search_pages, "OWNER_PROBED", 50)
    spec = QuerySpec(search=word, limit=3)
    with plan_reader(crm.engine).reads() as seen:
        pages = _pages(crm, spec, owner)
    statements = [statement for statement, _ in seen]
    assert any("AS probed" in statement for statement in statements), statements
    assert not any(_fts5_reads(statement) for statement in statements), statements
    plans = page_plans(crm, plan_reader, spec, owner)
    assert not any(plan.sorts for plan in plans), "\n\n".join(map(str, plans))
    if owner is not None:  # (an administrator's walk is SQLite's `SCAN account` in rowid order, stopped by its LIMIT)
        assert not any(plan.full_scans("account") for plan in plans), "\n\n".join(map(str, plans))
        assert any("ix_account_owner_id (owner_id=?" in line for plan in plans for line in plan.lines)
    monkeypatch.setattr(search_pages, "short_prefix", lambda _match: False)
    monkeypatch.setattr(search_pages, "COMMON_SHARE", 2.0)  # no owner walk either: FTS5 alone
    with plan_reader(crm.engine).reads() as seen:
        assert pages == _pages(crm, spec, owner)
    assert any(_fts5_reads(statement) for statement, _ in seen)
    assert len(pages[0]) == 4 and pages[0] == sorted(pages[0], reverse=True) and max(pages[1]) < min(pages[0][:3])


@pytest.mark.parametrize("owner", [None, 2])
def test_sqlite_reads_a_rare_short_prefix_from_fts5_and_a_short_walk_falls_back_to_it(crm, plan_reader, monkeypatch,
                                                                                       owner):
    """SQLite: a short prefix held by none of the newest records ("zq") is read from FTS5 at once, without a walk
    (cheap for a rare prefix); a walk that holds no full page (SHORT_WALKED, OWNER_WALKED: the newest 5 records, none of them
    holding "1", for a page of 3) is followed by the FTS5 read, and the page is FTS5's."""
    if crm.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's plan")
    monkeypatch.setattr(search_pages, "PROBED", 50)
    monkeypatch.setattr(search_pages, "OWNER_PROBED", 50)
    with plan_reader(crm.engine).reads() as seen:
        assert _owned_page(crm, QuerySpec(search="zq", limit=3), owner) == []
    statements = [statement for statement, _ in seen]
    assert any("AS probed" in statement for statement in statements), statements
    assert any(_fts5_reads(statement) for statement in statements), statements
    assert not any("page_ids" in statement and not _fts5_reads(statement) for statement in statements), statements
    spec = QuerySpec(search="1", limit=3)
    walked = _pages(crm, spec, owner)
    assert len(walked[0]) == 4
    monkeypatch.setattr(search_pages, "PROBED", 1)
    monkeypatch.setattr(search_pages, "SHORT_WALKED", 5)
    monkeypatch.setattr(search_pages, "OWNER_WALKED", 5)
    monkeypatch.setattr(search_pages, "_content_walk_fills", lambda *_arguments: True)
    monkeypatch.setattr(search_pages, "_owner_walk_fills", lambda *_arguments: True)
    with plan_reader(crm.engine).reads() as seen:
        assert _pages(crm, spec, owner) == walked
    statements = [statement for statement, _ in seen]
    assert any("page_ids" in statement and not _fts5_reads(statement) for statement in statements), statements
    assert any(_fts5_reads(statement) for statement in statements), statements


@pytest.mark.parametrize("owner", [None, 2])
@pytest.mark.parametrize(("words", "limit"), [("1", 4), ("12", 2), ("3", 4), ("39", 2), ("zq", 3), ("wonka 3", 3), ("张伟 1", 2)])
def test_a_short_prefix_gives_the_same_pages_whichever_plan_reads_them(crm, monkeypatch, owner, words, limit):
    """Both databases: the first and keyset pages of a short prefix are the same, newest first, whether the newest
    records are walked (filling the page or not, SQLite: SHORT_WALKED, OWNER_WALKED; PostgreSQL: WALKED), the index is read at
    once, or (PostgreSQL) the records are walked whatever the statistics say; and they are the records a sort by id
    gives, among those the caller sees."""
    spec = QuerySpec(search=words, limit=limit)
    pages = _pages(crm, spec, owner)
    with crm.engine.connect() as connection:
        ctx = context(crm, owner)
        everything = [row.id for row in fetch_rows(connection, ctx, "account",
                                                   QuerySpec(search=words, sort=("-id",), limit=500))]
    expected = [everything[:limit + 1], everything[limit:2 * limit + 1]] if everything else [[], []]
    assert pages == expected
    if crm.engine.dialect.name == "sqlite":
        variants = [{"SHORT_WALKED": 2, "OWNER_WALKED": 2}, {"PROBED": 1, "OWNER_PROBED": 1},
                    {"short_prefix": lambda _match: False}]
    else:
        variants = [{"WALKED": 2}, {"COMMON_SHARE": -1.0},
                    {"unknown_short_prefix": lambda _connection, _match: True, "INDEX_WALKED": 3}]
    for variant in variants:
        with monkeypatch.context() as patched:
            for name, value in variant.items():
                patched.setattr(search_pages, name, value)
            assert _pages(crm, spec, owner) == pages, variant


def test_sqlite_walks_a_reps_records_for_a_short_prefix_only_when_it_is_common_among_their_newest(
        crm, plan_reader, monkeypatch):
    """SQLite: a rep's records are scattered, so walking them costs more per record than FTS5 per match, and FTS5's
    cost grows with the prefix's matches: "1" (held by 10 of rep 2's newest 50 here) is walked when that share is
    above COMMON_SHARE, and read from FTS5 when it is not; the page is the same."""
    if crm.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's plan")
    monkeypatch.setattr(search_pages, "OWNER_PROBED", 50)
    spec = QuerySpec(search="1", limit=3)
    pages = []
    for share, walked in [(0.1, True), (0.3, False)]:
        monkeypatch.setattr(search_pages, "COMMON_SHARE", share)
        with plan_reader(crm.engine).reads() as seen:
            pages.append(_pages(crm, spec, 2))
        statements = [statement for statement, _ in seen]
        assert any("AS probed" in statement for statement in statements), statements
        assert any(_fts5_reads(statement) for statement in statements) != walked, (share, statements)
    assert pages[0] == pages[1] and len(pages[0][0]) == 4


def _reads_rare_part(statement: str) -> bool:
    """Whether a statement reads the ids of a search's rare part alone (search_pages.py `_rare_part_matches`)."""
    return "rare_part AS MATERIALIZED" in statement


def _reads_every_match_of_the_search(statement: str) -> bool:
    """Whether a statement reads every match of the whole search from the GIN index (not of its rare part alone)."""
    return _reads_every_match(statement) and not _reads_rare_part(statement)


@pytest.mark.parametrize("owner", [None, 2])
@pytest.mark.parametrize(("words", "limit"), [("wonka 39", 2), ("wonka 3", 3), ("wonka 1 zq", 2)])
def test_a_common_word_beside_a_rare_prefix_reads_the_rare_part_first_and_finds_the_same_pages(
        crm, plan_reader, analyzed, monkeypatch, owner, words, limit):
    """PostgreSQL: a bitmap of "wonka zo" reads every search row holding "wonka", which the statistics know to be
    common, however few hold "zo" (a prefix they know nothing of, held by few of the newest search rows). The ids of
    the rare part alone are read first (at most RARE_PART + 1 of them: "39" starts 11 of the accounts' numbers here,
    "zq" none), their search rows are tested against every word, newest first, and the page is read among those that
    match: no statement reads every match of the whole search, and the first and keyset pages, an administrator's and
    a rep's, are those the search gives read as a whole."""
    spec = QuerySpec(search=words, limit=limit)
    with plan_reader(crm.engine).reads() as seen:
        pages = _pages(crm, spec, owner)
    statements = [statement for statement, _ in seen]
    assert any(_reads_rare_part(statement) for statement in statements), statements
    assert not any(_reads_every_match_of_the_search(statement) for statement in statements), statements
    monkeypatch.setattr(search_parts, "RARE_PART", -1)  # no part is rare: the search as a whole
    with plan_reader(crm.engine).reads() as seen:
        assert _pages(crm, spec, owner) == pages
    assert not any(_reads_rare_part(statement) for statement, _ in seen)
    with crm.engine.connect() as connection:
        everything = [row.id for row in fetch_rows(connection, context(crm, owner), "account",
                                                   QuerySpec(search=words, sort=("-id",), limit=500))]
    assert pages == ([everything[:limit + 1], everything[limit:2 * limit + 1]] if everything else [[], []])
    assert bool(everything) == (words != "wonka 1 zq")


@pytest.mark.parametrize("owner", [None, 2])
def test_a_common_word_beside_a_common_prefix_is_read_as_a_whole(crm, plan_reader, analyzed, monkeypatch, owner):
    """PostgreSQL: "1" starts 111 of the 400 accounts' numbers here, more than RARE_PART (5) of the records (found by
    its share of the newest search rows): the rare part is not read, and the page is read as before. When that share
    is wrong (too few of the newest rows hold it), the bounded read of its ids finds RARE_PART + 1 of them and the
    page is read as before too (the wrong guess costs that read); the pages are the same."""
    monkeypatch.setattr(search_parts, "RARE_PART", 5)
    spec = QuerySpec(search="wonka 1", limit=3)
    with plan_reader(crm.engine).reads() as seen:
        pages = _pages(crm, spec, owner)
    assert not any(_reads_rare_part(statement) for statement, _ in seen), [statement for statement, _ in seen]
    monkeypatch.setattr(search_parts, "probed_shares", lambda _connection, matches, _probed: [0.0] * len(matches))
    with plan_reader(crm.engine).reads() as seen:
        assert _pages(crm, spec, owner) == pages
    rare_reads = [parameters for statement, parameters in seen if _reads_rare_part(statement)]
    assert rare_reads, [statement for statement, _ in seen]
    assert len(pages[0]) == 4 and pages[0] == sorted(pages[0], reverse=True) and max(pages[1]) < min(pages[0][:3])


def test_a_search_without_a_common_word_does_not_read_a_part_first(crm, plan_reader, analyzed, monkeypatch):
    """PostgreSQL: a bitmap of words the statistics know none of to be common is cheap: read as a whole, without
    asking the newest rows whether a part of it is rare."""
    def unasked(*_arguments):
        raise AssertionError("the newest rows were asked about a part")

    monkeypatch.setattr(search_parts, "probed_shares", unasked)
    with plan_reader(crm.engine).reads() as seen:
        assert _owned_page(crm, QuerySpec(search="39 3", limit=2), None)
    assert not any(_reads_rare_part(statement) for statement, _ in seen)


@pytest.mark.parametrize("owner", [None, 2])
@pytest.mark.parametrize("words", ["wonka 39", "wonka 1 zq"])
def test_a_sorted_search_finds_its_matches_among_the_rare_parts_ids(crm, plan_reader, analyzed, monkeypatch, owner,
                                                                    words):
    """PostgreSQL, a search sorted by name: the ids it matches are found among those of its rare part (search_parts.py),
    not from a bitmap of every row holding "wonka"; the first and keyset pages by name are those of the search read
    as a whole."""
    def pages() -> list[list[int]]:
        ctx, spec = context(crm, owner), QuerySpec(search=words, sort=("name",), limit=2)
        with crm.engine.connect() as connection:
            first = fetch_rows(connection, ctx, "account", spec)
            if len(first) <= spec.limit:
                return [[row.id for row in first]]
            after = page_cursor(ctx, "account", ("name", "id"), first[spec.limit - 1]._mapping)
            second = fetch_rows(connection, ctx, "account", QuerySpec(search=words, sort=("name",), limit=2,
                                                                      after=after))
        return [[row.id for row in first], [row.id for row in second]]

    with plan_reader(crm.engine).reads() as seen:
        found = pages()
    statements = [statement for statement, _ in seen]
    assert any(_reads_rare_part(statement) for statement in statements), statements
    assert not any(_reads_every_match_of_the_search(statement) for statement in statements), statements
    monkeypatch.setattr(search_parts, "RARE_PART", -1)
    assert pages() == found
    assert (len(found) == 2) == (words == "wonka 39" and owner is None)


@pytest.mark.parametrize("owner", [None, 2])
@pytest.mark.parametrize("words", ["wonka 39", "wonka 1 zq"])
def test_a_count_of_a_search_with_a_rare_part_is_counted_among_its_ids(crm, plan_reader, analyzed, monkeypatch, owner,
                                                                      words):
    """PostgreSQL: the list page's count of "wonka zo" reads the ids of "zo" alone, not every row holding "wonka";
    the count is the one the search read as a whole gives."""
    from crmkit.engine.query import count_records

    def counted() -> int:
        with crm.engine.connect() as connection:
            return count_records(connection, context(crm, owner), "account", QuerySpec(search=words)).value

    with plan_reader(crm.engine).reads() as seen:
        count = counted()
    statements = [statement for statement, _ in seen]
    assert any(_reads_rare_part(statement) for statement in statements), statements
    assert not any("IN (SELECT id FROM crmkit_account_search WHERE" in statement for statement in statements)
    monkeypatch.setattr(search_parts, "RARE_PART", -1)
    monkeypatch.setattr("crmkit.engine.query.counting.walked_count", lambda *_arguments: None)  # the index alone
    with plan_reader(crm.engine).reads() as seen:
        assert counted() == count
    assert any("IN (SELECT id FROM crmkit_account_search WHERE" in statement for statement, _ in seen)
    assert (count > 0) == (words == "wonka 39")
