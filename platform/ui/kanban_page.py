"""The kanban board of one object (`/o/<object>/kanban`): what it shows, read through the engine's services only.

    board = build_board(user_context(), "opportunity", request.args, none_label="No value")
    board.columns[0].label, board.columns[0].count, board.columns[0].total, board.columns[0].cards

The board is the object's effective layout's `kanban` (docs/layouts.md): one column per
option of the picklist `group_by`, in the picklist's order, then any retired value records
still hold, then "no value" when the field is not required (or some record has none). Each
column's count and total come from `records.group_totals` (one grouped SQL query with the
user's row filter; a `sum` the user may not read is not totalled); its cards are the first
CARDS records of `records.query` (the list's sort, keyset pages through `after`). The query
string is the list page's (filters, `q`, `sort`), so a filtered list has a filtered board;
`column` and `after` ask for the next cards of one column.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence
from urllib.parse import urlencode

from werkzeug.datastructures import MultiDict

from crmkit.engine.automation.transitions import allowed_targets
from crmkit.engine.context import UserContext
from crmkit.engine.fieldtypes.display import Display
from crmkit.engine.fieldtypes.presenter import FieldPresenter
from crmkit.engine.query.grouping import Grouping
from crmkit.engine.query.querystring import QuerySpec, parse_query_string
from crmkit.engine.records.record import Record
from crmkit.metadata.layouts import KanbanLayout
from crmkit.metadata.model import FieldDef, ObjectDef
from crmkit.ui.list_page import effective_sort, engine_args, lookup_titles, visible_columns, without
from crmkit.ui.record_views import may, may_edit_field, may_read_field, record_title

#: Cards a column shows at first, and each "more" adds.
CARDS = 20
#: The board's own query-string keys: which column the next cards are of, and where they start.
BOARD_KEYS = ("column", "after", "back", "limit")
#: The form value of the "no value" column.
NO_VALUE = ""


@dataclass(frozen=True)
class Card:
    """One record on the board: its title and the layout's `card` fields the user may read."""

    id: int
    version: int
    title: str
    fields: tuple[tuple[str, Display], ...]
    #: The column key (the stored value, "" for none) the card is in.
    column: str


@dataclass(frozen=True)
class BoardColumn:
    """One value of the picklist: its label, count and formatted total (None: not totalled), and cards."""

    key: str
    label: str
    count: int
    total: str | None
    cards: tuple[Card, ...]
    #: The query-string arguments of this column's next cards; None when every card is shown.
    more_args: MultiDict | None
    #: Whether cards may be moved into it (a value the user may choose: not a retired option).
    target: bool


@dataclass(frozen=True)
class Board:
    """Everything the board template shows; `args` are the view's arguments (the list's filters, search, sort)."""

    obj: ObjectDef
    layout: KanbanLayout
    group_label: str
    sum_label: str | None
    columns: tuple[BoardColumn, ...]
    #: (key, label, whether cards may move into it) of every column, for the "Move to" choices.
    choices: tuple[tuple[str, str, bool], ...]
    #: The layout's `card` fields the user may read (the title field left out: it is the card's heading).
    card_fields: tuple[FieldDef, ...]
    args: MultiDict
    #: `args` as a query string: sent with a move, so the answer counts the columns of the same view.
    view: str
    search: str
    filtered: bool
    may_move: bool
    #: Column key -> the keys of the columns a card in it may move to (its own included): the choices
    #: that may be chosen, less the moves the field's stage transitions do not list.
    targets: Mapping[str, tuple[str, ...]]

    def choices_for(self, column: str) -> tuple[tuple[str, str], ...]:
        """(key, label) of the "Move to" choices of a card in `column`: its own column, then the ones it may move to."""
        allowed = self.targets.get(column, (column,))
        return tuple((key, label) for key, label, _ in self.choices if key in allowed)


def board_layout(context: UserContext, object_name: str) -> KanbanLayout | None:
    """The object's board if it has one whose `group_by` the user may read (else None: no board for them)."""
    obj = context.runtime.registry.object(object_name)
    layout = context.runtime.registry.layout(object_name).board
    if layout is None or layout.group_by not in obj.fields or not may_read_field(context, obj, layout.group_by):
        return None
    return layout


def may_move(context: UserContext, presenter: FieldPresenter, obj: ObjectDef, group_by: str) -> bool:
    """Whether the user may move cards: edit the object and the `group_by` field (the engine checks every move)."""
    return may(context, obj.name, "edit") and may_edit_field(context, obj, group_by) and \
        presenter.editable(obj.fields[group_by])


def column_filter(spec: QuerySpec, group_by: str, key: str) -> dict:
    """The view's filter narrowed to one column's value ("" : no value)."""
    condition = {group_by: {"is_null": True}} if key == NO_VALUE else {group_by: {"eq": key}}
    return {"and": [spec.filter, condition]} if spec.filter else condition


def column_keys(fdef: FieldDef, grouping: Grouping) -> list[tuple[str, bool]]:
    """(key, whether cards may move into it) of every column, in the picklist's order."""
    options = [option.value for option in fdef.options]
    retired = sorted(str(group.value) for group in grouping.groups
                     if group.value is not None and group.value not in options)
    keys = [(value, True) for value in options] + [(value, False) for value in retired]
    if not fdef.required or grouping.of(None).count:
        keys.append((NO_VALUE, not fdef.required))
    return keys


