"""A record as the engine hands it out: read-only values of one object's row."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from crmkit.engine.fieldtypes import to_json


@dataclass(frozen=True)
class Actor:
    """Who is acting: their user id (None for the platform itself), language and time zone."""

    user_id: int | None = None
    language: str = "en"
    timezone: str = "UTC"
    #: Set only by Crm.as_system(): such a session is not limited by sharing rules.
    system: bool = False


SYSTEM = Actor(system=True)


@dataclass(frozen=True, eq=False)
class ReadMark:
    """Which engine read handed a record out: the UserContext it was read for, the rights that
    read checked (the AccessPolicy object, None for the system session) and the connection of
    its operation. Set only by `RecordService.get`; compared by identity only, so an engine
    call handed the record back (`RecordService.timeline`, `RecentItems.touch`) can tell
    that this user's rights were already applied to it in this operation and skip reading
    the row again (records/service.py `read_here`). Never made from ids a caller gives.
    """

    context: Any
    policy: Any
    connection: Any
    #: The object and id read, so a record copied with other values (`dataclasses.replace`) is not taken for it.
    object: str
    record_id: int


@dataclass(frozen=True)
class Record(Mapping[str, Any]):
    object: str
    values: Mapping[str, Any]
    #: Which read handed it out (`ReadMark`); None for records not read by `RecordService.get`.
    #: Not a value: left out of comparisons, hashing and repr.
    read: ReadMark | None = field(default=None, compare=False, repr=False)

    @property
    def id(self) -> int:
        return self.values["id"]

    @property
    def version(self) -> int:
        return self.values["version"]

    @property
    def formula_errors(self) -> dict[str, str]:
        """Why stored formulas could not be computed: {field name: reason}; {} when all worked.

        Such a formula's value is None until a later save or recomputation succeeds.
        """
        return dict(self.values.get("formula_errors") or {})

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def to_json(self) -> dict[str, Any]:
        """Values as JSON: dates in ISO 8601, decimals as text (never a float)."""
        return {name: to_json(value) for name, value in self.values.items()}

    def __repr__(self) -> str:
        return f"Record({self.object!r}, {dict(self.values)!r})"
