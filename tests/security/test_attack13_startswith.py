"""Attacks on `startswith` pages read as ranges of the sort field's index (query/prefix_ranges.py).

The oracle is the same filter read the usual way (`startswith_ranges` answering None): every
page, through every cursor, in both directions, for an administrator and for sales reps,
must hold exactly the same records. FEW_PREFIXED is lowered to 1 so that every prefix whose
spellings are known is read as ranges, on a small table of names chosen to sit near the
ranges' bounds: other alphabets' cases, the characters PostgreSQL's lower() folds to ASCII,
LIKE's own characters, the last code point, names equal to a bound, empty names.
"""
from __future__ import annotations

import base64
import gc
import json
import weakref
from datetime import datetime, timezone
from typing import Any, Iterator

import pytest
from sqlalchemy import insert

from crmkit.engine import Crm
from crmkit.engine.query import QuerySpec, fetch_rows, page_cursor, prefix_ranges as prefix_ranges_module
from crmkit.engine.query import QueryError, sort_keys, sorting
from crmkit.engine.query.inputs import UnsearchableText
from crmkit.engine.query.prefix_ranges import codepoint_collation, prefix_ranges
from tests.engine.test_page_plans import context

MOMENT = datetime(2024, 1, 1, tzinfo=timezone.utc)
NAMES = ("Wonka", "wonka", "WONKA", "Won\u212aa", "\u212aelvin", "kelvin", "KELVIN", "İstanbul", "istanbul",
         "ISTANBUL", "ıstanbul", "straße", "STRASSE", "ſtraße", "Σοφία", "σοφία", "ΣΟΦΊΑ", "ｗｏｎｋａ", "ﬁsh", "fish",
         "FISH", "e\u0301cole", "école", "ǅemal", "ǆemal", "Ꭰa", "ꭰa", "ა", "Ა", "😀 smile", "a%b", "a_b", "a\\b",
         "a/b", "a'b", 'a"b', "a//b", "a\U0010ffff", "\uf900x", "\u8c48x", " lead", "\tTab", "", "Z", "z", "[", "`",
         "{", "@", "北京", "ß", "ẞ", "A", "a", "ab", "AB", "Ab", "aB", "b", "B")
USERS = {"admin": {}, "rep": {"owner": 3}, "rep-with-shares": {"owner": 2, "shared": (5, 17, 40)}}


@pytest.fixture(scope="module")
def crm(module_database_url) -> Iterator[Crm]:
    instance = Crm.open(module_database_url)
    try:
        instance.install("default_crm")
        rows = [{"created_at": MOMENT, "updated_at": MOMENT, "version": 1, "owner_id": 1 + n % 5,
                 "industry": None if n % 3 else "Tech",
                 "name": None if n % 41 == 0 else NAMES[n % len(NAMES)] + ("" if n % 4 == 0 else f" {n % 7}")}
                for n in range(len(NAMES) * 9)]
        with instance.engine.begin() as connection:
            connection.execute(insert(instance.runtime.table("account")), rows)
        yield instance
    finally:
        instance.close()


@pytest.fixture
def ranges_read(monkeypatch) -> list[bool]:
    """Every prefix whose spellings are known is read as ranges; the list says, read by read, whether it was."""
    monkeypatch.setattr(prefix_ranges_module, "FEW_PREFIXED", 1)
    chosen: list[bool] = []
    real = sorting.startswith_ranges

    def spied(*args: Any, **kwargs: Any) -> Any:
        ranges = real(*args, **kwargs)
        chosen.append(ranges is not None)
        return ranges

    monkeypatch.setattr(sorting, "startswith_ranges", spied)
    return chosen


def every_page(crm: Crm, filter: Any, sort: tuple[str, ...], limit: int = 11, **users: Any) -> list[tuple[int, str]]:
    """(id, name) of every record, page after page through the cursors."""
    ctx = context(crm, **users)
    spec = QuerySpec(filter=filter, sort=sort, limit=limit)
    found: list[tuple[int, str]] = []
    with crm.engine.connect() as connection:
        while True:
            rows = fetch_rows(connection, ctx, "account", spec)
            found += [(row.id, row.name) for row in rows[:limit]]
            if len(rows) <= limit:
                return found
            spec = QuerySpec(filter=filter, sort=sort, limit=limit,
                             after=page_cursor(ctx, "account", sort, rows[limit - 1]._mapping))


