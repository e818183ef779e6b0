"""Saved list views: a user's named filter, columns, sort and search of one object's list.

    views = SavedViews(crm.as_user(rep_id))
    mine = views.create("opportunity", {"en": "My big deals", "zh": "我的大单"},
                        filter={"amount": {"gte": "100000"}}, columns=("name", "amount", "stage"),
                        sort=("-amount",))
    views.available("opportunity")          # the rep's own views and those shared with them
    opened = views.open(mine.id)            # checked again for the rep as they are now
    page = views.page(mine.id, limit=50)    # the rep's records, through their own row filter

A view stores a query, never rows: whoever opens it reads through their own permissions,
row filter and field access, so a shared view shows each user only what they may see.

Checked when saved: the object's read permission; the filter, sort, columns and search against
the fields the user may see. Checked again when opened, for the user opening it, since their
rights (and the metadata) may have changed, or the view was shared to them by someone with more:
- a filter on a field the user cannot see (or that no longer exists) refuses the view with
  SavedViewUnusable, a sentence that does not name the field: leaving out a condition would
  silently show other records than the view promises;
- sort fields and columns the user cannot see are left out (they change the order or what is
  displayed, never which records); `OpenedView.withheld` counts them.

Sharing: `private` (the owner only), `team` (members of one team), `role` (users with one
role) or `everyone`. Anyone may share with a team they belong to or with their own role;
sharing with everyone, or with a team or role they are not part of, needs the admin
permission set. The owner changes and deletes a view; an administrator also changes and
deletes shared ones (never another user's private view, which they cannot even see).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from sqlalchemy import Connection, and_, bindparam, delete, false, insert, or_, select, update

from crmkit.engine import messages
from crmkit.engine.query.errors import QueryError
from crmkit.engine.query.filters import compile_filter, resolve_field
from crmkit.engine.query.inputs import is_record_id, shown
from crmkit.engine.query.search import search_terms
from crmkit.engine.query.sorting import sort_keys
from crmkit.engine.records.errors import RecordError
from crmkit.engine.records.service import Page, RecordService
from crmkit.engine.security.access import PermissionDenied
from crmkit.engine.security.users import checked_text
from crmkit.engine.list_query import ListQuery, normalised_filter

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext

SHARED_WITH = ("private", "team", "role", "everyone")
NAME_LENGTH = 150
MAX_LANGUAGES = 20
MAX_COLUMNS = 50
#: Characters of a stored filter's JSON: a list's filter is typed or clicked, never a data dump.
MAX_FILTER_LENGTH = 20_000
_KEEP: Any = object()


class SavedViewError(RecordError):
    """A saved view that cannot be saved as asked, or that the user may not see."""

    title = "View not saved"


class SavedViewNotFound(SavedViewError):
    """No such view, or one the user may not use: both look the same, so nothing leaks."""

    status = 404
    title = "Not found"

    def __init__(self, view_id: object) -> None:
        super().__init__(messages.NO_SAVED_VIEW(id=shown(view_id)))


class SavedViewUnusable(SavedViewError):
    """A view whose filter no longer fits the fields the user may see."""

    status = 409
    title = "View not usable"


@dataclass(frozen=True)
class SavedView:
    """One saved view as stored. `label` is a plain name or {language: text}."""

    id: int
    object: str
    owner_id: int
    label: str | Mapping[str, str]
    query: ListQuery
    shared_with: str
    shared_role: str | None
    shared_team_id: int | None
    created_at: datetime
    updated_at: datetime

    def name(self, language: str = "en") -> str:
        """The view's name in `language`: exact, its base language, English, then any."""
        if isinstance(self.label, str):
            return self.label
        for candidate in (language, language.split("-")[0], "en"):
            if candidate in self.label:
                return self.label[candidate]
        return next(iter(self.label.values()), "")

    @property
    def is_shared(self) -> bool:
        return self.shared_with != "private"


@dataclass(frozen=True)
class OpenedView:
    """A view checked for the user opening it: `query` holds only what they may use."""

    view: SavedView
    query: ListQuery
    #: Sort fields and columns left out because the user may not see them (or they are gone).
    withheld: int = 0


