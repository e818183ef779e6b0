"""A sensible layout for any object, and the effective layout: declared parts over derived ones.

    >>> layout = effective_layout(registry.object("opportunity"), registry.objects, registry.catalog)
    >>> layout.board.group_by, layout.board.sum
    ('stage', 'amount')

Only metadata is read; nothing here looks at records. The rules (docs/layouts.md, "Derived
layouts"): the form's first section holds the title field, autonumbers, the required fields and
then the others in declared order; long text gets a one-column section of its own and
computed fields (formulas, rollups) a read-only one; the list shows the title and up to five
useful fields; the board groups by a picklist (stage or status preferred) and sums a currency
field; every lookup pointing at the object gives a related list.
"""
from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Iterable, Mapping

from crmkit.metadata.catalog import Catalog
from crmkit.metadata.layouts import FormField, FormSection, KanbanLayout, Layout, ListLayout, RelatedList
from crmkit.metadata.model import FieldDef, Label, ObjectDef
from crmkit.sandbox import compile_expression

DETAILS = Label.of({"en": "Details", "zh": "详细信息"})
MORE = Label.of({"en": "More information", "zh": "更多信息"})
CALCULATED = Label.of({"en": "Calculated", "zh": "计算值"})

#: How many fields a derived list shows besides the title, a derived card and a related list.
LIST_FIELDS, CARD_FIELDS, RELATED_COLUMNS, HIGHLIGHTS = 5, 3, 4, 4
#: Picklists a derived board prefers to group by, best first.
BOARD_NAMES = ("stage", "status")
#: Field types a list never shows by default: long text and lists of values read badly in a cell.
NOT_IN_LISTS = frozenset({"textarea", "multi_picklist"})
KEY_TYPES = frozenset({"picklist", "lookup", "date", "datetime", "email", "phone", "autonumber"})
NUMBER_KINDS = frozenset({"integer", "decimal"})


def is_computed(fdef: FieldDef, catalog: Catalog) -> bool:
    """Formulas, rollups, autonumbers and plugin types whose value the platform computes."""
    kind = catalog.kind(fdef.type)
    return kind is None or kind.computed or kind.value_kind == "computed"


def is_numeric(fdef: FieldDef, catalog: Catalog, objects: Mapping[str, ObjectDef] | None = None) -> bool:
    """Whether the field holds a number (integer, decimal, currency, percent, or a formula or rollup of one).

    A min or max rollup holds what its child field holds, looked up in `objects` when given.
    """
    rollup = fdef.rollup
    if rollup is not None:
        if rollup.aggregate in ("count", "sum", "avg"):
            return True
        child = (objects or {}).get(rollup.child_object)
        source = child.fields.get(rollup.field or "") if child is not None else None
        return source is not None and is_numeric(source, catalog, objects)
    kind = catalog.kind(fdef.value_type)
    return kind is not None and kind.value_kind in NUMBER_KINDS


def title_field(obj: ObjectDef) -> str | None:
    """The field naming a record: `title_field`, else a text field called name, subject or title, else the first."""
    if obj.title_field in obj.fields:
        return obj.title_field
    texts = [f.name for f in obj.fields.values() if f.type == "text"]
    for name in ("name", "subject", "title"):
        if name in texts:
            return name
    return texts[0] if texts else next(iter(obj.fields), None)


def derive_layout(obj: ObjectDef, objects: Mapping[str, ObjectDef], catalog: Catalog) -> Layout:
    """Every part of a layout for `obj`, from its fields alone (and the lookups of `objects` pointing at it)."""
    columns = derive_list(obj, catalog)
    board = derive_kanban(obj, catalog, columns)
    return Layout(
        form=derive_form(obj, catalog),
        list=columns,
        kanban=board,
        related=derive_related(obj, objects, catalog),
        highlights=derive_highlights(obj, columns, board),
        derived=frozenset({"form", "list", "kanban", "related", "highlights"}),
    )