def the_usual_way(crm: Crm, monkeypatch, filter: Any, sort: tuple[str, ...], **users: Any) -> list[tuple[int, str]]:
    with monkeypatch.context() as patch:
        patch.setattr(sorting, "startswith_ranges", lambda *args, **kwargs: None)
        return every_page(crm, filter, sort, limit=1000, **users)


@pytest.mark.parametrize("prefixes", [["a", "ab"], ["wonka", "WONKA", "won"], ["a", "a"], list("abcdefghijklmnop")],
                         ids=["a-and-ab", "wonka-WONKA-won", "twice", "sixteen-letters"])
@pytest.mark.parametrize("sort", [("name",), ("-name",)], ids=["ascending", "descending"])
@pytest.mark.parametrize("users", USERS.values(), ids=USERS.keys())
def test_prefixes_whose_ranges_overlap_list_each_record_once(crm, monkeypatch, ranges_read, prefixes, sort, users):
    """A list of prefixes where one starts another ("a", "ab"), or the same twice, or sixteen whose ranges are each
    bounded by the first letter's smallest and largest spelling ([A, b), [B, c), ...): the ranges overlap, and a
    record in two of them was listed twice on PostgreSQL (one LATERAL read of every range, no UNION to drop it)."""
    filter = {"name": {"startswith": prefixes}}
    expected = the_usual_way(crm, monkeypatch, filter, sort, **users)
    assert every_page(crm, filter, sort, **users) == expected
    assert ranges_read and all(ranges_read)


@pytest.mark.parametrize("prefixes", [["a", "ab"], ["wonka", "WONKA", "won"], ["a", "a"], list("abcdefghijklmnop"),
                                      ["k", "K"], ["ab", "b"]])
@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_the_ranges_of_several_prefixes_are_disjoint_and_ordered(dialect, prefixes):
    ranges = prefix_ranges(dialect, prefixes)
    assert ranges is not None and len(ranges) <= 16
    assert all(low < high for low, high in ranges)
    assert all(high <= next_low for (_, high), (next_low, _) in zip(ranges, ranges[1:])), ranges


@pytest.mark.parametrize("prefix", ["wonka\x00", "\x00", ["a", "b\x00"]], ids=["after-letters", "alone", "in-a-list"])
def test_a_nul_character_in_the_prefix_is_refused_by_the_condition_it_is_in(crm, ranges_read, prefix):
    """The count that chooses the ranges was run with the prefix before the filter was checked: PostgreSQL refused the
    NUL there, and the user was told only that "a value" holds it, not the condition on name, as SQLite says."""
    with crm.engine.connect() as connection, pytest.raises(UnsearchableText) as refused:
        fetch_rows(connection, context(crm), "account",
                   QuerySpec(filter={"name": {"startswith": prefix}}, sort=("name",), limit=5))
    assert "the condition on name contains a NUL character (U+0000)" in str(refused.value)


PREFIXES = ["wonka", "won", "k", "K", "\u212a", "kel", "i", "I", "İ", "ı", "s", "ſ", "stra", "fi", "ﬁ", "é", "E\u0301",
            "ǅ", "d", "Ꭰ", "ꭰ", "ა", "😀", "a%", "a_", "a\\", "a/", "a'", 'a"', "a/b", "a//", "%", "_", "\\", " ",
            "\t", "z", "Z", "[", "`", "{", "@", "北", "ß", "ẞ", "Ａ", "a\U0010ffff", "\U0010ffff", "a" * 30, "AbC",
            "wonka 1", "WONKA 1", "\uf900", "\u8c48"]
SORTS = [("name",), ("-name",), ("name", "-id"), ("-name", "industry"), ("name", "-industry")]


@pytest.mark.parametrize("prefix", PREFIXES, ids=[ascii(prefix) for prefix in PREFIXES])
def test_every_page_of_a_prefix_holds_what_the_usual_read_holds(crm, monkeypatch, ranges_read, prefix):
    """Names near the ranges' bounds, in every order with a nullable second key, for an admin and reps: a prefix
    with a character whose spellings are not known (ı, ſ, ﬁ, é, full-width, Cherokee, Georgian) is read the usual way,
    the others as ranges."""
    for sort in SORTS:
        for users in USERS.values():
            filter = {"name": {"startswith": prefix}}
            assert every_page(crm, filter, sort, **users) == the_usual_way(crm, monkeypatch, filter, sort, **users)