class SavedViews:
    """The saved views of one user (a UserContext of `crm.as_user`); every method checks their rights."""

    def __init__(self, context: "UserContext") -> None:
        if context.policy is None:
            raise SavedViewError("saved views belong to a user; use a user's session (crm.as_user), "
                                 "not the system session.")
        self.context = context

    @property
    def _table(self):
        return self.context.runtime.system_table("crmkit_saved_view")

    @property
    def _defaults(self):
        return self.context.runtime.system_table("crmkit_default_view")

    @property
    def _user_id(self) -> int:
        return self.context.policy.user.user_id

    # -- saving --------------------------------------------------------------------------

    def create(self, object_name: str, name: str | Mapping[str, str], *, filter: Any = None,
               columns: Sequence[str] = (), sort: Sequence[str] = (), search: str | None = None,
               shared_with: str = "private", role: str | None = None, team_id: int | None = None) -> SavedView:
        """A new view owned by the acting user; SavedViewError, QueryError or PermissionDenied say what is wrong."""
        records = RecordService(self.context, object_name)
        with self.context.writing() as connection:
            query = self._checked_query(records, filter, columns, sort, search)
            sharing = self._checked_sharing(connection, shared_with, role, team_id)
            now = self.context.now()
            view_id = connection.execute(insert(self._table).values(
                object=object_name, owner_id=self._user_id, label=_checked_label(name), **_stored(query),
                **sharing, created_at=now, updated_at=now).returning(self._table.c.id)).scalar_one()
            return self._load(connection, view_id)

    def update(self, view_id: int, *, name: Any = _KEEP, filter: Any = _KEEP, columns: Any = _KEEP,
               sort: Any = _KEEP, search: Any = _KEEP, shared_with: Any = _KEEP, role: Any = _KEEP,
               team_id: Any = _KEEP) -> SavedView:
        """Change what is given, keep the rest; only its owner, or an administrator for a shared view."""
        with self.context.writing() as connection:
            view = self._changeable(connection, view_id)
            records = RecordService(self.context, view.object)
            old = view.query
            query = self._checked_query(
                records, old.filter if filter is _KEEP else filter, old.columns if columns is _KEEP else columns,
                old.sort if sort is _KEEP else sort, old.search if search is _KEEP else search)
            values: dict[str, Any] = {**_stored(query), "updated_at": self.context.now()}
            if name is not _KEEP:
                values["label"] = _checked_label(name)
            if (shared_with, role, team_id) != (_KEEP, _KEEP, _KEEP):
                scope = view.shared_with if shared_with is _KEEP else shared_with
                values.update(self._checked_sharing(
                    connection, scope, view.shared_role if role is _KEEP else role,
                    view.shared_team_id if team_id is _KEEP else team_id))
            connection.execute(update(self._table).where(self._table.c.id == view.id).values(values))
            return self._load(connection, view.id)

    def rename(self, view_id: int, name: str | Mapping[str, str]) -> SavedView:
        return self.update(view_id, name=name)

    def delete(self, view_id: int) -> None:
        """Delete a view (its owner, or an administrator for a shared one); it stops being anyone's default."""
        with self.context.writing() as connection:
            view = self._changeable(connection, view_id)
            connection.execute(delete(self._defaults).where(self._defaults.c.view_id == view.id))
            connection.execute(delete(self._table).where(self._table.c.id == view.id))

    # -- reading -------------------------------------------------------------------------

    def get(self, view_id: int) -> SavedView:
        """A view the user may use; SavedViewNotFound for a missing one and for one they may not see."""
        with self.context.reading() as connection:
            view = self._usable(connection, view_id)
        self.context.policy.require(view.object, "read")
        return view

    def available(self, object_name: str) -> list[SavedView]:
        """The views of `object_name` the user may use: their own first, then shared ones, each by name."""
        records = RecordService(self.context, object_name)
        with self.context.reading() as connection:
            self.context.policy.require(records.object_name, "read")
            rows = connection.execute(select(self._table).where(
                self._table.c.object == object_name, self._visible()).order_by(self._table.c.id)).all()
        views = [_view(row) for row in rows]
        language = self.context.actor.language
        return sorted(views, key=lambda v: (v.owner_id != self._user_id, v.name(language).casefold(), v.id))

    def menu(self, object_name: str) -> tuple[list[SavedView], SavedView | None]:
        """`available(object_name)` and `default(object_name)` in one statement (the list page's menu of views).

        The default is the user's default view of the object if it is among the available ones,
        else None, as `default` gives it. PermissionDenied without the object's read permission.
        """
        records = RecordService(self.context, object_name)
        user = self.context.policy.user
        statement = _menu_statement(self._table, self._defaults, bool(user.role), bool(user.team_ids))
        values: dict[str, Any] = {"user_id": user.user_id, "object": object_name}
        if user.role:
            values["role"] = user.role
        if user.team_ids:
            values["team_ids"] = list(user.team_ids)
        with self.context.reading() as connection:
            self.context.policy.require(records.object_name, "read")
            rows = connection.execute(statement, values).all()
        views = [_view(row) for row in rows]
        default = next((view for view, row in zip(views, rows) if row.crmkit_default_of is not None), None)
        language = self.context.actor.language
        return sorted(views, key=lambda v: (v.owner_id != self._user_id, v.name(language).casefold(), v.id)), default

    def shared_views(self, object_name: str) -> list[SavedView]:
        """Every shared view of `object_name`, for an administrator tidying them; PermissionDenied for others."""
        with self.context.reading() as connection:
            self._require_admin("see every shared view")
            rows = connection.execute(select(self._table).where(
                self._table.c.object == object_name, self._table.c.shared_with != "private")
                .order_by(self._table.c.id)).all()
        return [_view(row) for row in rows]

    def open(self, view_id: int) -> OpenedView:
        """The view checked for the user as they are now (see the module docstring).

        SavedViewNotFound, PermissionDenied (no read permission on the object any more), or
        SavedViewUnusable for a filter on a field the user cannot see or that no longer exists.
        """
        with self.context.reading() as connection:
            view = self._usable(connection, view_id)
            records = RecordService(self.context, view.object)
            self.context.policy.require(view.object, "read")
            context = records.query_context()
            try:
                compile_filter(context, view.object, view.query.filter)
                search_terms(view.query.search)
            except QueryError:
                raise SavedViewUnusable(messages.VIEW_UNUSABLE(name=repr(view.name(self.context.actor.language)))) \
                    from None
            sort = tuple(item for item in view.query.sort if _usable_field(context, view.object, item.lstrip("-")))
            columns = tuple(name for name in view.query.columns if _usable_field(context, view.object, name))
            withheld = len(view.query.sort) - len(sort) + len(view.query.columns) - len(columns)
            return OpenedView(view, replace(view.query, sort=sort, columns=columns), withheld)

    def page(self, view_id: int, *, limit: int = 50, after: str | None = None) -> Page:
        """A page of the view's records as the user may see them (their row filter and field access)."""
        opened = self.open(view_id)
        query = opened.query
        return RecordService(self.context, opened.view.object).query(
            query.filter, sort=query.sort, search=query.search, limit=limit, after=after)

    # -- defaults ------------------------------------------------------------------------

    def set_default(self, object_name: str, view_id: int | None) -> None:
        """Make a view the user may use their default for `object_name` (None: no default)."""
        RecordService(self.context, object_name)
        table = self._defaults
        with self.context.writing() as connection:
            if view_id is not None and self._usable(connection, view_id).object != object_name:
                raise SavedViewError(messages.VIEW_OF_ANOTHER_OBJECT(id=view_id, object=object_name))
            connection.execute(delete(table).where(table.c.user_id == self._user_id, table.c.object == object_name))
            if view_id is not None:
                connection.execute(insert(table).values(user_id=self._user_id, object=object_name, view_id=view_id))

    def default(self, object_name: str) -> SavedView | None:
        """The user's default view of `object_name`, if they still may use it; else None."""
        table = self._defaults
        with self.context.reading() as connection:
            view_id = connection.execute(select(table.c.view_id).where(
                table.c.user_id == self._user_id, table.c.object == object_name)).scalar()
            if view_id is None:
                return None
            row = connection.execute(select(self._table).where(self._table.c.id == view_id, self._visible())).first()
        return _view(row) if row is not None else None

    # -- checks --------------------------------------------------------------------------

    def _visible(self):
        """The views this user may use, as SQL: their own, and those shared with everyone, their role or a team."""
        table, user = self._table, self.context.policy.user
        clauses = [table.c.owner_id == user.user_id, table.c.shared_with == "everyone"]
        if user.role:
            clauses.append(and_(table.c.shared_with == "role", table.c.shared_role == user.role))
        if user.team_ids:
            clauses.append(and_(table.c.shared_with == "team", table.c.shared_team_id.in_(user.team_ids)))
        return or_(*clauses)

    def _usable(self, connection: Connection, view_id: Any) -> SavedView:
        if not is_record_id(view_id):
            raise SavedViewNotFound(view_id)
        row = connection.execute(select(self._table).where(self._table.c.id == view_id, self._visible())).first()
        if row is None:
            raise SavedViewNotFound(view_id)
        return _view(row)

    def _changeable(self, connection: Connection, view_id: Any) -> SavedView:
        """The view if the user may change it; SavedViewNotFound if they cannot see it, else PermissionDenied."""
        if not is_record_id(view_id):
            raise SavedViewNotFound(view_id)
        table = self._table
        admin_reach = table.c.shared_with != "private" if self.context.policy.is_admin else false()
        row = connection.execute(select(table).where(table.c.id == view_id, or_(self._visible(), admin_reach))).first()
        if row is None:
            raise SavedViewNotFound(view_id)
        view = _view(row)
        if view.owner_id != self._user_id and not self.context.policy.is_admin:
            raise PermissionDenied(messages.VIEW_OWNER_ONLY(name=repr(view.name(self.context.actor.language))))
        return view

    def _require_admin(self, what: str) -> None:
        if not self.context.policy.is_admin:
            raise PermissionDenied(messages.ADMINS_ONLY(what=what))

    def _checked_query(self, records: RecordService, filter: Any, columns: Sequence[str], sort: Sequence[str],
                       search: str | None) -> ListQuery:
        """The query as it will be stored, checked against the fields the user may see now."""
        policy = self.context.policy
        policy.require(records.object_name, "read")
        context = records.query_context()
        name = records.object_name
        if isinstance(columns, str) or isinstance(sort, str):
            raise SavedViewError("columns and sort are lists of field names, not one text.")
        columns, sort = tuple(columns), tuple(sort)
        if len(columns) > MAX_COLUMNS or len(set(columns)) != len(columns):
            raise SavedViewError(messages.VIEW_COLUMNS(max=MAX_COLUMNS))
        for column in columns:
            if not isinstance(column, str) or "." in column:
                raise SavedViewError(messages.VIEW_NOT_A_COLUMN(column=repr(column), object=name))
            resolve_field(context, name, column)
        if sort:
            sort_keys(context, name, sort)
        search = (search or "").strip() or None
        search_terms(search)
        stored = normalised_filter(filter)
        if stored is not None and len(json.dumps(stored, ensure_ascii=False)) > MAX_FILTER_LENGTH:
            raise SavedViewError(messages.VIEW_FILTER_TOO_LONG(max=f"{MAX_FILTER_LENGTH:,}"))
        compile_filter(context, name, stored)
        return ListQuery(filter=stored, sort=sort, search=search, columns=columns)

    def _checked_sharing(self, connection: Connection, shared_with: str, role: str | None,
                         team_id: int | None) -> dict[str, Any]:
        """The sharing columns; PermissionDenied when the user may not share that widely."""
        if shared_with not in SHARED_WITH:
            raise SavedViewError(messages.VIEW_SHARED_WITH(choices=", ".join(SHARED_WITH), given=repr(shared_with)))
        user = self.context.policy.user
        if shared_with != "role":
            role = None
        if shared_with != "team":
            team_id = None
        if shared_with == "role":
            if role not in self.context.runtime.registry.roles:
                raise SavedViewError(messages.VIEW_NO_ROLE(role=repr(role)))
            if role != user.role:
                self._require_admin("share a view with a role other than their own")
        if shared_with == "team":
            teams = self.context.runtime.system_table("crmkit_team")
            if not is_record_id(team_id) or connection.execute(
                    select(teams.c.id).where(teams.c.id == team_id)).first() is None:
                raise SavedViewError(messages.VIEW_NO_TEAM(id=shown(team_id)))
            if team_id not in user.team_ids:
                self._require_admin("share a view with a team they are not a member of")
        if shared_with == "everyone":
            self._require_admin("share a view with everyone")
        return {"shared_with": shared_with, "shared_role": role, "shared_team_id": team_id}

    def _load(self, connection: Connection, view_id: int) -> SavedView:
        return _view(connection.execute(select(self._table).where(self._table.c.id == view_id)).one())


