"""A filter's shape (its fields and operators, values left out) and its values as bound parameters.

    >>> shape = ValueShape.of(compile_filter(ctx, "account", {"industry": "Finance"}))
    >>> statement = built_once(shape.key, lambda: page(shape.parametrized("filter")))   # one per shape
    >>> connection.execute(statement, shape.values())                                  # this request's values

Building a page statement and walking it for SQLAlchemy's cache key was a fifth of a
filtered list page's time (the SQL itself is compiled once per shape by SQLAlchemy already).
A statement built for one request is kept and executed for the next request whose filter
has the same shape, with that request's values as parameters.

The shape is SQLAlchemy's own cache key of the compiled filter
(https://docs.sqlalchemy.org/en/20/core/compiler.html#enabling-caching-support-for-custom-constructs):
two clauses with equal keys compile to the same SQL, and the key lists their bound
parameters in corresponding order, so the values of any clause of the shape fill the kept
statement's parameters one for one. Only bound values vary; everything else, including
literal SQL, is part of the shape. A construct that writes its values while compiling
holds them in its cache key (a long `in` list bound as one value, query/lists.py), so each
such list is a shape of its own; a clause SQLAlchemy cannot cache has no shape and is built
each time.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, bindparam
from sqlalchemy.sql.visitors import replacement_traverse


@dataclass(frozen=True)
class ValueShape:
    """One compiled clause: `key` its structure (hashable, values left out), `binds` its values in key order."""

    clause: ColumnElement
    key: tuple
    binds: tuple[BindParameter, ...]

    @classmethod
    def of(cls, clause: ColumnElement) -> "ValueShape | None":
        """The clause's shape; None when SQLAlchemy cannot cache it (it is then built per request)."""
        cache_key = clause._generate_cache_key()
        if cache_key is None:
            return None
        return cls(clause, cache_key.key, tuple(cache_key.bindparams))

    def names(self, prefix: str) -> tuple[str, ...]:
        """The parameter name of each bound value, in key order: `{prefix}_0`, ...; a value used twice, one name."""
        named: dict[int, str] = {}
        return tuple(named.setdefault(id(bind), f"{prefix}_{len(named)}") for bind in self.binds)

    def parametrized(self, prefix: str) -> ColumnElement:
        """The clause with each bound value replaced by the named parameter `names(prefix)` gives it (no value)."""
        named = {id(bind): bindparam(name, type_=bind.type, expanding=bind.expanding,
                                     literal_execute=bind.literal_execute, required=True)
                 for bind, name in zip(self.binds, self.names(prefix))}

        def replace(element: Any) -> Any:
            return named.get(id(element)) if isinstance(element, BindParameter) else None
        return replacement_traverse(self.clause, {}, replace)

    def values(self, prefix: str) -> dict[str, Any]:
        """This clause's values by parameter name, for a statement built from any clause of the same shape."""
        return {name: bind.effective_value for bind, name in zip(self.binds, self.names(prefix))}
