"""What a search page shows of each hit: marked snippets (query/highlight.py), pinyin matches
(tokens.py `pinyin_spans`), and the hits of each object with its count (records/global_search.py
`search_by_object`), as field-level security allows."""
from __future__ import annotations

import pytest

from crmkit.engine.query.errors import QueryError
from crmkit.engine.query.highlight import highlight, holds_every_term, may_match
from crmkit.engine.query.search import search_terms
from crmkit.engine.query.tokens import normalise, pinyin_spans, pinyin_tokens, runs, spans
from crmkit.engine.records.global_search import too_short


def marked(text: str, search: str, **options) -> str:
    """The highlighted text with its marks written [like this]."""
    return "".join(f"[{piece}]" if mark else piece for piece, mark in highlight(text, search_terms(search),
                                                                                    **options).segments)


def test_words_are_marked_from_their_start_as_far_as_the_term_goes():
    assert marked("Acme Holdings Acmeville", "acm hold") == "[Acm]e [Hold]ings [Acm]eville"
    assert marked("ＡＣＭＥ Straße", "acme strass") == "[ＡＣＭＥ] [Straß]e"  # full width; ß is ss
    assert marked("Acme", "cme") == "Acme"  # not the middle of a word, as search itself


def test_chinese_is_marked_by_its_characters_and_its_pinyin():
    assert marked("北京星辰科技有限公司", "星辰科技") == "北京[星辰科技]有限公司"
    assert marked("张伟明", "zhangw") == "[张伟]明"
    assert marked("星辰科技", "xckj") == "[星辰科技]"
    assert marked("星辰科技", "keji") == "星辰[科技]"


def test_only_the_terms_a_text_matches_are_marked_and_a_pinyin_only_match_is_told():
    found = highlight("Acme 张伟", search_terms("acme zhang lin"))
    assert (found.terms, found.pinyin) == (frozenset({0, 1}), frozenset({1}))
    assert highlight("zhang 张伟", search_terms("zhang")).pinyin == frozenset()  # matched as a word too
    # A term's tokens must all be in the text: "ABC科技" is not marked in a text holding only ABC.
    assert marked("ABC Ltd", "ABC科技") == "ABC Ltd" and not highlight("ABC Ltd", search_terms("ABC科技")).terms


def test_a_long_text_is_cut_around_its_first_mark_and_spaces_are_folded():
    text = "word " * 40 + "Quokka\n\nsighting " + "more " * 40
    shown = marked(text, "quokka", width=60)
    assert shown.startswith("…") and shown.endswith("…") and "[Quokka] sighting" in shown
    assert len(shown.replace("[", "").replace("]", "")) == 62
    assert marked("short\ntext", "text", width=60) == "short [text]"


def test_pinyin_spans_match_exactly_where_the_indexed_pinyin_words_start_with_the_token():
    for run in ["张伟", "星辰科技", "单雄信", "何", "长城机械续约提醒"]:
        words = pinyin_tokens(run)
        for token in {word[:length] for word in words for length in range(1, len(word) + 1)} | {"q", "xyz", "keji"}:
            assert bool(pinyin_spans(run, token)) == any(word.startswith(token) for word in words), (run, token)
    assert pinyin_spans("单雄信", "dan") == [(0, 1)]  # a surname's other reading


def test_spans_are_the_runs_tokens_are_made_of_at_their_places_in_the_text_as_typed():
    for text in ["Acme 上海科技 ＡＢＣ123 é", "carol.young@acme-energy.com +86 138", "Straße ﬁle", "नमस्ते दुनिया",
                 "İstanbul", "e\u0301clair", ""]:
        assert [(kind, normalise(text[start:end])) for kind, start, end in spans(text)] == list(runs(text)), text


