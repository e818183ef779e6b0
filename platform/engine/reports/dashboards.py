"""Dashboards for one user: which they may see, and each widget's report run with the dashboard's filters.

    boards = context.dashboards.names()                   # [DashboardDef, ...] the user may see
    board = context.dashboards.get("sales")               # DashboardError (404) if unknown or not theirs
    result = context.dashboards.widget("sales", 0, date_range=(date(2026, 10, 1), date(2026, 12, 31)))
    before = context.dashboards.previous("sales", 0, date_range=(date(2026, 10, 1), date(2026, 12, 31)))

A dashboard is visible to a user who may run at least one of its widgets' reports (they may
read its object and every field it reads: ReportService.may_run). A widget whose report they
may not run is not available to them: `widget()` refuses it (403) with a sentence that names
neither the object, nor a field, nor any figure. Each widget is the report's run (`context.reports.run`) with the dashboard-wide
filters: the date range (on the report's `date_field`), owners and team; a filter the
dashboard does not offer is refused (400).

Widget results are cached in the process for at most WIDGET_MAX_AGE seconds, per user and
rights version, the newest change-log id, language, time zone, metadata generation, dashboard,
widget and filters (WidgetCache, a bounded LRU per Crm): a change of rights, records or metadata
is never served an old result, and `ReportResult.computed_at` says when the database answered, so a page can show
the age. A KPI's comparison (`previous`) is the same report over the period just before
the date range: as many whole months before it when the range is whole calendar months
(a quarter before a quarter), otherwise as many days.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Hashable, Sequence
from weakref import WeakKeyDictionary

from sqlalchemy import func, select

from crmkit.engine import messages
from crmkit.engine.records.changes import CHANGE_TABLE
from crmkit.errors import CrmkitError
from crmkit.metadata.reports import DashboardDef, ReportDef, WidgetDef

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext
    from crmkit.engine.crm import Crm
    from crmkit.engine.reports.result import ReportResult

#: How long a widget's result may be served from the cache, in seconds.
WIDGET_MAX_AGE = 60
#: The most widget results kept per Crm (least recently used dropped first).
WIDGET_CACHE_SIZE = 512
DateRange = tuple["date | None", "date | None"]
#: The dashboard filter each keyword argument of `widget` belongs to.
FILTER_OF = {"date_range": "date_range", "owner_ids": "owner", "team_id": "team"}


class DashboardError(CrmkitError):
    """A dashboard or widget the user cannot have: unknown or not theirs (404), not available (403), bad filter (400)."""

    title = "Dashboard not available"


class WidgetCache:
    """A bounded, thread-safe LRU of widget results, each kept for at most `max_age` seconds.

    Keys are tuples of hashable parts (see the module docstring); values are (stored at, result).
    """

    def __init__(self, size: int = WIDGET_CACHE_SIZE, max_age: float = WIDGET_MAX_AGE) -> None:
        self.size, self.max_age = size, max_age
        self._items: OrderedDict[Hashable, tuple[datetime, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, now: datetime) -> Any | None:
        """The result kept under `key` if it is at most `max_age` seconds old at `now`; else None."""
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            stored, value = found
            if not timedelta(0) <= now - stored <= timedelta(seconds=self.max_age):
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any, now: datetime) -> None:
        with self._lock:
            self._items[key] = (now, value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        """Forget every kept result (the next `get` of any key is None), e.g. to measure a widget computed afresh."""
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


_caches: "WeakKeyDictionary[Crm, WidgetCache]" = WeakKeyDictionary()
_caches_lock = threading.Lock()


def widget_cache(crm: "Crm") -> WidgetCache:
    """The widget cache of `crm` (one per Crm object, so two databases never share results)."""
    with _caches_lock:
        cache = _caches.get(crm)
        if cache is None:
            cache = _caches[crm] = WidgetCache()
        return cache


def previous_period(date_range: DateRange | None) -> tuple[date, date] | None:
    """The period just before `date_range` (inclusive dates), of equal length; None for an open-ended range
    or one with no period before it (it starts too near 0001-01-01).

    Whole calendar months go back as many months ((2026-10-01, 2026-12-31) -> (2026-07-01,
    2026-09-30)); any other range goes back as many days.
    """
    if date_range is None or date_range[0] is None or date_range[1] is None:
        return None
    start, end = date_range
    if end < start:
        return None
    if start.day == 1 and (end == date.max or (end + timedelta(days=1)).day == 1):
        months = (end.year - start.year) * 12 + end.month - start.month + 1
        index = start.year * 12 + start.month - 1 - months
        if index // 12 < date.min.year:
            return None  # before the first day a date can hold
        return date(index // 12, index % 12 + 1, 1), start - timedelta(days=1)
    days = (end - start).days + 1
    if (start - date.min).days < days:
        return None
    return start - timedelta(days=days), start - timedelta(days=1)


class DashboardService:
    """The dashboards of one UserContext (`context.dashboards`); see the module docstring."""

    def __init__(self, context: "UserContext") -> None:
        self.context = context

    @property
    def _registry(self):
        return self.context.runtime.registry

    def may_run(self, report: ReportDef | None) -> bool:
        """Whether the user may run `report` (ReportService.may_run: its object and every field it reads)."""
        if report is None:
            return False
        return self.context.reports.may_run(report)

    def names(self) -> list[DashboardDef]:
        """The dashboards the user may see, in the order the packages declare them."""
        reports = self._registry.reports
        return [board for board in self._registry.dashboards.values()
                if any(self.may_run(reports.get(widget.report)) for widget in board.widgets)]

    def get(self, name: str) -> DashboardDef:
        """The dashboard `name`; DashboardError (404) if there is none the user may see by that name."""
        visible = {board.name: board for board in self.names()}
        board = visible.get(name) if isinstance(name, str) else None
        if board is None:
            raise DashboardError(messages.NO_DASHBOARD(name=repr(str(name))), status=404)
        return board

    def available(self, name: str, index: int) -> bool:
        """Whether the widget `index` of the dashboard `name` is available to the user (they may read its object)."""
        return self.may_run(self._registry.reports.get(self._widget(self.get(name), index).report))

    def widget(self, name: str, index: int, *, date_range: DateRange | None = None,
               owner_ids: Sequence[int] | None = None, team_id: int | None = None) -> "ReportResult":
        """The result of widget `index` (0-based) of dashboard `name` under the dashboard's filters.

        `date_range` is (first day, last day), either None for open; `owner_ids` the owners
        whose records count; `team_id` a team whose members' records count. Raises
        DashboardError: 404 for an unknown dashboard or widget, 403 for a widget the user may
        not see, 400 for a filter the dashboard does not offer; and whatever the report's run
        raises (a hidden field: 403). Served from the cache when computed in the last minute.
        """
        self.context.refresh_rights()
        board = self.get(name)
        definition = self._widget(board, index)
        report = self._registry.reports.get(definition.report)
        if not self.may_run(report):
            raise DashboardError(messages.WIDGET_NOT_AVAILABLE(), status=403)
        filters = {"date_range": _dates(date_range), "owner_ids": _ids(owner_ids), "team_id": team_id}
        for key, value in filters.items():
            if value is not None and FILTER_OF[key] not in board.filters:
                raise DashboardError(messages.FILTER_NOT_OFFERED(
                    name=repr(board.name), filter=FILTER_OF[key].replace("_", " "),
                    offered=", ".join(board.filters) or "none"), status=400)
        # Inside a transaction a widget counts its uncommitted writes (maybe never saved) and reads the database of
        # now with the rights of its start: computed afresh, and kept for nobody.
        cache = widget_cache(self.context.crm) if not self.context.in_transaction else None
        key = self._key(board, index, filters) if cache is not None else None
        now = self.context.now()
        found = cache.get(key, now) if cache is not None else None
        if found is not None:
            return found
        result = self.context.reports.run(definition.report, date_range=filters["date_range"],
                                          owner_ids=filters["owner_ids"], team_id=team_id)
        if result.computed_at is None:
            result = replace(result, computed_at=now)
        if cache is not None:
            cache.put(key, result, now)
        return result

    def previous(self, name: str, index: int, *, date_range: DateRange | None = None,
                 owner_ids: Sequence[int] | None = None, team_id: int | None = None) -> "ReportResult | None":
        """The widget over the period just before `date_range` (previous_period), for a KPI's change; None without one."""
        before = previous_period(_dates(date_range))
        if before is None:
            return None
        return self.widget(name, index, date_range=before, owner_ids=owner_ids, team_id=team_id)

    def _widget(self, board: DashboardDef, index: int) -> WidgetDef:
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(board.widgets):
            raise DashboardError(messages.NO_WIDGET(name=repr(board.name), index=str(index),
                                                    count=str(len(board.widgets))), status=404)
        return board.widgets[index]

    def _key(self, board: DashboardDef, index: int, filters: dict[str, Any]) -> tuple:
        context = self.context
        actor = context.actor
        return (actor.user_id, context.rights_version, self._last_change(), actor.language, actor.timezone,
                context.crm.generation, board.name, index,
                filters["date_range"], filters["owner_ids"], filters["team_id"])

    def _last_change(self) -> int | None:
        """The newest id of the change log, which every committed write of a record appends to (records/changes.py:
        creates, edits, owner changes, deletes, restores, erasures): a result kept before a write is not served
        after it (a record given away, an erased name), though on PostgreSQL a write committing after a later id
        is kept for at most WIDGET_MAX_AGE. One primary-key read."""
        changes = self.context.runtime.system_table(CHANGE_TABLE)
        with self.context.reading() as connection:
            return connection.execute(select(func.max(changes.c.id))).scalar()


def _dates(date_range: DateRange | None) -> tuple[date | None, date | None] | None:
    if date_range is None or (date_range[0] is None and date_range[1] is None):
        return None
    return (date_range[0], date_range[1])


def _ids(owner_ids: Sequence[int] | None) -> tuple[int, ...] | None:
    return tuple(sorted(set(owner_ids))) if owner_ids else None
