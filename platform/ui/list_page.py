"""The list page of one object (`/o/<object>`): what it shows, read through the engine's services only.

    page = build_list_page(user_context(), "account", request.args)
    page.columns, page.rows, page.count, page.next_args, page.previous_args

The query string is the view: filters, `q`, `sort` and `after` are the query language's
query-string form (engine/query/querystring.py), passed on unchanged. The page's own keys
are taken out before the engine sees them: `view` and `columns` (a saved view and the
column chooser, list_views.py), and `back`, repeated, the cursors of the pages
before this one (`-` for the first page), so "previous" works with the engine's keyset
cursors (which only go forward) and the address stays bookmarkable. At most
`MAX_BACK` are kept; beyond them "previous" returns to the first page.

Permissions are the engine's: rows come from `records(object).query` (a rep's row filter),
columns leave out the fields the engine's policy hides from the user, lookup titles are
read with `records(target).query` (a title the user may not read shows as "Record 7").
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from operator import itemgetter
from typing import Any, Sequence

from werkzeug.datastructures import MultiDict

from crmkit.engine.context import UserContext
from crmkit.engine.fieldtypes.display import Display
from crmkit.engine.fieldtypes.list_filters import FieldFilter
from crmkit.engine.fieldtypes.presenter import FieldPresenter
from crmkit.engine.fieldtypes.widgets import Choice
from crmkit.engine.query.counting import Count
from crmkit.engine.query.inputs import ascii_whole_number
from crmkit.engine.query.querystring import QuerySpec, parse_query_string
from crmkit.engine.security.access import PermissionDenied
from crmkit.engine.security.user_names import UserNames
from crmkit.metadata.model import FieldDef, ObjectDef
from crmkit.ui.fragments import FragmentCache

#: Query-string keys of the page itself, never passed to the engine (`view` and `columns`: list_views.py).
PAGE_KEYS = ("back", "view", "columns")
#: Keys dropped when the view changes (a new filter, sort or search starts at the first page).
PAGING_KEYS = ("after", "back")
FIRST_PAGE = "-"
MAX_BACK = 20
#: How many records the count reads exactly before it says "more than" (or PostgreSQL estimates):
#: a search matching a million rows then reads 1,001 of them to count, not 10,001.
COUNT_CAP = 1_000
#: Records a lookup filter offers to choose from (the chosen one is always offered too).
LOOKUP_CHOICES = 50
#: Field types a list cannot be sorted by (the engine refuses them).
UNSORTABLE = frozenset({"multi_picklist"})


@dataclass(frozen=True)
class Column:
    """One column: the field, its label in the user's language, and how the list is sorted by it now."""

    field: FieldDef
    label: str
    #: "ascending", "descending" or "none": the `aria-sort` of the header.
    sorted: str
    #: The query-string arguments of the list sorted by this column (the other way when it already is); None: not sortable.
    sort_args: MultiDict | None


@dataclass(frozen=True)
class Row:
    id: int
    cells: tuple[Display, ...]
    #: The version the row was read at: a bulk edit or delete of it refuses a record changed since.
    version: int | None = None


@dataclass(frozen=True)
class ListPage:
    """Everything the list template shows; `args` are the view's query-string arguments (without paging)."""

    obj: ObjectDef
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    count: Count
    filters: tuple[FieldFilter, ...]
    search: str
    args: MultiDict
    next_args: MultiDict | None
    previous_args: MultiDict | None
    first_args: MultiDict | None
    filtered: bool


def engine_args(args: MultiDict) -> MultiDict:
    """The query-string arguments the engine reads: the page's own keys taken out."""
    return MultiDict([(key, value) for key, value in args.items(multi=True) if key not in PAGE_KEYS])


def without(args: MultiDict, keys: Sequence[str]) -> MultiDict:
    return MultiDict([(key, value) for key, value in args.items(multi=True) if key not in keys])


def effective_sort(spec: QuerySpec, layout_sort: Sequence[str], context: UserContext, object_name: str) -> tuple[str, ...]:
    """The sort the page asks for: the query string's, else (without a search) the layout's; () is the engine's default.

    The layout's sort is written for every user: its fields the user may not read are left out (the engine
    would refuse the sort, and the page would be an error naming the field), as its columns are.
    """
    if spec.sort:
        return tuple(spec.sort)
    if spec.search:
        return ()  # a search with no sort is newest first (docs/query.md)
    return readable_sort(context, object_name, layout_sort)


