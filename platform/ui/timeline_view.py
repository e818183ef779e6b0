"""The detail page's timeline: the engine's timeline page (records/timeline.py) as entries to render.

Nothing here decides what the user may see: the engine leaves out hidden fields' history and
activities the user may not see; this module only formats what it gave, through the field
presenter (the user's language, time zone and locale) and with names read through the engine
(`UserContext.user_names`, lookup titles with the user's rights).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from flask import url_for

from crmkit.engine.context import UserContext
from crmkit.engine.fieldtypes import from_json
from crmkit.engine.fieldtypes.display import Display
from crmkit.engine.fieldtypes.presenter import FieldPresenter
from crmkit.engine.records.record import Record
from crmkit.engine.records.timeline import PAGE_SIZE, ActivityEntry, HistoryEntry, RunEntry, TimelinePage
from crmkit.metadata.derived_layout import title_field
from crmkit.metadata.model import FieldDef, Label, ObjectDef
from crmkit.ui import record_views as views

#: How many of an activity's list columns (besides its title) an entry shows.
ACTIVITY_FIELDS = 3


@dataclass(frozen=True)
class TimelineItem:
    """One entry as shown. `kind`: update, create, delete, restore (history) or activity."""

    kind: str
    when: Display
    who: str | None
    #: update: the field's label and its value before and after.
    field_label: str | None = None
    old: Display | None = None
    new: Display | None = None
    #: activity: its object's label, id, title and a few of its values.
    object_label: Label | None = None
    object_name: str | None = None
    record_id: int | None = None
    title: str | None = None
    details: tuple[views.ShownField, ...] = ()
    #: run (an automation rule that fired): the rule's label, trigger, action kinds, outcome, duration and,
    #: for administrators only (the engine leaves it out otherwise), the error sentence.
    run: RunEntry | None = None
    rule_label: Label | None = None


def timeline_page(context: UserContext, presenter: FieldPresenter, obj: ObjectDef, record: int | Record,
                  after: str | None = None) -> tuple[tuple[TimelineItem, ...], str | None]:
    """One page of the record's timeline as items, and the address of the older entries (None: no more).

    `record`: its id, or the Record `get` returned in the same snapshot (the engine then does not
    read it again: RecordService.timeline). RecordNotFound for a record the user may not read;
    QueryError for a damaged cursor.
    """
    page = context.records(obj.name).timeline(record, after=after, limit=PAGE_SIZE)
    record_id = record.id if isinstance(record, Record) else record
    older = url_for("timeline.older", object_name=obj.name, record_id=record_id, after=page.next_cursor) \
        if page.next_cursor else None
    return timeline_items(context, presenter, obj, page), older


def timeline_items(context: UserContext, presenter: FieldPresenter, obj: ObjectDef, page: TimelinePage
                   ) -> tuple[TimelineItem, ...]:
    """The page's entries, newest first, formatted for the user."""
    registry = context.runtime.registry
    people = context.user_names(
        {entry.changed_by for entry in page.entries if isinstance(entry, HistoryEntry)}
        | {entry.record.get("created_by") for entry in page.entries if isinstance(entry, ActivityEntry)})
    values = _history_values(context, obj, page.entries)
    titles = {**views.lookup_titles(context, obj, list(values.values())), **_user_titles(context, values)}
    moment = presenter.field(obj, "updated_at")
    items = []
    for entry in page.entries:
        when = presenter.display_value(moment, entry.at)
        if isinstance(entry, RunEntry):
            items.append(TimelineItem("run", when, None, run=entry, rule_label=_rule_label(obj, entry)))
        elif isinstance(entry, HistoryEntry):
            items.append(_history_item(presenter, obj, entry, values, titles, when, people.get(entry.changed_by)))
        else:
            items.append(_activity_item(context, presenter, registry.object(entry.object), entry, when,
                                        people.get(entry.record.get("created_by"))))
    return tuple(items)


def _history_values(context: UserContext, obj: ObjectDef, entries: Sequence[Any]
                    ) -> dict[tuple[int, str], dict[str, Any]]:
    """{(history id, "old" or "new"): {field: stored value}} of the update entries, back from JSON."""
    table = context.runtime.table(obj.name)
    values = {}
    for entry in entries:
        if isinstance(entry, HistoryEntry) and entry.operation == "update" and entry.field in table.c:
            column_type = table.c[entry.field].type
            values[(entry.id, "old")] = {entry.field: from_json(column_type, entry.old_value)}
            values[(entry.id, "new")] = {entry.field: from_json(column_type, entry.new_value)}
    return values


def _user_titles(context: UserContext, values: Mapping[tuple[int, str], Mapping[str, Any]]
                 ) -> dict[tuple[str, int], str]:
    """("user", id) -> display name of the owners an owner change names."""
    ids = {row[name] for row in values.values() for name in views.USER_FIELDS if name in row}
    return {("user", user_id): name for user_id, name in context.user_names(ids).items()}


def _history_item(presenter: FieldPresenter, obj: ObjectDef, entry: HistoryEntry,
                  values: Mapping[tuple[int, str], Mapping[str, Any]], titles: Mapping[tuple[str, int], str],
                  when: Display, who: str | None) -> TimelineItem:
    if entry.operation != "update" or (entry.id, "old") not in values:
        return TimelineItem(entry.operation, when, who)
    fdef: FieldDef = presenter.field(obj, entry.field)
    old, new = values[(entry.id, "old")], values[(entry.id, "new")]
    return TimelineItem("update", when, who, field_label=presenter.label(fdef),
                        old=presenter.display(fdef, old, views.title_of(fdef, old, titles)),
                        new=presenter.display(fdef, new, views.title_of(fdef, new, titles)))


def _activity_item(context: UserContext, presenter: FieldPresenter, child: ObjectDef, entry: ActivityEntry,
                   when: Display, who: str | None) -> TimelineItem:
    layout = context.runtime.registry.layout(child.name)
    title_name = title_field(child)
    columns = [name for name in (layout.list.columns if layout.list else ()) if name != title_name
               and name in entry.record and name not in entry.via][:ACTIVITY_FIELDS]
    shown = views.displays(presenter, child, columns, entry.record, {})
    details = tuple(views.ShownField(name, presenter.label(presenter.field(child, name)), display)
                    for name, display in zip(columns, shown))
    return TimelineItem("activity", when, who, object_label=child.label, object_name=child.name,
                        record_id=entry.id, title=views.record_title(child, entry.record), details=details)


def _rule_label(obj: ObjectDef, entry: RunEntry) -> Label:
    """The rule's label from the metadata; its name when the rule is gone."""
    name = entry.rule.split(".", 1)[-1]
    rule = next((rule for rule in obj.automations if rule.name == name), None)
    return rule.label if rule is not None else Label.of(name)