def move_targets(obj: ObjectDef, field: str, choices: Sequence[tuple[str, str, bool]]) -> dict[str, tuple[str, ...]]:
    """Column key -> the keys a card in that column may move to, its own first: the columns cards may
    move into whose value the field's stage transitions allow from the card's value (computed once
    per column, not per card: a move's `condition` reads the record, so a move with one stays offered
    and the engine decides it). The "no value" column stays a target where it is one: clearing is not a move."""
    targets = {}
    for key, _, _ in choices:
        allowed = allowed_targets(obj, field, key or None)
        targets[key] = (key, *(other for other, _, target in choices if target and other != key and (
            allowed is None or other == NO_VALUE or other in allowed)))
    return targets


def column_label(presenter: FieldPresenter, fdef: FieldDef, key: str, none_label: str) -> str:
    return none_label if key == NO_VALUE else presenter.display_value(fdef, key).text


def card_names(layout: KanbanLayout) -> tuple[str, ...]:
    """The fields a card shows: the layout's `card`, with the summed field first when it does not list it,
    so every card shows the figure its column's total adds up (a total of Amount over cards showing
    Expected revenue would not add up to what the user reads)."""
    if layout.sum is None or layout.sum in layout.card:
        return tuple(layout.card)
    return (layout.sum, *layout.card)


def total_text(presenter: FieldPresenter, obj: ObjectDef, grouping: Grouping, value: Any) -> str | None:
    """A column's total formatted like its field (money in the user's locale, exact); None when not totalled."""
    if grouping.summed is None:
        return None
    total = grouping.of(value).total
    return presenter.display_value(obj.fields[grouping.summed], 0 if total is None else total).text


def cards_of(presenter: FieldPresenter, obj: ObjectDef, card_fields: Sequence[FieldDef], records: Sequence[Record],
             key: str, titles: Mapping[tuple[str, int], str]) -> tuple[Card, ...]:
    """The cards of `records`: titles, and card fields with lookups titled from `titles` (list_page.lookup_titles)."""
    return tuple(Card(record.id, record.version, record_title(obj, record), tuple(
        (presenter.label(fdef), presenter.display(fdef, record, titles.get((fdef.to or "user", record.get(fdef.name)))
                                                  if fdef.type == "lookup" else None))
        for fdef in card_fields), key) for record in records)


def card_of(context: UserContext, board: Board, record: Record, currency: str | None = None) -> Card:
    """One record's card on `board` (after a move: its fields as saved now, formulas recomputed)."""
    presenter = FieldPresenter.for_context(context, currency=currency)
    value = record.get(board.layout.group_by)
    key = NO_VALUE if value is None else str(value)
    return cards_of(presenter, board.obj, board.card_fields, [record], key,
                    lookup_titles(context, board.card_fields, [record]))[0]


def build_board(context: UserContext, object_name: str, args: MultiDict, *, none_label: str,
                currency: str | None = None, only: str | None = None, with_cards: bool = True) -> Board:
    """The board of `object_name` for the query-string `args` (request.args).

    `only`: that column alone; `with_cards=False`: the columns' counts and totals without
    cards (the headers after a move). `column` and `after` in `args` start one column's
    cards at a cursor (its "more"). Raises UnknownObject (404), PermissionDenied (403)
    without read access, QueryError (400) for a query string the engine refuses;
    LookupError when the object has no board for the user.

    Its counts, totals and cards are read in one snapshot (UserContext.snapshot): one operation read, and on
    PostgreSQL one moment, so a column's count always matches the cards it shows.
    """
    with context.snapshot():
        return _board(context, object_name, args, none_label, currency, only, with_cards)


def _board(context: UserContext, object_name: str, args: MultiDict, none_label: str, currency: str | None,
           only: str | None, with_cards: bool) -> Board:
    records = context.records(object_name)
    obj = records.obj
    layout = board_layout(context, obj.name)
    if layout is None:
        raise LookupError(object_name)
    presenter = FieldPresenter.for_context(context, currency=currency)
    group_field = obj.fields[layout.group_by]
    view_args = without(args, BOARD_KEYS)
    spec = parse_query_string(engine_args(view_args))
    list_layout = context.runtime.registry.layout(obj.name).list
    sort = effective_sort(spec, list_layout.sort if list_layout is not None else (), context, obj.name)
    grouping = records.group_totals(layout.group_by, sum=layout.sum, filter=spec.filter, search=spec.search)
    card_fields = tuple(fdef for fdef in visible_columns(context, presenter, obj, card_names(layout))
                        if fdef.name != obj.title_field)
    continued, after = args.get("column"), args.get("after") or None
    choices = tuple((key, column_label(presenter, group_field, key, none_label), target)
                    for key, target in column_keys(group_field, grouping))
    shown = [choice for choice in choices if only is None or choice[0] == only]
    pages = {key: records.query(column_filter(spec, layout.group_by, key), sort=sort, search=spec.search, limit=CARDS,
                                after=after if continued == key else None)
             for key, _, _ in shown if with_cards and (grouping.of(key or None).count or continued == key)}
    titles = lookup_titles(context, card_fields, [record for page in pages.values() for record in page.records])
    columns = []
    for key, label, target in shown:
        page = pages.get(key)
        more_args = None
        if page is not None and page.next_cursor:
            more_args = MultiDict(view_args)
            more_args.add("column", key)
            more_args.add("after", page.next_cursor)
        columns.append(BoardColumn(key, label, grouping.of(key or None).count,
                                   total_text(presenter, obj, grouping, key or None),
                                   cards_of(presenter, obj, card_fields, page.records if page else [], key, titles),
                                   more_args, target))
    summed = obj.fields[layout.sum] if grouping.summed else None
    return Board(obj, layout, presenter.label(group_field), presenter.label(summed) if summed else None,
                 tuple(columns), choices, card_fields, view_args, urlencode(list(view_args.items(multi=True))),
                 spec.search or "", spec.filter is not None, may_move(context, presenter, obj, layout.group_by),
                 move_targets(obj, layout.group_by, choices))
