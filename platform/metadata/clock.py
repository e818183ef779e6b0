"""Stored derived values must not depend on the clock.

A stored formula or rollup is recomputed when the fields it reads change, never when a
day passes, so `today()` in a formula or `this_month` in a rollup condition would be
right on the day of the save and silently wrong after. Such metadata is refused when it
is validated; validation rules may call `today()` (they run at save time), and list
views and reports filter with relative dates when they are read (docs/metadata.md).
"""
from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

from crmkit.sandbox import compile_expression

#: Helper functions whose value changes with the clock.
CLOCK_FUNCTIONS = frozenset({"today", "now"})

#: The filter language's relative dates (crmkit.engine.query.dates; a test keeps both in step).
RELATIVE_DATE_WORDS = frozenset({
    "today", "yesterday", "tomorrow", "this_week", "last_week", "next_week", "this_month", "last_month",
    "next_month", "this_quarter", "last_quarter", "next_quarter", "this_year", "last_year", "next_year",
})
_COUNTED = re.compile(r"(last|next)_n_(days|months):.*")
DATE_KINDS = frozenset({"date", "datetime"})
#: System fields holding a moment.
SYSTEM_MOMENTS = frozenset({"created_at", "updated_at"})


def is_relative_date(value: Any) -> bool:
    """Whether the filter language reads `value` as a date relative to today (`this_month`, `last_n_days:30`)."""
    if not isinstance(value, str):
        return False
    word = value.strip().lower()
    return word in RELATIVE_DATE_WORDS or _COUNTED.fullmatch(word) is not None


def clock_calls(source: str) -> list[str]:
    """The clock helpers (`today`, `now`) an expression that compiles refers to, sorted."""
    return sorted(CLOCK_FUNCTIONS & compile_expression(source).names)


def formula_clock_problem(source: str) -> str | None:
    """Why a stored formula may not call the clock, or None."""
    calls = clock_calls(source)
    if not calls:
        return None
    named = " and ".join(f"{name}()" for name in calls)
    return (f"the formula calls {named}, whose value changes with the calendar, but a formula is stored and "
            "recomputed only when the fields it reads change, so its value would go stale. Compare with "
            "today() in a validation rule (checked at each save) instead, or filter with a relative date "
            "such as this_month in a list view or report (evaluated when read).")


def relative_dates(condition: Any, is_date_field: Any) -> Iterator[tuple[str, str]]:
    """(field, value) of each relative date a filter compares a date or date-time field with.

    `is_date_field(key)` says whether the condition key (`field` or `lookup.field`) holds
    a date or date-time.
    """
    if isinstance(condition, (list, tuple)):
        for item in condition:
            yield from relative_dates(item, is_date_field)
        return
    if not isinstance(condition, Mapping):
        return
    for key, value in condition.items():
        if key in ("and", "or", "not"):
            yield from relative_dates(value, is_date_field)
        elif is_date_field(key):
            for text in _strings(value):
                if is_relative_date(text):
                    yield key, text


def rollup_clock_problem(field: str, value: str) -> str:
    return (f"the rollup's condition compares '{field}' with '{value}', a date relative to today, but a rollup "
            "is stored and recomputed only when its child records change, so it would go stale as days pass. "
            "Use fixed dates in the condition, or filter with the relative date in a list view or report "
            "(evaluated when read).")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
