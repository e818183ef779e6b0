"""PostgreSQL: a search's prefixes asked as the words they start (query/search_words.py), from the word list each
search table keeps (query/search_index.py). Every plan finds what the plain search finds; the list is kept by every
write and built by the migration."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from crmkit.engine.query import search, search_pages, search_statistics, search_words
from crmkit.engine.query.search_index import SearchIndex, listed, upgrade_search_words, words_table_name
from crmkit.engine.query.tokens import index_tokens

NAMES = ["Wonka Zeta", "Wonka Industries", "Wonkas 12", "Wonkavision Keji", "zebra Keji", "Keji Industries",
         "Umbrella Zone", "Umbrella Systems", "张伟 Wonka", "Zhangwei Keji", "科技 Umbrella", "Industrial Zoo",
         "Systems 12", "Acme", "Zorb"]
QUERIES = ["wonka z", "wonka", "wonk", "wonkav", "keji wonka", "industr z", "umbrella z", "zhang wonka", "科技 umb",
           "systems 12", "wonka zo", "xyzzy", "wonka xyzzy", "zor", "keji indus", "won kej 12", "zhangwei"]
#: Patches per plan: "words" asks prefixes as words on the small test table; "words, one each" keeps the prefixes
#: of more than one word; "words, walked" has the statistics say the newest rows hold a page.
PLANS = {"plain": {}, "words": {"WORDS_FROM": -2}, "words, one each": {"WORDS_FROM": -2, "MOST_WORDS": 1},
         "words, walked": {"WORDS_FROM": -2, "pages._index_walk_fills": lambda *_: True}}


@pytest.fixture
def accounts(crm, probe):
    if crm.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's word list")
    records = probe.records("account")
    for number, name in enumerate(NAMES):
        records.create({"name": name, "notes": "plain" if number % 2 else "other"})
    search_statistics.forget_statistics()
    yield records
    search_statistics.forget_statistics()


def _plan(monkeypatch, plan: str) -> None:
    for name, value in PLANS[plan].items():
        module, _dot, attribute = name.rpartition(".")
        monkeypatch.setattr(search_pages if module == "pages" else search_words, attribute, value)


def _found(records, text: str) -> tuple:
    pages, cursor = [], None
    while True:  # newest first, keyset page after page
        page = records.query(search=text, limit=2, after=cursor)
        pages += [record.id for record in page.records]
        if (cursor := page.next_cursor) is None:
            break
    return (pages,
            [record.id for record in records.query(search=text, limit=100).records],
            [record.id for record in records.query(search=text, sort=("name",), limit=100).records],
            [record.id for record in records.query(search=text, filter={"notes": "plain"}, limit=100).records],
            records.count(search=text, exact=True).value, _capped(records.count(search=text, cap=2)),
            [record_id for record_id, _title in records.suggest(text, limit=100)])


def _capped(count) -> int | str:
    return count.value if count.exact else "more"  # beyond the cap: the planner's estimate of the statement, or the cap


@pytest.mark.parametrize("plan", [plan for plan in PLANS if plan != "plain"])
def test_prefixes_asked_as_words_find_what_the_plain_search_finds(accounts, monkeypatch, plan):
    plain = {query: _found(accounts, query) for query in QUERIES}
    assert plain["wonka"][1] and not plain["xyzzy"][1] and plain["zhang wonka"][1]
    _plan(monkeypatch, plan)
    for query in QUERIES:
        assert _found(accounts, query) == plain[query], query


def test_the_index_is_asked_for_the_words_a_prefix_starts(crm, accounts, plan_reader, monkeypatch):
    """'wonka':* is asked as ('wonka' | 'wonkas' | 'wonkavision'), and the terms' index read as each way to give
    them fields (exact keys the GIN index intersects); a prefix no word starts reads no search row."""
    _plan(monkeypatch, "words")
    monkeypatch.setattr(search, "ASSIGNMENTS", 9)  # 3 fields, 2 terms
    crm.engine.clear_compiled_cache()
    with plan_reader(crm.engine).reads() as seen:
        found = accounts.query(search="wonka keji", limit=10).records
    assert [record["name"] for record in found] == ["Wonkavision Keji"]
    asked = [parameters for statement, parameters in seen if "crmkit_account_search " in statement + " "]
    values = {value for parameters in asked for value in dict(parameters).values() if isinstance(value, str)}
    assert "('wonka' | 'wonkas' | 'wonkavision')" in values and "('keji')" in values, values
    read = [statement for statement, _ in seen if "MATERIALIZED" in statement and "crmkit_account_search" in statement]
    assert read and all(" && " in statement for statement in read), read
    with plan_reader(crm.engine).reads() as seen:
        assert not accounts.query(search="wonka xyzzy", limit=10).records
        assert accounts.count(search="wonka xyzzy").value == 0
    assert not [statement for statement, _ in seen if "FROM crmkit_account_search" in statement], seen


def test_a_walk_the_newest_rows_do_not_promise_is_not_read(crm, accounts, plan_reader, monkeypatch):
    """The statistics say the newest rows hold a page of "umbrella z" (each word common alone); the newest rows
    hold none of it together: the walk of the search table is left out, the page read from the index."""
    _plan(monkeypatch, "words, walked")
    monkeypatch.setattr(search_pages, "PROBED", 3)  # the three newest: "Systems 12", "Acme", "Zorb"
    with plan_reader(crm.engine).reads() as seen:
        found = accounts.query(search="umbrella z", limit=10).records
    assert [record["name"] for record in found] == ["Umbrella Zone"]
    assert not [statement for statement, _ in seen if "AS recent" in statement], seen
    with plan_reader(crm.engine).reads() as seen:  # "zorb" is among them: walked
        assert [record["name"] for record in accounts.query(search="zorb zo", limit=10).records] == ["Zorb"]
    assert [statement for statement, _ in seen if "AS recent" in statement]


def _words(crm) -> set[str]:
    with crm.engine.connect() as connection:
        return set(connection.execute(text(f'SELECT word FROM "{words_table_name("crmkit_account_search")}"')).scalars())


def test_every_write_keeps_the_word_list_and_the_upgrade_builds_it(crm, accounts, monkeypatch):
    accounts.create({"name": "Quixotic Zephyr 42", "notes": "Marvelous"})
    accounts.bulk_create([{"name": f"Bulk{word} Yonder"} for word in ("alpha", "beta", "gamma")])
    changed = accounts.query(search="acme", limit=1).records[0]
    accounts.update(changed.id, {"name": "Acme Refurbished"}, version=changed.version)
    held = _words(crm)
    assert {"quixotic", "zephyr", "marvelous", "bulkalpha", "bulkgamma", "yonder", "refurbished", "wonkavision",
            "zhangwei"} <= held
    assert not {word for word in held if not listed(word)}  # no prefix token, number or word of two characters
    every = {token for record in accounts.query(limit=1000).records for name in ("name", "notes", "secret")
             for token in index_tokens(record[name]) if listed(token)}
    assert held == every  # no update has removed a word yet
    _plan(monkeypatch, "words")
    assert [record["name"] for record in accounts.query(search="refurb acm", limit=10).records] == ["Acme Refurbished"]
    index = SearchIndex.of(crm.runtime.registry, crm.runtime.field_types, "account")
    with crm.engine.begin() as connection:  # an index an older crmkit built has no word list
        connection.execute(text(f'DROP TABLE "{words_table_name(index.name)}"'))
        assert upgrade_search_words(connection, [index]) == ["account"]
        assert upgrade_search_words(connection, [index]) == []
    assert _words(crm) == held
