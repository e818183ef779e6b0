"""Prefix tokens (query/tokens.py): the first one and two characters of each Latin word or number are indexed as
exact tokens of their own, and a search word of one or two characters asks for that token instead of a prefix scan.
Every way a search is read finds the same records as the prefix rule finds: the words of a record's field starting
with the word typed, case ignored beyond A-Z."""
from __future__ import annotations

import sys

import pytest

from crmkit.engine.query import search, search_index, search_pages, search_statistics, tokens
from crmkit.engine.query.search import search_terms
from crmkit.engine.query.tokens import PREFIX_MARK, index_form, index_tokens, normalise, query_tokens
from crmkit.engine.records.global_search import search_by_object, search_objects

NAMES = ["Wonka Zeta", "Wonka Industries", "Wonka 12 Trading", "zebra", "Ab12 Holdings", "ab", "A", "Bab",
         "1st Street", "12 Monkeys", "123", "Zürich AG", "ÄBC Markt", "äbc", "Ænima", "Straße 9", "SS Line",
         "Σίσυφος", "σοφία", "İstanbul", "istanbul", "ＺＥＮ Works", "张伟", "王伟 Wonka", "Ǆemal", "ﬁne art",
         "Ωmega 7", "x", "9z", "z9", "Café Ab", "Cafe ab12"]
QUERIES = ["wonka z", "a", "ab", "1", "12", "Ab12", "AB12", "z", "Z", "zh", "zw", "wonka 1", "z 1", "Ä", "ä", "äb",
           "Σ", "ς", "σο", "İ", "i", "is", "ｚ", "ｚｅ", "ze", "ß", "ss", "st", "ﬁ", "fi", "ǆ", "dž", "ω", "x", "9",
           "9z", "z9", "caf", "ca", "é", "w 伟", "a b", "pz", PREFIX_MARK + "z"]


def old_rule(value: str | None, term) -> bool:
    """Whether a field's value matches a term by the prefix rule the index held before prefix tokens."""
    held = [token for token in index_tokens(value) if not token.startswith(PREFIX_MARK)]
    return all(any(word.startswith(token) for word in held) if prefix else token in held for token, prefix in term)


def expected(records, fields, text: str) -> set[int]:
    return {record.id for record in records
            if all(any(old_rule(record[name], term) for name in fields) for term in search_terms(text))}


def test_prefix_tokens_are_indexed_beside_each_word_and_pinyin_word():
    assert index_tokens("Wonka Z 12") == ["wonka", "ᵖw", "ᵖwo", "z", "ᵖz", "12", "ᵖ1", "ᵖ12"]
    assert "ᵖz" in index_tokens("张伟") and "ᵖzw" in index_tokens("张伟")  # zhangwei, zw
    assert index_tokens("ÄBC ＺＥＮ") == ["äbc", "ᵖä", "ᵖäb", "zen", "ᵖz", "ᵖze"]
    assert [token for token in index_tokens("上海") if len(token) == 1] == ["上", "海"]  # CJK: characters and pairs


def test_a_short_word_asks_for_its_prefix_token_a_longer_one_for_a_prefix():
    assert [index_form(*token) for token in query_tokens("Ab12")] == [("ᵖab", False), ("ᵖ12", False)]
    assert [index_form(*token) for token in query_tokens("wonka")] == [("wonka", True)]
    assert [index_form(*token) for token in query_tokens("上海")] == [("上海", False)]
    assert query_tokens(PREFIX_MARK + "z") == [("pz", True)]  # the mark typed is the letter p: no token is named
    assert search.tsquery_text((("wonka", True), ("z", True))) == "'wonka':* & 'ᵖz'"
    assert search.fts5_query(("f",), ((("z", True),),)) == '({f} : "ᵖz")'


def test_no_normalised_text_holds_the_prefix_mark():
    assert PREFIX_MARK.isalpha() and normalise(PREFIX_MARK) == "p"
    assert not [code for code in range(sys.maxunicode + 1) if not 0xD800 <= code <= 0xDFFF
                and PREFIX_MARK in normalise(chr(code))]


