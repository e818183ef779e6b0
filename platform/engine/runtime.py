"""One immutable snapshot of what the engine works with: metadata, tables, types, helpers."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Mapping

from sqlalchemy import Engine, Table, insert

from crmkit.engine.extensions import Extensions
from crmkit.engine.fieldtypes import FieldTypes
from crmkit.engine.tables import Schema, build_schema
from crmkit.metadata.model import ObjectDef
from crmkit.metadata.registry import Registry


@dataclass(frozen=True)
class Runtime:
    engine: Engine
    registry: Registry
    extensions: Extensions
    schema: Schema = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "schema", build_schema(self.registry, self.extensions.field_types))

    @property
    def field_types(self) -> FieldTypes:
        return self.extensions.field_types

    @property
    def functions(self) -> Mapping[str, Callable[..., Any]]:
        return self.extensions.functions

    @property
    def hooks(self):
        return self.extensions.plugin_manager.hook

    def object(self, name: str) -> ObjectDef:
        return self.registry.object(name)

    def table(self, name: str) -> Table:
        return self.schema.table(name)

    def system_table(self, name: str) -> Table:
        return self.schema.system_table(name)

    @cached_property
    def history_insert(self):
        """Built once, so every history write reuses SQLAlchemy's compiled statement."""
        return insert(self.system_table("crmkit_history"))

    @cached_property
    def search_indexes(self) -> dict[str, Any]:
        """{object: its SearchIndex or None}, filled as objects are written (search_index.SearchIndex.of)."""
        return {}

    def search_index(self, object_name: str) -> Any:
        """The search index `object_name` has in this metadata (None: nothing to search), worked out once."""
        indexes = self.search_indexes
        if object_name not in indexes:
            from crmkit.engine.query.search_index import SearchIndex

            indexes[object_name] = SearchIndex.of(self.registry, self.field_types, object_name)
        return indexes[object_name]

    @cached_property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"
