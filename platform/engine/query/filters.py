"""The filter language: a dict (or its JSON) compiled to one SQLAlchemy WHERE clause.

    >>> compile_filter(ctx, "opportunity", {"stage": "Won", "amount": {"gte": 1000}})

Every condition is true or false for every record (an empty value never makes a condition
"unknown"), so `{"not": F}` always matches exactly the records `F` does not match.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any, Callable, Mapping

from marshmallow import ValidationError, fields as ma_fields
from sqlalchemy import ColumnElement, Integer, Text, and_, case, false, func, literal, not_, or_, select, true, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal

from crmkit.engine import messages
from crmkit.engine.fieldtypes import FieldTypes
from crmkit.engine.fieldtypes.inputs import ExactNumber
from crmkit.engine.query.dates import Span, date_span
from crmkit.engine.query.errors import QueryError, allowed, unknown_field
from crmkit.engine.query.inputs import INT64_MAX, INT64_MIN, MAX_SEARCH_LENGTH, checked_text, checked_texts
from crmkit.engine.query.lists import one_of
from crmkit.engine.tables import PrefixKey, Schema
from crmkit.metadata.model import SYSTEM_FIELDS, FieldDef, Label, ObjectDef
from crmkit.metadata.registry import Registry

OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "contains", "startswith", "is_null", "between")
MAX_DEPTH = 20
MAX_CONDITIONS = 500
MAX_VALUES = 1000

#: The value type of each system column, so system fields filter like ordinary ones.
SYSTEM_TYPES = {
    "id": "integer", "created_at": "datetime", "created_by": "lookup", "updated_at": "datetime",
    "updated_by": "lookup", "owner_id": "lookup", "version": "integer",
    # JSON text {field: reason}: filter with is_null, or contains for a field's name.
    "formula_errors": "textarea",
}
SYSTEM_DEFS = {name: FieldDef(name, kind, Label.of(name)) for name, kind in SYSTEM_TYPES.items()}
assert set(SYSTEM_DEFS) == set(SYSTEM_FIELDS)


@dataclass(frozen=True)
class QueryContext:
    """What a query needs: the model, its tables, field types, the date and the caller's row filter."""

    registry: Registry
    schema: Schema
    field_types: FieldTypes
    today: date | None = None
    timezone: str = "UTC"
    #: The caller's language tag: number text in filters is read in its locale ('1.234,5' in de).
    language: str = "en"
    #: object name -> the extra WHERE clause the security layer adds (None: no restriction).
    row_filter: Callable[[str], ColumnElement | None] | None = None
    #: object name -> fields the caller may not see (field-level security): they do not exist for them.
    hidden_fields: Callable[[str], frozenset[str]] | None = None
    #: (object, field) -> the caller's value of a derived field where it is not the stored
    #: column (a rollup over the children they can see, a masked formula; security/derived.py).
    derived: Callable[[str, str], ColumnElement | None] | None = None

    def object(self, name: str) -> ObjectDef:
        try:
            return self.registry.object(name)
        except KeyError as error:
            raise QueryError(str(error.args[0])) from None

    def restriction(self, object_name: str) -> ColumnElement | None:
        return self.row_filter(object_name) if self.row_filter is not None else None

    def column(self, object_name: str, name: str) -> Any:
        """The SQL value of a field for the caller: their derived value if they have one, else the column.

        The one place a field name becomes SQL, so filters (also through lookups), sorts,
        cursors, counts, search and selected columns all use the same value.
        """
        expression = self.derived(object_name, name) if self.derived is not None else None
        return self.schema.table(object_name).c[name] if expression is None else expression


@dataclass(frozen=True)
class FieldInfo:
    """One field of one object as the query language sees it."""

    object_name: str
    name: str
    fdef: FieldDef
    column: Any
    value_type: str
    value_kind: str
    operators: frozenset[str]