FILTERS = [
    {"and": [{"name": {"startswith": "a"}}, {"industry": "Tech"}]},
    {"name": {"startswith": "a", "ne": "ab"}},
    [{"name": {"startswith": "w"}}, {"not": {"name": {"startswith": "wonka"}}}],
    {"and": [[{"name": {"startswith": "a"}}]]},
    {"name": {"startswith": "a"}, "or": [{"industry": None}, {"name": "wonka"}]},
    {"name": {"startswith": "a"}, "not": {"name": {"startswith": "a"}}},
    {"and": [{"name": {"startswith": "a"}}, {"name": {"startswith": "ab"}}]},
    {"or": [{"name": {"startswith": "a"}}, {"name": {"startswith": "z"}}]},
    {"not": {"name": {"startswith": "a"}}},
    {"name": {"startswith": ["k", "\u212a"]}},
]


@pytest.mark.parametrize("filter", FILTERS, ids=[str(number) for number in range(len(FILTERS))])
def test_a_prefix_among_other_conditions_holds_what_the_usual_read_holds(crm, monkeypatch, ranges_read, filter):
    for sort in SORTS[:2]:
        for users in USERS.values():
            assert every_page(crm, filter, sort, **users) == the_usual_way(crm, monkeypatch, filter, sort, **users)


def test_a_closed_crm_s_engine_is_not_kept_alive_by_the_collation_it_was_asked(database_url):
    """codepoint_collation remembered its answer per engine in a module dict holding the engine itself: every Crm
    opened on PostgreSQL and read by a startswith page stayed in memory after close (its pool, its statement cache)."""
    instance = Crm.open(database_url)
    instance.install("default_crm")
    with instance.engine.connect() as connection:
        fetch_rows(connection, context(instance), "account",
                   QuerySpec(filter={"name": {"startswith": "wonka"}}, sort=("name",), limit=5))
    engine = weakref.ref(instance.engine)
    instance.close()
    del instance, connection
    gc.collect()
    assert engine() is None


def test_a_postgresql_database_whose_lower_does_not_fold_a_to_z_as_assumed_gets_no_ranges(database_url, monkeypatch):
    """A database ordering text by code point (LC_COLLATE C) may fold case by another locale (LC_CTYPE): a Turkish
    one lowers "I" to the dotless "ı", so "Iİ..." starts with "ı" there, in no range of its spellings. The check
    asks the database's lower() what it makes of A-Z; here it is asked for a fold no database makes ("I" to "ı")."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite's lower() folds A-Z only, always")
    instance = Crm.open(database_url)
    try:
        with instance.engine.connect() as connection:
            if not codepoint_collation(connection):
                pytest.skip("this PostgreSQL database does not order text by code point: the ranges are not read")
        monkeypatch.setattr(prefix_ranges_module, "_ASCII_FOLD", ("I", "\u0131"))
        monkeypatch.setattr(prefix_ranges_module, "_COLLATIONS", weakref.WeakKeyDictionary())
        with instance.engine.connect() as connection:
            assert not codepoint_collation(connection)
    finally:
        instance.close()


def crafted_cursor(texts: list[str], values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps({"s": texts, "v": values}).encode()).rstrip(b"=").decode()


CURSOR_NAMES = ["", "W", "WONKA", "WONKb", "wonkb", "wonka", "wonka\U0010ffff", "a" * 300, "WONKA" + "\U0010ffff" * 40,
                "\U0010ffff", " ", 5, 5.5, True, [], {}, "\ud800", "\x00"]
CURSOR_IDS = [0, 1, 10**18, -5, 2**63, "1", None, 1.5]


@pytest.mark.parametrize("sort", [("name",), ("-name",), ("-name", "industry")], ids=["ascending", "descending", "two"])
def test_a_cursor_crafted_by_hand_reads_the_page_the_usual_read_does_or_is_refused_alike(crm, monkeypatch, ranges_read,
                                                                                          sort):
    """Names at and beyond the ranges' bounds, too long for the column, of other types; ids out of range."""
    ctx = context(crm, owner=3)
    texts = [key.text for key in sort_keys(ctx, "account", sort)]

    def page(after: str) -> Any:
        try:
            with crm.engine.connect() as connection:
                return [row.id for row in fetch_rows(connection, ctx, "account", QuerySpec(
                    filter={"name": {"startswith": ["wonka", "a"]}}, sort=sort, limit=7, after=after))]
        except QueryError as refused:
            return str(refused)

    for name in CURSOR_NAMES:
        for record_id in CURSOR_IDS:
            after = crafted_cursor(texts, [name, *([None] * (len(texts) - 2)), record_id])
            with monkeypatch.context() as patch:
                patch.setattr(sorting, "startswith_ranges", lambda *args, **kwargs: None)
                usual = page(after)
            assert page(after) == usual, (name, record_id)
    assert any(ranges_read)
