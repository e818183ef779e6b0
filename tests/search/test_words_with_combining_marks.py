"""Search tokens (query/tokens.py) keep combining marks inside their words.

A combining mark (Unicode categories Mn, Mc, Me) belongs to the word it follows: Devanagari
vowel signs and viramas are parts of Hindi words, and the casefolded Turkish capital İ
("i" + U+0307) is the plain lowercase "i" a Turkish user types.
"""
from __future__ import annotations


def test_a_turkish_capital_dotted_i_is_found_by_the_plain_lowercase_word(probe, names):
    accounts = probe.records("account")
    accounts.create({"name": "İSTANBUL Lojistik"})
    accounts.create({"name": "İzmir Gıda"})
    # Case is ignored beyond A-Z (docs/query.md): İSTANBUL and istanbul are the same word to a Turkish user.
    assert names(probe, "istanbul") == ["İSTANBUL Lojistik"]
    assert names(probe, "izmir") == ["İzmir Gıda"]


def test_a_hindi_word_does_not_match_a_different_word_sharing_two_consonants(probe, names):
    probe.records("account").create({"name": "दुनिया"})   # "world"
    # "दिन" (day) shares only the consonants द and न; the vowel signs and virama are part of
    # the words, not separators, so the two words must not match each other.
    assert names(probe, "दिन") == []
    assert names(probe, "दुनिया") == ["दुनिया"]