def resolve_field(ctx: QueryContext, object_name: str, name: str) -> FieldInfo:
    """An object's own field or system field by name; QueryError (with a suggestion) otherwise."""
    obj = ctx.object(object_name)
    fdef = obj.fields.get(name) or SYSTEM_DEFS.get(name)
    hidden = ctx.hidden_fields(object_name) if ctx.hidden_fields is not None else frozenset()
    if fdef is None or not isinstance(name, str) or name in hidden:
        # A hidden field is refused exactly like a missing one, so its existence does not leak.
        raise unknown_field(object_name, str(name), [n for n in [*obj.fields, *SYSTEM_FIELDS] if n not in hidden])
    value_type = ctx.field_types.value_type(fdef, ctx.registry)
    kind = ctx.field_types[value_type].kind.value_kind
    column = ctx.column(object_name, name)
    return FieldInfo(object_name, name, fdef, column, value_type, kind, ctx.field_types.operators(fdef, ctx.registry))


def resolve_path(ctx: QueryContext, object_name: str, key: str) -> tuple[FieldInfo | None, FieldInfo]:
    """`field` or `lookup.field`: the lookup (if any) and the field the condition is about."""
    if "." not in key:
        return None, resolve_field(ctx, object_name, key)
    head, _, tail = key.partition(".")
    lookup = resolve_field(ctx, object_name, head)
    if not (lookup.fdef.is_lookup and lookup.fdef.to):
        lookups = [f.name for f in ctx.object(object_name).fields.values() if f.is_lookup and f.to]
        raise QueryError(messages.NOT_A_LOOKUP(head=head, object=object_name, key=key,
                                               lookups=allowed(lookups) or "none"))
    if "." in tail:
        raise QueryError(messages.TWO_LOOKUPS(key=key, example=f"{head}.{tail.split('.')[0]}"))
    return lookup, resolve_field(ctx, lookup.fdef.to, tail)


def resolve_condition_key(ctx: QueryContext, object_name: str, key: str) -> tuple[FieldInfo | None, FieldInfo]:
    """`resolve_path` of a filter condition's key. A key no field has that is a field's key followed by "__" and an
    operator the query language does not have (the query string's `email__endswith=...`, which is split only at the
    operators it knows) is refused naming the operator, as `{"email": {"endswith": ...}}` is; a field whose own name
    holds "__" (metadata/names.py allows it) is found first."""
    try:
        return resolve_path(ctx, object_name, key)
    except QueryError as error:
        head, separator, op = key.rpartition("__")
        if not (separator and head and op) or op in OPERATORS:
            raise
        try:
            resolve_path(ctx, object_name, head)
        except QueryError:
            raise error from None
        raise QueryError(messages.NOT_AN_OPERATOR(op=op, key=head, allowed=allowed(OPERATORS))) from None


def compile_filter(ctx: QueryContext, object_name: str, filter: Mapping[str, Any] | list | None) -> ColumnElement:
    """The WHERE clause of `filter` on `object_name` (None: every record)."""
    ctx.object(object_name)
    if filter is None:
        return true()
    return _Compiler(ctx, object_name).node(filter, 0)


class _Compiler:
    def __init__(self, ctx: QueryContext, object_name: str) -> None:
        self.ctx = ctx
        self.object_name = object_name
        self.conditions = 0

    def node(self, node: Any, depth: int) -> ColumnElement:
        if depth > MAX_DEPTH:
            raise QueryError(messages.FILTER_TOO_DEEP(max=MAX_DEPTH))
        if isinstance(node, (list, tuple)):
            return and_(true(), *(self.node(item, depth + 1) for item in node))
        if not isinstance(node, Mapping):
            raise QueryError(messages.NOT_A_DICTIONARY(node=repr(node)))
        return and_(true(), *(self.entry(key, value, depth) for key, value in node.items()))

    def entry(self, key: Any, value: Any, depth: int) -> ColumnElement:
        if key in ("and", "or"):
            if not isinstance(value, (list, tuple)):
                raise QueryError(messages.LIST_OF_CONDITIONS(key=key))
            parts = [self.node(item, depth + 1) for item in value]
            return and_(true(), *parts) if key == "and" else or_(false(), *parts)
        if key == "not":
            return not_(func.coalesce(self.node(value, depth + 1), false()))
        if not isinstance(key, str) or not key:
            raise QueryError(messages.NOT_A_FIELD_NAME(key=repr(key)))
        return self.field(checked_text(key, "a field name in the filter"), value)

    def field(self, key: str, spec: Any) -> ColumnElement:
        lookup, info = resolve_condition_key(self.ctx, self.object_name, key)
        clauses = [self.operator(info, key, op, value) for op, value in _operations(info, key, spec)]
        condition = and_(*clauses) if len(clauses) > 1 else clauses[0]
        if lookup is None:
            return condition
        target = self.ctx.schema.table(info.object_name)
        restriction = self.ctx.restriction(info.object_name)
        inner = condition if restriction is None else and_(condition, restriction)
        return lookup.column.in_(select(target.c.id).where(inner).correlate(None))

    def operator(self, info: FieldInfo, key: str, op: str, value: Any) -> ColumnElement:
        if op not in OPERATORS:
            raise QueryError(messages.NOT_AN_OPERATOR(op=op, key=key, allowed=allowed(OPERATORS)))
        if op not in info.operators:
            raise QueryError(messages.OPERATOR_NOT_FOR(op=op, key=key, type=info.value_type,
                                                       allowed=allowed(info.operators)))
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise QueryError(messages.TOO_MANY_CONDITIONS(max=MAX_CONDITIONS))
        operand = _Coercer(self.ctx, info, key).operand(op, checked_texts(value, f"the condition on {key}"))
        column = info.column
        if info.value_kind == "list" and op == "contains":
            column = type_coerce(column, Text())  # match the JSON text itself, not a list bound as JSON
        return OPERATOR_SQL[op](column, operand)


