"""What the list's bulk actions show: the fields a bulk edit may set, the chosen records, and a result per record.

    actions = bulk_actions(context, obj)              # may_edit, may_delete, fields (name, label)
    chosen = selection(request.args.getlist("record"))   # {id: version}: "12:3" is record 12 read at version 3
    report = bulk_report(context, presenter, obj, chosen, context.records(obj.name).update_many(chosen, values))
    carried_values(presenter, obj, "industry", "description", ["Logistics"])   # ["Logistics"]: text to text
    value_errors(result, "employees")    # ["is not a number"]: every record refused the value itself

The records themselves are read and changed through the engine only (RecordService.query,
update_many, delete_many): a chosen record the user may not see has no title here and is
reported with the engine's "not found" sentence, exactly like an id no record has.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence
from weakref import WeakKeyDictionary

from crmkit.engine.context import UserContext
from crmkit.engine.fieldtypes.presenter import FieldPresenter
from crmkit.engine.query.inputs import is_record_id, ascii_whole_number
from crmkit.engine.records.bulk_changes import BulkResult
from crmkit.engine.records.errors import RECORD_ERRORS
from crmkit.engine.security.access import PermissionDenied
from crmkit.metadata.model import FieldDef, ObjectDef
from crmkit.ui.errors import sentence
from crmkit.ui.i18n import labelled
from crmkit.ui.record_views import inline_editable, may, record_title


@dataclass(frozen=True)
class BulkActions:
    """The bulk actions a user's rights allow on a list (the engine still checks every record)."""

    may_edit: bool
    may_delete: bool
    #: (field name, label) of the fields a bulk edit may set: those the user may type into.
    fields: tuple[tuple[str, str], ...]

    @property
    def any(self) -> bool:
        return self.may_edit or self.may_delete


@dataclass(frozen=True)
class ReportLine:
    """One record of a bulk result: its id, title (None when the user may not see it) and messages."""

    id: Any
    title: str | None
    messages: tuple[str, ...] = ()


#: The bulk actions of each compiled set of rights (a user's AccessPolicy: a new one whenever their rights, their
#: language or the metadata change), by object and presentation: every list page asks for them.
_KEPT_ACTIONS: "WeakKeyDictionary[Any, dict[tuple[str, Any], BulkActions]]" = WeakKeyDictionary()


def bulk_actions(context: UserContext, obj: ObjectDef) -> BulkActions:
    """The bulk actions and editable fields of `obj` for the user (object and field permissions), kept per
    compiled rights, object and presentation (the labels' language)."""
    presenter = FieldPresenter.for_context(context)
    policy = context.policy
    kept = _KEPT_ACTIONS.setdefault(policy, {}) if policy is not None else None
    key = (obj.name, presenter.show)
    if kept is not None and (actions := kept.get(key)) is not None:
        return actions
    fields = tuple((name, presenter.label(fdef)) for name, fdef in obj.fields.items()
                   if inline_editable(context, presenter, obj, name)) if may(context, obj.name, "edit") else ()
    actions = BulkActions(bool(fields), may(context, obj.name, "delete"), fields)
    if kept is not None:
        kept[key] = actions
    return actions


def selection(values: Sequence[str]) -> dict[Any, int | None]:
    """{id: version} of the chosen rows' values ("12:3"; "12": as it is now); text that is no id is kept as given."""
    chosen: dict[Any, int | None] = {}
    for value in values:
        record, _, version = value.partition(":")
        number = ascii_whole_number(record)
        record_id: Any = record if number is None else number
        chosen.setdefault(record_id, ascii_whole_number(version))
    return chosen


def selection_values(chosen: Mapping[Any, int | None]) -> list[str]:
    """The form values of a selection again (hidden inputs of a confirmation page)."""
    return [f"{record_id}:{version}" if version is not None else str(record_id) for record_id, version in chosen.items()]


def titles(context: UserContext, obj: ObjectDef, ids: Sequence[Any]) -> dict[int, str]:
    """{id: title} of the chosen records the user may see (one query through their row filter)."""
    wanted = sorted({record_id for record_id in ids if is_record_id(record_id)})
    if not wanted:
        return {}
    try:
        page = context.records(obj.name).query({"id": {"in": wanted}}, limit=len(wanted))
    except PermissionDenied:
        return {}
    return {record.id: record_title(obj, record) for record in page.records}


def bulk_report(context: UserContext, presenter: FieldPresenter, obj: ObjectDef, result: BulkResult,
                named: Mapping[int, str] | None = None) -> tuple[tuple[ReportLine, ...], tuple[ReportLine, ...]]:
    """(saved, failed) lines of a bulk result, with the engine's sentences and the titles the user may see:
    `named` (read before a delete), else as they are now."""
    if named is None:
        named = titles(context, obj, [*result.succeeded, *(failure.id for failure in result.failed)])
    saved = tuple(ReportLine(record_id, named.get(record_id)) for record_id in result.succeeded)
    failed = []
    for failure in result.failed:
        messages = [_field_message(presenter, obj, name, message) for name, texts in failure.errors.items()
                    for message in texts] or [sentence(failure.message)]
        failed.append(ReportLine(failure.id, named.get(failure.id) if failure.status != 404 else None,
                                 tuple(messages)))
    return saved, tuple(failed)


def _field_message(presenter: FieldPresenter, obj: ObjectDef, name: str, message: str) -> str:
    """A field-level message with the field's label ("Stage: is not one of the options."); a record-level one alone."""
    if name == RECORD_ERRORS or name not in obj.fields:
        return sentence(message)
    return labelled(presenter.label(obj.fields[name]), sentence(message))


#: Widgets whose typed text another widget of the same family takes as it is (the engine checks it on apply).
WIDGET_FAMILIES = ({"text", "textarea", "email", "tel", "url"}, {"number", "currency", "percent"})


def carried_values(presenter: FieldPresenter, obj: ObjectDef, previous: str, name: str,
                   values: Sequence[str]) -> list[str] | None:
    """What was typed for field `previous` as the value of field `name`, when the bulk form changes field.

    Kept when the new field's type takes it: the same widget (a lookup to the same object; a
    picklist only the values it offers), or text to text and number to number widgets. None
    when nothing was typed or the type does not take it (the new field's box starts empty).
    """
    typed = [value for value in values if value != ""]
    if not typed or previous not in obj.fields or name not in obj.fields:
        return None
    if previous == name:
        return list(values)
    old, new = obj.fields[previous], obj.fields[name]
    old_widget, new_widget = _form_widget(presenter, old), _form_widget(presenter, new)
    if old_widget == new_widget:
        if new_widget in ("select", "multiselect"):
            offered = {option.value for option in new.options if not option.inactive}
            kept = [value for value in typed if value in offered]
            return kept or None
        if new_widget == "lookup" and old.to != new.to:
            return None
        return list(values)
    if any(old_widget in family and new_widget in family for family in WIDGET_FAMILIES):
        return list(values)
    return None


def _form_widget(presenter: FieldPresenter, fdef: FieldDef) -> str:
    return presenter.field_types[fdef.type].form_widget


def value_errors(result: BulkResult, name: str) -> list[str] | None:
    """The errors of the value itself: when no record was saved and every one was refused with the
    same field errors, all about field `name` (a number field given "many"); None otherwise (the
    result is then a per-record report)."""
    if result.succeeded or not result.failed:
        return None
    first = dict(result.failed[0].errors)
    if set(first) != {name} or any(dict(failure.errors) != first for failure in result.failed[1:]):
        return None
    return [sentence(message) for message in first[name]]