def _checked_label(name: Any) -> str | dict[str, str]:
    """A plain name (1 to 150 characters) or {language: name}; SavedViewError otherwise."""
    texts = dict(name) if isinstance(name, Mapping) else {"": name}
    if not texts or len(texts) > MAX_LANGUAGES:
        raise SavedViewError(messages.VIEW_NAME_LANGUAGES(max=MAX_LANGUAGES))
    cleaned = {}
    for language, text in texts.items():
        if not isinstance(language, str) or not isinstance(text, str) or len(language) > 16:
            raise SavedViewError(messages.VIEW_NAME_TEXT())
        text = checked_text(text.strip(), "view name")
        if not text or len(text) > NAME_LENGTH:
            raise SavedViewError(messages.VIEW_NAME_LENGTH(max=NAME_LENGTH, name=repr(text)))
        cleaned[language] = text
    return cleaned[""] if "" in cleaned else cleaned


def _usable_field(context, object_name: str, name: str) -> bool:
    try:
        resolve_field(context, object_name, name)
    except QueryError:
        return False
    return True


def _stored(query: ListQuery) -> dict[str, Any]:
    return {"filter": query.filter, "columns": list(query.columns), "sort": list(query.sort), "search": query.search}


def _view(row: Any) -> SavedView:
    return SavedView(
        id=row.id, object=row.object, owner_id=row.owner_id, label=row.label,
        query=ListQuery(filter=row.filter, sort=tuple(row.sort), search=row.search, columns=tuple(row.columns)),
        shared_with=row.shared_with, shared_role=row.shared_role, shared_team_id=row.shared_team_id,
        created_at=row.created_at, updated_at=row.updated_at)


