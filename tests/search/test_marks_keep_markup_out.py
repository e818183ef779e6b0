"""Marks never swallow or split markup, whatever case folding and normalisation do to a text's length.

A search page escapes each segment on its own (templates/search/macros.html), so a mark can only
break escaping if the segments do not give back the text exactly, or a mark covers more than the
word it matched. Texts whose letters change length when folded (İ, ß, ﬁ) or normalised
(full-width letters, combining accents) are where an offset would slip.
"""
from __future__ import annotations

import pytest

from crmkit.engine.query.highlight import highlight
from crmkit.engine.query.search import search_terms

PAYLOAD = "<img src=x onerror=alert(1)>"


@pytest.mark.parametrize("word, query, marked", [
    ("İSTANBUL", "istanbul", "İSTANBUL"), ("Straße", "strasse", "Straße"), ("Straße", "STRASSE", "Straße"),
    ("ＡＣＭＥ", "acme", "ＡＣＭＥ"), ("ﬁnance", "fin", "ﬁn"), ("Éclair", "éclair", "Éclair"),
    ("E\u0301clair", "e\u0301clair", "E\u0301clair"), ("ΣΟΦΟΣ", "σοφος", "ΣΟΦΟΣ"),
])
def test_a_mark_covers_the_word_alone_and_the_segments_give_the_text_back(word, query, marked):
    for text in (f"{word}{PAYLOAD}", f"{PAYLOAD}{word}", f"{PAYLOAD} {word} {PAYLOAD}"):
        for width in (None, 12):
            segments = highlight(text, search_terms(query), width=width).segments
            shown = "".join(piece for piece, _mark in segments)
            assert shown.replace("…", "") in text and (width is not None or shown == text)
            if width is None:
                assert [piece for piece, mark in segments if mark] == [marked]
            assert not any(mark and ("<" in piece or ">" in piece) for piece, mark in segments)
