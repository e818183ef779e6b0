"""Where a search matched a field's text, for the snippets of a search page.

    >>> found = highlight("Acme Holdings 上海", search_terms("hold 上海"))
    >>> found.segments
    (('Acme ', False), ('Hold', True), ('ings ', False), ('上海', True))
    >>> found.terms, found.pinyin
    (frozenset({0, 1}), frozenset())

A term matches a text by the search index's own rule (query/search.py, query/tokens.py):
all of its tokens held by the text, a Latin word or number token as the start of a word
or of a pinyin word of its Chinese text, a Chinese token as those characters in a row.
Only the terms a text matches are marked in it: the start of each word they match, each
run of Chinese characters they name, and the Chinese characters whose pinyin they match
(`pinyin`: the terms this text matches only through pinyin).

Nothing here reads a database or knows who asks: it sees only the text it is given. The
caller decides which texts a user may see (records/search_results.py gives it only the
fields the user's search looked in, which they may read as stored).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from crmkit.engine.query.search import Term
from crmkit.engine.query.tokens import MAX_TOKEN, is_cjk, normalise, pinyin_spans, pinyin_tokens, runs, spans

#: One piece of a text: (text, whether a search term matched it).
Segment = tuple[str, bool]

#: Characters of a text looked at for marks; a match further on leaves the snippet unmarked.
MAX_MARKED_TEXT = 10_000
#: Characters shown before the first mark when a snippet is cut from a longer text.
LEAD = 30


@dataclass(frozen=True)
class Highlight:
    """A text in segments, the terms (by position in the search) it matches, and those matched only by pinyin."""

    segments: tuple[Segment, ...]
    terms: frozenset[int]
    pinyin: frozenset[int]

    @property
    def marked(self) -> bool:
        return any(marked for _text, marked in self.segments)


def highlight(text: str, terms: Sequence[Term], *, width: int | None = None) -> Highlight:
    """`text` in segments with the words of the terms it matches marked.

    `width`: at most that many characters are shown, from a little before the first mark,
    with "…" where text is left out. Whitespace runs (line breaks too) become one space.
    """
    text = " ".join(text.split())
    found_runs = spans(text)
    runs = [(kind, normalise(text[start:end])) for kind, start, end in found_runs]
    plain = _plain_tokens(runs)
    by_pinyin: list[str] | None = None  # worked out only when a Latin term is not held as a word
    matched, pinyin = set(), set()
    for number, term in enumerate(terms):
        missing = [(token, prefix) for token, prefix in term if not _holds(plain, token, prefix)]
        if not missing:
            matched.add(number)
            continue
        if not all(prefix for _token, prefix in missing):
            continue  # a Chinese token not held: pinyin cannot make up for it
        if by_pinyin is None:
            by_pinyin = [word for kind, run in runs if kind == "cjk" for word in pinyin_tokens(run)]
        if all(_holds(by_pinyin, token, prefix) for token, prefix in missing):
            matched.add(number)
            pinyin.add(number)
    marked_runs = [(kind, start, end) for kind, start, end in found_runs if end <= MAX_MARKED_TEXT]
    marks = _marks(text, marked_runs, [terms[number] for number in sorted(matched)]) if matched else []
    return Highlight(_segments(text, marks, width), frozenset(matched), frozenset(pinyin))


def may_match(text: str, terms: Sequence[Term]) -> bool:
    """False when `highlight(text, terms)` certainly matches no term (a cheap test before it): some token of each
    term is neither in the text as written (normalised) nor a Latin prefix that the pinyin of Chinese text may hold."""
    normal = normalise(text)
    chinese: bool | None = None
    for term in terms:
        missing = [prefix for token, prefix in term if token not in normal]
        if not missing:
            return True
        if all(missing):
            if chinese is None:
                chinese = not normal.isascii() and any(is_cjk(character) for character in normal)
            if chinese:
                return True
    return False


def holds_every_term(text: str, terms: Sequence[Term]) -> bool:
    """Whether `text` itself matches every term by the index's rule, pinyin aside: `highlight(text, terms)`
    matching each term plainly, without working out its marks (a few microseconds for a title)."""
    tokens = [token for term in terms for token in term]
    normal = normalise(text)
    if not tokens or not all(token in normal for token, _prefix in tokens):
        return False  # the common answer for a hit found by another field, at C speed
    plain = _plain_tokens(list(runs(text)))
    return all(_holds(plain, token, prefix) for token, prefix in tokens)


def _plain_tokens(runs: list[tuple[str, str]]) -> set[str]:
    """The tokens the index holds for a text's (kind, normalised run)s, pinyin aside: words, Chinese characters and pairs."""
    plain: set[str] = set()
    for kind, run in runs:
        if kind == "cjk":
            plain.update([*run, *(run[i:i + 2] for i in range(len(run) - 1))])
        else:
            plain.add(run[:MAX_TOKEN])
    return plain


def _holds(tokens: "set[str] | list[str]", token: str, prefix: bool) -> bool:
    return any(held.startswith(token) for held in tokens) if prefix else token in tokens


def _marks(text: str, runs: list[tuple[str, int, int]], terms: Sequence[Term]) -> list[tuple[int, int]]:
    """(start, end) of every match of the terms' tokens in the `runs` (tokens.py `spans`) of `text`, merged and in order."""
    found: list[tuple[int, int]] = []
    for kind, start, end in runs:
        original = text[start:end]
        run = normalise(original)
        for term in terms:
            for token, prefix in term:
                if kind != "cjk" and prefix and run.startswith(token):
                    found.append((start, start + _covering(original, len(token))))
                elif kind == "cjk" and len(run) == len(original):
                    found.extend((start + first, start + last) for first, last in _cjk_matches(run, token, prefix))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _covering(original: str, length: int) -> int:
    """How many characters of `original` normalise to at least `length` characters (ß is ss, ﬁ is fi)."""
    if original.isascii():
        return min(length, len(original))
    for count in range(1, len(original) + 1):
        if len(normalise(original[:count])) >= length:
            return count
    return len(original)


def _cjk_matches(run: str, token: str, prefix: bool) -> list[tuple[int, int]]:
    """Where a token matches a run of Chinese characters: the characters themselves, or (a Latin prefix) their pinyin."""
    if prefix:
        return pinyin_spans(run, token)
    found, start = [], run.find(token)
    while start >= 0:
        found.append((start, start + len(token)))
        start = run.find(token, start + 1)
    return found


def _segments(text: str, marks: list[tuple[int, int]], width: int | None) -> tuple[Segment, ...]:
    """`text` cut at the marks; only `width` characters of it (with "…") when it is longer."""
    first, last = 0, len(text)
    if width is not None and len(text) > width:
        first = max(0, (marks[0][0] if marks else 0) - LEAD)
        first = max(0, min(first, len(text) - width))
        last = first + width
    pieces: list[Segment] = [("…", False)] if first > 0 else []
    position = first
    for start, end in marks:
        start, end = max(start, first), min(end, last)
        if start >= end:
            continue
        if start > position:
            pieces.append((text[position:start], False))
        pieces.append((text[start:end], True))
        position = end
    if position < last:
        pieces.append((text[position:last], False))
    if last < len(text):
        pieces.append(("…", False))
    return tuple(_joined(pieces))


def _joined(pieces: list[Segment]) -> list[Segment]:
    """Neighbouring pieces of the same kind as one ("…" and the text after it)."""
    joined: list[Segment] = []
    for piece, marked in pieces:
        if joined and joined[-1][1] == marked:
            joined[-1] = (joined[-1][0] + piece, marked)
        else:
            joined.append((piece, marked))
    return joined