__all__ = ["OpenedView", "SavedView", "SavedViewError", "SavedViewNotFound", "SavedViewUnusable", "SavedViews"]


#: The menu's statement per (views table, defaults table, with a role, with teams): built once, run with the user's
#: values as bound parameters (SavedViews.menu runs on every list page). The tables are held to check identity.
_MENU_STATEMENTS: dict[tuple[int, int, bool, bool], tuple[Any, Any, Any]] = {}


def _menu_statement(table: Any, defaults: Any, with_role: bool, with_teams: bool) -> Any:
    """The menu's SELECT: the views of an object the user may use (SavedViews._visible, with bound values
    `user_id`, `role`, `team_ids`), each with the user's default (`crmkit_default_of`), in id order."""
    key = (id(table), id(defaults), with_role, with_teams)
    kept = _MENU_STATEMENTS.get(key)
    if kept is not None and kept[0] is table and kept[1] is defaults:
        return kept[2]
    user_id, object_name = bindparam("user_id"), bindparam("object")
    clauses = [table.c.owner_id == user_id, table.c.shared_with == "everyone"]
    if with_role:
        clauses.append(and_(table.c.shared_with == "role", table.c.shared_role == bindparam("role")))
    if with_teams:
        clauses.append(and_(table.c.shared_with == "team",
                            table.c.shared_team_id.in_(bindparam("team_ids", expanding=True))))
    is_default = and_(defaults.c.view_id == table.c.id, defaults.c.user_id == user_id,
                      defaults.c.object == object_name)
    statement = (select(table, defaults.c.view_id.label("crmkit_default_of"))
                 .outerjoin(defaults, is_default)
                 .where(table.c.object == object_name, or_(*clauses))
                 .order_by(table.c.id))
    _MENU_STATEMENTS[key] = (table, defaults, statement)
    return statement
