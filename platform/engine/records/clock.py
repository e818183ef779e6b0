"""The acting user's clock: `now()` in UTC and `today()` in the actor's time zone.

Expressions evaluated at save time (default expressions and validation rules) get
`today()` and `now()` from here, so "today" is the acting user's calendar day, the same
day the filter word `today` means for them (crmkit.engine.query.dates). The moment comes
from `Crm.clock`, the one seam tests replace to fix the time.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, Callable
from zoneinfo import ZoneInfo


def utc_now() -> datetime:
    """The current moment, timezone-aware, in UTC: the default `Crm.clock`."""
    return datetime.now(timezone.utc)


def local_today(moment: datetime, timezone_name: str) -> date:
    """The calendar date of `moment` (aware) in the IANA time zone `timezone_name`."""
    return moment.astimezone(ZoneInfo(timezone_name)).date()


def clock_functions(moment: datetime, timezone_name: str) -> dict[str, Callable[..., Any]]:
    """`today()` and `now()` for one save: fixed at `moment`, today in the actor's zone.

    Fixed per save, so every rule of one save agrees on the date even across midnight. The
    date is worked out when `today()` is first called (most saves call neither).
    """
    day: list[date] = []

    def today() -> date:
        if not day:
            day.append(local_today(moment, timezone_name))
        return day[0]
    return {"today": today, "now": lambda: moment}
