"""A long text value a user may save never ends in a raw driver error.

PostgreSQL's tsvector holds at most 1 MB (1,048,575 bytes) of lexemes: a field's tokens are
kept within a byte budget (query/tokens.py MAX_TOKEN_BYTES), on both databases alike.
"""
from __future__ import annotations

from crmkit.errors import CrmkitError

DESERET = 0x10428  # lowercase Deseret letters: 4 bytes each in UTF-8


def distinct_long_words(count: int) -> str:
    def word(number: int) -> str:
        head = "".join(chr(DESERET + (number // 40 ** place) % 40) for place in range(3))
        return head + chr(DESERET) * 57
    return " ".join(word(number) for number in range(count))


def test_a_long_textarea_is_saved_and_found_or_refused_with_a_sentence(probe, names):
    accounts = probe.records("account")
    try:
        accounts.create({"name": "Big Notes", "notes": distinct_long_words(4500)})
    except CrmkitError:
        return  # refused with a sentence: acceptable
    assert names(probe, "big") == ["Big Notes"]
