"""The time-zone choice of the settings page: the engine's zones, grouped by region and named for people.

    time_zone_groups("zh")   # (ZoneGroup("亚洲", (ZoneChoice("Asia/Shanghai", "(UTC+08:00) 上海"), ...)), ...)

Each zone shows its offset from UTC now and its city in the user's language (CLDR, through
Babel's get_timezone_location), sorted by offset within its region; UTC comes first, alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import get_timezone_location
from flask_babel import lazy_gettext as _l

from crmkit.engine.security.timezones import UTC, canonical_timezones

#: The IANA database's regions (the first part of a zone name), in the user's language.
REGIONS = {
    "Africa": _l("Africa"), "America": _l("Americas"), "Antarctica": _l("Antarctica"), "Arctic": _l("Arctic"),
    "Asia": _l("Asia"), "Atlantic": _l("Atlantic Ocean"), "Australia": _l("Australia"), "Europe": _l("Europe"),
    "Indian": _l("Indian Ocean"), "Pacific": _l("Pacific Ocean"),
}


@dataclass(frozen=True)
class ZoneChoice:
    value: str
    label: str


@dataclass(frozen=True)
class ZoneGroup:
    label: str
    zones: tuple[ZoneChoice, ...]


def _offset_minutes(zone: str, now: datetime) -> int:
    offset = now.astimezone(ZoneInfo(zone)).utcoffset()
    return int(offset.total_seconds() // 60) if offset else 0


@lru_cache(maxsize=8)
def _cities(language: str) -> dict[str, str]:
    locale = Locale.parse(language.replace("-", "_"))
    return {zone: get_timezone_location(zone, locale=locale, return_city=True) for zone in canonical_timezones()
            if zone != UTC}


def time_zone_groups(language: str, now: datetime | None = None) -> tuple[ZoneGroup, ...]:
    """Every zone a user may choose, grouped by region, each labelled '(UTC+08:00) Shanghai' in `language`."""
    now = now or datetime.now(timezone.utc)
    cities = _cities(language)
    grouped: dict[str, list[tuple[int, str, str]]] = {}
    for zone, city in cities.items():
        grouped.setdefault(zone.split("/")[0], []).append((_offset_minutes(zone, now), city, zone))
    groups = [ZoneGroup("UTC", (ZoneChoice(UTC, "(UTC+00:00) UTC"),))]
    for region in sorted(grouped, key=lambda name: str(REGIONS.get(name, name))):
        zones = sorted(grouped[region])
        groups.append(ZoneGroup(str(REGIONS.get(region, region)), tuple(
            ZoneChoice(zone, f"{_signed(minutes)} {city}") for minutes, city, zone in zones)))
    return tuple(groups)


def _signed(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    return f"(UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d})"
