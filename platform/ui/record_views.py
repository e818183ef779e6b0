"""What the detail page and the record forms show, built from the layout, the presenter and engine reads.

No Flask request handling here: the views (views/records.py) pass the request's form and
the user's engine context; these functions read records only through the context's
services (so the engine applies every permission) and return frozen view models the
templates render without deciding anything.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

from jinja2.filters import do_urlencode as urlencode

from crmkit.engine.automation.transitions import allowed_targets
from crmkit.engine.context import UserContext
from crmkit.engine.fieldtypes.display import Display
from crmkit.engine.fieldtypes.presenter import FieldPresenter
from crmkit.engine.fieldtypes.widgets import Widget, input_text
from crmkit.engine.records.errors import RECORD_ERRORS
from crmkit.engine.security.access import PermissionDenied
from crmkit.errors import CrmkitError
from crmkit.metadata.derived_layout import title_field
from crmkit.metadata.layouts import Layout, RelatedList
from crmkit.metadata.model import FieldDef, Label, ObjectDef
from crmkit.metadata.visibility import Visibility, form_visibility
from crmkit.ui.i18n import labelled
from crmkit.ui.list_page import readable_sort, stored_columns, user_titles

#: The id of the element holding a form's sections; an htmx refresh replaces it.
FORM_FIELDS_ID = "record-form-fields"


@dataclass(frozen=True)
class ShownField:
    """One label and value of a detail page."""

    name: str
    label: str
    display: Display
    #: Whether the detail page offers to edit it in place (the engine still checks the save).
    editable: bool = False


@dataclass(frozen=True)
class ShownSection:
    name: str
    title: Label
    columns: int
    fields: tuple[ShownField, ...]


@dataclass(frozen=True)
class FormSectionView:
    """A form section as rendered: its widgets, in the layout's order and columns."""

    name: str
    title: Label
    columns: int
    widgets: tuple[Widget, ...]
    #: Names of the widgets whose change asks for the form again (htmx, at `refresh_url`).
    controllers: frozenset[str] = frozenset()
    refresh_url: str | None = None


@dataclass(frozen=True)
class RelatedRows:
    """A related list of a detail page: its first rows, and the links to all of them and to a new one."""

    related: RelatedList
    title: Label
    columns: tuple[str, ...]
    labels: tuple[str, ...]
    rows: tuple[tuple[int, tuple[Display, ...]], ...]
    has_more: bool
    may_create: bool
    #: The query string of the links to all of them and to a new one ("account=7"; escaped as Jinja's urlencode
    #: filter escapes a mapping, worked out once here instead of twice a list in the template).
    query: str = ""


def may(context: UserContext, object_name: str, permission: str) -> bool:
    """Whether the user's object permissions allow `permission` (the engine still checks every action)."""
    policy = context.policy
    return policy is None or policy.can(object_name, permission)


def may_read_field(context: UserContext, obj: ObjectDef, name: str) -> bool:
    policy = context.policy
    return policy is None or policy.can_read_field(obj.name, name)


def may_edit_field(context: UserContext, obj: ObjectDef, name: str) -> bool:
    policy = context.policy
    return policy is None or policy.can_edit_field(obj.name, name)


def record_title(obj: ObjectDef, row: Mapping[str, Any]) -> str:
    """The record's title as the user may read it; its id when the title is hidden or empty."""
    name = title_field(obj)
    value = row.get(name) if name else None
    return str(row.get("id") if value in (None, "") else value)


def lookup_titles(context: UserContext, obj: ObjectDef, rows: Sequence[Mapping[str, Any]],
                  names: Sequence[str] | None = None) -> dict[tuple[str, int], str]:
    """{(target object, id): title} for the lookups of `rows` (only the fields `names`, when given, users' too), read with the user's rights.

    One query per target object; a record the user may not see gets no title (the display
    then says "Record 7"), so nothing about it leaks. The users the rows name (owner,
    created by, updated by) get their display names, keyed ("user", id), from UserNames (kept: list_page.user_titles).
    """
    wanted: dict[str, set[int]] = {}
    for fdef in obj.fields.values():
        if fdef.type == "lookup" and fdef.to and (names is None or fdef.name in names):
            wanted.setdefault(fdef.to, set()).update(
                row[fdef.name] for row in rows if isinstance(row.get(fdef.name), int))
    titles: dict[tuple[str, int], str] = {}
    registry = context.runtime.registry
    for target, ids in wanted.items():
        if not ids or not may(context, target, "read"):
            continue
        try:
            page = context.records(target).query({"id": sorted(ids)}, limit=len(ids))
        except CrmkitError:
            continue
        target_def = registry.object(target)
        titles.update({(target, record.id): record_title(target_def, record) for record in page.records})
    shown_users = [name for name in USER_FIELDS if names is None or name in names]  # a related list's columns only
    people = {row.get(name) for row in rows for name in shown_users if isinstance(row.get(name), int)}
    # Kept across requests while the rights version stays (list_page.user_titles: every rename advances it).
    titles.update((("user", user_id), name) for user_id, name in user_titles(context, people).items())
    return titles


