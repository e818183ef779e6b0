"""Read-only views of records, as admin expressions see them (``account.industry``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn


class RecordView:
    """Attribute access to a record's field values and its related (lookup) records.

    ``related`` maps a lookup field name to the RecordView of the record it points to
    (or EMPTY_RECORD when the lookup is empty); it wins over ``values`` for that name.
    """

    __slots__ = ("_values", "_related")

    def __init__(self, values: Mapping[str, Any], related: Mapping[str, RecordView] | None = None) -> None:
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_related", related if related is not None else {})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._related:
            return self._related[name]
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"the record has no field '{name}'") from None

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("records are read-only in expressions")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("records are read-only in expressions")

    def __bool__(self) -> bool:
        return True

    def __str__(self) -> str:
        """A record shows as its name (or id) when used as text."""
        for field in ("name", "id"):
            value = self._values.get(field)
            if value is not None:
                return str(value)
        return "record"

    def __repr__(self) -> str:
        return f"<record {self}>"


class _EmptyRecordView(RecordView):
    """The record behind an empty lookup: falsy, and every field is None."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return None

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return ""

    def __repr__(self) -> str:
        return "<empty record>"


EMPTY_RECORD: RecordView = _EmptyRecordView({})
RECORD_TYPES = frozenset({RecordView, _EmptyRecordView})


def is_empty(value: Any) -> bool:
    """True for None and for the record behind an empty lookup.

    Admin code's ``x is None``, ``x is not None``, ``x == None`` and ``x != None`` are
    compiled into calls of this (see policy.py), so ``account is None`` means "no account".
    """
    return value is None or type(value) is _EmptyRecordView
