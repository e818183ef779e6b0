"""Checks on what callers hand the engine, made before any SQL runs: the same clear error on both databases.

    >>> checked_text("acme", "the search")             # 'acme'
    >>> checked_text("a\\x00", "the search")            # QueryError: ... a NUL character ...
    >>> is_record_id(2**63)                             # False: no stored id is that large
    >>> whole_number(-1, "cap", 0, MAX_COUNT_CAP)       # QueryError: 'cap' must be a whole number ...

Ids, offsets and counts are 64-bit signed integers in both databases (SQLite INTEGER,
PostgreSQL bigint): a larger Python int would fail in the driver (OverflowError,
`bigint out of range`). Text holding a NUL character or half of a surrogate pair
(RFC 3629 forbids U+D800-U+DFFF in UTF-8) cannot be sent to PostgreSQL at all and would
make SQLite's LIKE match every row, so it is refused by name.
"""
from __future__ import annotations

from typing import Any

from crmkit.engine import messages
from crmkit.engine.database import UnstorableText
from crmkit.engine.fieldtypes.inputs import UNSTORABLE
from crmkit.engine.query.errors import QueryError

#: The range of a 64-bit signed integer: ids, offsets, counts and integer fields on both databases.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: The longest quick-search text, and the longest text for `contains` / `startswith` (characters).
MAX_SEARCH_LENGTH = 1000
#: The largest `cap` of `count()`: beyond it, ask for an exact count.
MAX_COUNT_CAP = 1_000_000


class UnsearchableText(QueryError, UnstorableText):
    """Query text (a filter value, a search, a field name) holding a NUL character or a lone surrogate."""


def ascii_whole_number(text: str) -> int | None:
    """`text` as a whole number of ASCII digits 0-9, else None: '²' and '٣' are digits to str.isdigit
    but not numbers an address or a form carries (int('²') raises)."""
    return int(text) if text.isascii() and text.isdigit() else None


def is_record_id(value: Any) -> bool:
    """Whether `value` could be a stored id: an int (not a bool) in the 64-bit range."""
    return type(value) is int and INT64_MIN <= value <= INT64_MAX


def unstorable_character(text: str) -> str | None:
    """A description of the first character of `text` no database can compare, or None."""
    found = UNSTORABLE.search(text)
    if found is None:
        return None
    character = found.group()
    if character == "\x00":
        return "a NUL character (U+0000)"
    return f"an unpaired surrogate (U+{ord(character):04X}, half of a character)"


def checked_text(text: str, what: str) -> str:
    """`text` if every character can be compared in SQL; QueryError naming the character otherwise."""
    character = unstorable_character(text)
    if character is not None:
        raise UnsearchableText(messages.UNSEARCHABLE(what=what, character=character))
    return text


def checked_texts(value: Any, what: str) -> Any:
    """`value` (text, or a list of values) with every text in it checked by `checked_text`."""
    if isinstance(value, str):
        checked_text(value, what)
    elif isinstance(value, (list, tuple)):
        for item in value:
            checked_texts(item, what)
    return value


def shown(value: Any) -> str:
    """`value` for an error message: repr-like, with characters that cannot be printed escaped."""
    return ascii(value) if isinstance(value, str) and UNSTORABLE.search(value) else repr(value)


def whole_number(value: Any, name: str, low: int, high: int) -> int:
    """`value` if it is an int (not a bool) from `low` to `high`; else QueryError saying the range."""
    if type(value) is not int or not low <= value <= high:
        raise QueryError(messages.WHOLE_NUMBER_RANGE(name=name, low=f"{low:,}", high=f"{high:,}", value=shown(value)))
    return value
