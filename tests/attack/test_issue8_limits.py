"""Issue 8 attack: a long text value a user may save must not end in a raw driver error.

query/tokens.py keeps up to MAX_TOKENS = 20,000 distinct tokens of up to 60 characters per
field; PostgreSQL's tsvector holds at most 1 MB (1,048,575 bytes). 4,500 distinct 60-letter
words in a 4-byte script (Deseret) are ~1.1 MB of lexemes: the search-index INSERT in
query/search_index.py `add_records` fails with psycopg's ProgramLimitExceeded ("string is
too long for tsvector"), so the record cannot be saved on PostgreSQL (SQLite saves it), and
a migration rebuilding the index over such a record would fail the same way.
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
