"""Field types: one registry, filled through the `crmkit_field_types` hook."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from crmkit.engine.fieldtypes.base import FieldType, coerce, error_messages, from_json, to_json
from crmkit.engine.fieldtypes.builtin import BUILTIN_TYPES
from crmkit.hookspecs import hookimpl
from crmkit.metadata.model import FieldDef, frozen_map

__all__ = ["FieldType", "FieldTypes", "coerce", "error_messages", "from_json", "to_json"]


@hookimpl
def crmkit_field_types() -> list[FieldType]:
    return list(BUILTIN_TYPES)


@dataclass(frozen=True)
class FieldTypes:
    """Every field type known to this installation, by name."""

    types: Mapping[str, FieldType]

    @classmethod
    def collect(cls, contributions: Iterable[Iterable[FieldType]]) -> "FieldTypes":
        types: dict[str, FieldType] = {}
        for contribution in contributions:
            for field_type in contribution or ():
                if field_type.name in types:
                    raise ValueError(f"two plugins define the field type '{field_type.name}'")
                types[field_type.name] = field_type
        return cls(frozen_map(types))

    def __getitem__(self, name: str) -> FieldType:
        return self.types[name]

    def value_type(self, fdef: FieldDef, registry: Any) -> str:
        """The type of the stored value: a formula's `returns`, a rollup's aggregate result."""
        if fdef.type == "formula":
            return fdef.returns or "text"
        if fdef.type == "rollup" and fdef.rollup is not None:
            if fdef.rollup.aggregate == "count":
                return "integer"
            if fdef.rollup.aggregate == "avg":
                return "decimal"
            child = registry.object(fdef.rollup.child_object).fields[fdef.rollup.field]
            return self.value_type(child, registry)
        return fdef.type

    def column_type(self, fdef: FieldDef, registry: Any):
        return self.types[fdef.type].column(fdef, self.types.__getitem__, registry)

    def operators(self, fdef: FieldDef, registry: Any) -> frozenset[str]:
        return self.types[self.value_type(fdef, registry)].operators