def derive_form(obj: ObjectDef, catalog: Catalog) -> tuple[FormSection, ...]:
    title = title_field(obj)
    ordered = sorted(obj.fields.values(), key=lambda f: f.name != title)  # stable: declared order otherwise

    def calculated(fdef: FieldDef) -> bool:
        return is_computed(fdef, catalog) and fdef.type != "autonumber"

    details = sorted((f for f in ordered if not calculated(f) and f.type != "textarea"),
                     key=lambda f: (f.name != title, f.type != "autonumber", not f.required))
    sections = [
        ("details", DETAILS, 2, details),
        ("more", MORE, 1, [f for f in ordered if f.type == "textarea"]),
        ("calculated", CALCULATED, 2, [f for f in ordered if calculated(f)]),
    ]
    return tuple(
        FormSection(name=name, title=label, columns=columns,
                    fields=tuple(FormField(f.name, read_only=f.read_only or is_computed(f, catalog)) for f in fields))
        for name, label, columns, fields in sections if fields
    )


def derive_list(obj: ObjectDef, catalog: Catalog) -> ListLayout:
    title = title_field(obj)
    position = {name: index for index, name in enumerate(obj.fields)}
    shown_by_title = _reads(obj.fields[title].formula, obj) if title else frozenset()  # first and last name
    candidates = [f for f in obj.fields.values() if f.name != title and f.type not in NOT_IN_LISTS
                  and f.value_type != "boolean" and f.name not in shown_by_title]
    ranked = sorted(candidates, key=lambda f: (_list_rank(f, catalog), position[f.name]))[:LIST_FIELDS]
    picked = sorted((f.name for f in ranked), key=position.__getitem__)
    sort = obj.default_sort or ((title,) if title else ("-created_at",))
    return ListLayout(columns=tuple(([title] if title else []) + picked), sort=tuple(sort))


def _list_rank(fdef: FieldDef, catalog: Catalog) -> int:
    """0 best: what users fill in and money; then choices and links; then dates and contact details."""
    computed = is_computed(fdef, catalog)
    if not computed and (fdef.required or fdef.value_type == "currency"):
        return 0
    if fdef.type in ("picklist", "lookup"):
        return 1
    if fdef.type in KEY_TYPES or fdef.value_type == "currency":
        return 2
    return 3


def derive_kanban(obj: ObjectDef, catalog: Catalog, columns: ListLayout | None = None) -> KanbanLayout | None:
    """A board over the best picklist users may change (stage, status, a required one, the first), or None."""
    picklists = [f for f in obj.fields.values() if f.type == "picklist" and not f.read_only]
    if not picklists:
        return None
    named = [f for name in BOARD_NAMES for f in picklists if f.name == name]
    group = (named or [f for f in picklists if f.required] or picklists)[0]
    money = [f for f in obj.fields.values() if f.value_type == "currency"]
    money.sort(key=lambda f: (f.name != "amount", "total" not in f.name))  # stable: declared order otherwise
    total = money[0] if money else None
    shown = (columns or derive_list(obj, catalog)).columns
    title = title_field(obj)
    # The summed field first: each card shows the figure its column's total adds up.
    card = ([total.name] if total else []) + [name for name in shown
                                               if name not in (title, group.name, total.name if total else None)]
    return KanbanLayout(group_by=group.name, sum=total.name if total else None, card=tuple(card[:CARD_FIELDS]))


def derive_related(obj: ObjectDef, objects: Mapping[str, ObjectDef], catalog: Catalog) -> tuple[RelatedList, ...]:
    """One related list per lookup, of any object, that points at `obj` (self-lookups too)."""
    related = []
    for child in objects.values():
        lookups = [f for f in child.fields.values() if f.is_lookup and f.to == obj.name]
        for via in lookups:
            title = child.plural_label if len(lookups) == 1 else _with_field(child.plural_label, via.label)
            listed = derive_list(child, catalog)
            columns = tuple(name for name in listed.columns if name != via.name)[:RELATED_COLUMNS]
            related.append(RelatedList(object=child.name, via=via.name, title=title, columns=columns,
                                       sort=listed.sort))
    return tuple(related)


