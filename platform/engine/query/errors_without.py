"""A record's `formula_errors` (JSON text {field: reason}) without the reasons of some formulas, in SQL.

For a user who may not be given why some formulas failed (hidden ones, and those they see masked or
recomputed: security/shaping.py), filters on `formula_errors` (`is_null`, `contains`) read this instead of
the stored column, so they match what `get` shows them, not the failures it withholds:

- SQLite: `NULLIF(json_remove(formula_errors, '$."f1"', ...), '{}')` (sqlite.org/json1.html);
- PostgreSQL: `NULLIF((formula_errors::jsonb - 'f1' - ...)::text, '{}')`.

An object left without reasons is NULL, as a record whose formulas all computed.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Text, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal


class ErrorsWithout(ColumnElement):
    """`column` (a formula_errors column) without the keys `names`."""

    __visit_name__ = "crmkit_errors_without"
    inherit_cache = True
    type = Text()
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement),
                           ("names", InternalTraversal.dp_string_list)]

    def __init__(self, column: Any, names: tuple[str, ...]) -> None:
        self.column = column
        self.names = tuple(sorted(names))


@compiles(ErrorsWithout)
def _errors_without(element: ErrorsWithout, compiler, **kw) -> str:
    column = compiler.process(element.column, **kw)
    if compiler.dialect.name == "sqlite":
        paths = ", ".join(compiler.process(literal(f'$."{name}"'), **kw) for name in element.names)
        return f"NULLIF(json_remove({column}, {paths}), '{{}}')"
    keys = " - ".join(compiler.process(literal(name), **kw) for name in element.names)
    return f"NULLIF((CAST({column} AS jsonb) - {keys})::text, '{{}}')"
