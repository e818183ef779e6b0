"""The time zones a user may choose: the IANA database's zones for places, plus UTC.

    canonical_timezones()            # frozenset({"Africa/Abidjan", ..., "Asia/Shanghai", ..., "UTC"})
    checked_timezone("Asia/Shanghai")   # "Asia/Shanghai"
    checked_timezone("PRC")             # UserError: ... use 'Asia/Shanghai' instead.

The list is the IANA database's `zone.tab` (one zone per region of each country, the
table the database itself offers "for choosing a time zone"), plus `UTC`. Left out are
the names `zoneinfo.available_timezones()` also holds that name no place: `localtime`,
`Factory`, `posixrules`, `Etc/GMT+8` (whose sign is the reverse of what people read),
`SystemV/...`, and backward-compatible links such as `US/Pacific` or `PRC`; a link is
refused with the zone it stands for. Where the system has no `zone.tab` (the tzdata
package is read then too), the names are filtered by those rules instead.
"""
from __future__ import annotations

import zoneinfo
from functools import lru_cache
from importlib import resources
from pathlib import Path

from babel.core import get_global

from crmkit.engine import messages

UTC = "UTC"
#: Prefixes of names that are not places (or only aliases of places).
NOT_PLACES = ("Etc/", "SystemV/", "US/", "Brazil/", "Canada/", "Chile/", "Mexico/", "posix/", "right/")


@lru_cache(maxsize=1)
def canonical_timezones() -> frozenset[str]:
    """Every zone a user may choose (about 420 names); see the module docstring."""
    available = zoneinfo.available_timezones()
    listed = _zone_table()
    if listed:
        return frozenset(name for name in listed if name in available) | {UTC}
    aliases = _links()
    return frozenset(name for name in available if "/" in name and not name.startswith(NOT_PLACES)
                     and name not in aliases) | {UTC}


def _zone_table() -> list[str]:
    """The zone names of zone.tab, from the system's time zone folders or the tzdata package; [] if none has it."""
    texts = []
    for folder in zoneinfo.TZPATH:
        path = Path(folder) / "zone.tab"
        if path.is_file():
            texts.append(path.read_text(encoding="utf-8"))
            break
    else:
        try:
            texts.append(resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text(encoding="utf-8"))
        except (ModuleNotFoundError, FileNotFoundError, OSError):
            return []
    return [line.split("\t")[2] for text in texts for line in text.splitlines()
            if line and not line.startswith("#") and line.count("\t") >= 2]


@lru_cache(maxsize=1)
def _links() -> dict[str, str]:
    """Old or alias names and the zone each stands for (CLDR's list, through Babel)."""
    return dict(get_global("zone_aliases"))


def checked_timezone(name: str) -> str:
    """`name` if it is a zone users may choose; else UserError (422) saying which to use instead."""
    from crmkit.engine.security.users import UserError  # users.py imports this module

    if isinstance(name, str) and name in canonical_timezones():
        return name
    shown = repr(name) if isinstance(name, str) else "that value"
    target = _links().get(name) if isinstance(name, str) else None
    if target in canonical_timezones():
        raise UserError(messages.OLD_TIME_ZONE(zone=shown, target=repr(target)), field="timezone")
    raise UserError(messages.NOT_A_TIME_ZONE(zone=shown), field="timezone")
