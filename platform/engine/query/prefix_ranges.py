"""A `startswith` page sorted by the same field, read as ranges of that field's own index, in its order.

    >>> prefix_ranges("sqlite", ["Wonka"])   # the ranges of every spelling `startswith` takes for "wonka"
    [('WONKA', 'WONKb'), ('WONkA', 'WONkb'), ..., ('wonkA', 'wonkb')]

`startswith` ignores case (query/filters.py `_startswith`) and reads the folded index
(`lower(name) COLLATE "C"`, `name COLLATE NOCASE`) as one range, whose records are then sorted:
cheap for a rare prefix, but a common one ("wonka", held by 41,650 of 1,000,000 accounts) made
the planners walk the name index from its start testing every name (PostgreSQL 1.8 s) or sort
every match (SQLite 76 ms) for a page of 50, and the lookup's autocomplete (`suggest`, the
titles starting with the text, by title) the same. The field's own index is in code-point
order (SQLite's BINARY; PostgreSQL under a C collation), where the names a prefix takes in
every case lie in a few ranges: one per spelling of its first letters ("Won", "won", "WON",
...), each bounded by the smallest and largest spelling of the rest. Each range is read in
index order and stops after a page (query/sorting.py `merged_page`), so a page costs a few
short index reads whatever the prefix's share. The filter itself is kept beside each range,
so a range holding other names ("Wonz...") adds none to the page.

The spellings a character takes are exactly those the database's case folding makes alike:
SQLite folds A-Z only; PostgreSQL's lower() also folds the Kelvin sign (U+212A) to "k" and
the dotted capital I (U+0130) to "i" (Unicode's simple case mappings: the only characters
beyond A-Z whose lowercase is ASCII). Prefixes with a character whose spellings are not known
that surely (other cased alphabets, full-width letters) get no ranges: the page is read as
before. PostgreSQL databases whose collation does not order text by code point (en_US.UTF-8)
get none either (`codepoint_collation`).
"""
from __future__ import annotations

import sys
from itertools import product
from weakref import WeakKeyDictionary
from typing import Any, Mapping, Sequence

from sqlalchemy import Connection, Engine, Select, Text, bindparam, func, select, text

from crmkit.engine.fieldtypes.inputs import UNSTORABLE
from crmkit.engine.query.filters import LAST_CHARACTER, PrefixEnd, QueryContext
from crmkit.engine.tables import PrefixKey, field_indexes

#: A `startswith` held by fewer records than this (counted along the case-folded index) is read as that index's
#: range (and sorted); one held by more, as the ranges of the field's own index.
FEW_PREFIXED = 200
#: The most ranges a page reads: the first letters' spellings are enumerated up to this many, the rest bounded.
MAX_RANGES = 16
#: PostgreSQL lower() folds these beyond A-Z to an ASCII letter (UnicodeData.txt simple lowercase mappings).
_POSTGRESQL_EXTRA = {"k": "\u212a", "i": "\u0130"}
#: Code points no case folding maps to or from: besides ASCII that is not a letter, the CJK, kana and Hangul blocks.
_CASELESS = ((0x3000, 0x303F), (0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3),
             (0xF900, 0xFAFF), (0x20000, 0x3FFFF))
#: Collations that order text by code point (in UTF-8, byte order is code-point order).
CODEPOINT_COLLATIONS = frozenset({"c", "posix", "c.utf8", "c.utf-8", "ucs_basic"})


def spellings(dialect: str, character: str) -> tuple[str, ...] | None:
    """Every character the database's case folding makes alike with `character`, or None where not known surely."""
    code = ord(character)
    if code < 0x80:
        if not character.isalpha():
            return (character,)
        lower = character.lower()
        extra = _POSTGRESQL_EXTRA.get(lower, "") if dialect == "postgresql" else ""
        return (lower.upper(), lower, *extra)
    if any(start <= code <= end for start, end in _CASELESS):
        return (character,)
    return None


