"""Saved views on the list page: which view is open, what it expands to, and the picker's choices.

    state = open_list_view(context, "account", request.args)
    build_list_page(context, "account", state.args, columns=state.columns)

The address is the view: `/o/<object>?view=<id>` alone opens the saved view as it is stored
now (filter, sort, search and columns, checked again for this user by the engine's
`SavedViews.open`); with any list argument beside it (`q`, a filter, `sort`) the arguments are
taken as given and the view is only the one being worked on, "modified" when they differ
from it. `columns=a,b` (or repeated) chooses and orders the columns in any case.
`/o/<object>` with no argument at all opens the user's default view, if they have one;
`?view=all` is the object's plain list.

Everything a user may see or do comes from the engine (SavedViews): which views exist for
them, whether a view is theirs to change, and whether they may share it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence
from weakref import WeakKeyDictionary

from werkzeug.datastructures import MultiDict

from crmkit.engine.context import UserContext
from crmkit.engine.fieldtypes.presenter import FieldPresenter
from crmkit.engine.list_query import ListQuery
from crmkit.engine.query.filters import SYSTEM_DEFS
from crmkit.engine.query.inputs import ascii_whole_number
from crmkit.engine.saved_views import SavedView, SavedViewNotFound, SavedViews
from crmkit.metadata.model import ObjectDef

VIEW_KEY, COLUMNS_KEY = "view", "columns"
#: `?view=all`: the plain list, not the default view.
NO_VIEW = "all"
#: The system fields a list may show besides the object's own.
SYSTEM_COLUMNS = ("owner_id", "created_at", "updated_at")
#: Keys that are neither list arguments nor paging: they never make a view "modified".
OWN_KEYS = (VIEW_KEY, COLUMNS_KEY, "after", "back", "limit")


@dataclass(frozen=True)
class ViewChoice:
    """One view of the picker: its id, name in the user's language, and whose it is."""

    id: int
    name: str
    mine: bool
    shared: bool
    is_default: bool


@dataclass(frozen=True)
class ListViewState:
    """The saved view a list page shows (None: the plain list), the arguments and columns it expands to."""

    view: SavedView | None
    args: MultiDict
    columns: tuple[str, ...]
    choices: tuple[ViewChoice, ...]
    modified: bool
    withheld: int
    #: Whether the user may save over the open view (its owner; an administrator for a shared one).
    may_change: bool
    #: The sharing a new view may have for this user: ("private", "role", "everyone") as allowed.
    sharing: tuple[str, ...]
    default_id: int | None

    @property
    def saved_args(self) -> MultiDict:
        """The list arguments a "Save" stores (no view, columns or paging)."""
        return MultiDict([(key, value) for key, value in self.args.items(multi=True) if key not in OWN_KEYS])


def chosen_columns(args: MultiDict) -> tuple[str, ...]:
    """`columns=a,b` or `columns=a&columns=b` as a tuple of names, in order, each once."""
    names = [name.strip() for value in args.getlist(COLUMNS_KEY) for name in value.split(",")]
    return tuple(dict.fromkeys(name for name in names if name))


def list_query(args: MultiDict) -> ListQuery:
    """The ListQuery of list arguments (filter, sort, search) and their `columns`; QueryError for a bad one."""
    given = MultiDict([(key, value) for key, value in args.items(multi=True) if key not in OWN_KEYS])
    return ListQuery.from_query_string(given, columns=chosen_columns(args))


def is_given(args: MultiDict) -> bool:
    """Whether the address carries list arguments of its own (even blank ones, such as an emptied search)."""
    return any(key not in OWN_KEYS for key in args.keys())


