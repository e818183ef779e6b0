"""Search tokens: the words a text is indexed under, and the tokens a search term asks for.

    >>> index_tokens("Acme 上海 A1")   # words, prefix tokens, Chinese characters, pairs, pinyin
    ['acme', 'ᵖa', 'ᵖac', '上', '海', '上海', 'shanghai', 'ᵖs', 'ᵖsh', 'sh', 'hai', 'ᵖh', 'ᵖha', 'a', '1', 'ᵖ1']
    >>> query_tokens("北京科技")     # every adjacent pair, all of them required
    [('北京', False), ('京科', False), ('科技', False)]
    >>> query_tokens("Acm")          # Latin words and numbers match as prefixes
    [('acm', True)]
    >>> index_form("ac", True)       # ... the index is asked for a short one as its prefix token
    ('ᵖac', False)

Text is normalised with NFKC and casefolded, so case is ignored beyond A-Z (Ä/ä, Σ/σ/ς,
full-width ＡＢＣ) the same way on every database. A run of letters or of digits in any
alphabetic script is one word; CJK text (Han, kana, Hangul), which has no spaces between
words, is indexed as single characters and adjacent pairs, so any Chinese substring of
one or two characters matches exactly and a longer one matches records holding all its
pairs. A combining mark (a vowel sign, a virama) belongs to the word it follows.
Everything else (punctuation, symbols, spaces) separates words and is not indexed.

The first one and two characters of each Latin word or number (and of each pinyin word) are
also indexed, as prefix tokens: PREFIX_MARK and those characters ("ᵖa", "ᵖac" for "Acme";
`prefix_tokens`). A search word of at most SHORT_PREFIX characters asks the index for its
prefix token, one exact key (`index_form`), where a prefix query ('z':*, FTS5's "z"*) reads
and merges the lists of every word starting with it: at 1,000,000 accounts "z" starts some
255,000 words (pinyin among them), and `suggest("wonka z")` took 97 ms on PostgreSQL, the
GIN index unable to intersect "wonka" with a prefix cheaply (Elasticsearch's
`index_prefixes` does the same). Longer words are asked as prefixes, as before. The mark
is U+1D56 (MODIFIER LETTER SMALL P), a letter NFKC replaces by "p": no normalised text
holds it, so no word's token can be a prefix token, nor can a search word name one ("ᵖz"
typed is the word "pz"); it is one token character for FTS5's ascii tokenizer (every
non-ASCII byte is) and a plain lexeme for PostgreSQL.

Tokens consist of letters, digits and marks only, so they need no quoting in an FTS5 query
or a PostgreSQL tsquery; they are at most MAX_TOKEN characters (PostgreSQL's lexeme limit
is 2,047 bytes), and a field keeps at most MAX_TOKENS distinct ones within MAX_TOKEN_BYTES
(a tsvector holds 1 MB of lexemes), a word's prefix tokens counted with it (a word is kept
with them or not at all, so a kept word is found by each of its prefixes).
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from typing import Iterator

#: Raised whenever index_tokens changes what it produces: indexes built by another version are rebuilt.
TOKENIZER_VERSION = 3
#: Marks a prefix token: the first characters of a word (module docstring). NFKC maps it to "p", so no text's token holds it.
PREFIX_MARK = "\u1d56"
#: Words of at most this many characters are asked as their prefix token; every word is indexed under its prefixes
#: of 1 .. SHORT_PREFIX characters.
SHORT_PREFIX = 2
#: Pinyin syllables joined into one token, from each Chinese character on (prefixes find fewer).
PINYIN_SPAN = 4

#: Longer words are indexed and searched by their first MAX_TOKEN characters.
MAX_TOKEN = 60
#: Distinct tokens kept per field value; text beyond them is not found by search.
MAX_TOKENS = 20_000
#: Bytes (UTF-8, one separator each) of the tokens kept per field value: PostgreSQL's tsvector
#: holds at most 1,048,575 bytes of lexemes (its MAXSTRPOS), so a field keeps less, on both databases.
MAX_TOKEN_BYTES = 1_000_000

#: A run of ASCII letters or of ASCII digits: the runs of an ASCII text.
_ASCII_RUN = re.compile(r"[A-Za-z]+|[0-9]+")

_CJK_RANGES = (
    (0x1100, 0x11FF),    # Hangul Jamo
    (0x3040, 0x30FF),    # Hiragana, Katakana
    (0x3131, 0x318F),    # Hangul compatibility Jamo
    (0x3400, 0x4DBF),    # CJK extension A
    (0x4E00, 0x9FFF),    # CJK unified ideographs
    (0xAC00, 0xD7AF),    # Hangul syllables
    (0xF900, 0xFAFF),    # CJK compatibility ideographs
    (0x20000, 0x3134F),  # CJK extensions B to G
)


def is_cjk(character: str) -> bool:
    """Whether the character belongs to a script written without spaces between words (Han, kana, Hangul)."""
    code = ord(character)
    return any(low <= code <= high for low, high in _CJK_RANGES)


def normalise(text: str) -> str:
    """NFKC, casefolded, NFKC again (Unicode's NFKC_Casefold closure, near enough): the form tokens take.

    The Turkish capital İ casefolds to "i" + U+0307 (combining dot above), which NFKC keeps
    apart; it is the plain "i" a user types, so the dot is dropped after an "i".
    """
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold()).replace("i\u0307", "i")


@lru_cache(maxsize=1 << 16)
def _kind(character: str) -> str:
    """"cjk", "digit", "letter", or "" for a separator; cached, since every indexed character asks."""
    if is_cjk(character):
        return "cjk"
    if character.isdigit():
        return "digit"
    if character.isalnum():
        return "letter"
    if unicodedata.category(character).startswith("M"):
        return "mark"
    return ""




def runs(text: str) -> Iterator[tuple[str, str]]:
    """(kind, run) of the normalised text: maximal runs of letters, digits or CJK characters."""
    if text.isascii():
        # ASCII is its own NFKC form and casefolds to lowercase; it has no CJK and no combining mark,
        # so its runs are the maximal runs of ASCII letters or digits (an import's emails, names, numbers).
        for found in _ASCII_RUN.finditer(text.lower()):  # lowercased, so [A-Za-z] finds [a-z]
            run = found.group()
            yield ("digit" if run[0] <= "9" else "letter"), run
        return
    kind, start = "", 0
    normal = normalise(text)
    for position, character in enumerate(normal):
        current = _kind(character)
        if current == "mark":
            # A combining mark (a vowel sign, a virama, an accent NFKC could not compose)
            # belongs to the word it follows; on its own it is nothing.
            current = kind if kind in ("letter", "digit") else ""
        if current != kind:
            if kind:
                yield kind, normal[start:position]
            kind, start = current, position
    if kind:
        yield kind, normal[start:]


def index_tokens(text: str | None) -> list[str]:
    """The distinct tokens `text` is found by, in order of first appearance (at most MAX_TOKENS)."""
    if not text:
        return []
    seen: dict[str, None] = {}
    for kind, run in runs(text):
        for group in _cjk_groups(run) if kind == "cjk" else (_word_group(run[:MAX_TOKEN]),):
            seen.update(dict.fromkeys(group))
    # Within both limits at the end, so at every step: the tokens `_limited` keeps are all of them.
    if len(seen) <= MAX_TOKENS and len(" ".join(seen).encode()) + 1 <= MAX_TOKEN_BYTES:
        return list(seen)
    return _limited(text)


def _limited(text: str) -> list[str]:
    """`index_tokens` of a text beyond its limits: the groups taken in order while the tokens fit."""
    seen: dict[str, None] = {}
    size = 0
    for kind, run in runs(text):
        for group in _cjk_groups(run) if kind == "cjk" else (_word_group(run[:MAX_TOKEN]),):
            new = [token for token in group if token not in seen]
            if not new:
                continue
            size += sum(len(token.encode()) + 1 for token in new)
            if len(seen) + len(new) > MAX_TOKENS or size > MAX_TOKEN_BYTES:
                return list(seen)  # a word goes with its prefix tokens or not at all
            seen.update(dict.fromkeys(new))
    return list(seen)


@lru_cache(maxsize=1 << 16)
def _word_group(word: str) -> tuple[str, ...]:
    """`word_tokens`, cached: words repeat (a create's tokens are worked out on every save)."""
    return tuple(word_tokens(word))


def _cjk_groups(run: str) -> tuple[tuple[str, ...], ...]:
    """The token groups of a run of CJK characters: each character, each pair, each pinyin word with its prefixes.

    Cached for runs of at most CACHED_RUN characters (names, short phrases): a long run (a
    paragraph of Chinese without punctuation) would hold its many tokens in the cache."""
    return _short_cjk_groups(run) if len(run) <= CACHED_RUN else _cjk_token_groups(run)


#: The longest CJK run whose token groups are cached.
CACHED_RUN = 32


def _cjk_token_groups(run: str) -> tuple[tuple[str, ...], ...]:
    return (*((token,) for token in (*run, *(run[i:i + 2] for i in range(len(run) - 1)))),
            *(_word_group(word) for word in pinyin_tokens(run)))


_short_cjk_groups = lru_cache(maxsize=1 << 14)(_cjk_token_groups)


def word_tokens(word: str) -> list[str]:
    """A Latin word or number (or pinyin word) and its prefix tokens: "acme" -> acme, ᵖa, ᵖac; "z" -> z, ᵖz."""
    return [word, *prefix_tokens(word)]


def prefix_tokens(word: str) -> list[str]:
    """The prefix tokens of a word: PREFIX_MARK and its first 1 .. SHORT_PREFIX characters."""
    return [PREFIX_MARK + word[:length] for length in range(1, min(len(word), SHORT_PREFIX) + 1)]


def index_form(token: str, prefix: bool) -> tuple[str, bool]:
    """(token, is_prefix) as the index is asked for a query token: a prefix of at most SHORT_PREFIX characters as
    its prefix token, an exact key ("z" -> ("ᵖz", False)); any other token as it is.

    Terms (query/search.py `Term`) keep the tokens as typed (highlights mark them in the text, statistics and plans
    tell short prefixes apart); the SQL asking the index, on either database, asks in this form.
    """
    if prefix and len(token) <= SHORT_PREFIX:
        return PREFIX_MARK + token, False
    return token, prefix


def pinyin_tokens(run: str) -> list[str]:
    """Pinyin words a run of Chinese characters is also found by: "张伟" -> zhangwei, wei, zw.

    From each character on, its syllable joined with those of up to PINYIN_SPAN - 1 characters
    after it ("xingchenkeji", "chenkeji", "keji", "ji": a Latin search term matches word
    prefixes, so "xingchen" and "keji" both find 星辰科技), and from each character with one
    after it, their initials ("xckj", "ckj", "kj"). Readings come from pypinyin with phrase
    context; the run's first character, a surname in a name, adds every reading it has
    (单: dan, shan, chan), since the common reading of a character is not always its reading
    as a surname. Kana and Hangul have no pinyin and add nothing.
    """
    readings = _syllables(run)
    if readings is None:
        return []
    tokens: list[str] = []
    starts = [readings] + [[reading, *readings[1:]] for reading in _all_readings(run[0]) if reading != readings[0]]
    for syllables in starts:
        for i in range(len(syllables) if syllables is readings else 1):
            span = syllables[i:i + PINYIN_SPAN]
            tokens.append("".join(span)[:MAX_TOKEN])
            if len(span) > 1:
                tokens.append("".join(syllable[0] for syllable in span))
    return tokens


@lru_cache(maxsize=1 << 16)
def _syllables(run: str) -> list[str] | None:
    """One toneless syllable per character (ü as v), or None when some character has none.

    Cached: names and company words repeat, and pypinyin takes ~30 µs a run.
    """
    from pypinyin import lazy_pinyin  # loaded at the first Chinese text: its dictionaries take ~0.3 s

    syllables = lazy_pinyin(run, errors=lambda _characters: None)
    if len(syllables) != len(run) or not all(syllable.isascii() and syllable.isalpha() for syllable in syllables):
        return None
    return [syllable.lower() for syllable in syllables]


@lru_cache(maxsize=1 << 14)
def _all_readings(character: str) -> tuple[str, ...]:
    from pypinyin import Style, pinyin

    readings = pinyin(character, style=Style.NORMAL, heteronym=True, errors=lambda _characters: None)
    found = readings[0] if readings else []
    return tuple(reading.lower() for reading in found if reading.isascii() and reading.isalpha())


def pinyin_spans(run: str, token: str) -> list[tuple[int, int]]:
    """Where the Latin search token `token` matches `run` (normalised Chinese text) through its pinyin.

    The same readings and spans as `pinyin_tokens`: a match wherever one of the words that
    function indexes starts with `token`. Each match is (start, end), the characters of `run`
    whose syllables (or initials) the token covers: "zhangw" covers 张伟 of 张伟明, "keji"
    covers 科技, "xc" covers 星辰. [] when nothing matches or the run has no pinyin.
    """
    readings = _syllables(run)
    if readings is None or not token:
        return []
    starts = [(i, readings[i:i + PINYIN_SPAN]) for i in range(len(readings))]
    starts += [(0, [reading, *readings[1:PINYIN_SPAN]]) for reading in _all_readings(run[0]) if reading != readings[0]]
    found: dict[tuple[int, int], None] = {}
    for start, span in starts:
        if "".join(span)[:MAX_TOKEN].startswith(token):
            covered = length = 0
            while length < len(token):
                length += len(span[covered])
                covered += 1
            found[(start, start + covered)] = None
        if len(span) > 1 and "".join(syllable[0] for syllable in span).startswith(token):
            found[(start, start + len(token))] = None
    return list(found)


def spans(text: str) -> list[tuple[str, int, int]]:
    """(kind, start, end) of the runs of `text` as `runs` finds them, as positions in `text` itself (not normalised).

    Each character is classed by its normalised form, so full-width ＡＢＣ is a word; used to
    mark where a search matched in the text a user sees (query/highlight.py).
    """
    if text.isascii():  # the common case, at C speed: ASCII has no marks and no CJK
        return [("digit" if match[0].isdigit() else "letter", match.start(), match.end())
                for match in _ASCII_RUN.finditer(text)]
    found: list[tuple[str, int, int]] = []
    kind, start = "", 0
    for position, character in enumerate(text):
        current = _normal_kind(character)
        if current == "mark":
            current = kind if kind in ("letter", "digit") else ""
        if current != kind:
            if kind:
                found.append((kind, start, position))
            kind, start = current, position
    if kind:
        found.append((kind, start, len(text)))
    return found


@lru_cache(maxsize=1 << 16)
def _normal_kind(character: str) -> str:
    """The kind of a character as the user typed it, by its normalised form."""
    normal = normalise(character)
    return _kind(normal[0]) if normal else ""


def query_tokens(term: str) -> list[tuple[str, bool]]:
    """(token, is_prefix) that a record's field must all hold for one search term to match it.

    Words and numbers are prefixes ("acm" finds "Acme"); one CJK character is itself, a longer
    CJK run is its adjacent pairs. [] when the term holds nothing indexable (only punctuation).
    """
    wanted: dict[tuple[str, bool], None] = {}
    for kind, run in runs(term):
        if kind == "cjk":
            pairs = [run[i:i + 2] for i in range(len(run) - 1)] or [run]
            wanted.update(dict.fromkeys((pair, False) for pair in pairs))
        else:
            wanted[(run[:MAX_TOKEN], True)] = None
    return list(wanted)
