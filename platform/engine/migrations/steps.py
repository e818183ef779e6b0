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
    #: The definitions of its fields as JSON (see revival.py), so a later revival can compare.
    kept: str = ""

    def describe(self) -> str:
        return (f"stop using {self.object}: its table and records stay in the database until "
                f"`crmkit migrate --purge {self.object}`")


@dataclass(frozen=True)
class AddColumn(Step):
    field: str = ""

    def describe(self) -> str:
        return f"add the field {self.object}.{self.field}"


@dataclass(frozen=True)
class AddSystemColumn(Step):
    """A column every object table has (see tables.system_columns) that an older table lacks."""

    column: str = ""

    def describe(self) -> str:
        return f"add the system column {self.object}.{self.column} (existing records keep their values)"


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
    #: The old value type (conversion.StoredForm.value_type), so values read alike on every database.
    stored_type: str = ""

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
    #: The field's definition as JSON (see revival.py), so a later revival can compare.
    kept: str = ""

    def describe(self) -> str:
        return (f"stop using the field {self.object}.{self.field}: its column and values stay until "
                f"`crmkit migrate --purge {self.object}.{self.field}`")


@dataclass(frozen=True)
class ReviveTable(Step):
    def describe(self) -> str:
        return f"use the kept table {self.object} again (its records are still there)"


@dataclass(frozen=True)
class ReviveColumn(Step):
    """A kept (retired) column used again: its values are checked, and converted when the type differs."""

    field: str = ""
    #: The name the column was retired under (differs when the field is `renamed_from` it).
    kept_column: str = ""
    kept_type: str = ""
    new_type: str = ""
    convert: bool = False
    blockers: tuple[str, ...] = ()
    blocker_count: int = 0
    #: How the kept column holds its values (conversion.StoredForm): set for SQLite decimals.
    stored_scale: int | None = None
    #: The kept value type when its definition was recorded (conversion.StoredForm.value_type).
    stored_type: str = ""

    def describe(self) -> str:
        text = f"use the kept column {self.object}.{self.kept_column or self.field} again"
        if self.kept_column and self.kept_column != self.field:
            text += f" as {self.field}"
        if self.convert:
            text += f", converting every value from {self.kept_type} to {self.new_type}"
        else:
            text += f" ({self.new_type}), checking every value it still holds"
        if self.blockers:
            shown = ", ".join(self.blockers)
            more = f" and {self.blocker_count - len(self.blockers)} more" if self.blocker_count > len(self.blockers) else ""
            text += f"; REFUSED: {self.blocker_count} record(s) do not fit the new definition: {shown}{more}"
        return text


@dataclass(frozen=True)
class CreateIndex(Step):
    name: str = ""
    columns: tuple[str, ...] = ()
    unique: bool = False
    blockers: tuple[str, ...] = ()
    blocker_count: int = 0
    #: "order" or "prefix" (tables.IndexSpec).
    kind: str = "order"

    def describe(self) -> str:
        what = "a unique index" if self.unique else "an index"
        if self.kind == "prefix":
            return f"create an index on {self.object} ({', '.join(self.columns)} ignoring case) for startswith"
        text = f"create {what} on {self.object} ({', '.join(self.columns)})"
        if self.blockers:
            text += f"; REFUSED: values used more than once: {', '.join(self.blockers)}"
        return text


@dataclass(frozen=True)
class RebuildIndex(Step):
    """An index of ours built another way (an older crmkit's order, other columns): dropped and built again."""

    name: str = ""
    columns: tuple[str, ...] = ()
    #: How the index differs now, e.g. "columns (name)".
    was: str = ""

    def describe(self) -> str:
        return (f"rebuild the index {self.name} on {self.object} as ({', '.join(self.columns)}) in the order lists "
                f"are read; it has {self.was} (no data changes)")


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
        lines = [f"{number}. {step.describe()}" for number, step in enumerate(self.steps, 1)]
        if not self.steps:
            lines.append("The database is up to date; nothing to do.")
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)
