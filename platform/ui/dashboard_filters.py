"""A dashboard's filters from its address: the date range, owner and team every widget obeys.

    chosen = dashboard_filters(request.args, today=date(2026, 12, 2))
    chosen.date_range          # (date(2026, 10, 1), date(2026, 12, 31)) for ?period=this_quarter
    chosen.engine_filters()    # {"date_range": ..., "owner_ids": [7], "team_id": None}

Keys: `period` (one of PERIODS; "custom" reads `from` and `to`, ISO dates, either may be
blank; no period: all dates, unless `from` or `to` is given, which means "custom"), `owner` (a user id) and `team` (a team id). A value that is not
one of these raises FilterProblem with a sentence in the viewer's language (the page shows
it, 400). A KPI's previous period is the engine's (`context.dashboards.previous`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Mapping

from flask_babel import lazy_gettext as _l

#: The date ranges a dashboard offers, in the order shown, with their labels.
PERIODS = {
    "": _l("All dates"),
    "this_month": _l("This month"),
    "last_month": _l("Last month"),
    "this_quarter": _l("This quarter"),
    "last_quarter": _l("Last quarter"),
    "this_year": _l("This year"),
    "last_year": _l("Last year"),
    "last_30_days": _l("Last 30 days"),
    "last_90_days": _l("Last 90 days"),
    "custom": _l("Custom range"),
}
#: The query-string keys of a dashboard's filters.
FILTER_KEYS = ("period", "from", "to", "owner", "team")


class FilterProblem(ValueError):
    """A dashboard filter value that cannot be used; its text is a sentence for the page."""


@dataclass(frozen=True)
class DashboardFilters:
    """The chosen filters: `period` (a key of PERIODS), the dates, owner and team; `args` as given (for links)."""

    period: str = ""
    date_range: tuple[date | None, date | None] | None = None
    owner_id: int | None = None
    team_id: int | None = None
    args: tuple[tuple[str, str], ...] = ()

    def engine_filters(self) -> dict[str, Any]:
        """The keyword arguments of `context.dashboards.widget` and `context.reports.run`."""
        return {"date_range": self.date_range, "owner_ids": [self.owner_id] if self.owner_id is not None else None,
                "team_id": self.team_id}

    @property
    def closed_range(self) -> bool:
        """Whether the date range has both ends (a KPI then has a previous period to compare with)."""
        return self.date_range is not None and None not in self.date_range


def _month_start(day: date, back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - back
    return date(index // 12, index % 12 + 1, 1)


def _month_span(day: date, months: int, back: int) -> tuple[date, date]:
    """The span of `months` months starting `back` spans before the one holding `day` (aligned to `months`)."""
    aligned = date(day.year, (day.month - 1) // months * months + 1, 1)
    start = _month_start(aligned, back * months)
    end = _month_start(start, -months) - timedelta(days=1)
    return start, end


def period_range(period: str, today: date) -> tuple[date, date] | None:
    """The first and last day of a calendar period holding today (or the one before), or of a rolling
    period ending today; None for "" and "custom"."""
    spans = {"month": 1, "quarter": 3, "year": 12}
    if period.startswith(("this_", "last_")) and period.split("_", 1)[1] in spans:
        return _month_span(today, spans[period.split("_", 1)[1]], 0 if period.startswith("this_") else 1)
    if period in ("last_30_days", "last_90_days"):
        return today - timedelta(days=int(period.split("_")[1]) - 1), today
    return None


def _day(text: str | None, label: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise FilterProblem(str(_l("“%(value)s” is not a date for %(filter)s; use a date such as 2026-03-31.",
                                   value=text, filter=label))) from None


def _whole(text: str | None, label: str) -> int | None:
    if not text:
        return None
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) < 2 ** 63:
        raise FilterProblem(str(_l("“%(value)s” is not a choice for %(filter)s.", value=text, filter=label)))
    return int(value)


def dashboard_filters(args: Mapping[str, str], today: date) -> DashboardFilters:
    """The filters the address `args` chooses (see the module docstring); FilterProblem for a bad value."""
    period = (args.get("period") or "").strip()
    if not period and (args.get("from") or args.get("to")):
        period = "custom"  # dates typed without choosing "Custom range" mean it
    if period not in PERIODS:
        raise FilterProblem(str(_l("“%(value)s” is not a choice for %(filter)s.", value=period,
                                   filter=_l("Date range"))))
    date_range: tuple[date | None, date | None] | None = None
    if period == "custom":
        start, end = _day(args.get("from"), str(_l("From"))), _day(args.get("to"), str(_l("To")))
        if start is not None and end is not None and start > end:
            raise FilterProblem(str(_l("The date range ends before it starts.")))
        if start is not None or end is not None:
            date_range = (start, end)
    elif period:
        date_range = period_range(period, today)
    owner = _whole(args.get("owner"), str(_l("Owner")))
    team = _whole(args.get("team"), str(_l("Team")))
    kept = tuple((key, str(args.get(key))) for key in FILTER_KEYS if args.get(key))
    return DashboardFilters(period, date_range, owner, team, kept)