def readable_sort(context: UserContext, object_name: str, sort: Sequence[str]) -> tuple[str, ...]:
    """`sort` (field names, "-" for descending) without the fields `context`'s user may not read."""
    hidden = context.policy.hidden_fields(object_name) if context.policy is not None else frozenset()
    return tuple(key for key in sort if key.lstrip("-") not in hidden)


def visible_columns(context: UserContext, presenter: FieldPresenter, obj: ObjectDef,
                    names: Sequence[str]) -> list[FieldDef]:
    """The layout's list columns the user may read (the engine's field permissions), as field definitions."""
    hidden = context.policy.hidden_fields(obj.name) if context.policy is not None else frozenset()
    fields = []
    for name in names:
        if name in hidden:
            continue
        try:
            fields.append(presenter.field(obj, name))
        except KeyError:
            continue
    return fields


def stored_columns(records: Any, names: Sequence[str]) -> tuple[str, ...] | None:
    """`names` (the fields a page shows) for `records.query(fields=...)` (a RecordService): a page reads only the
    columns it shows (a cell's Display is a function of its own field's value and lookup title), not the object's
    thirty; None (every field) when one of them is not a column of the object's table."""
    table = records.table
    names = tuple(names)
    return names if all(name in table.c for name in names) else None


def sort_state(name: str, sort: Sequence[str]) -> str:
    if sort and sort[0] == name:
        return "ascending"
    if sort and sort[0] == f"-{name}":
        return "descending"
    return "none"


def sorted_by(args: MultiDict, name: str, state: str) -> MultiDict:
    """The view's arguments sorted by `name`: ascending first, descending when it already is ascending."""
    changed = without(args, PAGING_KEYS + ("sort",))
    changed.add("sort", f"-{name}" if state == "ascending" else name)
    return changed


def lookup_titles(context: UserContext, fields: Sequence[FieldDef], rows: Sequence[Any]) -> dict[tuple[str, int], str]:
    """(object or "user", id) -> title of the records and users the page's lookups point at, read with the user's rights.

    One query per target object (the ids of this page only); users' display names from the
    engine's UserNames (the owners of this page only). A record the user may not read, or
    whose title is hidden, has none.
    """
    wanted: dict[str, set[int]] = {}
    for fdef in fields:
        if fdef.type != "lookup":
            continue
        target = fdef.to or "user"
        for row in rows:
            value = row.get(fdef.name)
            if isinstance(value, int):
                wanted.setdefault(target, set()).add(value)
    titles: dict[tuple[str, int], str] = {}
    registry = context.runtime.registry
    for target, ids in wanted.items():
        if target == "user":
            titles.update((("user", user_id), name) for user_id, name in user_titles(context, ids).items())
            continue
        title_field = registry.object(target).title_field
        if title_field is None:
            continue
        try:
            found = context.records(target).query({"id": {"in": sorted(ids)}}, limit=len(ids))
        except PermissionDenied:
            continue
        for record in found.records:
            if record.get(title_field) not in (None, ""):
                titles[(target, record.id)] = str(record.get(title_field))
    return titles


#: Users' display names kept for owner columns (ids x names), while the metadata and the rights version stay.
MAX_KEPT_NAMES = 4096
#: (runtime, rights version, {user id: display name}): one generation at a time, started over when either moves.
_kept_names: tuple[Any, int, dict[int, str]] = (None, -1, {})


def user_titles(context: UserContext, ids: set[int]) -> dict[int, str]:
    """{user id: display name} of the users among `ids` that exist, read with UserNames (every user may read
    every user's display name) and kept across requests: only ids not kept yet are read.

    Exact, not merely brief: every change of a display name (SystemDirectory.set_preferences, create_user)
    advances the rights version in its own transaction, and the context read that version in its operation read,
    before these names; a name kept under one (runtime, version) was read at or after that version's state.
    """
    global _kept_names
    runtime, version = context.runtime, context.rights_version
    kept_runtime, kept_version, names = _kept_names
    if kept_runtime is not runtime or kept_version != version:
        names = {}
        _kept_names = (runtime, version, names)
    found = {user_id: name for user_id in ids if (name := names.get(user_id)) is not None}
    missing = [user_id for user_id in ids if user_id not in found]
    if missing:  # another thread may empty `names` meanwhile: what this request found stays in `found`
        read = {user_id: user.display_name for user_id, user in UserNames(context).names(missing).items()}
        if len(names) + len(read) > MAX_KEPT_NAMES:
            names.clear()
        names.update(read)
        found.update(read)
    return found


