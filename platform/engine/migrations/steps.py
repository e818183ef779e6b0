"""The steps a migration plan is made of; each says in a sentence what it will do."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Step(ABC):
    object: str

    #: True only for purges, which run when explicitly asked for.
    destructive = False

    @abstractmethod
    def describe(self) -> str:
        """One sentence for `crmkit migrate --plan`."""

    def as_json(self) -> dict:
        data = {"step": type(self).__name__, "description": self.describe()}
        data.update({k: v for k, v in self.__dict__.items() if k != "blockers"})
        return data


@dataclass(frozen=True)
class CreateTable(Step):
    def describe(self) -> str:
        return f"create the table for {self.object}"


@dataclass(frozen=True)
class RenameTable(Step):
    old_name: str = ""

    def describe(self) -> str:
        return f"rename the table {self.old_name} to {self.object} (its records are kept)"


@dataclass(frozen=True)
class RetireTable(Step):
    def describe(self) -> str:
        return (f"stop using {self.object}: its table and records stay in the database until "
                f"`crmkit migrate --purge {self.object}`")


@dataclass(frozen=True)
class AddColumn(Step):
    field: str = ""
    revive: bool = False

    def describe(self) -> str:
        if self.revive:
            return f"use the kept column {self.object}.{self.field} again (its earlier values are still there)"
        return f"add the field {self.object}.{self.field}"


@dataclass(frozen=True)
class RenameColumn(Step):
    field: str = ""
    old_name: str = ""

    def describe(self) -> str:
        return f"rename {self.object}.{self.old_name} to {self.field} (values are kept)"


@dataclass(frozen=True)
class ChangeColumnType(Step):
    field: str = ""
    old_type: str = ""
    new_type: str = ""
    #: Records whose value cannot be converted, as "id (title)"; a plan with any is refused.
    blockers: tuple[str, ...] = ()
    blocker_count: int = 0
    #: How the column holds decimals now on SQLite (see conversion.StoredForm): None, or the scale
    #: of its scaled integers; `floating` for the inexact floating-point columns of older databases.
    stored_scale: int | None = None
    floating: bool = False

    def describe(self) -> str:
        if self.floating and self.old_type == self.new_type:
            return (f"rewrite {self.object}.{self.field} ({self.new_type}) from the inexact floating-point numbers "
                    f"older versions stored to exact ones, keeping every value as it was shown{self._refusal()}")
        return (f"change {self.object}.{self.field} from {self.old_type} to {self.new_type}, converting every value"
                f"{self._refusal()}")

    def _refusal(self) -> str:
        text = ""
        if self.blockers:
            shown = ", ".join(self.blockers)
            more = f" and {self.blocker_count - len(self.blockers)} more" if self.blocker_count > len(self.blockers) else ""
            text += f"; REFUSED: {self.blocker_count} record(s) cannot be converted: {shown}{more}"
        return text


@dataclass(frozen=True)
class RetireColumn(Step):
    field: str = ""

    def describe(self) -> str:
        return (f"stop using the field {self.object}.{self.field}: its column and values stay until "
                f"`crmkit migrate --purge {self.object}.{self.field}`")


@dataclass(frozen=True)
class CreateIndex(Step):
    name: str = ""
    columns: tuple[str, ...] = ()
    unique: bool = False
    blockers: tuple[str, ...] = ()
    blocker_count: int = 0

    def describe(self) -> str:
        what = "a unique index" if self.unique else "an index"
        text = f"create {what} on {self.object} ({', '.join(self.columns)})"
        if self.blockers:
            text += f"; REFUSED: values used more than once: {', '.join(self.blockers)}"
        return text


@dataclass(frozen=True)
class DropIndex(Step):
    name: str = ""

    def describe(self) -> str:
        return f"drop the index {self.name} on {self.object} (no data changes)"


@dataclass(frozen=True)
class Recompute(Step):
    """Fill computed fields (formulas, rollups, autonumbers) of existing records."""

    fields: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"compute {', '.join(self.fields)} for the existing {self.object} records"


@dataclass(frozen=True)
class PurgeColumn(Step):
    field: str = ""
    destructive = True

    def describe(self) -> str:
        return f"PURGE: delete the column {self.object}.{self.field} and every value in it"


@dataclass(frozen=True)
class PurgeTable(Step):
    destructive = True

    def describe(self) -> str:
        return f"PURGE: delete the table {self.object} and every record in it"


@dataclass(frozen=True)
class MigrationPlan:
    steps: tuple[Step, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def blocked(self) -> tuple[Step, ...]:
        return tuple(step for step in self.steps if getattr(step, "blockers", ()))

    @property
    def is_empty(self) -> bool:
        return not self.steps

    def describe(self) -> str:
        if not self.steps:
            return "The database is up to date; nothing to do."
        lines = [f"{number}. {step.describe()}" for number, step in enumerate(self.steps, 1)]
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)