#: System fields that hold a user's id; their titles are keyed ("user", id) in a titles mapping.
USER_FIELDS = ("owner_id", "created_by", "updated_by")


def title_of(fdef: FieldDef, row: Mapping[str, Any], titles: Mapping[tuple[str, int], str]) -> str | None:
    """The title of the record (or user) a lookup value of `row` names, if it was read."""
    value = row.get(fdef.name)
    if fdef.name in USER_FIELDS:
        return titles.get(("user", value)) if isinstance(value, int) else None
    return titles.get((fdef.to, value)) if fdef.type == "lookup" and fdef.to and isinstance(value, int) else None


def displays(presenter: FieldPresenter, obj: ObjectDef, names: Sequence[str], row: Mapping[str, Any],
             titles: Mapping[tuple[str, int], str]) -> tuple[Display, ...]:
    shown = []
    for name in names:
        fdef = presenter.field(obj, name)
        shown.append(presenter.display(fdef, row, title_of(fdef, row, titles)))
    return tuple(shown)


def readable_names(context: UserContext, obj: ObjectDef, names: Sequence[str]) -> tuple[str, ...]:
    """The fields of `names` the user may read (system fields always), in order."""
    return tuple(name for name in names if name not in obj.fields or may_read_field(context, obj, name))


def highlights(context: UserContext, presenter: FieldPresenter, obj: ObjectDef, layout: Layout,
               record: Mapping[str, Any], titles: Mapping[tuple[str, int], str]) -> tuple[ShownField, ...]:
    names = readable_names(context, obj, layout.highlights or ())
    return tuple(ShownField(name, presenter.label(presenter.field(obj, name)), shown)
                 for name, shown in zip(names, displays(presenter, obj, names, record, titles)))


def detail_sections(context: UserContext, presenter: FieldPresenter, obj: ObjectDef, layout: Layout,
                    record: Mapping[str, Any], titles: Mapping[tuple[str, int], str]) -> tuple[ShownSection, ...]:
    """The form's sections as read-only rows; `visible_when` applied to the stored values."""
    may_edit = may(context, obj.name, "edit")
    visibility = form_visibility(layout, record, context.runtime.functions)
    sections = []
    for section in layout.form or ():
        if section.name in visibility.hidden_sections:
            continue
        items = [item for item in section.fields
                 if item.name in obj.fields and visibility.shows(item.name) and may_read_field(context, obj, item.name)]
        names = tuple(item.name for item in items)
        if names:
            sections.append(ShownSection(section.name, section.title, section.columns, tuple(
                ShownField(item.name, presenter.label(obj.fields[item.name]), shown,
                           may_edit and inline_editable(context, presenter, obj, item.name, item.read_only))
                for item, shown in zip(items, displays(presenter, obj, names, record, titles)))))
    return tuple(sections)


def inline_editable(context: UserContext, presenter: FieldPresenter, obj: ObjectDef, name: str,
                    read_only: bool = False) -> bool:
    """Whether a field can be typed into by this user: not computed or read-only, and they may edit it."""
    return not read_only and name in obj.fields and presenter.editable(obj.fields[name]) \
        and may_edit_field(context, obj, name)


def related_rows(context: UserContext, presenter: FieldPresenter, layout: Layout, record_id: int
                 ) -> tuple[RelatedRows, ...]:
    """The layout's related lists: each child's first `rows` records pointing at `record_id`.

    A child object the user may not read is left out; the rows are the engine's query with
    the user's rights, in the list's sort.
    """
    registry = context.runtime.registry
    lists = []
    for related in layout.related or ():
        if related.object not in registry.objects or not may(context, related.object, "read"):
            continue
        child = registry.object(related.object)
        if not may_read_field(context, child, related.via):
            continue
        columns = readable_names(context, child, related.columns or (title_field(child) or "id",))
        records = context.records(related.object)
        try:  # only the shown columns are read (list_page.stored_columns)
            page = records.query({related.via: record_id}, sort=readable_sort(context, child.name, related.sort or ()),
                                 limit=related.rows,
                                 fields=stored_columns(records, columns))
        except PermissionDenied:
            continue
        titles = lookup_titles(context, child, page.records, columns)  # the shown columns' lookups only
        shown = [(presenter.field(child, name), presenter.displayer(presenter.field(child, name))) for name in columns]
        rows = tuple((row.id, tuple(display(row, title_of(fdef, row, titles)) for fdef, display in shown))
                     for row in page.records)
        lists.append(RelatedRows(
            related, related.title or child.plural_label, columns,
            tuple(presenter.label(presenter.field(child, name)) for name in columns), rows, page.has_more,
            may(context, related.object, "create") and may_edit_field(context, child, related.via),
            urlencode({related.via: record_id})))
    return tuple(lists)