#: Value types whose Display is the same for every equal value (of that exact type). Decimals by their text
#: (1.0 and 1.00 are equal but keep their decimals); not floats or moments.
_MEMO_TYPES = frozenset({str, int, bool, Decimal})
#: Columns (a field for one presentation) whose shown values are kept across requests, and values kept per column:
#: the same first page is asked for again and again, and its cells need not be formatted again.
KEPT_COLUMNS = 256
KEPT_VALUES = 4096
_kept_columns: "OrderedDict[tuple[Any, int], tuple[FieldDef, dict[tuple[Any, ...], Display]]]" = OrderedDict()
_kept_lock = threading.Lock()


def _column_memo(presenter: FieldPresenter, fdef: FieldDef) -> dict[tuple[Any, ...], Display]:
    """Shown values of a column: kept across requests (bounded) when the field's type formats with a built-in
    formatter (a pure function of value, title and presentation); a page's own for a plugin's formatter, which
    may show what changes with time ("3 days ago")."""
    if presenter.value_field(fdef)[0].formatter is not None:
        return {}
    key = (presenter.show, id(fdef))
    with _kept_lock:
        kept = _kept_columns.get(key)
        if kept is None or kept[0] is not fdef:  # the entry holds its field: the id names no other one
            kept = _kept_columns[key] = (fdef, {})
            while len(_kept_columns) > KEPT_COLUMNS:
                _kept_columns.popitem(last=False)
        else:
            _kept_columns.move_to_end(key)
    if len(kept[1]) > KEPT_VALUES:
        kept[1].clear()
    return kept[1]


def page_rows(presenter: FieldPresenter, fields: Sequence[FieldDef], records: Sequence[Any],
              titles: dict[tuple[str, int], str]) -> tuple[Row, ...]:
    """The rows of a page: each column's formatting looked up once (`presenter.displayer`), and a value
    (a picklist's, an owner's with its title, a name, an amount) formatted once and its Display shared:
    within the page, and across requests for built-in formatting (`_column_memo`).

    A built-in Display is a pure function of the value (of its exact type; a decimal's text), the lookup's
    title, the field's definition and the user's presentation, so a shared one equals the one formatting
    the cell again would give. When every column formats with a built-in formatter, a whole row is kept across
    requests too (the kept row's check in the loop): the same first page is asked for again and again.
    """
    columns: list[tuple[Any, str, str | None, dict[tuple[Any, ...], Display]]] = []  # made at the first row not kept
    lookups = tuple((fdef.name, fdef.to or "user") for fdef in fields if fdef.type == "lookup")
    built_in = bool(fields) and all(presenter.value_field(fdef)[0].formatter is None for fdef in fields)
    shape = _row_shape(presenter, fields) if built_in else None
    names = tuple(fdef.name for fdef in fields)
    pick = itemgetter(*names) if len(names) > 1 else lambda values: (values[names[0]],)  # the shown values, in C
    memo_types = _MEMO_TYPES
    no_titles = ()
    rows = []
    for record in records:
        values = record.values  # the row's mapping itself: Record's Mapping methods cost a call or two each
        shown_values = None
        if shape is not None:
            try:
                shown_values = (values["version"], *pick(values))
            except KeyError:  # a column the row does not carry (hidden): formatted cell by cell
                shown_values = None
        if shown_values is not None:
            # The kept Row is used when it was made from the same version and shown values (equal, of the same
            # types, Decimals with the same text) and lookup titles: its cells are then exactly the ones formatting
            # it again would give (a built-in formatter's Display is a pure function of the column's value and
            # title). Inline: a page asks it of each of its rows on every request.
            row_titles = tuple([titles.get((target, values.get(name))) for name, target in lookups]) if lookups \
                else no_titles
            kept = shape.get(values["id"])
            if kept is not None and kept[0] == shown_values and kept[3] == row_titles:
                types = tuple(map(type, shown_values))
                if kept[1] == types and (not kept[2] or kept[2] == _decimal_texts(shown_values)):
                    rows.append(kept[4])
                    continue
        if not columns:
            for fdef in fields:
                target = (fdef.to or "user") if fdef.type == "lookup" else None
                columns.append((presenter.displayer(fdef), fdef.name, target, _column_memo(presenter, fdef)))
        cells = []
        for display, name, target, seen in columns:
            value = values.get(name, _ABSENT)
            title = titles.get((target, value)) if target is not None else None
            kind = value.__class__
            if kind in memo_types:
                key = (kind, str(value) if kind is Decimal else value, title)
                shown = seen.get(key)
                if shown is None:
                    shown = seen[key] = display(values, title)
            else:
                shown = display(values, title)
            cells.append(shown)
        row = Row(record.id, tuple(cells), record.version)
        if shown_values is not None:
            _keep_row(shape, shown_values, row_titles, row)
        rows.append(row)
    return tuple(rows)


