"""A search of words each common alone but rare together ("zhang wonka", "li industries") is found among the few
ids of its coarse match (query/search_parts.py `coarse_part`): each long prefix asked as its prefix token of two
characters ('ᵖzh'), or as its one word, exact keys the GIN index intersects inside the index. The coarse match holds
every row the search matches, so every page, count, suggestion and global search is the one the search read as a
whole gives, for an administrator and a sales rep, with a filter and without; only PostgreSQL reads it so."""
from __future__ import annotations

import re

import pytest

from crmkit.engine.query import search, search_parts, search_statistics, search_words
from crmkit.engine.query.tokens import PREFIX_MARK, SHORT_PREFIX, index_tokens

#: Every account's name: "zhang" and "wonka" each start many names here, together few; so do "li" and "industries".
NAMES = [*(f"Zhang{given} Keji {number}" for number, given in enumerate(["wei", "fang", "min", "li", "na"] * 3)),
         *(f"Wonka Systems {number}" for number in range(12)),
         *(f"Li{given} Trading" for given in ["ming", "na", "qiang", "ping"] * 2),
         *(f"Acme Industries {number}" for number in range(8)),
         "Zhangfei Wonka", "Wonka Zhangjiang", "Lihua Industries", "Wonka 12 Zoo", "Wang 12", "Umbrella"]
QUERIES = ["zhang wonka", "li industries", "wonka zhangj", "zhang 12", "wonka 12", "zhangfei wonka", "wonka industries",
           "zhang keji", "zhang xyzzy", "wonka"]
#: The rep owns these and every third account (their private sharing shows them no other).
REP_OWNS = {"Zhangfei Wonka", "Lihua Industries"}


@pytest.fixture
def accounts(crm, probe, users):
    """The accounts, rep1 owning some of them."""
    rep = crm.as_user(users["rep1"]).records("account")
    for number, name in enumerate(NAMES):
        (rep if number % 3 == 0 or name in REP_OWNS else probe.records("account")).create(
            {"name": name, "notes": "plain" if number % 2 else "other"})
    search_statistics.forget_statistics()
    yield
    search_statistics.forget_statistics()


@pytest.fixture
def coarse(crm, monkeypatch):
    """PostgreSQL as at a million accounts: each of a search's terms known to be held by 5% of them (costly, none a
    rare part), its prefixes asked as the words they start; None on SQLite."""
    if crm.engine.dialect.name != "postgresql":
        return None
    monkeypatch.setattr(search_parts, "known_term_shares",
                        lambda _connection, match: (1_000_000.0, tuple(0.05 for _term in match.terms)))
    monkeypatch.setattr(search_words, "WORDS_FROM", -2)
    for module in (search, search_parts):  # three fields, two terms: nine ways to give the terms fields
        monkeypatch.setattr(module, "ASSIGNMENTS", 9)
    return True


def _everything(crm, user: int | None, text: str) -> tuple:
    """What a user is shown for a search: keyset pages newest first, a page by name, a filtered page, the exact and
    capped counts, the lookup's suggestions and global search's hits with their count."""
    context = crm.as_system() if user is None else crm.as_user(user)
    records = context.records("account")
    pages, cursor = [], None
    while True:
        page = records.query(search=text, limit=2, after=cursor)
        pages.append([record.id for record in page.records])
        if (cursor := page.next_cursor) is None:
            break
    capped = records.count(search=text, cap=2)
    found = (pages,
             [record.id for record in records.query(search=text, sort=("name",), limit=100).records],
             [record.id for record in records.query(search=text, filter={"notes": "plain"}, limit=100).records],
             records.count(search=text, exact=True).value, capped.value if capped.exact else "more",
             records.count(search=text, filter={"notes": "plain"}).value,
             [record_id for record_id, _title in records.suggest(text, limit=100)])
    if user is None:
        return found
    hits = [(group.object, group.count.value, [hit.id for hit in group.hits])
            for group in context.search_by_object(text, objects=["account"], per_object=100)]
    return (*found, hits)


def _coarse_reads(seen) -> list:
    return [parameters for statement, parameters in seen if "rare_part AS MATERIALIZED" in statement]


@pytest.mark.parametrize("who", ["admin", "rep1"])
def test_a_search_rare_together_finds_what_the_search_read_as_a_whole_finds(crm, accounts, users, coarse, plan_reader,
                                                                           monkeypatch, who):
    user = users[who]
    with plan_reader(crm.engine).reads() as seen:
        found = {text: _everything(crm, user, text) for text in QUERIES}
    every = [record.id for record in crm.as_user(user).records("account").query(search="zhang wonka", limit=100).records]
    names = {record.id: record["name"] for record in crm.as_system().records("account").query(limit=100).records}
    expected = ["Wonka Zhangjiang", "Zhangfei Wonka"] if who == "admin" else ["Zhangfei Wonka"]
    assert sorted(names[record_id] for record_id in every) == expected
    assert found["zhang xyzzy"][3] == 0 and found["wonka"][3] and found["li industries"][3] == 1
    if coarse:
        asked = {value for parameters in _coarse_reads(seen) for value in dict(parameters).values()}
        assert {f"'{PREFIX_MARK}zh'", "('wonka')", f"'{PREFIX_MARK}li'", "('industries')"} <= asked, asked  # 'ᵖzh' & 'wonka', 'ᵖli' & ...
    monkeypatch.setattr(search_parts, "coarse_part", lambda *_arguments, **_options: None)  # the search as a whole
    with plan_reader(crm.engine).reads() as seen:
        for text in QUERIES:
            assert _everything(crm, user, text) == found[text], text
    assert not _coarse_reads(seen)


