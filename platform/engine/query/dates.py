"""Relative dates ("this_quarter", "last_n_days:30") as half-open ranges of days.

    >>> resolve_relative_date("this_month", date(2024, 2, 10))
    (datetime.date(2024, 2, 1), datetime.date(2024, 3, 1))
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crmkit.engine import messages
from crmkit.engine.query.errors import QueryError
from crmkit.engine.query.inputs import ascii_whole_number

DayRange = tuple[date, date]

#: Largest N of last_n_days:N and friends (about a century), so ranges stay within the calendar.
MAX_DAYS = 36_500
MAX_MONTHS = 1_200

_COUNTED = re.compile(r"(last|next)_n_(days|months):(.*)")


def _month_start(day: date, shift: int = 0) -> date:
    index = day.year * 12 + day.month - 1 + shift
    return date(index // 12, index % 12 + 1, 1)


def _week(today: date, shift: int) -> DayRange:
    monday = today - timedelta(days=today.weekday()) + timedelta(weeks=shift)
    return monday, monday + timedelta(days=7)


def _months(today: date, first: int, count: int) -> DayRange:
    """`count` calendar months starting `first` months from the current one."""
    return _month_start(today, first), _month_start(today, first + count)


def _quarter(today: date, shift: int) -> DayRange:
    first = -((today.month - 1) % 3) + 3 * shift
    return _months(today, first, 3)


def _year(today: date, shift: int) -> DayRange:
    return date(today.year + shift, 1, 1), date(today.year + shift + 1, 1, 1)


def _days(today: date, first: int, count: int) -> DayRange:
    start = today + timedelta(days=first)
    return start, start + timedelta(days=count)


NAMED: dict[str, Callable[[date], DayRange]] = {
    "today": lambda t: _days(t, 0, 1),
    "yesterday": lambda t: _days(t, -1, 1),
    "tomorrow": lambda t: _days(t, 1, 1),
    "this_week": lambda t: _week(t, 0),
    "last_week": lambda t: _week(t, -1),
    "next_week": lambda t: _week(t, 1),
    "this_month": lambda t: _months(t, 0, 1),
    "last_month": lambda t: _months(t, -1, 1),
    "next_month": lambda t: _months(t, 1, 1),
    "this_quarter": lambda t: _quarter(t, 0),
    "last_quarter": lambda t: _quarter(t, -1),
    "next_quarter": lambda t: _quarter(t, 1),
    "this_year": lambda t: _year(t, 0),
    "last_year": lambda t: _year(t, -1),
    "next_year": lambda t: _year(t, 1),
}

#: Every relative date a user may write, for documentation and error messages.
RELATIVE_DATES = tuple(NAMED) + ("last_n_days:N", "next_n_days:N", "last_n_months:N", "next_n_months:N")


def resolve_relative_date(text: str, today: date) -> DayRange | None:
    """The half-open range [start, end) of days `text` means, or None if it is no relative date.

    last_n_days:N is the N days up to and including today; next_n_days:N the N days from
    today on; last_n_months:N the N whole months before this one; next_n_months:N the N
    whole months after this one. Weeks start on Monday.
    """
    if not isinstance(text, str):
        return None
    word = text.strip().lower()
    try:
        if word in NAMED:
            return NAMED[word](today)
        counted = _COUNTED.fullmatch(word)
        if counted is None:
            return None
        return _counted(counted.group(1), counted.group(2), counted.group(3), today)
    except QueryError:
        raise
    except (OverflowError, ValueError):
        raise QueryError(messages.OUTSIDE_CALENDAR(text=text)) from None


def _counted(direction: str, unit: str, number: str, today: date) -> DayRange:
    limit = MAX_DAYS if unit == "days" else MAX_MONTHS
    if ascii_whole_number(number.strip()) is None or not 1 <= int(number) <= limit:
        raise QueryError(messages.COUNTED_DAYS(word=f"{direction}_n_{unit}:{number}", unit=unit, limit=f"{limit:,}",
                                               example=f"{direction}_n_{unit}:30"))
    count = int(number)
    if unit == "days":
        return _days(today, 1 - count, count) if direction == "last" else _days(today, 0, count)
    return _months(today, -count, count) if direction == "last" else _months(today, 1, count)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise QueryError(messages.NOT_A_QUERY_ZONE(name=name)) from None


def today_in(timezone_name: str) -> date:
    """The calendar date right now in the named time zone."""
    return datetime.now(zone(timezone_name)).date()


def day_start_utc(day: date, timezone_name: str) -> datetime:
    """Midnight at the start of `day` in the named time zone, as a UTC moment."""
    return datetime.combine(day, time(), tzinfo=zone(timezone_name)).astimezone(timezone.utc)


@dataclass(frozen=True)
class Span:
    """A half-open range [start, end) a relative date or a whole day stands for."""

    start: Any
    end: Any


DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def date_span(value: Any, kind: str, today: date | None, timezone_name: str, key: str) -> Span | None:
    """The range `value` means on a date or datetime field, or None when it is one point in time.

    Relative dates are ranges; on a datetime field a plain date is the whole day. On
    datetime fields the ranges run from midnight to midnight in `timezone_name`, in UTC.
    """
    days = None
    if isinstance(value, str):
        days = resolve_relative_date(value, today or today_in(timezone_name))
    if days is None and kind == "datetime":
        day = _plain_date(value, key)
        days = (day, _next_day(day, value)) if day is not None else None
    if days is None:
        return None
    if kind == "date":
        return Span(*days)
    try:
        return Span(day_start_utc(days[0], timezone_name), day_start_utc(days[1], timezone_name))
    except OverflowError:
        raise QueryError(messages.OUTSIDE_CALENDAR(text=value)) from None


def _plain_date(value: Any, key: str) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and DAY.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise QueryError(messages.BAD_VALUE(value=value, key=key, reason=messages.NOT_DATE())) from None
    return None


def _next_day(day: date, value: Any) -> date:
    try:
        return day + timedelta(days=1)
    except OverflowError:
        raise QueryError(messages.OUTSIDE_CALENDAR(text=value)) from None
