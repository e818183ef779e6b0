"""The query-string form of a query: `?stage=Won&amount__gte=100&sort=-amount&limit=20`.

    >>> parse_query_string({"stage": "Won", "amount__gte": "100", "q": "acme", "sort": "-amount,name"})
    QuerySpec(filter={'stage': 'Won', 'amount': {'gte': '100'}}, sort=('-amount', 'name'), search='acme', ...)
"""
from __future__ import annotations

from decimal import Decimal
import json
from dataclasses import dataclass
from typing import Any, Mapping

from crmkit.engine import messages
from crmkit.engine.query.errors import QueryError
from crmkit.engine.query.filters import OPERATORS

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
#: Keys that are not field names; filter a field named like one with `name__eq=...`.
RESERVED = ("q", "sort", "limit", "offset", "after", "filter")
#: Operators whose repeated values are merged (`stage=A&stage=B` means stage in [A, B]).
MERGED = frozenset({"eq", "in", "not_in", "contains", "startswith"})
LISTED = frozenset({"in", "not_in"})
FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


@dataclass(frozen=True)
class QuerySpec:
    """One page of a list: which records (filter, search), in which order, and where the page starts."""

    filter: dict | None = None
    sort: tuple[str, ...] = ()
    search: str | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    after: str | None = None


def parse_query_string(args: Mapping[str, Any]) -> QuerySpec:
    """A QuerySpec from query-string arguments; values are text or lists of text (repeated keys).

    A werkzeug MultiDict (Flask's `request.args`) can be passed as it is: repeated keys are kept.
    """
    conditions: dict[str, dict[str, list[str]]] = {}
    options: dict[str, str] = {}
    pairs = [(key, args.getlist(key)) for key in args.keys()] if hasattr(args, "getlist") else args.items()
    for key, given in pairs:
        values = [value for value in _texts(key, given) if value.strip() != ""]
        if not values:
            continue  # HTML forms send blank inputs; a blank value means "no condition"
        if key in RESERVED:
            if len(values) > 1:
                raise QueryError(messages.GIVEN_TWICE(key=key, count=len(values)))
            options[key] = values[0]
            continue
        name, op = split_key(key)
        conditions.setdefault(name, {}).setdefault(op, []).extend(values)
    return QuerySpec(
        filter=_filter(conditions, options.get("filter")),
        sort=parse_sort(options.get("sort", "")),
        search=options["q"].strip() if "q" in options else None,
        limit=_whole("limit", options.get("limit"), DEFAULT_LIMIT, 1, MAX_LIMIT),
        offset=_whole("offset", options.get("offset"), 0, 0, None),
        after=options.get("after", "").strip() or None,
    )


def split_key(key: str) -> tuple[str, str]:
    """`amount__gte` -> ("amount", "gte"); a key without a known operator suffix means eq."""
    name, separator, op = key.rpartition("__")
    if separator and op in OPERATORS:
        if not name:
            raise QueryError(messages.OPERATOR_WITHOUT_FIELD(key=key, op=op))
        return name, op
    return key, "eq"


def parse_sort(text: str) -> tuple[str, ...]:
    """`-amount,name` -> ("-amount", "name"); the fields themselves are checked against the object later."""
    parts = tuple(part.strip() for part in text.split(","))
    if any(part in ("", "-") for part in parts) and text.strip():
        raise QueryError(messages.NOT_A_SORT_ORDER(text=text))
    return tuple(part for part in parts if part)


def _texts(key: Any, given: Any) -> list[str]:
    values = list(given) if isinstance(given, (list, tuple)) else [given]
    if not isinstance(key, str) or not key.strip() or not all(isinstance(value, str) for value in values):
        raise QueryError(f"query-string arguments must be text, not {key!r}={given!r}.")
    return values


def _operand(key: str, op: str, values: list[str]) -> tuple[str, Any]:
    """The (operator, value) of one query-string condition, its text split and checked."""
    if op in LISTED:
        return op, [item.strip() for value in values for item in value.split(",") if item.strip()]
    if op == "between":
        parts = [part.strip() for part in values[0].split(",")]
        if len(values) > 1 or len(parts) != 2 or not all(parts):
            raise QueryError(messages.TWO_VALUES_COMMA(key=key))
        return op, parts
    if op == "is_null":
        flag = FLAGS.get(values[0].strip().lower())
        if flag is None or len(values) > 1:
            raise QueryError(messages.TRUE_OR_FALSE(key=key, value=values[0]))
        return op, flag
    if len(values) > 1 and op not in MERGED:
        raise QueryError(messages.ONE_VALUE_ONLY(key=key, count=len(values), op=op))
    if op == "eq" and len(values) > 1:
        return "in", values
    return op, values if len(values) > 1 else values[0]


def _filter(conditions: dict[str, dict[str, list[str]]], given_json: str | None) -> dict | None:
    plain: dict[str, Any] = {}
    for name, raw in conditions.items():
        operators: dict[str, Any] = {}
        for op, values in raw.items():
            key = name if op == "eq" else f"{name}__{op}"
            final_op, value = _operand(key, op, values)
            if final_op in operators:  # stage=A&stage=B next to stage__in=C: one list
                value = operators[final_op] + value
            operators[final_op] = value
        plain[name] = operators["eq"] if list(operators) == ["eq"] else operators
    if given_json is None:
        return plain or None
    try:
        parsed = json.loads(given_json, parse_float=Decimal)  # 1234567890123456.78 kept exact
    except ValueError as error:
        raise QueryError(messages.FILTER_NOT_JSON(line=getattr(error, "lineno", 1), column=getattr(error, "colno", 1))) \
            from None
    except RecursionError:
        raise QueryError(messages.FILTER_NESTS_TOO_DEEPLY()) from None
    if not isinstance(parsed, (dict, list)):
        raise QueryError(messages.FILTER_NOT_AN_OBJECT())
    return {"and": [parsed, plain]} if plain else ({"and": parsed} if isinstance(parsed, list) else parsed)


def _whole(name: str, text: str | None, default: int, low: int, high: int | None) -> int:
    if text is None:
        return default
    value = text.strip()
    if not value.isascii() or not value.isdigit() or int(value) < low or (high is not None and int(value) > high):
        if high is None:
            raise QueryError(messages.WHOLE_NUMBER_FROM(name=name, low=low, value=f"'{text}'"))
        raise QueryError(messages.WHOLE_NUMBER_RANGE(name=name, low=low, high=f"{high:,}", value=f"'{text}'"))
    return int(value)
