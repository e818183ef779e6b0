"""Layouts: how an object's records are shown. The frozen model, and how an extension changes it.

A layout has five parts, each optional in metadata (a missing part is derived, see
`derived_layout`): the form's sections, the list view's columns and sort, the kanban board,
the related lists of a detail page and its highlight fields. Layouts are presentation only:
the engine enforces the same rules whatever a layout shows or hides.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from dataclasses import field as _field
from typing import Iterator, Mapping

from crmkit.metadata.model import NOWHERE, Label, SourceLocation, frozen_map

#: The parts of a layout, in the order they are documented.
LAYOUT_PARTS = ("form", "list", "kanban", "related", "highlights")


@dataclass(frozen=True)
class FormField:
    """One field placed in a form section.

    `read_only` is true for fields users cannot type into: formulas, rollups and
    autonumbers (computed, shown with their stored value) and fields declared `read_only`.
    `help` overrides the field's own help text when not empty. `visible_when` is an
    expression over the record's own fields (`reads`); when it is false the UI hides the
    field, unless the field carries an error (see docs/layouts.md, "visible_when").
    """

    name: str
    read_only: bool = False
    help: Label = _field(default_factory=Label)
    visible_when: str | None = None
    reads: frozenset[str] = frozenset()
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class FormSection:
    """A titled group of fields in one or two columns; `name` identifies it for extensions."""

    name: str
    title: Label
    fields: tuple[FormField, ...]
    columns: int = 2
    visible_when: str | None = None
    reads: frozenset[str] = frozenset()
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.fields)


@dataclass(frozen=True)
class ListLayout:
    """The default list view: columns (fields, system fields allowed) and sort (`-` descending)."""

    columns: tuple[str, ...]
    sort: tuple[str, ...] = ()
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class KanbanLayout:
    """A board with one column per option of the picklist `group_by`; `sum` is totalled per column."""

    group_by: str
    sum: str | None = None
    card: tuple[str, ...] = ()
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class RelatedList:
    """Records of `object` whose lookup `via` points at the record shown, on its detail page."""

    object: str
    via: str
    title: Label = _field(default_factory=Label)
    columns: tuple[str, ...] = ()
    sort: tuple[str, ...] = ()
    #: How many rows the detail page shows before "view all".
    rows: int = 5
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.object, self.via)


@dataclass(frozen=True)
class Layout:
    """An object's layout. A part that is None was not declared (see `effective_layout`).

    `kanban` is None when not declared and `False` when declared `kanban: false` (no board);
    in an effective layout it is a KanbanLayout or None (the object has no board).
    `derived` names the parts the platform derived rather than the author declared.
    """

    form: tuple[FormSection, ...] | None = None
    list: ListLayout | None = None
    kanban: KanbanLayout | bool | None = None
    related: tuple[RelatedList, ...] | None = None
    highlights: tuple[str, ...] | None = None
    derived: frozenset[str] = frozenset()
    #: Where each declared part was written (part name -> location), for problems about a part as a whole.
    places: Mapping[str, SourceLocation] = _field(default_factory=frozen_map, compare=False, repr=False)
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)

    def place(self, part: str) -> SourceLocation:
        return self.places.get(part, self.location)

    def form_fields(self) -> Iterator[tuple[FormSection, FormField]]:
        """Every (section, field) of the form, in order."""
        for section in self.form or ():
            for item in section.fields:
                yield section, item

    def form_field(self, name: str) -> FormField | None:
        return next((item for _, item in self.form_fields() if item.name == name), None)

    @property
    def board(self) -> KanbanLayout | None:
        """The kanban board, or None when there is none."""
        return self.kanban if isinstance(self.kanban, KanbanLayout) else None


def merge_layouts(base: Layout | None, extension: Layout | None) -> Layout | None:
    """The layout after a package's `extends:` changed it.

    The rule (docs/layouts.md, "Extending a layout"): form sections are merged by name (a
    section of the same name replaces the base's, in its place; new names are appended);
    related lists are merged by (object, via) the same way; `list`, `kanban` and
    `highlights` given by the extension replace the base's.
    """
    if extension is None:
        return base
    if base is None:
        return extension
    return replace(
        base,
        form=_merge_by(base.form, extension.form, lambda section: section.name),
        list=extension.list or base.list,
        kanban=base.kanban if extension.kanban is None else extension.kanban,
        related=_merge_by(base.related, extension.related, lambda related: related.key),
        highlights=base.highlights if extension.highlights is None else extension.highlights,
        places=frozen_map({**extension.places, **{part: where for part, where in base.places.items()
                                                  if part in ("form", "related") or part not in extension.places}}),
    )


def _merge_by(base, added, key):
    if added is None:
        return base
    if base is None:
        return added
    replacing = {key(item): item for item in added}
    merged = [replacing.pop(key(item), item) for item in base]
    return tuple(merged) + tuple(item for item in added if key(item) in replacing)