TEXTS = ["Acme Holdings 12345", "上海华创软件有限公司", "ÄRZTE GmbH", "张伟", "Zhang Wei 张伟", "ﬁne ＡＢＣ", "x-ray 2024"]
QUERIES = ["acme", "hold 123", "华创", "有限公司", "ärz", "zhang", "zw", "张", "fine abc", "ray 20", "xyz", "软件 acme",
           "shanghai", "上海 hua"]


@pytest.mark.parametrize("query", QUERIES)
def test_the_cheap_tests_agree_with_highlight(query):
    """may_match is only a shortcut: when it says no, highlight finds no term; holds_every_term is
    highlight finding every term without pinyin."""
    terms = search_terms(query)
    for text in TEXTS:
        found = highlight(text, terms)
        if not may_match(text, terms):
            assert not found.terms, (text, query)
        assert holds_every_term(text, terms) == (found.terms == set(range(len(terms))) and not found.pinyin), \
            (text, query)


def test_too_short_means_no_term_of_two_letters_and_no_chinese():
    assert [too_short(text) for text in ["a", "7", "a b", "%", "7b", "ab", "张", "a bc"]] == \
        [True, True, True, True, True, False, False, False]  # "7b" is two words of one character
    with pytest.raises(QueryError):
        too_short("w " * 40)


def _accounts(crm, users):
    rep1 = crm.as_user(users["rep1"]).records("account")
    for name in ["Quokka One", "Quokka Two", "Quokka Three"]:
        rep1.create({"name": name, "notes": "met the quokka keepers"})
    crm.as_user(users["rep1"]).records("contact").create({"name": "Zed Quokka"})  # not a title prefix: ranked later
    system = crm.as_system().records("account")
    secret = system.create({"name": "星辰", "notes": "plain notes", "secret": "quokka xingchen"})
    system.update(secret.id, {"owner_id": users["rep1"]}, version=secret.version)


def test_search_by_object_gives_each_objects_best_hits_and_its_count(crm, probe, users):
    _accounts(crm, users)
    groups = crm.as_user(users["rep1"]).search_by_object("quokka", per_object=2)
    assert [(group.object, group.count.value, group.count.kind, len(group.hits)) for group in groups] == \
        [("account", 3, "exact", 2), ("contact", 1, "exact", 1)]
    assert str(groups[0].label) and groups[0].hits[0].fields[0].field == "notes"
    assert groups[0].hits[0].fields[0].segments == (("met the ", False), ("quokka", True), (" keepers", False))
    capped = crm.as_user(users["admin"]).search_by_object("quokka", per_object=1, count_cap=2)
    # Beyond the cap: "more than 2" (PostgreSQL: its planner's estimate when that is larger).
    assert capped[0].object == "account" and capped[0].count.kind in ("at_least", "estimate")
    assert capped[0].count.value >= 2
    assert crm.as_user(users["rep1"]).search_by_object("%") == []


def test_a_field_the_user_may_not_read_is_never_a_snippet_nor_the_reason_for_no_pinyin_flag(crm, probe, users):
    _accounts(crm, users)
    admin = {hit.title: hit for group in crm.as_user(users["admin"]).search_by_object("xingchen") for hit in group.hits}
    rep = {hit.title: hit for group in crm.as_user(users["rep1"]).search_by_object("xingchen") for hit in group.hits}
    assert [found.field for found in admin["星辰"].fields] == ["secret"] and not admin["星辰"].pinyin
    assert rep["星辰"].fields == () and rep["星辰"].pinyin  # found through the name's pinyin, as the rep's search did
    assert rep["星辰"].title_segments == (("星辰", True),)
    quokka = {hit.title: hit for group in crm.as_user(users["rep1"]).search_by_object("quokka") for hit in group.hits}
    assert "星辰" not in quokka  # only the secret holds it


def test_search_by_object_refuses_a_bad_size(crm, probe, users):
    for options in [{"per_object": 0}, {"per_object": 201}, {"count_cap": 0}, {"count_cap": True}]:
        with pytest.raises(QueryError):
            crm.as_user(users["admin"]).search_by_object("quokka", **options)
