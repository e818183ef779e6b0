"""What a list shows: filter, sort, search and columns, and its query-string form.

    query = ListQuery(filter={"stage": "Won", "amount": {"gte": "1000"}}, sort=("-amount",), search="acme")
    query.query_string()      # [("stage", "Won"), ("amount__gte", "1000"), ("sort", "-amount"), ("q", "acme")]
    ListQuery.from_query_string(request.args) == query   # True: the form round-trips

The query string is the one of `/o/<object>?...` (query/querystring.py). A filter the plain
`field__op=value` form cannot carry exactly (or, not, numbers, lists with commas) is sent
whole as `filter=<JSON>`, which the same parser reads back; columns are not part of it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

from crmkit.engine import messages
from crmkit.engine.query.errors import QueryError
from crmkit.engine.query.querystring import LISTED, RESERVED, parse_query_string
from crmkit.engine.query.filters import OPERATORS

LOGICAL = ("and", "or", "not")


@dataclass(frozen=True)
class ListQuery:
    """A list's filter (the engine's filter language), sort, search text and columns."""

    filter: dict | None = None
    sort: tuple[str, ...] = ()
    search: str | None = None
    columns: tuple[str, ...] = ()

    @classmethod
    def from_query_string(cls, args: Mapping[str, Any], *, columns: tuple[str, ...] = ()) -> "ListQuery":
        """The filter, sort and search of `/o/<object>?...` arguments (a dict or Flask's request.args).

        QueryError (a sentence) for a malformed argument; paging arguments (limit, after) are ignored.
        """
        spec = parse_query_string(args)
        return cls(filter=normalised_filter(spec.filter), sort=spec.sort, search=spec.search or None,
                   columns=tuple(columns))

    def query_string(self) -> list[tuple[str, str]]:
        """(key, value) pairs for a URL (urllib.parse.urlencode takes them as they are), in a stable order."""
        pairs = _filter_pairs(self.filter)
        if self.sort:
            pairs.append(("sort", ",".join(self.sort)))
        if self.search:
            pairs.append(("q", self.search))
        return pairs


def normalised_filter(filter: Any) -> dict | None:
    """The stored form of a filter: JSON values only, a top-level list as {"and": [...]}, empty as None.

    QueryError when `filter` is neither a mapping, a list nor None, or cannot be written as JSON.
    """
    if filter is None:
        return None
    if not isinstance(filter, (Mapping, list, tuple)):
        raise QueryError(f"a filter is a mapping of conditions, not {type(filter).__name__}.")
    try:
        document = json.loads(json.dumps(filter, default=str, ensure_ascii=False))
    except (TypeError, ValueError, RecursionError):
        raise QueryError(messages.FILTER_CANNOT_BE_STORED()) from None
    if isinstance(document, list):
        document = {"and": document} if document else None
    return document or None


def _filter_pairs(filter: dict | None) -> list[tuple[str, str]]:
    if not filter:
        return []
    plain = _plain_pairs(filter)
    if plain is not None:
        try:
            if parse_query_string(_multi(plain)).filter == filter:
                return plain
        except QueryError:
            pass
    return [("filter", json.dumps(filter, ensure_ascii=False, separators=(",", ":"), sort_keys=True))]


def _plain_pairs(filter: dict) -> list[tuple[str, str]] | None:
    """`field=value` / `field__op=value` pairs for a filter of plain text conditions; None when there is none."""
    pairs: list[tuple[str, str]] = []
    for name, condition in filter.items():
        if name in LOGICAL or name in RESERVED or "__" in name:
            return None
        if isinstance(condition, str):
            pairs.append((name, condition))
            continue
        if not isinstance(condition, dict):
            return None
        for op, value in condition.items():
            text = _operand_text(op, value)
            if text is None:
                return None
            pairs.append((f"{name}__{op}", text))
    return pairs


def _operand_text(op: str, value: Any) -> str | None:
    if op not in OPERATORS:
        return None
    if op == "is_null":
        return ("true" if value else "false") if isinstance(value, bool) else None
    if op in LISTED or op == "between":
        if isinstance(value, list) and value and all(isinstance(item, str) and "," not in item for item in value):
            return ",".join(value)
        return None
    return value if isinstance(value, str) else None


def _multi(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return grouped