#: Rows kept across requests, least recently used out first: (presentation, columns' ids) -> the columns (the entry
#: holds them, so the ids name no other field definitions while it lives) and {record id: (the record's version and
#: shown values, their types, the texts of its Decimals, its lookups' titles, the Row)}.
KEPT_ROW_SHAPES = 64
KEPT_PAGE_ROWS = 2048
_kept_page_rows: "OrderedDict[tuple[Any, ...], tuple[tuple[FieldDef, ...], dict[Any, tuple[Any, ...]]]]" = OrderedDict()


def _row_shape(presenter: FieldPresenter, fields: Sequence[FieldDef]) -> dict[Any, tuple[Any, ...]]:
    """The kept rows of these columns in the user's presentation (looked up once a page, not per row)."""
    columns = tuple(fields)
    key = (presenter.show, tuple(map(id, columns)))
    with _kept_lock:
        kept = _kept_page_rows.get(key)
        if kept is None:
            kept = _kept_page_rows[key] = (columns, {})
            while len(_kept_page_rows) > KEPT_ROW_SHAPES:
                _kept_page_rows.popitem(last=False)
        else:
            _kept_page_rows.move_to_end(key)
    if len(kept[1]) > KEPT_PAGE_ROWS:
        kept[1].clear()
    return kept[1]


def _decimal_texts(values: tuple[Any, ...]) -> tuple[str, ...]:
    """The texts of a row's Decimals: 1.0 and 1.00 are equal values but are shown with their own decimals."""
    return tuple(str(value) for value in values if value.__class__ is Decimal)


def _keep_row(shape: dict[Any, tuple[Any, ...]], values: tuple[Any, ...], titles: tuple[Any, ...], row: Row) -> None:
    types = tuple(map(type, values))
    shape[row.id] = (values, types, _decimal_texts(values) if Decimal in types else (), titles, row)


_ABSENT = object()


#: Where a user lookup's filter (owner, created by) gets its suggestions: an autocomplete, not a list of every user.
USER_SUGGESTIONS = "/users/suggest"


def with_lookup_choices(context: UserContext, fdef: FieldDef, field_filter: FieldFilter, any_label: str) -> FieldFilter:
    """A lookup's filter with records to choose from: the user's first records by title.

    A user lookup offers only the chosen users, named; others come from USER_SUGGESTIONS
    as the user types (the `data-lookup-url` attribute; app.js makes it an autocomplete).
    """
    from dataclasses import replace

    controls = []
    for control in field_filter.controls:
        if control.control != "lookup":
            controls.append(control)
            continue
        try:
            if fdef.to is None:
                chosen_ids = [number for choice in control.choices
                              if (number := ascii_whole_number(choice.value)) is not None]
                pairs = [(str(user.id), user.display_name) for user in UserNames(context).names(chosen_ids).values()]
                control = replace(control, attributes=control.attributes + (("data-lookup-url", USER_SUGGESTIONS),))
            else:
                pairs = [(str(record_id), title) for record_id, title in
                         context.records(fdef.to).suggest(None, limit=LOOKUP_CHOICES)]
        except PermissionDenied:
            pairs = []
        chosen = {choice.value for choice in control.choices if choice.selected}
        titled = dict(pairs)
        given = tuple(Choice(choice.value, titled.get(choice.value, choice.label), True) for choice in control.choices)
        offered = tuple(Choice(value, label, False) for value, label in pairs if value not in chosen)
        blank = () if control.multiple else (Choice("", any_label, not chosen),)
        controls.append(replace(control, choices=blank + given + offered))
    return replace(field_filter, controls=tuple(controls))


#: Filter panels kept (users x objects x query strings); the least recently used goes first.
MAX_KEPT_FILTERS = 256
#: A query string longer than this (in key-value pairs) gets its filter panel made, not kept.
MAX_KEPT_ARGS = 40
_KEPT_FILTERS = FragmentCache(MAX_KEPT_FILTERS)