# ---- forms -------------------------------------------------------------------------------


def stored_values(context: UserContext, obj: ObjectDef, row: Mapping[str, Any] | None,
                  submitted: Mapping[str, Any]) -> dict[str, Any]:
    """The record's values as the form now holds them, of the stored types, for `visible_when`
    and dependent picklists: the stored (or default) values, overlaid with what was typed
    (coerced as the engine would; a value it cannot coerce is kept as typed)."""
    values = dict(row) if row is not None else {
        name: fdef.default for name, fdef in obj.fields.items() if fdef.default_expression is None}
    pipeline = context.pipeline(obj.name)
    for name, value in submitted.items():
        try:
            values[name] = None if value == "" else pipeline.coerce_one(name, value)
        except CrmkitError:
            values[name] = value
    return values


def controlling_fields(obj: ObjectDef, layout: Layout) -> frozenset[str]:
    """Fields whose change can change the form: read by a `visible_when`, or controlling a picklist."""
    names: set[str] = set()
    for section in layout.form or ():
        names |= section.reads
        for item in section.fields:
            names |= item.reads
    names |= {fdef.controlling_field for fdef in obj.fields.values() if fdef.controlling_field}
    return frozenset(names)


def allowed_choices(widget: Widget, fdef: FieldDef, values: Mapping[str, Any]) -> Widget:
    """A dependent picklist offers only the options its controlling value allows (and keeps the one chosen)."""
    if not fdef.controlling_field or widget.control != "select":
        return widget
    allowed = set(fdef.allowed_values(values.get(fdef.controlling_field)))
    return replace(widget, choices=tuple(choice for choice in widget.choices
                                         if choice.value == "" or choice.value in allowed or choice.selected))


def stage_choices(widget: Widget, obj: ObjectDef, fdef: FieldDef, row: Mapping[str, Any] | None) -> Widget:
    """A picklist with stage transitions offers only the values the record may move to from its stored
    value (a new record, or one without a value: the `initial` values), the blank choice (clearing is
    not a move) and the one chosen. A move with a `condition` stays offered: the engine decides it on save."""
    if widget.control != "select" or widget.multiple:
        return widget
    allowed = allowed_targets(obj, fdef.name, (row or {}).get(fdef.name))
    if allowed is None:
        return widget
    return replace(widget, choices=tuple(choice for choice in widget.choices
                                         if choice.value == "" or choice.value in allowed or choice.selected))


def form_sections(context: UserContext, presenter: FieldPresenter, obj: ObjectDef, layout: Layout, *,
                  row: Mapping[str, Any] | None, form: Any = None, errors: Mapping[str, Sequence[str]] = {},
                  prefill: Mapping[str, str] | None = None, refresh_url: str | None = None,
                  titles: Mapping[tuple[str, int], str] = {}) -> tuple[FormSectionView, ...]:
    """The form's sections with one widget per field the user may read.

    `row` is the stored record (None: a new record, static defaults shown, and no read-only
    field: formulas, rollups, autonumbers, system fields and fields the user may not edit have
    nothing to show before the save, so they and sections of only them are left out); `form` what the
    browser sent (kept as typed); `prefill` values for a new record's fields from the query
    string; `errors` the engine's field errors (a field with one is never hidden).
    `refresh_url` is where a controlling field's change asks for the form again (htmx).
    """
    typed_source = form if form is not None else PrefillForm(prefill or {})
    submitted = presenter.submitted(obj, typed_source)
    values = stored_values(context, obj, row, submitted)
    left_to_save: frozenset[str] = frozenset()
    if row is None and form is None:  # a new form shows the defaults a save would fill in, as values to change
        typed_source, values, left_to_save = with_defaults(context, presenter, obj, typed_source, values)
    visibility: Visibility = form_visibility(layout, values, context.runtime.functions, tuple(errors))
    controllers = controlling_fields(obj, layout)
    sections = []
    for section in layout.form or ():
        if section.name in visibility.hidden_sections:
            continue
        widgets = []
        for item in section.fields:
            fdef = obj.fields.get(item.name)
            if fdef is None or not visibility.shows(item.name) or not may_read_field(context, obj, item.name):
                continue
            typed = typed_source.getlist(item.name) if item.name in typed_source else None
            editable = not item.read_only and may_edit_field(context, obj, item.name)
            title = titles.get((fdef.to, as_id(typed[-1] if typed else (row or {}).get(item.name)))) \
                if fdef.type == "lookup" else None
            widget = presenter.widget(fdef, row, typed=typed if editable else None, title=title, editable=editable)
            if row is None and widget.read_only:
                continue  # a new record has no value to show here yet (a formula, rollup, autonumber, system field)
            if item.help:
                widget = replace(widget, help=presenter.show.label(item.help))
            if item.name in left_to_save:
                widget = replace(widget, hint=" ".join(filter(None, (widget.hint, presenter.show.text("default_on_save")))))
            widget = stage_choices(allowed_choices(widget, fdef, values), obj, fdef, row)
            widgets.append(widget)
        if widgets:
            sections.append(FormSectionView(
                section.name, section.title, section.columns, tuple(widgets),
                frozenset(w.name for w in widgets if w.name in controllers and w.control != "readonly"),
                refresh_url))
    return tuple(sections)


