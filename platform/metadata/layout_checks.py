"""Semantic checks of an object's layout: every name resolves, each part can work, forms can be saved.

Run on the merged object (after `extends:`), so an extension's layout is checked against the
fields it can see. Each problem points at the place it was written.
"""
from __future__ import annotations

from typing import Iterable

from crmkit.metadata.derived_layout import is_computed, is_numeric
from crmkit.metadata.errors import did_you_mean
from crmkit.metadata.expressions import RECORD_FUNCTIONS, analyse
from crmkit.metadata.layouts import FormField, FormSection, KanbanLayout, Layout, RelatedList
from crmkit.metadata.model import FORMULA_ERRORS, SYSTEM_FIELDS, FieldDef, ObjectDef, SourceLocation
from crmkit.metadata.semantic import ObjectScope, Reporter
from crmkit.sandbox import compile_expression

#: System fields a list, card, related list or highlight may show (not the formula errors).
SHOWN_SYSTEM_FIELDS = tuple(name for name in SYSTEM_FIELDS if name != FORMULA_ERRORS)


def check_layout(scope: ObjectScope, report: Reporter) -> None:
    """Report every problem of `scope.obj`'s declared layout (nothing to check when it declares none)."""
    layout = scope.obj.layout
    if layout is None:
        return
    if layout.form is not None:
        _check_form(scope, layout, report)
    if layout.list is not None:
        where = layout.list.location
        _check_names(scope.obj, layout.list.columns, where, "columns", "the list", report)
        _check_sort(scope.obj, layout.list.sort, where, report)
    if isinstance(layout.kanban, KanbanLayout):
        _check_kanban(scope, layout.kanban, report)
    seen: set[tuple[str, str]] = set()
    for related in layout.related or ():
        if related.key in seen:
            report.at(related.location, f"the related list of {related.object} through '{related.via}' is listed "
                                        "twice; keep one.")
        seen.add(related.key)
        _check_related(scope, related, report)
    if layout.highlights is not None:
        _check_names(scope.obj, layout.highlights, layout.place("highlights"), None, "the highlights", report)


# -- form ---------------------------------------------------------------------------------------

def _check_form(scope: ObjectScope, layout: Layout, report: Reporter) -> None:
    obj = scope.obj
    sections: dict[str, FormSection] = {}
    placed: dict[str, FormSection] = {}
    for section in layout.form or ():
        if section.name in sections:
            report.at(section.location, f"two form sections of {obj.name} are named '{section.name}'; rename one.",
                      "name")
        sections[section.name] = section
        if section.visible_when:
            _check_condition(scope, section.visible_when, section.location, report)
        for item in section.fields:
            fdef = _form_field(obj, item, report)
            if fdef is None:
                continue
            if item.name in placed:
                report.at(item.location, f"'{item.name}' is already in the form (section "
                                         f"'{placed[item.name].name}'); list each field once.")
                continue
            placed[item.name] = section
            if item.visible_when:
                _check_condition(scope, item.visible_when, item.location, report)
            hidden_by = "its visible_when" if item.visible_when else (
                f"section '{section.name}''s visible_when" if section.visible_when else None)
            if hidden_by and _must_be_given(fdef, scope):
                report.at(item.location, f"'{item.name}' is required and has no default, so hiding it with "
                                         f"{hidden_by} could leave a record nobody can save; give the field a "
                                         "default or move it out of the condition.")
    for fdef in obj.fields.values():
        if fdef.package in ("", obj.package) and fdef.name not in placed and _must_be_given(fdef, scope):
            report.at(layout.place("form"), f"the form leaves out '{fdef.name}', which is required and has no "
                                            "default, so no new record could be saved; add it to a section.")


def _form_field(obj: ObjectDef, item: FormField, report: Reporter) -> FieldDef | None:
    fdef = obj.fields.get(item.name)
    if fdef is not None:
        return fdef
    if item.name in SYSTEM_FIELDS:
        report.at(item.location, f"'{item.name}' is a system field the platform sets, not a form field; show it "
                                 "in the list columns or the highlights instead.")
    else:
        report.at(item.location, _no_field(obj, item.name, "the form"))
    return None


def _must_be_given(fdef: FieldDef, scope: ObjectScope) -> bool:
    """A required field users must fill: no default, not computed."""
    return (fdef.required and fdef.default is None and not fdef.default_expression
            and not is_computed(fdef, scope.catalog))


