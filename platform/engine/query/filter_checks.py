"""Filters written in metadata, checked as the query language will read them (a registry check, metadata/catalog.py).

A report's filter, its aggregates' `where`, a rollup's condition and a sharing rule's criteria are in the
engine's filter language; their
field names are checked with the rest of the metadata (metadata/report_checks.py, metadata/semantic.py), and
their values here: each is compiled against the registry's tables (built in memory, no database), so a value the
field can never hold (`amount: abc`, `d: '2024-02-30'`, `last_n_days:-1`) is a metadata error at its place
rather than a report that never runs, a rollup that refuses every save of a child record, or a sharing rule
that fails every read of its object.
"""
from __future__ import annotations

from datetime import date
from typing import Any, Iterator, Mapping

from crmkit.engine.fieldtypes import FieldTypes
from crmkit.engine.query.errors import QueryError
from crmkit.engine.query.filters import QueryContext, compile_filter
from crmkit.engine.tables import build_schema
from crmkit.metadata.registry import Registry


def filter_value_checks(field_types: FieldTypes):
    """The registry check for `field_types`: yields (location, message, keys) for each filter the query language
    refuses."""
    def check(registry: Registry) -> Iterator[tuple[Any, str, tuple]]:
        lenient = registry.catalog.lenient  # packages already installed: newer rules are not applied to them
        if all(lenient(package) for package in registry.packages):
            return  # reading back what is installed (every open): no tables to build, nothing to check
        ctx = QueryContext(registry, build_schema(registry, field_types), field_types, today=date.today())
        for report in registry.reports.values():
            if lenient(report.package):
                continue
            yield from _refused(ctx, report.object, report.filter, report.location, ("filter",))
            for number, aggregate in enumerate(report.aggregates):
                yield from _refused(ctx, report.object, aggregate.where, report.location,
                                    ("aggregates", number, "where"))
        for obj in registry.objects.values():
            for rule in () if lenient(obj.package) else obj.sharing_rules:
                yield from _refused(ctx, obj.name, rule.criteria, rule.location, ("criteria",))
            for fdef in obj.fields.values():
                rollup = fdef.rollup
                if rollup is not None and rollup.condition and rollup.child_object in registry.objects \
                        and not lenient(fdef.package):
                    yield from _refused(ctx, rollup.child_object, rollup.condition, fdef.location, ("condition",))
    return check


def _refused(ctx: QueryContext, object_name: str, condition: Mapping[str, Any] | None, location: Any,
             keys: tuple) -> Iterator[tuple[Any, str, tuple]]:
    if not condition or object_name not in ctx.registry.objects:
        return
    try:
        compile_filter(ctx, object_name, condition)
    except QueryError as error:
        yield location, f"in the {keys[-1]}, {error.message}", keys
