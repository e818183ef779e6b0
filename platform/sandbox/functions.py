"""Functions admin code can call: a curated set of Python builtins and the CRM helpers.

The helpers are documented in docs/sandbox.md; each one only works on the values it is
given and never reaches files, the network, modules or object internals.
"""

from __future__ import annotations

import calendar
import decimal
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .guards import (
    MAX_ITEMS,
    MAX_ROUND_DIGITS,
    charge,
    check_decimal,
    check_text_size,
    describe,
    guarded_add,
    guarded_str,
)
from .policy import SandboxLimitError
from .records import RecordView, is_empty

# Curated builtins ------------------------------------------------------------------------


def guarded_int(value: Any = 0, *base: int) -> int:
    if isinstance(value, Decimal):
        check_decimal(value)
    elif isinstance(value, (str, bytes)) and len(value) > 5_000:
        raise SandboxLimitError("text longer than 5,000 characters cannot be turned into a number")
    return int(value, *base)


def guarded_round(number: Any, ndigits: int | None = None) -> Any:
    if ndigits is None:
        if isinstance(number, Decimal):
            check_decimal(number)
        return round(number)
    if isinstance(ndigits, int) and abs(ndigits) > MAX_ROUND_DIGITS:
        raise SandboxLimitError(f"round() accepts at most {MAX_ROUND_DIGITS} digits")
    return round(number, ndigits)


def guarded_range(*args: int) -> range:
    numbers = range(*args)
    try:
        numbers[MAX_ITEMS]
    except IndexError:
        charge(len(numbers))
        return numbers
    raise SandboxLimitError(f"range() may produce at most {MAX_ITEMS:,} numbers")


def guarded_sum(values: Iterable[Any], start: Any = 0) -> Any:
    """sum() of numbers is safe; sum() of lists is repeated concatenation, so check it."""
    if not isinstance(start, (list, tuple)):
        return sum(values, start)
    total = start
    for value in values:
        total = guarded_add(total, value)
    return total


_REAL_TYPES = {guarded_str: str, guarded_int: int}


def guarded_isinstance(value: Any, types: Any) -> bool:
    """isinstance() that understands the guarded str and int of the sandbox."""
    if isinstance(types, tuple):
        types = tuple(_REAL_TYPES.get(kind, kind) for kind in types)
    else:
        types = _REAL_TYPES.get(types, types)
    return isinstance(value, types)


SAFE_BUILTINS: dict[str, Any] = {
    "None": None, "True": True, "False": False,
    "abs": abs, "all": all, "any": any, "bool": bool, "date": date, "datetime": datetime,
    "Decimal": Decimal, "dict": dict, "divmod": divmod, "float": float, "int": guarded_int,
    "isinstance": guarded_isinstance, "len": len, "list": list, "max": max, "min": min,
    "range": guarded_range, "round": guarded_round, "set": set, "sorted": sorted,
    "str": guarded_str, "sum": guarded_sum, "timedelta": timedelta, "tuple": tuple,
}


# Dates -----------------------------------------------------------------------------------


def today() -> date:
    """Today's date in UTC."""
    return datetime.now(timezone.utc).date()