def prefix_ranges(dialect: str, prefixes: Sequence[str], limit: int = MAX_RANGES) -> list[tuple[str, str]] | None:
    """[(low, high)] such that every text starting with one of `prefixes` (case folded as on `dialect`) lies in a range.

    `low <= text < high`, compared by code point. One range per spelling of each prefix's first
    letters, as many letters as keep each prefix's count within its share of `limit`; the
    letters after are bounded by their smallest and largest spelling. The ranges are in order
    and disjoint (`_disjoint`). None when a prefix is empty or holds a character whose
    spellings are not known surely, or there are more prefixes than `limit`.
    """
    if not prefixes or len(prefixes) > limit:
        return None
    ranges: list[tuple[str, str]] = []
    for prefix in prefixes:
        choices = [spellings(dialect, character) for character in prefix]
        if not choices or any(choice is None for choice in choices):
            return None
        ranges += _ranges(choices, limit // len(prefixes))
    return _disjoint(ranges)


def _disjoint(ranges: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """`ranges` in order, those that overlap or touch made one: a text lies in one range at most.

    Several prefixes' ranges overlap where one prefix starts another ("a", "ab"), a prefix is
    given twice, or a prefix's range is bounded by its first letter's spellings alone ([A, b)
    and [B, c)); a record in two ranges would be read twice (PostgreSQL's one LATERAL read of
    every range keeps both).
    """
    merged: list[tuple[str, str]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def _ranges(choices: list[tuple[str, ...]], limit: int) -> list[tuple[str, str]]:
    enumerated, count = 0, 1
    while enumerated < len(choices) and count * len(choices[enumerated]) <= limit:
        count *= len(choices[enumerated])
        enumerated += 1
    low_rest = "".join(min(choice) for choice in choices[enumerated:])
    high_rest = "".join(max(choice) for choice in choices[enumerated:])
    result = []
    for head in product(*choices[:enumerated]):
        start = "".join(head)
        high = start + high_rest
        end = text_after(high)
        assert end is not None, high  # spellings are ASCII or CJK: never U+10FFFF
        result.append((start + low_rest, end))
    return sorted(result)


def text_after(prefix: str) -> str | None:
    """The least text after every text starting with `prefix` (its last character the next one); None past the last.

    U+D800-U+DFFF are skipped: surrogates are no characters of a text."""
    following = ord(prefix[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:
        following = 0xE000
    return None if following > sys.maxunicode else prefix[:-1] + chr(following)


def codepoint_collation(connection: Connection) -> bool:
    """Whether the database orders text by code point: SQLite always (BINARY); PostgreSQL by its collation.

    PostgreSQL: the database's default collation (`pg_database.datcollate`, with the libc
    provider) is C, POSIX or C.UTF-8, and its lower() (the character type, `datctype`, which
    may be another locale's) folds A-Z to a-z as `spellings` says: a Turkish one makes "I"
    the dotless "ı", which no range of "i" holds. Read once per engine.
    """
    if connection.dialect.name != "postgresql":
        return True
    engine = connection.engine
    known = _COLLATIONS.get(engine)
    if known is None:
        upper, lower = _ASCII_FOLD
        row = connection.execute(text(
            "SELECT datcollate, to_jsonb(pg_database) ->> 'datlocprovider', lower(:upper) = :lower FROM pg_database "
            "WHERE datname = current_database()"), {"upper": upper, "lower": lower}).one()
        known = _COLLATIONS[engine] = row[0].lower() in CODEPOINT_COLLATIONS and row[1] in (None, "c") and row[2]
    return known


#: What lower() makes of A-Z where `spellings` holds (each letter's other case, the Kelvin sign and dotted I besides).
_ASCII_FOLD = ("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


#: Held weakly: a closed Crm's engine (its pool, its compiled statements) is not kept alive by the answer.
_COLLATIONS: WeakKeyDictionary[Engine, bool] = WeakKeyDictionary()


def startswith_ranges(connection: Connection, ctx: QueryContext, object_name: str, filter: Any,
                      field: str) -> list[tuple[str, str]] | None:
    """The ranges of `field`'s own index holding every record of a `startswith` on it in `filter`, or None.

    Only where `field` is led by an index of its own (tables.field_indexes), the filter holds
    a `startswith` on it at its top level (ANDed with the rest), the database orders text by
    code point, the prefixes' spellings are known (`prefix_ranges`) and hold no character the
    filter refuses (NUL: PostgreSQL would refuse the count first), and at least
    FEW_PREFIXED records start with them: one count along the case-folded index, at most that
    many entries read, whoever may see them (it only chooses how the records are read; every
    read keeps the whole filter and the row filter). The caller checks that `field` is a
    stored text column (not a value derived for the user).
    """
    prefixes = _top_level_prefixes(filter, field)
    if not prefixes or any(UNSTORABLE.search(prefix) for prefix in prefixes):
        return None  # the filter refuses the text, naming its condition (query/inputs.py checked_text)
    if not any(fields[0] == field for _, fields, _ in field_indexes(ctx.object(object_name))):
        return None
    ranges = prefix_ranges(connection.dialect.name, prefixes)
    stems = [prefix.rstrip(LAST_CHARACTER) for prefix in prefixes]
    if ranges is None or not all(stems) or not codepoint_collation(connection):
        return None
    table = ctx.schema.table(object_name)
    probe = _prefixed_count(table, table.c[field])
    held = 0
    for stem in stems:
        held += connection.execute(probe, {"prefix": stem}).scalar_one()
        if held >= FEW_PREFIXED:
            return ranges
    return None  # few records start with it: the folded index's range is the cheaper read


def _prefixed_count(table: Any, column: Any) -> Select:
    """How many values of `column` start with `:prefix` (case folded), at most FEW_PREFIXED: a walk of the folded index.

    Built once per column (the statement object is kept, so SQLAlchemy's cache key is walked once).
    """
    kept = _PROBES.get(id(column))
    if kept is not None and kept[0] is column:
        return kept[1]
    key = PrefixKey(column)
    stem = bindparam("prefix", type_=Text())
    walked = (select(key).select_from(table).where(key >= func.lower(stem), key < PrefixEnd(stem))
              .order_by(key).limit(FEW_PREFIXED).subquery())
    statement = select(func.count()).select_from(walked)
    if len(_PROBES) >= 256:
        _PROBES.clear()
    _PROBES[id(column)] = (column, statement)
    return statement


_PROBES: dict[int, tuple[Any, Select]] = {}


def _top_level_prefixes(node: Any, name: str) -> list[str] | None:
    """The texts of a `startswith` on field `name` that the whole filter `node` is ANDed with, or None."""
    if isinstance(node, (list, tuple)):
        items: list[Any] = list(node)
    elif isinstance(node, Mapping):
        condition = node.get(name)
        if isinstance(condition, Mapping) and "startswith" in condition:
            texts = condition["startswith"]
            texts = list(texts) if isinstance(texts, (list, tuple)) else [texts]
            if texts and all(isinstance(text, str) and text for text in texts):
                return texts
        conjuncts = node.get("and")
        items = list(conjuncts) if isinstance(conjuncts, (list, tuple)) else []
    else:
        return None
    for item in items:
        found = _top_level_prefixes(item, name)
        if found:
            return found
    return None
