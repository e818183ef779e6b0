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
from functools import lru_cache
from time import monotonic
from itertools import product
from weakref import WeakKeyDictionary
from typing import Any, Mapping, Sequence

from sqlalchemy import Connection, Engine, Select, Text, bindparam, exists, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY

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


@lru_cache(maxsize=1024)
def _known_ranges(dialect: str, prefixes: tuple[str, ...]) -> tuple[tuple[str, str], ...] | None:
    """`prefix_ranges`, worked out once per dialect and prefixes (a page after a page asks for the same)."""
    ranges = prefix_ranges(dialect, prefixes)
    return None if ranges is None else tuple(ranges)


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
    filter refuses (NUL: PostgreSQL would refuse the count first), and at least FEW_PREFIXED
    records start with them. One statement (`_probe`) counts along the case-folded index (at
    most that many entries) and tells which of the ranges hold any value at all (an index
    seek each), whoever may see them: it only chooses how the records are read; every read
    keeps the whole filter and the row filter. Only the ranges holding values are returned
    ("wonka" at 1,000,000 accounts: 16 ranges, 3 of them held, "Wonka", "WONKA" and
    "wonka"), so the page reads and merges those alone. PostgreSQL keeps the probe's choice
    for DECISION_SECONDS (its count walks 200 rows of an expression index, 0.3-0.6 ms; its
    single LATERAL subquery reads an empty range for one index seek) and then reads every
    range. The caller checks that `field` is a stored text column (not a value derived for
    the user).
    """
    prefixes = top_level_prefixes(filter, field)
    if not prefixes or any(UNSTORABLE.search(prefix) for prefix in prefixes):
        return None  # the filter refuses the text, naming its condition (query/inputs.py checked_text)
    if field not in _leading_fields(ctx.object(object_name)):
        return None
    ranges = _known_ranges(connection.dialect.name, tuple(prefixes))
    stems = [prefix.rstrip(LAST_CHARACTER) for prefix in prefixes]
    if ranges is None or not all(stems) or not codepoint_collation(connection):
        return None
    table = ctx.schema.table(object_name)
    postgresql = connection.dialect.name == "postgresql"
    decision = (id(table), field, tuple(stems), FEW_PREFIXED)  # the threshold too: tests set their own
    known = _DECISIONS.get(decision)
    if postgresql and known is not None and known[1] is table and known[0] > monotonic():
        return list(ranges) if known[2] else None
    parameters: dict[str, Any] = {f"prefix_{number}": stem for number, stem in enumerate(stems)}
    if postgresql:
        parameters["lows"], parameters["highs"] = [low for low, _ in ranges], [high for _, high in ranges]
    else:
        for number, (low, high) in enumerate(ranges):
            parameters[f"low_{number}"], parameters[f"high_{number}"] = low, high
    probe = _probe(table, table.c[field], len(stems), None if postgresql else len(ranges))
    rows = connection.execute(probe, parameters).all()
    if postgresql:  # a row per range holding values: (its number, from 1; the count)
        held, numbers = (rows[0][1] if rows else 0), [row[0] - 1 for row in rows]
    else:  # one row: the count, then whether each range holds values
        held, numbers = rows[0][0], [number for number, found in enumerate(rows[0][1:]) if found]
    if postgresql:
        if len(_DECISIONS) >= 1024:
            _DECISIONS.clear()
        _DECISIONS[decision] = (monotonic() + DECISION_SECONDS, table, held >= FEW_PREFIXED and bool(numbers))
    if held < FEW_PREFIXED or not numbers:
        return None  # few records start with it: the folded index's range is the cheaper read
    return [ranges[number] for number in numbers]


#: PostgreSQL: for how long (seconds) the probe's choice for a prefix is kept (`startswith_ranges`). The choice
#: changes how the records are read, never which: a prefix that became common reads its matches sorted meanwhile.
DECISION_SECONDS = 60.0
#: (table id, field, prefixes, FEW_PREFIXED) -> (until, table, whether read as ranges).
_DECISIONS: dict[tuple, tuple[float, Any, bool]] = {}


def _leading_fields(obj: Any) -> frozenset[str]:
    """The fields that lead one of `obj`'s indexes (tables.field_indexes), worked out once per object definition."""
    kept = _LEADING.get(id(obj))
    if kept is None or kept[0] is not obj:
        if len(_LEADING) >= 256:
            _LEADING.clear()
        kept = _LEADING[id(obj)] = (obj, frozenset(fields[0] for _, fields, _ in field_indexes(obj)))
    return kept[1]


_LEADING: dict[int, tuple[Any, frozenset[str]]] = {}


def _probe(table: Any, column: Any, stems: int, ranges: int | None) -> Select:
    """`startswith_ranges`' statement for `stems` prefixes (`:prefix_0`, ...) and ranges of `column`'s own index.

    The count: how many values start with a prefix (case folded), at most FEW_PREFIXED, a walk
    of the folded index per prefix. SQLite (`ranges`, bounds `:low_0`, `:high_0`, ...): one
    row, the count and an EXISTS per range. PostgreSQL (`ranges` None; the bounds are two
    arrays, `:lows` and `:highs`): a row per range holding values, its number (from 1) and
    the count, one subquery over unnest(lows, highs) planned once whatever the number of
    ranges. Built once per column, prefixes and ranges (the statement object is kept, so
    SQLAlchemy's cache key is walked once).
    """
    key_of = (id(column), stems, ranges)
    kept = _PROBES.get(key_of)
    if kept is not None and kept[0] is column:
        return kept[1]
    folded = PrefixKey(column)
    counts = []
    for number in range(stems):
        stem = bindparam(f"prefix_{number}", type_=Text())
        walked = (select(folded).select_from(table).where(folded >= func.lower(stem), folded < PrefixEnd(stem))
                  .order_by(folded).limit(FEW_PREFIXED).subquery())
        counts.append(select(func.count()).select_from(walked).scalar_subquery())
    held = counts[0] if stems == 1 else sum(counts[1:], counts[0])
    if ranges is None:
        bounds = (func.unnest(bindparam("lows", type_=ARRAY(column.type)), bindparam("highs", type_=ARRAY(column.type)))
                  .table_valued("low", "high", with_ordinality="number").render_derived(name="ranges"))
        statement = (select(bounds.c.number, held.label("held")).select_from(bounds)
                     .where(exists().where(column >= bounds.c.low, column < bounds.c.high)))
    else:
        statement = select(held.label("held"), *(
            exists().where(column >= bindparam(f"low_{number}", type_=column.type),
                           column < bindparam(f"high_{number}", type_=column.type)).label(f"range_{number}")
            for number in range(ranges)))
    if len(_PROBES) >= 256:
        _PROBES.clear()
    _PROBES[key_of] = (column, statement)
    return statement


_PROBES: dict[tuple, tuple[Any, Select]] = {}


def top_level_prefixes(node: Any, name: str) -> list[str] | None:
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
        found = top_level_prefixes(item, name)
        if found:
            return found
    return None
