"""Sort orders, keyset cursors and the page query every list is read with.

    >>> stmt = build_select(ctx, "opportunity", QuerySpec(sort=("-amount",), limit=20))
    >>> rows = connection.execute(stmt).mappings().all()
    >>> next_page = page_cursor(ctx, "opportunity", ("-amount",), rows[19]) if len(rows) > 20 else None
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable, Mapping, Sequence

from sqlalchemy import (
    BindParameter, Column, ColumnElement, Connection, Select, and_, bindparam, false, func, literal, literal_column, or_, select, union,
    true, union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import operators
from sqlalchemy.sql.base import ColumnCollection
from sqlalchemy.sql.elements import BinaryExpression, BooleanClauseList
from sqlalchemy.sql.visitors import InternalTraversal

from crmkit.engine import messages
from crmkit.engine.fieldtypes import to_json
from crmkit.engine.query.derived_page import NO_DERIVED, DerivedColumns, derived_page, page_ids
from crmkit.engine.query.errors import QueryError, unknown_field
from crmkit.engine.fieldtypes.inputs import UNSTORABLE
from crmkit.engine.query.filters import QueryContext, compile_filter, resolve_field
from crmkit.engine.query.lists import one_of_ids
from crmkit.engine.query import prefix_ranges as prefix_reads
from crmkit.engine.query.prefix_ranges import startswith_ranges, top_level_prefixes
from crmkit.engine.tables import prefix_fields
from crmkit.engine.query.inputs import INT64_MAX, INT64_MIN, checked_text
from crmkit.engine.query.querystring import MAX_LIMIT, QuerySpec, parse_sort
from crmkit.engine.query.search import SearchMatch, search_clause, where_clause
from crmkit.engine.query.search_pages import id_ordered_matches, planned_search_by_parts
from crmkit.engine.query.shapes import ValueShape

MAX_SORT_FIELDS = 5
MAX_CURSOR_LENGTH = 4096
UNSORTABLE_TYPES = frozenset({"textarea"})
#: Cursor decimals: no stored number reaches 10^38 (the largest precision), nor needs more characters.
MAX_DECIMAL = Decimal(10) ** 38
MAX_DECIMAL_TEXT = 100
INVALID_CURSOR = messages.INVALID_CURSOR()


@dataclass(frozen=True)
class SortKey:
    name: str
    column: Any
    descending: bool
    value_kind: str
    #: False for NOT NULL columns (id, created_at, ...), sorted plainly so their indexes match on PostgreSQL.
    nullable: bool = True

    @property
    def text(self) -> str:
        return f"-{self.name}" if self.descending else self.name


#: The order of a search page whose caller names no sort: newest first (descending record id, the
#: creation order), the order the search index hands out matches in without sorting them (query/search_pages.py).
SEARCH_ORDER = ("-id",)


def page_sort(ctx: QueryContext, object_name: str, spec: QuerySpec) -> tuple[str, ...]:
    """The sort order a page is read in: `spec.sort` when the caller gives one, honoured exactly.

    Without one (an empty `spec.sort`), a search (non-blank `spec.search`) is read newest first
    (SEARCH_ORDER: a search's best matches as the index yields them cheaply, whatever the
    object's default_sort), and a list without a search in the object's `default_sort`
    (returned as (), which `sort_keys` reads as that). Cursors record the order they were made
    for, so the pages after a search's first page stay newest first too.
    """
    if spec.sort:
        return parse_sort(spec.sort) if isinstance(spec.sort, str) else tuple(spec.sort)
    if isinstance(spec.search, str) and spec.search.split():
        return SEARCH_ORDER
    return ()


def sort_keys(ctx: QueryContext, object_name: str, sort: Sequence[str] | str) -> list[SortKey]:
    """The checked sort order, `id` last so the order is total; empty `sort` means the object's default_sort, without
    the fields the user may not read (it is written for every user: a field hidden from them is neither sorted by,
    which would tell its order, nor refused, which would name it)."""
    given = parse_sort(sort) if isinstance(sort, str) else tuple(sort)
    if not given:
        hidden = ctx.hidden_fields(object_name) if ctx.hidden_fields is not None else frozenset()
        given = tuple(item for item in ctx.object(object_name).default_sort if item.lstrip("-") not in hidden)
    keys: list[SortKey] = []
    for item in given:
        key = _sort_key(ctx, object_name, item)
        if any(existing.name == key.name for existing in keys):
            raise QueryError(messages.SORT_TWICE(name=key.name))
        keys.append(key)
        if key.name == "id":
            break  # id is unique: later keys could never matter
    fields = len([key for key in keys if key.name != "id"])
    if fields > MAX_SORT_FIELDS:
        raise QueryError(messages.SORT_TOO_MANY(max=MAX_SORT_FIELDS, count=fields))
    if not keys or keys[-1].name != "id":
        id_column = ctx.schema.table(object_name).c.id
        keys.append(SortKey("id", id_column, keys[0].descending if keys else False, "integer", nullable=False))
    return keys


def _sort_key(ctx: QueryContext, object_name: str, item: Any) -> SortKey:
    if not isinstance(item, str) or item.lstrip("-") == "":
        raise QueryError(messages.NOT_A_SORT_FIELD(item=repr(item)))
    checked_text(item, "the sort order")
    descending = item.startswith("-")
    name = item[1:] if descending else item
    if "." in name:
        raise QueryError(messages.SORT_OWN_FIELDS(name=name))
    info = resolve_field(ctx, object_name, name)
    if info.value_kind == "list" or info.value_type in UNSORTABLE_TYPES:
        raise QueryError(messages.UNSORTABLE(object=object_name, field=name, type=info.value_type))
    stored = ctx.schema.table(object_name).c[name]
    nullable = info.column is not stored or bool(stored.nullable)
    return SortKey(name, info.column, descending, info.value_kind, nullable)


class NullsSmallest(ColumnElement):
    """An ORDER BY term in which empty values sort as the smallest, on every database.

    On PostgreSQL a nullable term says so (`ASC NULLS FIRST`, `DESC NULLS LAST`), the order
    the engine's indexes are built in (tables.OrderKey); a NOT NULL one is written plainly,
    since its index is plain too and PostgreSQL matches NULLS clauses literally.
    """

    __visit_name__ = "crmkit_nulls_smallest"
    inherit_cache = True
    _traverse_internals = [("element", InternalTraversal.dp_clauseelement),
                           ("descending", InternalTraversal.dp_boolean),
                           ("nullable", InternalTraversal.dp_boolean)]

    def __init__(self, element: Any, descending: bool, nullable: bool = True) -> None:
        self.element = element
        self.descending = descending
        self.nullable = nullable
        self.type = element.type


@compiles(NullsSmallest)
def _explicit_nulls(term: NullsSmallest, compiler, **kw) -> str:
    if not term.nullable:
        return compiler.process(term.element.desc() if term.descending else term.element.asc(), **kw)
    ordered = term.element.desc().nulls_last() if term.descending else term.element.asc().nulls_first()
    return compiler.process(ordered, **kw)


@compiles(NullsSmallest, "sqlite")
def _natural_nulls(term: NullsSmallest, compiler, **kw) -> str:
    # SQLite already sorts NULL first ascending and last descending; plain terms keep indexes usable.
    return compiler.process(term.element.desc() if term.descending else term.element.asc(), **kw)


def order_terms(keys: Sequence[SortKey]) -> list[NullsSmallest]:
    return [NullsSmallest(key.column, key.descending, key.nullable) for key in keys]


def after_clause(keys: Sequence[SortKey], values: Sequence[Any]) -> ColumnElement:
    """Rows strictly after the row with `values` in the order of `keys` (NULL is the smallest value)."""
    clauses = []
    for index, key in enumerate(keys):
        step = _beyond(key, values[index])
        if step is not None:
            same = [_same(earlier, value) for earlier, value in zip(keys[:index], values[:index])]
            clauses.append(and_(*same, step))
    return or_(false(), *clauses)


def _same(key: SortKey, value: Any) -> ColumnElement:
    return key.column.is_(None) if value is None else key.column == _bound(key, value)


def _beyond(key: SortKey, value: Any) -> ColumnElement | None:
    if key.descending:
        if value is None:
            return None
        below = key.column < _bound(key, value)
        return or_(below, key.column.is_(None)) if key.nullable else below
    return key.column.is_not(None) if value is None else key.column > _bound(key, value)


def _bound(key: SortKey, value: Any) -> Any:
    # A typed parameter: SQLAlchemy refuses `column > True` with a plain Python boolean.
    # A named one (a remembered statement's) is used as it is; its value comes with the execution.
    return value if isinstance(value, BindParameter) else literal(value, key.column.type)


def page_cursor(ctx: QueryContext, object_name: str, sort: Sequence[str], row: Mapping[str, Any]) -> str:
    """An opaque cursor for the page after `row` in `sort` order (URL-safe base64 of JSON)."""
    keys = sort_keys(ctx, object_name, sort)
    values = []
    for key in keys:
        if key.name not in row:
            raise QueryError(f"the row has no '{key.name}', which the sort order needs; select it too.")
        values.append(to_json(row[key.name]))
    payload = json.dumps({"s": [key.text for key in keys], "v": values}, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode("ascii")


def decode_cursor(keys: Sequence[SortKey], cursor: str) -> list[Any]:
    """The sort values a cursor holds; QueryError when it is garbage or made for another sort."""
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_LENGTH:
        raise QueryError(INVALID_CURSOR)
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, binascii.Error, RecursionError):
        raise QueryError(INVALID_CURSOR) from None
    if not isinstance(data, dict) or not isinstance(data.get("s"), list) or not isinstance(data.get("v"), list):
        raise QueryError(INVALID_CURSOR)
    order = [key.text for key in keys]
    if data["s"] != order:
        raise QueryError(messages.CURSOR_OTHER_SORT(made=",".join(map(str, data["s"])), order=",".join(order)))
    if len(data["v"]) != len(keys) or data["v"][-1] is None:
        raise QueryError(INVALID_CURSOR)
    return [_from_json(key, value) for key, value in zip(keys, data["v"])]


def _from_json(key: SortKey, value: Any) -> Any:
    if value is None:
        return None
    try:
        return CURSOR_VALUES.get(key.value_kind, _plain)(value)
    except (TypeError, ValueError, ArithmeticError):  # decimal.Overflow and InvalidOperation are ArithmeticErrors
        raise QueryError(INVALID_CURSOR) from None


def _typed(kind: type) -> Any:
    def check(value: Any) -> Any:
        if type(value) is not kind:
            raise TypeError(value)
        return value
    return check


def _stored_int(value: Any) -> int:
    """An int a 64-bit column can hold: a cursor is input, and may be forged."""
    if type(value) is not int or not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(value)
    return value


def _finite_decimal(value: Any) -> Decimal:
    if type(value) not in (str, int) or len(str(value)) > MAX_DECIMAL_TEXT:
        raise TypeError(value)
    number = Decimal(value)
    if not number.is_finite() or abs(number) >= MAX_DECIMAL:
        raise ValueError(value)
    return number


def _text(value: Any) -> str:
    if type(value) is not str or UNSTORABLE.search(value):
        raise ValueError(value)
    return value


def _aware(value: Any) -> datetime:
    moment = datetime.fromisoformat(_typed(str)(value))
    if moment.tzinfo is None:
        raise ValueError(value)
    return moment


def _plain(value: Any) -> Any:
    if not isinstance(value, (str, int, float, bool)):
        raise TypeError(value)
    return value


CURSOR_VALUES = {
    "text": _text,
    "integer": _stored_int,
    "reference": _stored_int,
    "boolean": _typed(bool),
    "decimal": _finite_decimal,
    "date": lambda value: date.fromisoformat(_typed(str)(value)),
    "datetime": _aware,
}


def build_select(ctx: QueryContext, object_name: str, spec: QuerySpec, columns: Sequence[str] | None = None,
                 *, search: ColumnElement | None = None) -> Select:
    """The page query: filter, search and row filter; sorted, `id` last; from `after` or `offset`; limit+1 rows.

    The extra row tells the caller there is a next page; `id` and the sort fields are always
    selected. `search` replaces the clause of `spec.search` (see query/search.py `planned_search`).
    The order is `page_sort`'s: a search without a sort is newest first.
    """
    spec = replace(spec, sort=page_sort(ctx, object_name, spec))
    keys = sort_keys(ctx, object_name, spec.sort)
    _check_page(spec)
    if columns is not None:  # on every page: a remembered statement was checked for the user who built it
        _check_columns(ctx, object_name, columns)
    if spec.after:
        stmt = select(*_columns(ctx, object_name, columns, keys)).where(where_clause(ctx, object_name, spec, search))
        return _keyset_page(stmt, keys, decode_cursor(keys, spec.after), spec.limit + 1)
    return _first_page(ctx, object_name, spec, columns, keys, search, by_branch=False)


def _first_page(ctx: QueryContext, object_name: str, spec: QuerySpec, columns: Sequence[str] | None,
                keys: Sequence[SortKey], search: ColumnElement | None, *, by_branch: bool = True,
                chosen: ColumnElement | None = None) -> Select:
    """The page from the top (or `spec.offset`); a list's first page without filter or search is built once.

    `by_branch=False` for `build_select`, whose callers may drop the limit (an export reads
    every row): a page read branch by branch has a limit in each branch. `chosen`: the
    compiled filter, built by the caller (`_filtered_first_page`); the statement is then not kept here.
    """
    def build() -> Select:
        branches = _row_filter_branches(ctx, object_name) if by_branch else None
        if branches and not spec.offset and search is None and spec.search is None:
            return _branch_by_branch(ctx, object_name, spec, columns, keys, branches, [], spec.limit + 1,
                                     chosen=chosen)
        stmt = select(*_columns(ctx, object_name, columns, keys)).where(
            where_clause(ctx, object_name, spec, search, chosen=chosen))
        if spec.offset:
            stmt = stmt.offset(spec.offset)
        return stmt.order_by(*order_terms(keys)).limit(spec.limit + 1)

    if spec.filter or spec.search is not None or search is not None or chosen is not None:
        return build()
    table, restriction = ctx.schema.table(object_name), ctx.restriction(object_name)
    return _remembered(("first", id(table), _keys_identity(keys), id(restriction), spec.limit, spec.offset, by_branch,
                        _columns_identity(columns)), (table, restriction, *(key.column for key in keys)), build)


def _columns_identity(columns: Sequence[str] | None) -> tuple[str, ...] | None:
    """The chosen columns' names as part of a remembered statement's key (None: every column). Whether the user
    may read them is checked on every page (`fetch_rows`), not only when the statement is built."""
    return None if columns is None else tuple(columns)


#: Page statements built once and reused (see `_remembered`); emptied when it holds this many.
REMEMBERED_STATEMENTS = 512
_STATEMENTS: dict[tuple, tuple[Any, tuple]] = {}


def _remembered(key: tuple, anchors: tuple, build: Callable[[], Any]) -> Any:
    """The statement `build()` made for `key` before, else a new one, kept for next time.

    Reusing the statement object saves building it and SQLAlchemy's walk over it for its
    cache key (memoised on the object): a tenth of a page's time. The key names objects by
    id() (the table, the sort columns, the row filter); `anchors` are those objects, kept
    alive beside the statement, so no other object can take one of their ids while the
    entry lives (a statement read branch by branch holds only the row filter's branches,
    not the filter itself: without its anchor, another user's filter could take its id
    and be served this user's statement). The keys hold no filter or search: statements
    with them are built each time.
    """
    entry = _STATEMENTS.get(key)
    if entry is None:
        if len(_STATEMENTS) >= REMEMBERED_STATEMENTS:
            _STATEMENTS.clear()
        entry = _STATEMENTS[key] = (build(), anchors)
    return entry[0]


def _filtered_first_page(ctx: QueryContext, object_name: str, spec: QuerySpec, keys: Sequence[SortKey],
                         columns: Sequence[str] | None = None) -> tuple[Select, dict[str, Any]] | None:
    """A filtered list's first page (or page at `spec.offset`): one statement per filter shape, the values bound.

    The filter is compiled for this request; a statement built before for a filter of the
    same fields, operators and structure (query/shapes.py) is reused with this filter's
    values as its parameters (`filter_0`, ...), so only the first request of a shape builds
    the page statement and walks it for SQLAlchemy's cache key. The user's row filter is
    part of the key by identity, as for an unfiltered page (`_remembered`): a statement is
    never served to a user whose row filter is another object. None when the filter has no
    shape (it is then built per request).
    """
    shape = ValueShape.of(compile_filter(ctx, object_name, spec.filter))
    if shape is None:
        return None

    def build() -> Select:
        return _first_page(ctx, object_name, spec, columns, keys, None, chosen=shape.parametrized(FILTER_PARAMETER))

    table, restriction = ctx.schema.table(object_name), ctx.restriction(object_name)
    statement = _remembered(("filtered", id(table), _keys_identity(keys), id(restriction), spec.limit, spec.offset,
                             shape.key, _columns_identity(columns)), (table, restriction, *(key.column for key in keys)),
                            build)
    return statement, shape.values(FILTER_PARAMETER)


#: The prefix of the parameters a filtered page statement binds its filter's values to.
FILTER_PARAMETER = "filter"


def _keys_identity(keys: Sequence[SortKey]) -> tuple:
    return tuple((id(key.column), key.descending, key.nullable) for key in keys)


def fetch_rows(connection: Connection, ctx: QueryContext, object_name: str, spec: QuerySpec,
               columns: Sequence[str] | None = None,
               derived: DerivedColumns = NO_DERIVED) -> list[Any]:
    """The page's rows, as `build_select` selects them, in as few index-ordered reads as possible.

    For a descending keyset page, the range after the cursor is read first and the empty
    tail only if the page is not full yet: cheaper than the one-statement UNION. A search
    sorted by id alone (as every search without an explicit sort is, `page_sort`) is read in
    the search index's own order (query/search_pages.py); a search sorted by fields is
    planned against the search index first (query/search_pages.py `planned_search_by_parts`),
    and costs a sort of its matches when they are many.

    `derived` (the caller's values of recomputed or masked fields, security/derived.py
    `DerivedRules.page_columns`) replaces those columns in every row read, in the same
    statement as the page (`with_derived`).
    """
    spec = replace(spec, sort=page_sort(ctx, object_name, spec))
    keys = sort_keys(ctx, object_name, spec.sort)
    _check_page(spec)
    if columns is not None:  # on every page: a remembered statement was checked for the user who built it
        _check_columns(ctx, object_name, columns)
    values = decode_cursor(keys, spec.after) if spec.after else None

    def read(statement: Any, parameters: Mapping[str, Any] | None = None, *, remembered: bool = False) -> list[Any]:
        statement = with_derived(ctx, object_name, statement, keys, derived, remembered=remembered)
        return connection.execute(statement, parameters).all()

    if spec.search and len(keys) == 1 and not spec.offset:
        match = search_clause(ctx, object_name, spec.search)
        if not isinstance(match, SearchMatch):  # a blank search, or one that can match nothing
            return read(build_select(ctx, object_name, spec, columns, search=match))
        return id_ordered_matches(connection, ctx, object_name, spec, _columns(ctx, object_name, columns, keys), match,
                                  descending=keys[0].descending, after=values[0] if values else None, read=read)
    search = planned_search_by_parts(connection, ctx, object_name, spec.search) if spec.search else None
    if isinstance(search, SearchMatch) and search.per_row:
        if values is None and not spec.offset:
            rows = _first_rows_tested(read, ctx, object_name, spec, columns, keys, search)
            if rows is not None:
                return rows
        search = search.as_set()
    if values is None and search is not None and connection.dialect.name == "postgresql":
        return read(_matches_then_sorted(ctx, object_name, spec, columns, keys, search))
    if spec.filter and spec.search is None and search is None and not spec.offset:
        ranges = _startswith_ranges(connection, ctx, object_name, spec, keys, values)
        if ranges is not None:
            return read(*_remembered_range_page(ctx, object_name, spec, columns, keys, ranges, values,
                                                lateral=connection.dialect.name == "postgresql"), remembered=True)
        rows = _few_prefixed_page(connection, ctx, object_name, spec, columns, keys, values, read)
        if rows is not None:
            return rows
    if values is None and spec.filter and spec.search is None and search is None:
        filtered = _filtered_first_page(ctx, object_name, spec, keys, columns)
        if filtered is not None:
            return read(*filtered, remembered=True)
    if values is None:
        remembered = not (spec.filter or spec.search is not None or search is not None)
        return read(_first_page(ctx, object_name, spec, columns, keys, search), remembered=remembered)
    limit = spec.limit + 1
    first, value = keys[0], values[0]
    if (value is None or not first.descending) and not spec.filter and spec.search is None and columns is None:
        statement, parameters = _remembered_keyset_page(ctx, object_name, keys, values, limit)
        return read(statement, parameters, remembered=True)
    stmt = select(*_columns(ctx, object_name, columns, keys)).where(where_clause(ctx, object_name, spec, search))
    if value is None or not first.descending:
        return read(_keyset_page(stmt, keys, values, limit))
    head = stmt.where(after_clause(keys, values), first.column <= _bound(first, value))
    rows = read(head.order_by(*order_terms(keys)).limit(limit))
    if len(rows) < limit:
        tail = stmt.where(first.column.is_(None)).order_by(*order_terms(keys)).limit(limit - len(rows))
        rows.extend(read(tail))
    return rows


def with_derived(ctx: QueryContext, object_name: str, statement: Any, keys: Sequence[SortKey],
                 derived: DerivedColumns, *, remembered: bool = False) -> Any:
    """`statement` (a page: at most a page of rows, in `keys`' order) with `derived` read beside its rows.

    The page is read as before (its plan unchanged), and the derived values are computed
    for its rows alone, in the same statement, instead of a second read for the page's ids
    (query/derived_page.py: grouped rollups, correlated expressions). Columns of `derived`'s
    names in the page are replaced. `remembered`: the statement is one `_remembered` keeps,
    so the wrapped one is kept beside it (its cache key is not walked again). No `derived`:
    `statement` unchanged.
    """
    if not derived:
        return statement

    def build() -> Select:
        def order(page: Any) -> list[NullsSmallest]:
            return order_terms([SortKey(key.name, page.c[key.name], key.descending, key.value_kind, key.nullable)
                                for key in keys])

        return derived_page(ctx.schema.table(object_name), statement, derived, order)

    if not remembered:
        return build()
    return _remembered(("derived", id(statement), id(derived)), (statement, derived), build)


def _matches_then_sorted(ctx: QueryContext, object_name: str, spec: QuerySpec, columns: Sequence[str] | None,
                         keys: Sequence[SortKey], search: ColumnElement) -> Select:
    """PostgreSQL: a search page that reads the matching records first and sorts them after.

    Left to itself, the planner assumes the matches are spread evenly over the sort order
    and walks the sort index testing each row; when they lie together far along it (Chinese
    names after Latin ones) that walk reads most of the table (1.8 s at 1,000,000 records,
    against 20 ms here). The subquery's OFFSET 0 keeps the planner from merging it into the
    outer query (PostgreSQL does not pull up a subquery with LIMIT or OFFSET).
    """
    matches = (select(*_columns(ctx, object_name, columns, keys)).where(where_clause(ctx, object_name, spec, search))
               .offset(literal_column("0")).subquery())
    outer = [SortKey(key.name, matches.c[key.name], key.descending, key.value_kind) for key in keys]
    statement = select(matches).order_by(*order_terms(outer)).limit(spec.limit + 1)
    return statement.offset(spec.offset) if spec.offset else statement


#: How many records, in sort order, a page of a common word's search tests before it reads every match instead.
TESTED_FIRST = 2_000


def _first_rows_tested(read: Callable[[Any], list[Any]], ctx: QueryContext, object_name: str, spec: QuerySpec,
                       columns: Sequence[str] | None, keys: Sequence[SortKey], search: SearchMatch) -> list[Any] | None:
    """The first page of a search for a common word, from the first TESTED_FIRST records in sort order; None if short.

    The records the filter and row filter select are read along the sort order's index,
    at most TESTED_FIRST of them, and each is tested against the search index; a full page
    among them is the right page. When the word's matches lie further on in the sort order
    (Chinese names sort after Latin ones, say), None: the caller reads every match instead,
    so no search walks a million rows one by one.
    """
    limit = spec.limit + 1
    unsearched = where_clause(ctx, object_name, replace(spec, search=None))
    first = (select(*_columns(ctx, object_name, columns, keys)).where(unsearched)
             .order_by(*order_terms(keys)).limit(TESTED_FIRST).subquery())
    outer = [SortKey(key.name, first.c[key.name], key.descending, key.value_kind) for key in keys]
    statement = (select(first).where(search.row_by_row(first.c.id))
                 .order_by(*order_terms(outer)).limit(limit))
    rows = read(statement)
    return rows if len(rows) == limit else None


def _remembered_keyset_page(ctx: QueryContext, object_name: str, keys: Sequence[SortKey], values: Sequence[Any],
                            limit: int) -> tuple[Select, dict[str, Any]]:
    """An ascending keyset page without filter or search: the statement built once, the cursor's values bound.

    The values travel as parameters (`after_0`, ...), so one statement serves every cursor
    with the same empty values (an empty value is an IS NULL test, not a parameter).
    """
    empty = tuple(value is None for value in values)

    def build() -> Select:
        spec = QuerySpec(sort=tuple(key.text for key in keys))
        named = [None if value is None else bindparam(f"after_{number}", type_=key.column.type)
                 for number, (key, value) in enumerate(zip(keys, values))]
        branches = _row_filter_branches(ctx, object_name)
        if branches:
            return _branch_by_branch(ctx, object_name, spec, None, keys, branches, _ascending_after(keys, named), limit)
        stmt = select(*_columns(ctx, object_name, None, keys)).where(where_clause(ctx, object_name, spec))
        return _keyset_page(stmt, keys, named, limit)

    table, restriction = ctx.schema.table(object_name), ctx.restriction(object_name)
    statement = _remembered(("after", id(table), _keys_identity(keys), id(restriction), empty, limit),
                            (table, restriction, *(key.column for key in keys)), build)
    return statement, {f"after_{number}": value for number, value in enumerate(values) if value is not None}


def _row_filter_branches(ctx: QueryContext, object_name: str) -> list[ColumnElement] | None:
    """The branches of a row filter that is an OR (owned, shared with the user, a sharing rule); else None."""
    restriction = ctx.restriction(object_name)
    if isinstance(restriction, BooleanClauseList) and restriction.operator is operators.or_ \
            and len(restriction.clauses) > 1:
        return list(restriction.clauses)
    return None


def _branch_by_branch(ctx: QueryContext, object_name: str, spec: QuerySpec, columns: Sequence[str] | None,
                      keys: Sequence[SortKey], branches: Sequence[ColumnElement], after: Sequence[ColumnElement],
                      limit: int, *, chosen: ColumnElement | None = None) -> Select:
    """An ascending or first page under a row filter that is an OR, read one branch at a time.

    No index serves `owner_id = :me OR id IN (<shared with me>)` in sort order, so both
    databases walked the sort's index testing every row (PostgreSQL) or read every visible
    record and sorted them (SQLite): 60 to 90 ms for a sales rep with one share among
    1,000,000 accounts. Each branch instead reads its own first `limit` ids and sort values
    in sort order (the owner branch along the owner twin index, the shares by primary key),
    and the page is the first `limit` of their union: any record among the page's is among
    its branch's first. Each branch holds the filter, the cursor's range and its own part
    of the row filter, so every merged id passes the whole row filter (an OR of the
    branches) without testing it again. `merged_page` gives the statement's shape.
    """
    table = ctx.schema.table(object_name)
    chosen = compile_filter(ctx, object_name, spec.filter) if chosen is None else chosen
    firsts = [select(table.c.id, *_sort_values(keys)).where(chosen, branch, *after)
              .order_by(*order_terms(keys)).limit(limit).correlate(None).subquery() for branch in branches]
    return merged_page(table, _columns(ctx, object_name, columns, keys), keys, firsts, limit)


def _startswith_ranges(connection: Connection, ctx: QueryContext, object_name: str, spec: QuerySpec,
                       keys: Sequence[SortKey], values: Sequence[Any] | None) -> list[tuple[str, str]] | None:
    """The ranges of the first sort field's index holding every record of a `startswith` on it (prefix_ranges.py)."""
    first = keys[0]
    if values is not None and values[0] is None:
        return None
    if first.value_kind != "text" or first.column is not ctx.schema.table(object_name).c.get(first.name):
        return None
    return startswith_ranges(connection, ctx, object_name, spec.filter, first.name)


def _few_prefixed_page(connection: Connection, ctx: QueryContext, object_name: str, spec: QuerySpec,
                       columns: Sequence[str] | None, keys: Sequence[SortKey], values: Sequence[Any] | None,
                       read: Callable[[Any], list[Any]]) -> list[Any] | None:
    """SQLite: a restricted user's page of a `startswith` on the sort field that at most FEW_PREFIXED records meet:
    read among their ids.

    The ids are read along the field's case-folded index (at most FEW_PREFIXED + 1, whoever
    may see them: it only chooses the read), then the page among them with the whole filter
    and the row filter, sorted. SQLite otherwise walked the whole name index in order for a
    sales manager's page (the row filter and the rollups recomputed for him made the planner
    avoid a sort): "wonka industries 12" at 1,000,000 accounts, 41 records for him, 210 ms.
    None (the usual read) for an administrator, a field without that index, a value derived
    for the user, a descending page after a cursor, or more records than FEW_PREFIXED.
    """
    first = keys[0]
    if connection.dialect.name != "sqlite" or ctx.restriction(object_name) is None or (
            values is not None and first.descending):
        return None  # PostgreSQL reads such a page along the folded index (a manager's: 6-9 ms; this way 14)
    table = ctx.schema.table(object_name)
    if first.value_kind != "text" or first.column is not table.c.get(first.name):
        return None
    prefixes = top_level_prefixes(spec.filter, first.name)
    if not prefixes or first.name not in prefix_fields(ctx.object(object_name), ctx.field_types, ctx.registry):
        return None
    condition = compile_filter(ctx, object_name, {first.name: {"startswith": prefixes}})
    few = prefix_reads.FEW_PREFIXED  # read here: a test sets its own
    ids = connection.execute(select(table.c.id).where(condition).limit(few + 1)).scalars().all()
    if len(ids) > few:
        return None
    if not ids:
        return []
    stmt = select(*_columns(ctx, object_name, columns, keys)).where(where_clause(ctx, object_name, spec),
                                                                    one_of_ids(table.c.id, ids))
    if values is None:
        return read(stmt.order_by(*order_terms(keys)).limit(spec.limit + 1))
    return read(_keyset_page(stmt, keys, values, spec.limit + 1))


def _remembered_range_page(ctx: QueryContext, object_name: str, spec: QuerySpec, columns: Sequence[str] | None,
                           keys: Sequence[SortKey], ranges: Sequence[tuple[str, str]],
                           values: Sequence[Any] | None, *, lateral: bool) -> tuple[Select, dict[str, Any]]:
    """`_range_by_range`'s statement, built once per filter shape, number of ranges and cursor shape; its values bound.

    The filter's values (`filter_0`, ...), the ranges' bounds (`range_0_low`, `range_0_high`,
    ...) and the cursor's values (`after_0`, ...) are parameters, as for a filtered page
    (`_filtered_first_page`): building the statement of sixteen ranges took 10 ms a page.
    `lateral` (PostgreSQL): the bounds are two arrays (`range_lows`, `range_highs`), one
    statement for any number of ranges. A filter without a shape is built each time.
    """
    limit = spec.limit + 1
    shape = ValueShape.of(compile_filter(ctx, object_name, spec.filter))
    if shape is None:
        return _range_by_range(ctx, object_name, spec, columns, keys, ranges, values, limit, lateral=lateral), {}
    column_type = keys[0].column.type

    def build() -> Select:
        named_ranges: Any = (bindparam("range_lows", type_=ARRAY(column_type)),
                             bindparam("range_highs", type_=ARRAY(column_type))) if lateral else [
            (bindparam(f"range_{number}_low", type_=column_type), bindparam(f"range_{number}_high", type_=column_type))
            for number in range(len(ranges))]
        named_values = None if values is None else [
            None if value is None else bindparam(f"after_{number}", type_=key.column.type)
            for number, (key, value) in enumerate(zip(keys, values))]
        return _range_by_range(ctx, object_name, spec, columns, keys, named_ranges, named_values, limit,
                               chosen=shape.parametrized(FILTER_PARAMETER), lateral=lateral)

    table, restriction = ctx.schema.table(object_name), ctx.restriction(object_name)
    empty = None if values is None else tuple(value is None for value in values)
    statement = _remembered(("ranges", id(table), _keys_identity(keys), id(restriction), limit, shape.key,
                             lateral or len(ranges), empty, _columns_identity(columns)),
                            (table, restriction, *(key.column for key in keys)), build)
    parameters = shape.values(FILTER_PARAMETER)
    if lateral:
        parameters["range_lows"], parameters["range_highs"] = [low for low, _ in ranges], [high for _, high in ranges]
    for number, (low, high) in enumerate(() if lateral else ranges):
        parameters[f"range_{number}_low"], parameters[f"range_{number}_high"] = low, high
    for number, value in enumerate(values or ()):
        if value is not None:
            parameters[f"after_{number}"] = value
    return statement, parameters


def _range_by_range(ctx: QueryContext, object_name: str, spec: QuerySpec, columns: Sequence[str] | None,
                    keys: Sequence[SortKey], ranges: Any, values: Sequence[Any] | None,
                    limit: int, *, chosen: ColumnElement | None = None, lateral: bool = False) -> Select:
    """A `startswith` page (first or after a cursor) read as its `ranges` of the sort field's index, merged.

    Each range holds the whole filter (`chosen`: compiled by the caller), the row filter and
    the cursor's range, and reads its first `limit` records in sort order
    (query/prefix_ranges.py); `merged_page` keeps the first `limit` of them. No record of the
    page lies outside the ranges.

    `lateral` (PostgreSQL): `ranges` is a pair of arrays (lows, highs), and one subquery is
    joined laterally to their rows (`FROM unnest(:lows, :highs) AS ranges(low, high) CROSS
    JOIN LATERAL (SELECT id, name ... AND name >= ranges.low AND name < ranges.high ORDER BY
    name, id LIMIT 51)`): planned once, where a UNION of sixteen was planned sixteen times
    (1.3 ms each for the bench's account, whose 16 indexes the planner weighs each time).
    """
    table = ctx.schema.table(object_name)
    team = _team(ctx, object_name) if lateral else None
    if team is not None:  # the row filter is read as the owners' join below
        chosen = chosen if chosen is not None else compile_filter(ctx, object_name, spec.filter)
    else:
        chosen = where_clause(ctx, object_name, spec, chosen=chosen)
    first = keys[0]
    after: list[ColumnElement] = []
    if values is not None:
        after = ([after_clause(keys, values), first.column <= _bound(first, values[0])] if first.descending
                 else _ascending_after(keys, values))
    if lateral:
        lows, highs = ranges
        if not isinstance(lows, BindParameter):
            lows, highs = literal(list(lows), ARRAY(first.column.type)), literal(list(highs), ARRAY(first.column.type))
        bounds = func.unnest(lows, highs).table_valued("low", "high").render_derived(name="ranges")
        walk = [chosen, first.column >= bounds.c.low, first.column < bounds.c.high, *after]
        sources: Any = bounds
        if team is not None:
            owners = (func.unnest(literal(team, ARRAY(table.c.owner_id.type))).table_valued("owner")
                      .render_derived(name="team"))
            walk.append(table.c.owner_id == owners.c.owner)
            sources = bounds.join(owners, true())
        walked = (select(table.c.id, *_sort_values(keys)).where(*walk)
                  .order_by(*order_terms(keys)).limit(limit).lateral("walked"))
        merged = select(walked).select_from(sources.join(walked, true())).subquery("merged")
        return merged_page(table, _columns(ctx, object_name, columns, keys), keys, [merged], limit)
    firsts = [select(table.c.id, *_sort_values(keys))
              .where(chosen, first.column >= low, first.column < high, *after)
              .order_by(*order_terms(keys)).limit(limit).correlate(None).subquery() for low, high in ranges]
    return merged_page(table, _columns(ctx, object_name, columns, keys), keys, firsts, limit)


#: The most owners a row filter `owner_id IN (<team>)` may name for its startswith ranges to be read owner by owner.
TEAM_OWNERS = 256


def _team(ctx: QueryContext, object_name: str) -> list[int] | None:
    """The owners of a row filter that is exactly `owner_id IN (<a few users>)` (a sales manager's, a VP's), or None.

    PostgreSQL reads such a user's `startswith` page as each range of each owner along the
    owner index (owner_id, <sort field>), first `limit` of each, merged (`_range_by_range`):
    the planner, guessing a team holds 5 of a prefix's names, read every name of the range
    by bitmap and sorted them, or the team's every record ("wonka" for a manager at 1,000,000
    accounts: 250-340 ms; the usual read 1.8-2.9 s).
    """
    restriction = ctx.restriction(object_name)
    if not isinstance(restriction, BinaryExpression) or restriction.operator is not operators.in_op:
        return None
    owner, listed = restriction.left, restriction.right
    if not (isinstance(owner, Column) and owner.name == "owner_id" and owner.table is ctx.schema.table(object_name)):
        return None
    if not isinstance(listed, BindParameter) or not listed.expanding or not isinstance(listed.value, (list, tuple)):
        return None
    team = list(dict.fromkeys(listed.value))
    if not team or len(team) > TEAM_OWNERS or not all(type(user) is int for user in team):
        return None
    return team


def merged_page(table: Any, columns: Sequence[Any], keys: Sequence[SortKey], firsts: Sequence[Any],
                limit: int) -> Select:
    """The first `limit` rows of `table` among `firsts` (subqueries of `id` and the sort values, in sort order).

    `WITH page_ids AS (SELECT id, name FROM (<first ids of branch 1> UNION <first ids of
    branch 2> ...) ORDER BY name, id LIMIT 51) SELECT <columns> FROM account JOIN page_ids ON
    account.id = page_ids.id ORDER BY page_ids.name, page_ids.id LIMIT 51`: the page's ids
    are merged once, from the branches' index-ordered reads (UNION drops a record two
    branches hold, as one the rep owns that a sharing rule also reaches), and its rows are
    read by primary key for those `limit` ids alone. The derived values a rep sees for the
    page (security/derived.py) are read in the same statement, each child object's rollups
    for the CTE's ids (query/derived_page.py `page_ids`), instead of merging the branches
    again for each child object. Measured on the bench's 1,000,000 accounts, a rep with one
    shared record: PostgreSQL reads 457 buffers for the page instead of 730 (owner branch:
    an index-only walk of ix_account_owner_id_name; shares: primary key); SQLite runs 7,800
    virtual-machine instructions instead of 8,700 (a rep's page without shares: 4,200).
    """
    merged = union(*(select(first) for first in firsts))
    ids = page_ids(merged.order_by(*order_terms(_keys_over(merged.selected_columns, keys))).limit(limit))
    return (select(*columns).select_from(table.join(ids, table.c.id == ids.c.id))
            .order_by(*order_terms(_keys_over(ids, keys))).limit(limit))


def _sort_values(keys: Sequence[SortKey]) -> list[Any]:
    """The sort keys' values as a branch's columns beside `id`, named `sort_0`, `sort_1`, ... (id itself excepted)."""
    return [key.column.label(f"sort_{number}") for number, key in enumerate(keys) if key.name != "id"]


def _keys_over(source: Any, keys: Sequence[SortKey]) -> list[SortKey]:
    """`keys` over the columns of `source`, a subquery of `id` and `_sort_values(keys)`."""
    columns = source if isinstance(source, ColumnCollection) else source.c
    return [SortKey(key.name, columns.id if key.name == "id" else columns[f"sort_{number}"], key.descending,
                    key.value_kind, key.nullable) for number, key in enumerate(keys)]


def _ascending_after(keys: Sequence[SortKey], values: Sequence[Any]) -> list[ColumnElement]:
    """The conditions of the rows after `values` in an ascending order: the exact test, and the index range."""
    first, value = keys[0], values[0]
    exact = after_clause(keys, values)
    return [exact] if value is None else [exact, first.column >= _bound(first, value)]


def _keyset_page(stmt: Select, keys: Sequence[SortKey], values: Sequence[Any], limit: int) -> Select:
    """The rows after a cursor, read from an index range instead of scanned from the top.

    `after_clause` is exact but an OR, which no index serves. So the first sort key also gets
    a plain range bound: ascending, nothing empty follows a non-empty value (`k >= v`);
    descending, the rows after are the range `k <= v` followed by the empty tail, read as
    two index-ordered branches of at most `limit` rows each.
    """
    exact = stmt.where(after_clause(keys, values))
    first, value = keys[0], values[0]
    if value is None:
        return exact.order_by(*order_terms(keys)).limit(limit)
    if not first.descending:
        return exact.where(first.column >= _bound(first, value)).order_by(*order_terms(keys)).limit(limit)
    head = exact.where(first.column <= _bound(first, value)).order_by(*order_terms(keys)).limit(limit)
    tail = stmt.where(first.column.is_(None)).order_by(*order_terms(keys)).limit(limit)
    both = union_all(select(head.subquery()), select(tail.subquery())).subquery()
    outer = [SortKey(key.name, both.c[key.name], key.descending, key.value_kind, key.nullable) for key in keys]
    return select(both).order_by(*order_terms(outer)).limit(limit)


def _check_page(spec: QuerySpec) -> None:
    if isinstance(spec.limit, bool) or not isinstance(spec.limit, int) or not 1 <= spec.limit <= MAX_LIMIT:
        raise QueryError(messages.PAGE_SIZE(max=f"{MAX_LIMIT:,}", value=repr(spec.limit)))
    if isinstance(spec.offset, bool) or not isinstance(spec.offset, int) or not 0 <= spec.offset <= INT64_MAX:
        raise QueryError(messages.OFFSET_RANGE(max=f"{INT64_MAX:,}", value=repr(spec.offset)))
    if spec.after and spec.offset:
        raise QueryError(messages.CURSOR_OR_OFFSET())


def _columns(ctx: QueryContext, object_name: str, names: Sequence[str] | None, keys: Sequence[SortKey]) -> list[Any]:
    table = ctx.schema.table(object_name)
    sorted_by = {key.name for key in keys}
    if names is None:
        if all(key.column is table.c.get(key.name) for key in keys):
            # Every column as stored: the table itself, whose statement cache key is a fraction of 30 columns'.
            return [table]
        return [_selected(ctx, object_name, column.key) if column.key in sorted_by else column for column in table.c]
    _check_columns(ctx, object_name, names)
    wanted = [*names, "id", *(key.name for key in keys)]
    return [_selected(ctx, object_name, name) if name in sorted_by else table.c[name] for name in dict.fromkeys(wanted)]


def _check_columns(ctx: QueryContext, object_name: str, names: Sequence[str]) -> None:
    """QueryError (unknown field) for a name among `names` the table does not store or the user may not read."""
    table = ctx.schema.table(object_name)
    hidden = ctx.hidden_fields(object_name) if ctx.hidden_fields is not None else frozenset()
    for name in names:
        if not isinstance(name, str) or name not in table.c or name in hidden:
            raise unknown_field(object_name, str(name), [key for key in table.c.keys() if key not in hidden])


def _selected(ctx: QueryContext, object_name: str, name: str) -> Any:
    """A sort column as the caller sees it (their value of a derived field), so page cursors hold what they sort by.

    Other columns are selected as stored: the page's derived values are read once for all
    its rows afterwards (security/shaping.py), without a subquery per row here.
    """
    column = ctx.column(object_name, name)
    return column if column is ctx.schema.table(object_name).c[name] else column.label(name)