def _operations(info: FieldInfo, key: str, spec: Any) -> list[tuple[str, Any]]:
    """The (operator, value) pairs of one field's condition, shorthands expanded."""
    if isinstance(spec, Mapping):
        if not spec:
            raise QueryError(messages.NO_OPERATOR(key=key))
        return [(str(op), value) for op, value in spec.items()]
    if spec is None:
        return [("is_null", True)]
    if info.value_kind == "list":
        return [("contains", spec)]
    return [("in" if isinstance(spec, (list, tuple)) else "eq", spec)]


class _Coercer:
    """Turns what a user wrote into values of a field's stored type."""

    def __init__(self, ctx: QueryContext, info: FieldInfo, key: str) -> None:
        self.ctx, self.info, self.key = ctx, info, key
        self.input: ma_fields.Field | None = None

    def operand(self, op: str, value: Any) -> Any:
        if op == "is_null":
            return self.flag(value)
        if op in ("in", "not_in"):
            return [self.one(item) for item in self.many(op, value)]
        if op == "between":
            if not isinstance(value, (list, tuple)) or len(value) != 2:
                raise QueryError(messages.BETWEEN_TWO_VALUES(key=self.key, value=repr(value)))
            return [self.required(op, item) for item in value]
        if op in ("contains", "startswith"):
            return [self.text(item, op) for item in self.many(op, value) or [""]]
        return self.one(value) if op in ("eq", "ne") else self.required(op, value)

    def many(self, op: str, value: Any) -> list[Any]:
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        if len(items) > MAX_VALUES:
            raise QueryError(messages.TOO_MANY_VALUES(op=op, key=self.key, count=f"{len(items):,}",
                                                     max=f"{MAX_VALUES:,}"))
        return items

    def flag(self, value: Any) -> bool:
        try:
            return bool(ma_fields.Boolean().deserialize(value))
        except ValidationError:
            raise QueryError(messages.IS_NULL_FLAG(key=self.key, value=repr(value))) from None

    def required(self, op: str, value: Any) -> Any:
        result = self.one(value)
        if result is None:
            raise QueryError(messages.NEEDS_A_VALUE(op=op, key=self.key))
        return result

    def text(self, value: Any, op: str) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)) or str(value) == "":
            raise QueryError(messages.NEEDS_TEXT(op=op, key=self.key, value=repr(value)))
        text = str(value)
        if len(text) > MAX_SEARCH_LENGTH:
            raise QueryError(messages.TEXT_TOO_LONG(op=op, key=self.key, count=f"{len(text):,}",
                                                    max=f"{MAX_SEARCH_LENGTH:,}"))
        return json.dumps(text, ensure_ascii=False) if self.info.value_kind == "list" else text

    def one(self, value: Any) -> Any:
        if value is None:
            return None
        kind = self.info.value_kind
        if kind in ("integer", "reference") and type(value) is int and INT64_MIN <= value <= INT64_MAX:
            return value  # already a stored value: a long `in` list of ids skips the form parser
        if kind in ("date", "datetime"):
            span = date_span(value, kind, self.ctx.today, self.ctx.timezone, self.key)
            if span is not None:
                return span
        if kind == "text":
            if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):  # JSON numbers: Decimal
                raise QueryError(messages.VALUE_NEEDS_TEXT(value=repr(value), key=self.key))
            return self.as_saved(str(value).strip() or None)
        return self.deserialize(value)

    def as_saved(self, text: str | None) -> str | None:
        """Text as the field's type saves it (a phone number typed `138 1234 5678` is stored and so compared as
        `+8613812345678`, a web address without its scheme with `https://`); text the type would refuse is compared
        as written (it matches no value saved through the type)."""
        if text is None:
            return None
        field = self._built_input()
        if field is None:
            return text
        try:
            saved = field.deserialize(text, language=self.ctx.language)
        except ValidationError:
            return text
        return saved if isinstance(saved, str) and saved else text

    def _built_input(self) -> Any:
        """The input field of the condition's field type, made once; None for a type that has none."""
        if self.input is None:
            build = self.ctx.field_types[self.info.value_type].input_field
            if build is not None:
                self.input = build(_value_fdef(self.ctx, self.info.fdef))
        return self.input

    def deserialize(self, value: Any) -> Any:
        if self.input is None and self.info.value_kind == "decimal":
            self.input = ExactNumber.for_search()
        field = self._built_input()
        if field is None:
            return value
        try:
            return field.deserialize(value, language=self.ctx.language)
        except ValidationError as error:
            raise QueryError(messages.BAD_VALUE(value=value, key=self.key, reason=_first(error.messages))) from None