def _with_field(plural: Label, field_label: Label) -> Label:
    """`Accounts (Parent Account)` in every language either label has."""
    languages = dict.fromkeys([*plural.texts, *field_label.texts])
    return Label.of({language: f"{plural.get(language)} ({field_label.get(language)})" for language in languages})


def derive_highlights(obj: ObjectDef, columns: ListLayout, board: KanbanLayout | None) -> tuple[str, ...]:
    title = title_field(obj)
    first = [board.group_by, board.sum] if board else []
    names = [name for name in (*first, *columns.columns) if name and name != title]
    return tuple(dict.fromkeys(names))[:HIGHLIGHTS] + ("owner_id",)


def effective_layout(obj: ObjectDef, objects: Mapping[str, ObjectDef], catalog: Catalog,
                     package_labels: Mapping[str, Label] | None = None) -> Layout:
    """`obj`'s declared layout with every missing part derived and its form fields resolved.

    Form fields get `read_only` (computed or read-only fields) and `reads` (the fields their
    `visible_when` reads). Fields added by other packages' `extends:` that a declared form does
    not place get a section per package at the end, titled with the package's label.
    Assumes the metadata passed the checks (crmkit.metadata.layout_checks).
    """
    declared = obj.layout or Layout()
    parts = {part: getattr(declared, part) for part in ("form", "list", "kanban", "related", "highlights")}
    if any(value is None for value in parts.values()):
        derived = derive_layout(obj, objects, catalog)
        parts = {part: getattr(derived, part) if value is None else value for part, value in parts.items()}
    if parts["kanban"] is False:
        parts["kanban"] = None
    if declared.form is not None:
        parts["form"] = declared.form + _extension_sections(obj, declared.form, catalog, package_labels or {})
    parts["form"] = tuple(_resolve_section(section, obj, catalog) for section in parts["form"])
    parts["related"] = tuple(_titled(item, objects) for item in parts["related"])
    missing = frozenset(part for part in parts if getattr(declared, part) is None)
    return Layout(**parts, derived=missing, location=declared.location)


def _extension_sections(obj: ObjectDef, form: Iterable[FormSection], catalog: Catalog,
                        package_labels: Mapping[str, Label]) -> tuple[FormSection, ...]:
    placed = {item.name for section in form for item in section.fields}
    by_package: dict[str, list[FieldDef]] = {}
    for fdef in obj.fields.values():
        if fdef.package and fdef.package != obj.package and fdef.name not in placed:
            by_package.setdefault(fdef.package, []).append(fdef)
    return tuple(
        FormSection(name=package, title=package_labels.get(package) or Label.of(package.replace("_", " ").capitalize()),
                    fields=tuple(FormField(f.name) for f in fields), columns=2)
        for package, fields in by_package.items()
    )


def _resolve_section(section: FormSection, obj: ObjectDef, catalog: Catalog) -> FormSection:
    items = tuple(_resolve_field(item, obj, catalog) for item in section.fields)
    if section.visible_when is None and items == section.fields:
        return section
    return replace(section, fields=items, reads=_reads(section.visible_when, obj))


def _resolve_field(item: FormField, obj: ObjectDef, catalog: Catalog) -> FormField:
    read_only = item.read_only or _read_only(obj.fields.get(item.name), catalog)
    if read_only == item.read_only and item.visible_when is None:
        return item  # most fields: nothing to resolve, no copy
    return replace(item, read_only=read_only, reads=_reads(item.visible_when, obj))


def _read_only(fdef: FieldDef | None, catalog: Catalog) -> bool:
    return fdef is None or fdef.read_only or is_computed(fdef, catalog)


def _reads(source: str | None, obj: ObjectDef) -> frozenset[str]:
    if not source:
        return frozenset()
    return frozenset(name for name in _names(source) if name in obj.fields)


@lru_cache(maxsize=1024)
def _names(source: str) -> frozenset[str]:
    """The names an expression reads as values (compiling is the slow part; the same sources recur on every reload)."""
    return frozenset(compile_expression(source).value_names)


def _titled(related: RelatedList, objects: Mapping[str, ObjectDef]) -> RelatedList:
    if related.title or related.object not in objects:
        return related
    return replace(related, title=objects[related.object].plural_label)
