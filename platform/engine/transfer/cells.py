"""One file cell as the input value a save takes for its field.

- Empty cells (and cells of spaces) give None: on a new record the field keeps its
  default, on an update the stored value stays.
- Picklists take the option's value or its label in any language ("Mr." or "先生"); a
  multi-select takes values or labels separated by ";" (how exports write them).
- Checkboxes take what the save takes (true/false, yes/no, 1/0) and 是/否, 真/假.
- Spreadsheet dates and times become ISO 8601 text; whole numbers stay numbers for number
  fields and become their digits for text fields (a phone number Excel held as a number).
- Dates written year first, as Chinese Excel saves them in a CSV, become ISO 8601 text:
  2024/3/5, 2024-3-5, 2024.3.5, 2024年3月5日, with a time for datetime fields (2024/3/5 14:30,
  2024-03-05 14:30:15); full-width digits are digits. A day/month order (3/5/2024) is left as
  written, for the save to refuse: it is ambiguous.
- A date-time without an offset (a spreadsheet's date-time cell, 2024/3/5 14:30, 2024-03-05T14:30) is a
  moment in the importing user's time zone, as the form reads it and the export writes it (a date alone: its
  midnight there); one with an offset (2024-03-05T14:30+08:00, Z) is that moment.
- Numbers and money lose a currency sign or code before or after them (¥1,234.50, ￥１，２３４.５０,
  $, €, £, CNY 1234, RMB 1234, 1234元) and their thousands separators (read strictly by babel:
  1,234.50; "1.234,50" or "1,23" is left as written, for the save to refuse), and stay exact
  (the digits as written, no float).
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Callable
from zoneinfo import ZoneInfo

from babel.numbers import NumberFormatError, list_currencies, parse_decimal

from crmkit.engine.transfer.files import cell_text
from crmkit.engine.transfer.mapping import header_key
from crmkit.metadata.model import FieldDef

#: Chinese words for a checkbox, beside the ones marshmallow knows.
_BOOLEAN_WORDS = {"是": True, "否": False, "真": True, "假": False, "对": True, "错": False}

CellReader = Callable[[Any], Any]


def cell_reader(fdef: FieldDef | None, value_kind: str, zone: str = "UTC") -> CellReader:
    """(cell) -> input value or None, for a field of `value_kind` (fdef None: the owner); `zone` (an IANA time zone
    name, the importing user's) is where a date-time written without an offset happened."""
    if fdef is not None and fdef.options:
        return _options_reader(fdef, value_kind == "list")
    if value_kind == "boolean":
        return _boolean
    if value_kind in ("integer", "decimal"):
        return _number
    if value_kind == "date":
        return _date
    if value_kind == "datetime":
        return _datetime_reader(ZoneInfo(zone))
    return _text


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> Any:
    return None if _blank(value) else cell_text(value) if not isinstance(value, str) else value.strip()


#: Year, month, day (2024/3/5, 2024-03-05, 2024.3.5, 2024年3月5日), then an optional time (14:30, 14:30:15.5).
_YEAR_FIRST = re.compile(r"(?P<year>\d{4})\s*(?:(?P<sep>[-/.])\s*(?P<month>\d{1,2})\s*(?P=sep)|年\s*(?P<month_zh>\d{1,2})"
                         r"\s*月)\s*(?P<day>\d{1,2})\s*日?"
                         r"(?:(?:\s+|T)(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,6}))?)?)?")
#: Currency words written beside an amount: ISO 4217 codes (babel), RMB and 元 (yuan).
_CURRENCY_WORDS = frozenset(list_currencies()) | {"RMB"}
#: An amount with a sign, and a currency before or after it: a code or word (checked against _CURRENCY_WORDS) or one
#: mark that is neither a letter, a digit, a space nor part of a number (checked to be a currency sign).
_CURRENCY_AROUND = re.compile(r"(?P<sign>[-+]?)\s*(?P<before>[A-Za-z]{3}|[^\w\s.,+-])?\s*(?P<amount>.*?)\s*"
                              r"(?P<after>[A-Za-z]{3}|元|[^\w\s.,+-])?")


def _number(value: Any) -> Any:
    if _blank(value):
        return None
    if isinstance(value, float):
        return Decimal(repr(value))
    return value if isinstance(value, (int, Decimal)) else _number_text(str(value))


def _number_text(text: str) -> str:
    """A number or an amount as written, without its currency and grouping: "1234.50" for "¥1,234.50"; the text
    as written (stripped) when it is no such number, for the save to refuse."""
    written = text.strip()
    plain = unicodedata.normalize("NFKC", written).strip()
    match = _CURRENCY_AROUND.fullmatch(plain)
    if match is None:
        return written
    before, after = match["before"], match["after"]
    for mark in (before, after):
        if mark and not (_is_currency_sign(mark) or mark.upper() in _CURRENCY_WORDS or mark == "元"):
            return written
    amount = match["amount"]
    if before and after or not amount:
        return written
    if match["sign"]:
        if amount[:1] in "+-":  # a sign on both sides of the currency sign
            return written
        amount = match["sign"] + amount
    if "," not in amount:
        return amount
    try:
        return str(parse_decimal(amount, locale="en", strict=True))
    except NumberFormatError:  # "1.234,50", "1,23": not the grouping of a number written with a decimal point
        return written


def _is_currency_sign(mark: str) -> bool:
    return len(mark) == 1 and unicodedata.category(mark) == "Sc"


def _year_first(text: str, with_time: bool) -> str | None:
    """ISO 8601 for a date (or, `with_time`, a datetime) written year first; None for any other text or a day
    that does not exist (2024/2/30). A date field takes a time only at midnight (Excel's 2024/3/5 0:00)."""
    match = _YEAR_FIRST.fullmatch(unicodedata.normalize("NFKC", text).strip())
    if match is None:
        return None
    month = match["month"] or match["month_zh"]
    try:
        day = date(int(match["year"]), int(month), int(match["day"]))
        if match["hour"] is None:
            return day.isoformat()
        moment = time(int(match["hour"]), int(match["minute"]), int(match["second"] or 0),
                      int((match["fraction"] or "0").ljust(6, "0")))
    except ValueError:
        return None
    if with_time:
        return datetime.combine(day, moment).isoformat()
    return day.isoformat() if moment == time() else None


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
    text = str(value).strip()
    return _year_first(text, with_time=False) or text


def _datetime_reader(zone: ZoneInfo) -> CellReader:
    def read(value: Any) -> Any:
        if _blank(value):
            return None
        if isinstance(value, datetime):
            return _in_zone(value, zone)
        if isinstance(value, date):
            return _in_zone(datetime.combine(value, time()), zone)
        if isinstance(value, time):
            return value.isoformat()  # a time without its day: the save refuses it
        text = str(value).strip()
        written = _year_first(text, with_time=True) or text
        try:
            moment = datetime.fromisoformat(written)
        except ValueError:
            return written  # not a date-time: the save says so
        return _in_zone(moment, zone)

    return read


def _in_zone(moment: datetime, zone: ZoneInfo) -> str:
    """ISO 8601 with its offset: `moment` as it is when it has an offset, else the same wall time in `zone`."""
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)).isoformat()


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
