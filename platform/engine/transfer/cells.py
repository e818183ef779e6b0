"""One file cell as the input value a save takes for its field.

- Empty cells (and cells of spaces) give None: on a new record the field keeps its
  default, on an update the stored value stays.
- Picklists take the option's value or its label in any language ("Mr." or "先生"); a
  multi-select takes values or labels separated by ";" (how exports write them).
- Checkboxes take what the save takes (true/false, yes/no, 1/0) and 是/否, 真/假.
- Spreadsheet dates and times become ISO 8601 text; whole numbers stay numbers for number
  fields and become their digits for text fields (a phone number Excel held as a number).
"""
from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Callable

from crmkit.engine.transfer.files import cell_text
from crmkit.engine.transfer.mapping import header_key
from crmkit.metadata.model import FieldDef

#: Chinese words for a checkbox, beside the ones marshmallow knows.
_BOOLEAN_WORDS = {"是": True, "否": False, "真": True, "假": False, "对": True, "错": False}

CellReader = Callable[[Any], Any]


def cell_reader(fdef: FieldDef | None, value_kind: str) -> CellReader:
    """(cell) -> input value or None, for a field of `value_kind` (fdef None: the owner)."""
    if fdef is not None and fdef.options:
        return _options_reader(fdef, value_kind == "list")
    if value_kind == "boolean":
        return _boolean
    if value_kind in ("integer", "decimal"):
        return _number
    if value_kind == "date":
        return _date
    if value_kind == "datetime":
        return _datetime
    return _text


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> Any:
    return None if _blank(value) else cell_text(value) if not isinstance(value, str) else value.strip()


def _number(value: Any) -> Any:
    if _blank(value):
        return None
    if isinstance(value, float):
        return Decimal(repr(value))
    return value if isinstance(value, (int, Decimal)) else str(value).strip().replace(",", "")


def _boolean(value: Any) -> Any:
    if _blank(value):
        return None
    if isinstance(value, (bool, int)):
        return bool(value)
    text = str(value).strip()
    return _BOOLEAN_WORDS.get(text, text)


def _date(value: Any) -> Any:
    if _blank(value):
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _datetime(value: Any) -> Any:
    if _blank(value):
        return None
    if isinstance(value, (date, datetime, time)):
        return value.isoformat()
    return str(value).strip()


def _options_reader(fdef: FieldDef, many: bool) -> CellReader:
    words: dict[str, str] = {}
    for option in fdef.options:
        words.setdefault(header_key(option.value), option.value)
        for text in option.label.texts.values():
            words.setdefault(header_key(text), option.value)

    def one(text: str) -> str:
        return words.get(header_key(text), text)

    def read(value: Any) -> Any:
        if _blank(value):
            return None
        text = cell_text(value)
        if many:
            return [one(part.strip()) for part in text.replace("；", ";").split(";") if part.strip()]
        return one(text)

    return read