def as_id(value: Any) -> int | None:
    """A form's record id as an int; None for anything else."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


#: Widgets whose default a new form shows as typed text (a lookup's would need its record's title: left to the save).
TYPED_DEFAULT_WIDGETS = frozenset({"text", "textarea", "email", "tel", "url", "number", "currency", "percent", "date",
                                   "datetime", "select"})


def with_defaults(context: UserContext, presenter: FieldPresenter, obj: ObjectDef, prefill: "PrefillForm",
                  values: Mapping[str, Any]) -> tuple["PrefillForm", dict[str, Any], frozenset[str]]:
    """A new form's prefill with the defaults of the fields it does not prefill, as a user sees and edits
    them (a close date three months from today, an opening time of now), like Salesforce's new record page.

    Returns the prefill with their text, the form's values with the defaults, and the fields
    whose default expression the form cannot show (it reads a record not chosen yet, or the
    widget is a lookup): their widgets say the save fills them in. Static defaults need
    nothing here: widgets show them already (FieldPresenter.widget).
    """
    defaults = context.records(obj.name).new_record_defaults(values)
    shown = PrefillForm(prefill)
    left: set[str] = set()
    for fdef in obj.fields.values():
        if not fdef.default_expression or fdef.name in prefill:
            continue
        widget = presenter.field_types[fdef.type].form_widget
        if fdef.name in defaults and widget in TYPED_DEFAULT_WIDGETS:
            shown[fdef.name] = input_text(widget, defaults[fdef.name], presenter.show)
        else:
            left.add(fdef.name)
    return shown, {**values, **defaults}, frozenset(left)


class PrefillForm(dict):
    """Query-string values for a new record, read like a submitted form (one value per key)."""

    def getlist(self, key: str) -> list[str]:
        return [self[key]] if key in self else []


def form_lookup_titles(context: UserContext, obj: ObjectDef, row: Mapping[str, Any] | None,
                       form: Any) -> dict[tuple[str, int], str]:
    """Titles of the records the form's lookups hold (stored or typed), read with the user's rights."""
    values: dict[str, Any] = dict(row or {})
    if form is not None:
        for fdef in obj.fields.values():
            if fdef.type == "lookup" and fdef.name in form:
                chosen = form.getlist(fdef.name) if hasattr(form, "getlist") else [form[fdef.name]]
                values[fdef.name] = as_id(chosen[-1]) if chosen else None
    return lookup_titles(context, obj, [values])


def error_lists(obj: ObjectDef, presenter: FieldPresenter, errors: Mapping[str, Sequence[str]],
                placed: Sequence[str]) -> list[str]:
    """The errors shown above the form: the record's own, and those of fields the form does not show."""
    messages = list(errors.get(RECORD_ERRORS, ()))
    for name, texts in errors.items():
        if name != RECORD_ERRORS and name not in placed:
            label = presenter.label(presenter.field(obj, name)) if (name in obj.fields or name == "owner_id") else name
            messages.extend(labelled(label, text) for text in texts)
    return messages


def placed_names(sections: Sequence[FormSectionView]) -> list[str]:
    return [widget.name for section in sections for widget in section.widgets if widget.control != "readonly"]


def changed_by_others(presenter: FieldPresenter, obj: ObjectDef, current: Mapping[str, Any],
                      submitted: Mapping[str, Any], titles: Mapping[tuple[str, int], str]) -> tuple[ShownField, ...]:
    """The fields whose saved value now differs from what the user sent: their values, to compare."""
    shown = []
    for name, value in submitted.items():
        fdef = obj.fields.get(name)
        if fdef is None or name not in current:
            continue
        mine = presenter.display_value(fdef, value if value != "" else None).text
        theirs = presenter.display(fdef, current, title_of(fdef, current, titles))
        if theirs.text != mine:
            shown.append(ShownField(name, presenter.label(fdef), theirs))
    return tuple(shown)