def _value_fdef(ctx: QueryContext, fdef: FieldDef) -> FieldDef:
    """A FieldDef of the stored value's own type (formulas, rollups), without min/max or length limits."""
    rollup = fdef.rollup
    if fdef.type == "rollup" and rollup and rollup.field and rollup.aggregate not in ("count", "avg"):
        return _value_fdef(ctx, ctx.registry.object(rollup.child_object).fields[rollup.field])
    value_type = ctx.field_types.value_type(fdef, ctx.registry)
    plain = replace(fdef, type=value_type, returns=None, formula=None, rollup=None, min=None, max=None, max_length=None)
    if ctx.field_types[value_type].kind.value_kind == "decimal":
        # Compare against what the user wrote, not a value rounded to the field's scale.
        plain = replace(plain, precision=38, scale=max(plain.scale or 0, 8))
    return plain


def _first(messages: Any) -> str:
    if isinstance(messages, Mapping):
        return _first(next(iter(messages.values()), ""))
    if isinstance(messages, (list, tuple)):
        return _first(messages[0]) if messages else ""
    return str(messages)


# ---- operators to SQL ----------------------------------------------------------------------

def _eq(column: Any, value: Any) -> ColumnElement:
    if value is None:
        return column.is_(None)
    if isinstance(value, Span):
        return and_(column >= value.start, column < value.end)
    return column == value


def _in(column: Any, values: list[Any]) -> ColumnElement:
    plain = [v for v in values if v is not None and not isinstance(v, Span)]
    parts = [one_of(column, plain)] if plain else []
    parts += [_eq(column, v) for v in values if v is None or isinstance(v, Span)]
    return or_(false(), *parts)


def _not(column: Any, positive: ColumnElement) -> ColumnElement:
    """The complement of a condition that is unknown only when the column is empty."""
    return or_(not_(positive), column.is_(None))


def _ne(column: Any, value: Any) -> ColumnElement:
    return column.is_not(None) if value is None else _not(column, _eq(column, value))


def _not_in(column: Any, values: list[Any]) -> ColumnElement:
    present = [v for v in values if v is not None]
    clause = _not(column, _in(column, present)) if present else true()
    return and_(clause, column.is_not(None)) if None in values else clause


def _lower(column: Any, value: Any) -> ColumnElement:
    return column >= value.start if isinstance(value, Span) else column >= value


def _upper(column: Any, value: Any) -> ColumnElement:
    return column < value.end if isinstance(value, Span) else column <= value


