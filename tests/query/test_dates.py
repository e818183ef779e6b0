"""Relative dates ("this_quarter", "last_n_days:30") and date/datetime filters in a time zone."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from crmkit.engine.query import QueryError, compile_filter, resolve_relative_date

FRIDAY = date(2024, 3, 15)
D = date


@pytest.mark.parametrize("text, today, expected", [
    ("today", FRIDAY, (D(2024, 3, 15), D(2024, 3, 16))),
    ("yesterday", D(2024, 3, 1), (D(2024, 2, 29), D(2024, 3, 1))),
    ("tomorrow", D(2023, 12, 31), (D(2024, 1, 1), D(2024, 1, 2))),
    # Weeks start on Monday, whatever day today is.
    ("this_week", FRIDAY, (D(2024, 3, 11), D(2024, 3, 18))),
    ("this_week", D(2024, 3, 11), (D(2024, 3, 11), D(2024, 3, 18))),
    ("this_week", D(2024, 3, 17), (D(2024, 3, 11), D(2024, 3, 18))),
    ("last_week", FRIDAY, (D(2024, 3, 4), D(2024, 3, 11))),
    ("next_week", FRIDAY, (D(2024, 3, 18), D(2024, 3, 25))),
    ("this_week", D(2025, 1, 1), (D(2024, 12, 30), D(2025, 1, 6))),
    ("last_week", D(2024, 1, 2), (D(2023, 12, 25), D(2024, 1, 1))),
    # Months, across year ends and February in leap and common years.
    ("this_month", FRIDAY, (D(2024, 3, 1), D(2024, 4, 1))),
    ("this_month", D(2024, 2, 29), (D(2024, 2, 1), D(2024, 3, 1))),
    ("this_month", D(2023, 2, 28), (D(2023, 2, 1), D(2023, 3, 1))),
    ("last_month", D(2024, 1, 31), (D(2023, 12, 1), D(2024, 1, 1))),
    ("last_month", D(2024, 3, 31), (D(2024, 2, 1), D(2024, 3, 1))),
    ("next_month", D(2024, 12, 31), (D(2025, 1, 1), D(2025, 2, 1))),
    ("next_month", D(2024, 1, 31), (D(2024, 2, 1), D(2024, 3, 1))),
    # Quarters.
    ("this_quarter", FRIDAY, (D(2024, 1, 1), D(2024, 4, 1))),
    ("this_quarter", D(2024, 4, 1), (D(2024, 4, 1), D(2024, 7, 1))),
    ("this_quarter", D(2024, 12, 31), (D(2024, 10, 1), D(2025, 1, 1))),
    ("last_quarter", FRIDAY, (D(2023, 10, 1), D(2024, 1, 1))),
    ("next_quarter", D(2024, 11, 5), (D(2025, 1, 1), D(2025, 4, 1))),
    # Years.
    ("this_year", FRIDAY, (D(2024, 1, 1), D(2025, 1, 1))),
    ("last_year", FRIDAY, (D(2023, 1, 1), D(2024, 1, 1))),
    ("next_year", D(2024, 12, 31), (D(2025, 1, 1), D(2026, 1, 1))),
    # last_n_days:N is the N days up to and including today; next_n_days:N the N days from today on.
    ("last_n_days:1", FRIDAY, (D(2024, 3, 15), D(2024, 3, 16))),
    ("last_n_days:30", D(2024, 2, 29), (D(2024, 1, 31), D(2024, 3, 1))),
    ("last_n_days:366", D(2024, 12, 31), (D(2024, 1, 1), D(2025, 1, 1))),
    ("next_n_days:7", FRIDAY, (D(2024, 3, 15), D(2024, 3, 22))),
    # last_n_months:N is the N whole months before this one; next_n_months:N the N whole months after it.
    ("last_n_months:3", FRIDAY, (D(2023, 12, 1), D(2024, 3, 1))),
    ("last_n_months:12", D(2024, 1, 10), (D(2023, 1, 1), D(2024, 1, 1))),
    ("next_n_months:2", D(2024, 11, 30), (D(2024, 12, 1), D(2025, 2, 1))),
    # Case and surrounding spaces do not matter.
    (" Today ", FRIDAY, (D(2024, 3, 15), D(2024, 3, 16))),
    ("LAST_N_DAYS:2", FRIDAY, (D(2024, 3, 14), D(2024, 3, 16))),
])
def test_relative_dates(text, today, expected):
    assert resolve_relative_date(text, today) == expected


@pytest.mark.parametrize("text", ["2024-03-15", "soon", "", "last_n_weeks:2", "this week", 5, None])
def test_other_values_are_not_relative_dates(text):
    assert resolve_relative_date(text, FRIDAY) is None


@pytest.mark.parametrize("text", ["last_n_days:0", "last_n_days:x", "next_n_days:-3", "last_n_days:",
                                  "last_n_days:36501", "next_n_months:1201"])
def test_a_count_must_be_a_sensible_whole_number(text):
    with pytest.raises(QueryError, match=r"needs a whole number of (days|months) from 1 to"):
        resolve_relative_date(text, FRIDAY)


@pytest.mark.parametrize("text, today", [("next_year", D(9999, 6, 1)), ("last_n_days:365", D(1, 1, 5)),
                                         ("next_month", D(9999, 12, 1))])
def test_ranges_outside_the_calendar_are_refused(text, today):
    with pytest.raises(QueryError, match="reaches outside the calendar"):
        resolve_relative_date(text, today)


@pytest.fixture
def due(db):
    db.insert("opportunity", *[
        {"name": name, "close_date": day} for name, day in [
            ("feb29", D(2024, 2, 29)), ("mar14", D(2024, 3, 14)), ("mar15", D(2024, 3, 15)),
            ("mar16", D(2024, 3, 16)), ("mar31", D(2024, 3, 31)), ("apr01", D(2024, 4, 1)), ("none", None),
        ]
    ])
    return db


@pytest.mark.parametrize("condition, expected", [
    ("today", {"mar15"}),
    ({"eq": "this_month"}, {"mar14", "mar15", "mar16", "mar31"}),
    ({"lt": "this_month"}, {"feb29"}),
    ({"lte": "this_month"}, {"feb29", "mar14", "mar15", "mar16", "mar31"}),
    ({"gt": "this_month"}, {"apr01"}),
    ({"gte": "today"}, {"mar15", "mar16", "mar31", "apr01"}),
    ({"gt": "today"}, {"mar16", "mar31", "apr01"}),
    ({"lt": "tomorrow"}, {"feb29", "mar14", "mar15"}),
    ({"between": ["last_month", "this_week"]}, {"feb29", "mar14", "mar15", "mar16"}),
    ({"between": ["yesterday", "2024-03-31"]}, {"mar14", "mar15", "mar16", "mar31"}),
    ({"ne": "today"}, {"feb29", "mar14", "mar16", "mar31", "apr01", "none"}),
    ({"in": ["yesterday", "tomorrow", "2024-04-01"]}, {"mar14", "mar16", "apr01"}),
    ({"not_in": ["this_month"]}, {"feb29", "apr01", "none"}),
    ("2024-02-29", {"feb29"}),
    ({"gte": "2024-03-16"}, {"mar16", "mar31", "apr01"}),
    ({"eq": "last_n_days:2"}, {"mar14", "mar15"}),
    ({"eq": "next_n_months:1"}, {"apr01"}),
])
def test_date_fields(due, condition, expected):
    assert due.names("opportunity", {"close_date": condition}) == expected


def test_relative_dates_count_from_the_contexts_today(due):
    assert due.names("opportunity", {"close_date": "today"}, today=D(2024, 4, 1)) == {"apr01"}
    assert due.names("opportunity", {"close_date": "last_month"}, today=D(2024, 4, 1)) == {
        "mar14", "mar15", "mar16", "mar31"}


def test_without_a_fixed_today_it_is_today_in_the_contexts_time_zone(db):
    zone = "Pacific/Kiritimati"  # UTC+14: its date often differs from the UTC date
    local_today = datetime.now(ZoneInfo(zone)).date()
    db.insert("opportunity", {"name": "due today", "close_date": local_today})
    assert db.names("opportunity", {"close_date": "today"}, today=None, timezone=zone) == {"due today"}


def test_an_unknown_time_zone_is_a_query_error(db):
    with pytest.raises(QueryError, match="'Mars/Olympus' is not a known time zone"):
        db.names("opportunity", {"closed_at": "today"}, today=None, timezone="Mars/Olympus")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


@pytest.fixture
def closings(db):
    # Shanghai is UTC+8: its 15 March runs from 14 March 16:00 to 15 March 16:00 UTC.
    db.insert("opportunity", *[
        {"name": name, "closed_at": moment} for name, moment in [
            ("before", utc(2024, 3, 14, 15, 59, 59)), ("start", utc(2024, 3, 14, 16)),
            ("late", utc(2024, 3, 15, 15, 59, 59)), ("next", utc(2024, 3, 15, 16)), ("none", None),
        ]
    ])
    return db


@pytest.mark.parametrize("condition, expected", [
    ("today", {"start", "late"}),
    ("yesterday", {"before"}),
    ({"gt": "yesterday"}, {"start", "late", "next"}),
    ({"lte": "today"}, {"before", "start", "late"}),
    ({"lt": "today"}, {"before"}),
    ("2024-03-15", {"start", "late"}),
    ({"lte": "2024-03-14"}, {"before"}),
    ({"between": ["2024-03-15", "tomorrow"]}, {"start", "late", "next"}),
    ({"ne": "today"}, {"before", "next", "none"}),
    ("2024-03-15T16:00:00Z", {"next"}),
    ("2024-03-16T00:00:00+08:00", {"next"}),
    ({"gte": "2024-03-15T15:59:59+00:00"}, {"late", "next"}),
])
def test_datetime_days_run_midnight_to_midnight_in_the_contexts_time_zone(closings, condition, expected):
    assert closings.names("opportunity", {"closed_at": condition}, timezone="Asia/Shanghai") == expected


def test_the_same_filter_in_utc(closings):
    assert closings.names("opportunity", {"closed_at": "today"}, timezone="UTC") == {"late", "next"}


def test_a_day_with_a_daylight_saving_change(db):
    # New York's 10 March 2024 has 23 hours: 05:00 UTC to 04:00 UTC the next day.
    db.insert("opportunity", *[
        {"name": name, "closed_at": moment} for name, moment in [
            ("before", utc(2024, 3, 10, 4, 59)), ("first", utc(2024, 3, 10, 5)),
            ("last", utc(2024, 3, 11, 3, 59)), ("after", utc(2024, 3, 11, 4)),
        ]
    ])
    names = db.names("opportunity", {"closed_at": "today"}, today=D(2024, 3, 10), timezone="America/New_York")
    assert names == {"first", "last"}


def test_date_operators_refuse_non_dates(ctx):
    with pytest.raises(QueryError, match="'next tuesday' is not a valid value for close_date: Not a valid date."):
        compile_filter(ctx, "opportunity", {"close_date": {"gt": "next tuesday"}})