def _check_condition(scope: ObjectScope, source: str, where: SourceLocation, report: Reporter) -> None:
    """A `visible_when` compiles, names only this object's own fields and helpers, and reads no change."""
    option = ("visible_when",)
    obj = scope.obj
    result = analyse(source, obj, scope.objects, scope.catalog.function_names, "visible_when")
    for message in result.problems:
        report.at(where, message, *option)
    if result.problems:
        return
    for via, target in sorted(result.related_fields):
        report.at(where, f"visible_when reads '{via}.{target}' through a lookup; it may read only {obj.name}'s "
                         f"own fields, which the form holds (add a formula field on {obj.name} if needed).", *option)
    used = sorted(RECORD_FUNCTIONS & compile_expression(source).names)
    for name in used:
        report.at(where, f"visible_when cannot use {name}(): a form shows the record as it is being edited, "
                         "not a change being saved.", *option)


# -- list, kanban, related, highlights --------------------------------------------------------------

def _check_names(obj: ObjectDef, names: Iterable[str], where: SourceLocation, key: str | None, what: str,
                 report: Reporter) -> None:
    seen: set[str] = set()
    for index, name in enumerate(names):
        path = (key, index) if key else (index,)
        if name not in obj.fields and name not in SHOWN_SYSTEM_FIELDS:
            report.at(where, _no_field(obj, name, what), *path)
        elif name in seen:
            report.at(where, f"'{name}' is listed twice in {what}; list each field once.", *path)
        seen.add(name)


def _check_sort(obj: ObjectDef, sort: Iterable[str], where: SourceLocation, report: Reporter) -> None:
    for index, entry in enumerate(sort):
        name = entry.lstrip("-")
        fdef = obj.fields.get(name)
        if fdef is None and name not in SHOWN_SYSTEM_FIELDS:
            report.at(where, _no_field(obj, name, "the sort"), "sort", index)
        elif fdef is not None and fdef.type == "multi_picklist":
            report.at(where, f"cannot sort by '{name}', a multi_picklist field (a record holds several values); "
                             "sort by another field.", "sort", index)


def _check_kanban(scope: ObjectScope, board: KanbanLayout, report: Reporter) -> None:
    obj, where = scope.obj, board.location
    group = obj.fields.get(board.group_by)
    if group is None:
        report.at(where, _no_field(obj, board.group_by, "the kanban's group_by"), "group_by")
    elif group.type != "picklist":
        report.at(where, f"the kanban groups by '{group.name}', a {group.type} field; a board needs a picklist, "
                         "whose options become its columns.", "group_by")
    elif group.read_only:
        report.at(where, f"'{group.name}' is read-only, so cards could not be moved between columns; group by a "
                         "picklist users may change.", "group_by")
    if board.sum is not None:
        total = obj.fields.get(board.sum)
        if total is None:
            report.at(where, _no_field(obj, board.sum, "the kanban's sum"), "sum")
        elif not is_numeric(total, scope.catalog, scope.objects):
            report.at(where, f"cannot sum '{total.name}', a {total.value_type} field; the kanban's sum must be a "
                             "number or currency field.", "sum")
    _check_names(obj, board.card, where, "card", "the kanban's card", report)


def _check_related(scope: ObjectScope, related: RelatedList, report: Reporter) -> None:
    obj, where = scope.obj, related.location
    child = scope.objects.get(related.object)
    if child is None:
        hint = did_you_mean(related.object, scope.objects)
        report.at(where, f"the related list shows '{related.object}', which is not an object here.{hint}", "object")
        return
    via = child.fields.get(related.via)
    if via is None or not via.is_lookup or via.to != obj.name:
        lookups = [f.name for f in child.fields.values() if f.is_lookup and f.to == obj.name]
        hint = (f" Lookups from {child.name} to {obj.name}: {', '.join(lookups)}." if lookups
                else f" {child.name} has no lookup to {obj.name}; add one, or remove this related list.")
        what = "is not a field of" if via is None else "does not point to"
        target = child.name if via is None else obj.name
        report.at(where, f"'{related.via}' {what} {target}: a related list needs a lookup of {child.name} "
                         f"that points to {obj.name}.{hint}", "via")
    _check_names(child, related.columns, where, "columns", "the related list", report)
    _check_sort(child, related.sort, where, report)


def _no_field(obj: ObjectDef, name: str, what: str) -> str:
    hint = did_you_mean(name, list(obj.fields) + list(SHOWN_SYSTEM_FIELDS))
    return f"{what} names '{name}', which is not a field of {obj.name}.{hint}"