OPERATOR_SQL: dict[str, Callable[[Any, Any], ColumnElement]] = {
    "eq": _eq,
    "ne": _ne,
    "in": _in,
    "not_in": _not_in,
    "lt": lambda c, v: c < (v.start if isinstance(v, Span) else v),
    "lte": _upper,
    "gt": lambda c, v: c >= v.end if isinstance(v, Span) else c > v,
    "gte": _lower,
    "between": lambda c, v: and_(_lower(c, v[0]), _upper(c, v[1])),
    "contains": lambda c, v: or_(*(c.icontains(text, autoescape=True) for text in v)),
    "startswith": lambda c, v: or_(*(_startswith(c, text) for text in v)),
    "is_null": lambda c, v: c.is_(None) if v else c.is_not(None),
}


# ---- startswith as an index range ------------------------------------------------------------

#: The largest code point: no text is greater than a prefix followed by it, so it bounds no range.
LAST_CHARACTER = "\U0010ffff"
#: The code point after U+D7FF that text can hold: U+D800-U+DFFF are surrogates.
BEFORE_SURROGATES, AFTER_SURROGATES = 0xD7FF, 0xE000


def _startswith(column: Any, text: str) -> ColumnElement:
    """`column` starts with `text`, ignoring case as lower() and LIKE do on each database.

    The LIKE is the rule (today's results, `%` and `_` escaped); the range beside it adds no
    result and takes none away (every text starting with the folded prefix lies in
    [prefix, PrefixEnd)), but lets an indexed field be read as one index range
    (tables.PrefixKey, docs/query.md "Indexes").
    """
    key = (id(column), text)
    kept = _STARTSWITH_CLAUSES.get(key)
    if kept is not None and kept[0] is column:
        return kept[1]
    exact = column.istartswith(text, autoescape=True)
    folded = folded_range(column, text)
    clause = exact if folded is None else and_(exact, folded)
    if len(_STARTSWITH_CLAUSES) >= STARTSWITH_CLAUSES:
        _STARTSWITH_CLAUSES.clear()
    _STARTSWITH_CLAUSES[key] = (column, clause)
    return clause


#: The `startswith` clauses kept, by column and text: a list paged through, refreshed or asked by several users
#: builds its clause once (building it was a third of a `startswith` page's own time); clauses hold no user's data.
STARTSWITH_CLAUSES = 512
_STARTSWITH_CLAUSES: dict[tuple[int, str], tuple[Any, ColumnElement]] = {}


def folded_range(column: Any, text: str) -> ColumnElement | None:
    """The range of the case-folded index (tables.PrefixKey) holding every `column` value starting with `text`.

    None for a text that bounds no range (empty once trailing U+10FFFF are stripped).
    """
    stem = text.rstrip(LAST_CHARACTER)
    if not stem:
        return None
    folded = PrefixKey(column)
    return and_(folded >= func.lower(literal(stem, Text())), folded < PrefixEnd(literal(stem, Text())))


class PrefixEnd(ColumnElement):
    """The smallest text after every text that starts with lower(`prefix`): its last character plus one.

    Computed by the database from its own lower(), so the bound always fits the folding the
    filter uses. The prefix must not end with U+10FFFF (nothing follows it; `_startswith` strips it).
    """

    __visit_name__ = "crmkit_prefix_end"
    inherit_cache = True
    _traverse_internals = [("prefix", InternalTraversal.dp_clauseelement)]

    def __init__(self, prefix: Any) -> None:
        self.prefix = prefix
        self.type = Text()


def _next_code(code: Any) -> ColumnElement:
    return code + case((code == BEFORE_SURROGATES, AFTER_SURROGATES - BEFORE_SURROGATES), else_=1)


@compiles(PrefixEnd, "postgresql")
def _prefix_end_postgresql(end: PrefixEnd, compiler, **kw) -> str:
    folded = func.lower(end.prefix)
    last = type_coerce(func.ascii(func.right(folded, 1)), Integer())
    return compiler.process(func.left(folded, -1).concat(func.chr(_next_code(last))), **kw)


@compiles(PrefixEnd)
def _prefix_end_sqlite(end: PrefixEnd, compiler, **kw) -> str:
    folded = func.lower(end.prefix)
    last = type_coerce(func.unicode(func.substr(folded, -1)), Integer())
    head = func.substr(folded, 1, func.length(folded) - 1)
    return compiler.process(head.concat(func.char(_next_code(last))), **kw)