def now() -> datetime:
    """The current date and time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


def _as_date(value: Any, helper: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise TypeError(f"{helper}() needs a date, not {describe(value)}")


def _whole_number(value: Any, helper: str) -> int:
    if isinstance(value, Decimal):
        check_decimal(value)
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        if value % 1 == 0:
            return int(value)
        raise ValueError(f"{helper}() needs a whole number, not {value}")
    raise TypeError(f"{helper}() needs a whole number, not {describe(value)}")


def days_between(start: date | None, end: date | None) -> int | None:
    """Calendar days from ``start`` to ``end`` (negative if end is earlier); None if either is empty."""
    if start is None or end is None:
        return None
    return (_as_date(end, "days_between") - _as_date(start, "days_between")).days


def add_days(value: date | None, days: int) -> date | None:
    if value is None:
        return None
    _as_date(value, "add_days")
    return value + timedelta(days=_whole_number(days, "add_days"))


def add_months(value: date | None, months: int) -> date | None:
    """Move by whole months; the day is clamped to the end of shorter months (Jan 31 + 1 -> Feb 28)."""
    if value is None:
        return None
    _as_date(value, "add_months")
    year, month = divmod(value.year * 12 + value.month - 1 + _whole_number(months, "add_months"), 12)
    if not 1 <= year <= 9999:
        raise ValueError("the date would be outside the years 1 to 9999")
    last_day = calendar.monthrange(year, month + 1)[1]
    return value.replace(year=year, month=month + 1, day=min(value.day, last_day))


def year(value: date | None) -> int | None:
    return None if value is None else _as_date(value, "year").year


def month(value: date | None) -> int | None:
    return None if value is None else _as_date(value, "month").month


def day(value: date | None) -> int | None:
    return None if value is None else _as_date(value, "day").day


def weekday(value: date | None) -> int | None:
    """1 for Monday up to 7 for Sunday."""
    return None if value is None else _as_date(value, "weekday").isoweekday()


def start_of_month(value: date | None) -> date | None:
    return None if value is None else _as_date(value, "start_of_month").replace(day=1)


def end_of_month(value: date | None) -> date | None:
    if value is None:
        return None
    first = _as_date(value, "end_of_month")
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


# Blank values and text -------------------------------------------------------------------


def is_blank(value: Any) -> bool:
    """True for None, an empty lookup, empty or whitespace-only text and empty lists."""
    if is_empty(value):
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        return not value
    return False


def blank_value(value: Any, fallback: Any) -> Any:
    return fallback if is_blank(value) else value


def coalesce(*values: Any) -> Any:
    """The first value that is not None nor an empty lookup (empty text counts as a value)."""
    return next((value for value in values if not is_empty(value)), None)


def text(value: Any) -> str:
    """Any value as text: '' for None, plain digits for decimals, 'a, b' for lists."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        check_decimal(value)
        return format(value, "f")
    if isinstance(value, (list, tuple, set, frozenset)):
        check_text_size(value)
        return ", ".join(text(item) for item in value)
    if isinstance(value, RecordView):
        return str(value)
    return guarded_str(value)


def upper(value: Any) -> str | None:
    return None if value is None else text(value).upper()


def lower(value: Any) -> str | None:
    return None if value is None else text(value).lower()


def trim(value: Any) -> str | None:
    """Text without spaces at the start and end."""
    return None if value is None else text(value).strip()


def contains(haystack: Any, needle: Any) -> bool:
    """Whether text contains other text, or a list contains an item; False when either is empty."""
    if haystack is None or needle is None:
        return False
    if isinstance(haystack, str):
        return text(needle) in haystack
    if isinstance(haystack, (list, tuple, set, frozenset, dict)):
        return needle in haystack
    raise TypeError(f"contains() needs text or a list, not {describe(haystack)}")


# Numbers ---------------------------------------------------------------------------------


def round_to(value: Any, digits: int = 0) -> Any:
    """Commercial rounding (halves away from zero), exact for decimals: round_to(2.675, 2) == 2.68."""
    if value is None:
        return None
    if not isinstance(value, (int, float, Decimal)) or isinstance(value, bool):
        raise TypeError(f"round_to() needs a number, not {describe(value)}")
    digits = _whole_number(digits, "round_to")
    if abs(digits) > MAX_ROUND_DIGITS:
        raise SandboxLimitError(f"round_to() accepts at most {MAX_ROUND_DIGITS} digits")
    exact = value if isinstance(value, Decimal) else Decimal(repr(value))
    check_decimal(exact)
    with decimal.localcontext() as context:
        context.prec = max(28, exact.adjusted() + digits + 3)
        rounded = exact.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    if isinstance(value, Decimal):
        return rounded
    return float(rounded) if isinstance(value, float) else int(rounded)


def percent_of(part: Any, whole: Any) -> Any:
    """``part`` as a percentage of ``whole``; None when either is empty or whole is 0."""
    if part is None or whole is None or whole == 0:
        return None
    if isinstance(part, Decimal) or isinstance(whole, Decimal):
        return Decimal(str(part)) / Decimal(str(whole)) * 100
    return part / whole * 100


BUILTIN_FUNCTIONS: dict[str, Callable[..., Any]] = {
    function.__name__: function
    for function in (
        today, now, days_between, add_days, add_months, year, month, day, weekday,
        start_of_month, end_of_month, is_blank, blank_value, coalesce, text, upper, lower, trim,
        contains, round_to, percent_of,
    )
}