def page_filters(context: UserContext, presenter: FieldPresenter, obj: ObjectDef, fields: Sequence[FieldDef],
                 given: MultiDict) -> tuple[FieldFilter, ...]:
    """The filter panel of the page's columns holding the values of `given` (the engine's query-string args).

    Kept across requests when it reads nothing from the database: no record lookup among the columns (its
    choices are the user's first records, read each time) and no user chosen in a user lookup's filter (their
    names are read). The key is the user's compiled rights (the AccessPolicy object, new whenever the rights
    version or the metadata generation moves, so a revoked field right or a renamed label is a new key), the
    language, time zone and currency, the columns and the query string; the same tuple of FieldFilters is
    returned, so `filter_html` draws each once (filter_html.py).
    """
    policy = context.policy
    presentation = presenter.show
    arguments = tuple(given.items(multi=True))
    key = None
    if policy is not None and len(arguments) <= MAX_KEPT_ARGS:
        key = (id(policy), obj.name, tuple(fdef.name for fdef in fields), presentation.language,
               presentation.timezone, presentation.currency, presenter.id_prefix, arguments)
        kept = _KEPT_FILTERS.get(key)
        if kept is not None and kept[0] is policy:  # the entry holds its policy: the id names no other one
            return kept[1]
    filters = []
    reads = False
    for fdef in fields:
        field_filter = presenter.list_filter(fdef, given)
        lookups = [control for control in field_filter.controls if control.control == "lookup"]
        if lookups:
            reads = reads or fdef.to is not None or any(control.choices for control in lookups)
            field_filter = with_lookup_choices(context, fdef, field_filter, presentation.text("any"))
        filters.append(field_filter)
    panel = tuple(filters)
    if key is not None and not reads:
        _KEPT_FILTERS.put(key, (policy, panel))  # the very tuple returned: the list's chrome is kept by its identity
    return panel


def build_list_page(context: UserContext, object_name: str, args: MultiDict, *, limit: int | None = None,
                    currency: str | None = None, with_filters: bool = True, columns: Sequence[str] = ()) -> ListPage:
    """The list page of `object_name` for the query-string `args` (request.args).

    `columns` (field names) replace the layout's list columns (a saved view's, the column chooser's).

    `with_filters=False` leaves the filter panel out (an htmx request replacing the results
    only), saving the lookup filters' choices.

    Raises UnknownObject (404) for an object that does not exist, PermissionDenied (403)
    without read access, QueryError (400) for a query string the engine refuses (a bad
    filter value, an unknown field, a cursor made for another sort): each a sentence.
    """
    records = context.records(object_name)
    obj = records.obj
    presenter = FieldPresenter.for_context(context, currency=currency, id_prefix="filter-")
    layout = context.runtime.registry.layout(obj.name)
    list_layout = layout.list
    column_names = tuple(columns) or (list_layout.columns if list_layout is not None else (obj.title_field or "id",))
    layout_sort = list_layout.sort if list_layout is not None else ()
    given = engine_args(args)
    spec = parse_query_string(given)
    sort = effective_sort(spec, layout_sort, context, obj.name)
    fields = visible_columns(context, presenter, obj, column_names)
    page = records.query(spec.filter, sort=sort, search=spec.search, limit=limit or spec.limit, after=spec.after,
                         fields=stored_columns(records, [fdef.name for fdef in fields]))
    count = records.count(spec.filter, search=spec.search, cap=COUNT_CAP)
    view_args = without(args, PAGING_KEYS)
    shown_columns = []
    for fdef in fields:
        state = sort_state(fdef.name, sort)
        sortable = fdef.type not in UNSORTABLE
        shown_columns.append(Column(fdef, presenter.label(fdef), state,
                              sorted_by(view_args, fdef.name, state) if sortable else None))
    titles = lookup_titles(context, fields, page.records)
    rows = page_rows(presenter, fields, page.records, titles)
    filters = page_filters(context, presenter, obj, fields, given) if with_filters else ()
    back = [value for value in args.getlist("back") if value][-MAX_BACK:]
    next_args = previous_args = first_args = None
    if page.next_cursor:
        next_args = MultiDict(view_args)
        next_args.add("after", page.next_cursor)
        for cursor in (back + [spec.after or FIRST_PAGE])[-MAX_BACK:]:
            next_args.add("back", cursor)
    if spec.after:
        first_args = MultiDict(view_args)
        previous_args = MultiDict(view_args)
        if back and back[-1] != FIRST_PAGE:
            previous_args.add("after", back[-1])
            for cursor in back[:-1]:
                previous_args.add("back", cursor)
    return ListPage(obj, tuple(shown_columns), rows, count, filters, spec.search or "", view_args,
                    next_args, previous_args, first_args, spec.filter is not None)