def test_a_word_is_kept_with_its_prefix_tokens_or_not_at_all(monkeypatch):
    monkeypatch.setattr(tokens, "MAX_TOKENS", 4)
    assert index_tokens("acme bolt") == ["acme", "ᵖa", "ᵖac"]  # bolt and its 2 prefixes would make 6
    assert index_tokens("acme acorn") == ["acme", "ᵖa", "ᵖac", "acorn"]  # acorn adds itself alone: its prefixes are held
    monkeypatch.setattr(tokens, "MAX_TOKENS", 20_000)
    monkeypatch.setattr(tokens, "MAX_TOKEN_BYTES", len(" acme ᵖa ᵖac".encode()))
    assert index_tokens("acme bolt") == ["acme", "ᵖa", "ᵖac"]


PLANS = {"as planned": {}, "index": {"short_prefix": lambda _match: False},
         "walked": {"SHORT_WALKED": 2, "OWNER_WALKED": 2, "WALKED": 2, "unknown_short_prefix": lambda *_: True},
         "each way to give terms columns": {"search.ASSIGNMENTS": 10_000, "statistics.WAYS_SHARE": 0.0},
         "each term in any column": {"search.ASSIGNMENTS": 0}}


@pytest.fixture
def accounts(crm, probe):
    records = probe.records("account")
    for name in NAMES:
        records.create({"name": name, "notes": "plain"})
    return records


@pytest.mark.parametrize("plan", list(PLANS))
def test_short_words_find_the_records_the_prefix_rule_finds_on_every_path(crm, accounts, monkeypatch, plan):
    for name, value in PLANS[plan].items():
        module, _dot, attribute = name.rpartition(".")
        monkeypatch.setattr({"search": search, "statistics": search_statistics, "": search_pages}[module], attribute, value)
    every = accounts.query(limit=1000).records
    fields = search_index.indexed_fields(crm.runtime.registry, crm.runtime.field_types,
                                         crm.runtime.registry.object("account"))
    system = crm.as_system()
    for text in QUERIES:
        wanted = expected(every, fields, text)
        assert {record.id for record in accounts.query(search=text, limit=1000).records} == wanted, text
        assert {record.id for record in accounts.query(search=text, sort=("name",), limit=1000).records} == wanted
        ids, cursor = [], None
        while True:  # newest first, keyset page after page
            page = accounts.query(search=text, limit=3, after=cursor)
            ids += [record.id for record in page.records]
            if (cursor := page.next_cursor) is None:
                break
        assert ids == sorted(wanted, reverse=True), text
        assert accounts.count(search=text, exact=True).value == len(wanted), text
        assert {record_id for record_id, _title in accounts.suggest(text, limit=100)} == wanted, text
        hits = {hit.id for hit in search_objects(system, text, ["account"], limit=100)}
        assert hits == wanted, text
        groups = search_by_object(system, text, ["account"], per_object=100)
        assert {hit.id for group in groups for hit in group.hits} == wanted, text


def test_a_record_read_row_by_row_is_tested_for_the_prefix_token(crm, accounts, monkeypatch):
    """A search with many matches is tested on each row read (search.py `planned_search`): the same records."""
    monkeypatch.setattr(search, "FEW_MATCHES", 0)
    monkeypatch.setattr(search, "FEW_MATCHES_SQLITE", 0)
    every = accounts.query(limit=1000).records
    for text in ["wonka z", "a", "ab12", "ä", "1", "z 9"]:
        wanted = expected(every, ("name", "notes", "secret"), text)
        found = accounts.query(search=text, sort=("name",), filter={"notes": "plain"}, limit=1000).records
        assert {record.id for record in found} == wanted, text



def test_postgresql_asks_the_gin_index_each_way_to_give_the_terms_fields(crm, accounts, plan_reader, monkeypatch):
    """PostgreSQL: with a term the statistics know to be common, a page's index read is the OR of each way to give
    the terms fields (`name @@ (q0 && q1) OR (name @@ q0 AND notes @@ q1) ...`); the page is the same."""
    if crm.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's GIN index")
    before = [record.id for record in accounts.query(search="wonka z", limit=5).records]
    monkeypatch.setattr(search_statistics, "WAYS_SHARE", 0.0)  # a small table's statistics know nothing
    monkeypatch.setattr(search, "ASSIGNMENTS", 9)  # 3 fields, 2 terms
    crm.engine.clear_compiled_cache()
    with plan_reader(crm.engine).reads() as seen:
        after = [record.id for record in accounts.query(search="wonka z", limit=5).records]
    assert after == before and len(after) == 1
    asked = [statement for statement, _ in seen if "crmkit_account_search" in statement and " && " in statement]
    assert asked and asked[0].count(" @@ ") == 3 + 6 * 2, asked  # 3 fields with both terms, 6 ways with one each
