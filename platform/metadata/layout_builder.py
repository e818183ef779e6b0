"""Turn the schema-checked `layouts:` of an object or extension into the frozen Layout model."""
from __future__ import annotations

from typing import Any, Mapping

from crmkit.metadata.layouts import FormField, FormSection, KanbanLayout, Layout, ListLayout, RelatedList
from crmkit.metadata.model import Label, SourceLocation, frozen_map
from crmkit.metadata.source import SourceDocument


def _at(document: SourceDocument, path: tuple, *, at_key: bool = True) -> SourceLocation:
    position = document.position(path, at_key=at_key)
    return SourceLocation(document.file, position.line, position.column, path)


def build_layout(document: SourceDocument, base: tuple, spec: Mapping[str, Any] | None) -> Layout | None:
    """The Layout declared at `base + ("layouts",)`, or None when the object declares none.

    Read-only form fields are marked later, by the checks, which know the merged object.
    """
    if not spec:
        return None
    path = base + ("layouts",)
    kanban = spec.get("kanban")
    return Layout(
        form=_form(document, path, spec["form"]) if "form" in spec else None,
        list=_list(document, path, spec["list"]) if "list" in spec else None,
        kanban=False if kanban is False else (_kanban(document, path, kanban) if kanban else None),
        related=tuple(_related(document, path + ("related", number), item)
                      for number, item in enumerate(spec["related"])) if "related" in spec else None,
        highlights=tuple(spec["highlights"]) if "highlights" in spec else None,
        places=frozen_map({part: _at(document, path + (part,)) for part in spec}),
        location=_at(document, path),
    )


def _form(document: SourceDocument, path: tuple, sections) -> tuple[FormSection, ...]:
    built = []
    for number, section in enumerate(sections):
        where = path + ("form", number)
        items = tuple(_form_field(document, where + ("fields", index), item)
                      for index, item in enumerate(section["fields"]))
        built.append(FormSection(
            name=section["name"],
            title=Label.of(section.get("title"), section["name"].replace("_", " ").capitalize()),
            fields=items,
            columns=section.get("columns", 2),
            visible_when=section.get("visible_when"),
            location=_at(document, where, at_key=False),
        ))
    return tuple(built)


def _form_field(document: SourceDocument, path: tuple, item: str | Mapping[str, Any]) -> FormField:
    location = _at(document, path, at_key=False)
    if isinstance(item, str):
        return FormField(name=item, location=location)
    return FormField(name=item["field"], help=Label.of(item["help"]) if item.get("help") else Label(),
                     visible_when=item.get("visible_when"), location=location)


def _list(document: SourceDocument, path: tuple, spec: Mapping[str, Any]) -> ListLayout:
    return ListLayout(columns=tuple(spec["columns"]), sort=tuple(spec.get("sort") or ()),
                      location=_at(document, path + ("list",)))


def _kanban(document: SourceDocument, path: tuple, spec: Mapping[str, Any]) -> KanbanLayout:
    return KanbanLayout(group_by=spec["group_by"], sum=spec.get("sum"), card=tuple(spec.get("card") or ()),
                        location=_at(document, path + ("kanban",)))


def _related(document: SourceDocument, path: tuple, spec: Mapping[str, Any]) -> RelatedList:
    return RelatedList(
        object=spec["object"], via=spec["via"],
        title=Label.of(spec["title"]) if spec.get("title") else Label(),
        columns=tuple(spec.get("columns") or ()), sort=tuple(spec.get("sort") or ()), rows=spec.get("rows", 5),
        location=_at(document, path, at_key=False),
    )