def test_the_coarse_match_is_read_instead_of_every_match_of_the_search(crm, accounts, users, coarse, plan_reader):
    """'zhang':* starts five words here (eighteen at a million accounts): their OR beside "wonka" reads each word's
    rows into a bitmap first. The coarse match's ids are read, their rows tested: no bitmap of the whole search."""
    if not coarse:
        pytest.skip("PostgreSQL's GIN index")
    records = crm.as_system().records("account")
    with plan_reader(crm.engine).reads() as seen:
        assert [record["name"] for record in records.query(search="zhang wonka", limit=10).records] == [
            "Wonka Zhangjiang", "Zhangfei Wonka"]
        assert records.count(search="zhang wonka").value == 2
        assert [record["name"] for record in records.query(search="zhang wonka", sort=("name",), limit=10).records] \
            == ["Wonka Zhangjiang", "Zhangfei Wonka"]
    statements = [statement for statement, _ in seen]
    assert len(_coarse_reads(seen)) == 3, statements
    assert not [statement for statement in statements if "found AS MATERIALIZED" in statement
                or statement.startswith("SELECT id FROM crmkit_account_search WHERE")
                or "IN (SELECT id FROM crmkit_account_search WHERE" in statement], statements


def test_a_coarse_match_the_newest_rows_hold_often_is_not_read(crm, accounts, users, coarse, plan_reader,
                                                              monkeypatch):
    """"zhang keji": every "zhang" name here holds "keji", so the newest rows hold 'ᵖzh' & 'keji' often: the search
    is read as before. So is a search over more fields than the GIN index can be asked for each way to give them
    its terms (the coarse match's bitmap of 'ᵖzh' would be built whole). A coarse match that holds more ids than
    RARE_PART after all costs its bounded read, and the search is read as a whole after it."""
    if not coarse:
        pytest.skip("PostgreSQL's GIN index")
    records = crm.as_system().records("account")
    with plan_reader(crm.engine).reads() as seen:
        assert len(records.query(search="zhang keji", limit=50).records) == 15
    assert not _coarse_reads(seen)
    monkeypatch.setattr(search_parts, "ASSIGNMENTS", 8)
    with plan_reader(crm.engine).reads() as seen:
        assert len(records.query(search="zhang wonka", limit=50).records) == 2
    assert not _coarse_reads(seen)
    monkeypatch.setattr(search_parts, "ASSIGNMENTS", 9)
    monkeypatch.setattr(search_parts, "RARE_PART", 1)
    monkeypatch.setattr(search_parts, "probed_shares", lambda _connection, matches, _probed: [0.0] * len(matches))
    with plan_reader(crm.engine).reads() as seen:
        assert len(records.query(search="zhang keji", limit=50).records) == 15
        assert [record["name"] for record in records.query(search="zhang wonka", limit=10).records] == [
            "Wonka Zhangjiang", "Zhangfei Wonka"]
    assert len(_coarse_reads(seen)) == 2


@pytest.mark.parametrize("text", ["Zhangwei Wonka Industries", "Москва Санкт-Петербург", "Αθήνα Θεσσαλονίκη",
                                  "नमस्ते दुनिया", "Straße Ärger", "ＡＢＣＤ ｗｏｎｋａ", "12345 9876", "张伟 北京科技",
                                  "Ἀθῆναι İstanbul"])
def test_every_word_a_long_prefix_can_start_is_indexed_with_its_two_character_prefix_token(text):
    """The coarse match asks a prefix of more than SHORT_PREFIX characters as its prefix token: it holds every row
    the search holds only because each indexed word (Latin or not, a number, a pinyin word) that such a prefix can
    start is indexed with it. Chinese characters and their pairs are no prefix's start (a search term of them is
    asked as exact pairs, kept as they are)."""
    tokens = index_tokens(text)
    words = [token for token in tokens if not token.startswith(PREFIX_MARK)]
    assert words
    for word in words:
        if all("\u4e00" <= character <= "\u9fff" for character in word):
            continue  # CJK characters and pairs: asked exactly
        assert PREFIX_MARK + word[:SHORT_PREFIX] in tokens, (word, tokens)


def test_global_search_asks_an_objects_index_for_the_words_its_prefixes_start(crm, accounts, users, plan_reader,
                                                                             monkeypatch):
    """PostgreSQL: global search asks an object's index whether it holds a match with each prefix asked as the words
    it starts, as the object's page and count ask it (query/search_words.py): exact keys; a prefix that starts no
    indexed word holds no match, and that object's index is not asked."""
    if crm.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's word list")
    monkeypatch.setattr(search_words, "WORDS_FROM", -2)
    admin = crm.as_user(users["admin"])
    with plan_reader(crm.engine).reads() as seen:
        assert [hit.title for group in admin.search_by_object("zhangfe wonk", objects=["account", "lead"])
                for hit in group.hits] == ["Zhangfei Wonka"]
    held = [parameters for statement, parameters in seen if "found_0 AS MATERIALIZED" in statement]
    assert held and "('zhangfei')" in dict(held[0]).values(), held
    with plan_reader(crm.engine).reads() as seen:
        assert admin.search_by_object("zhangq wonka", objects=["account"]) == []
    assert not [statement for statement, _ in seen if re.search(r"crmkit_account_search(?!_words)", statement)], seen
