"""A record as the engine hands it out: read-only values of one object's row."""
from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Record(Mapping[str, Any]):
    object: str
    values: Mapping[str, Any]

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
