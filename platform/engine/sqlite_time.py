"""A SQLite function turning a stored UTC timestamp into the calendar date of a time zone.

SQLite has no time zones: a fixed offset is wrong across a daylight-saving change (Berlin is
UTC+1 in March until the last Sunday, UTC+2 after). `crmkit_local_date(ts, zone)` reads the
stored text ('2024-03-31 00:30:00.000000', as `columns.UtcDateTime` writes it) as UTC and
returns its date in `zone` ('2024-03-31'), through zoneinfo, so report date buckets
(engine/reports/compiler.py) fall on the viewer's calendar on either side of a change.
NULL, or text that is no timestamp, gives NULL.
"""
from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

LOCAL_DATE = "crmkit_local_date"


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_date(value: Any, zone: Any) -> str | None:
    if value is None or zone is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value)).replace(tzinfo=timezone.utc)
        return moment.astimezone(_zone(str(zone))).date().isoformat()
    except (ValueError, KeyError, OverflowError):
        return None


def register(dbapi_connection: Any) -> None:
    """Adds the function to one sqlite3 connection (SQLAlchemy's "connect" event)."""
    dbapi_connection.create_function(LOCAL_DATE, 2, local_date, deterministic=True)