def open_list_view(context: UserContext, object_name: str, args: MultiDict) -> ListViewState:
    """What the list page of `object_name` shows for `args` (request.args).

    SavedViewNotFound (404) for a view the user may not use, SavedViewUnusable (409) for one whose
    filter no longer fits the fields they may see.
    """
    views = SavedViews(context)
    wanted = args.get(VIEW_KEY, "")
    available, default = views.menu(object_name)  # one statement for the menu and the default
    opened = None
    if wanted and wanted != NO_VIEW:
        number = ascii_whole_number(wanted)
        opened = views.open(wanted if number is None else number)
        if opened.view.object != object_name:  # a view of another object: not found here
            raise SavedViewNotFound(wanted)
    elif not wanted and default is not None and not is_given(args):
        opened = views.open(default.id)
    view = opened.view if opened is not None else None
    columns = chosen_columns(args) or (opened.query.columns if opened is not None else ())
    expanded = MultiDict(args)
    modified = False
    if opened is not None:
        if is_given(args):
            query = ListQuery.from_query_string(MultiDict(
                [(key, value) for key, value in args.items(multi=True) if key not in OWN_KEYS]))
            modified = (query.filter, query.sort, query.search) != \
                (opened.query.filter, opened.query.sort, opened.query.search)
        else:
            expanded = MultiDict([(key, value) for key, value in args.items(multi=True) if key != VIEW_KEY])
            expanded.add(VIEW_KEY, str(view.id))
            for key, value in opened.query.query_string():
                expanded.add(key, value)
        modified = modified or (bool(chosen_columns(args)) and chosen_columns(args) != opened.query.columns)
    user_id = context.policy.user.user_id
    choices = tuple(ViewChoice(choice.id, choice.name(context.actor.language), choice.owner_id == user_id,
                               choice.is_shared, default is not None and choice.id == default.id)
                    for choice in available)
    may_change = view is not None and (view.owner_id == user_id or (view.is_shared and context.policy.is_admin))
    return ListViewState(view, expanded, columns, choices, modified, opened.withheld if opened else 0,
                         may_change, sharing_choices(context), default.id if default is not None else None)


def sharing_choices(context: UserContext) -> tuple[str, ...]:
    """How widely this user may share a view they save (the engine refuses anything wider)."""
    policy = context.policy
    choices = ["private"]
    if policy.user.role:
        choices.append("role")
    if policy.is_admin:
        choices.append("everyone")
    return tuple(choices)


#: The column chooser of each compiled set of rights (a user's AccessPolicy: a new one whenever their rights or the
#: metadata change), by object, presentation (the labels' language) and shown columns; emptied when it grows past
#: MAX_KEPT_CHOICES (a user choosing many column sets).
_KEPT_CHOICES: "WeakKeyDictionary[Any, dict[tuple[Any, ...], tuple[tuple[str, str, bool], ...]]]" = \
    WeakKeyDictionary()
MAX_KEPT_CHOICES = 64


def column_choices(context: UserContext, presenter: FieldPresenter, obj: ObjectDef,
                   shown: Sequence[str]) -> tuple[tuple[str, str, bool], ...]:
    """(name, label, shown) of every field the user may read as a column: the shown ones first, in order.

    Kept per compiled rights, object, presentation and shown columns (the field permissions and labels come
    from the rights and the metadata, which make a new AccessPolicy when they change).
    """
    policy = context.policy
    key = (obj.name, id(obj), presenter.show, tuple(shown))
    kept = _KEPT_CHOICES.get(policy) if policy is not None else None
    if kept is not None and (choices := kept.get(key)) is not None:
        return choices
    hidden = policy.hidden_fields(obj.name) if policy is not None else frozenset()
    names = [name for name in (*obj.fields, *SYSTEM_COLUMNS) if name not in hidden
             and (name in obj.fields or name in SYSTEM_DEFS)]
    ordered = [name for name in shown if name in names] + [name for name in names if name not in shown]
    choices = tuple((name, presenter.label(presenter.field(obj, name)), name in shown) for name in ordered)
    if policy is not None:
        kept = _KEPT_CHOICES.setdefault(policy, {})
        if len(kept) >= MAX_KEPT_CHOICES:
            kept.clear()
        kept[key] = choices
    return choices

