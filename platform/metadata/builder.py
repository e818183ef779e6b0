"""Turn schema-checked documents into the frozen model, remembering where each part was written."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping, Sequence

from crmkit.metadata.assignment import build_scoring
from crmkit.metadata.automation import build_automations, build_transitions, move_rules
from crmkit.metadata.email_templates import build_email_templates
from crmkit.metadata.layout_builder import build_layout
from crmkit.metadata.model import (
    DEFAULT_SHARING,
    Extension,
    FieldDef,
    IndexDef,
    Label,
    ObjectDef,
    Package,
    PermissionSetDef,
    PicklistOption,
    RoleDef,
    RollupDef,
    SharingRule,
    SourceLocation,
    ValidationRule,
    frozen_map,
)
from crmkit.metadata.report_builder import build_dashboards, build_reports, package_fiscal_start
from crmkit.metadata.errors import MetadataError, Problem
from crmkit.metadata.source import SourceDocument

_FIELD_KEYS = frozenset(
    {
        "type", "label", "help", "required", "unique", "indexed", "searchable", "read_only",
        "default", "max_length", "min", "max", "precision", "scale", "options", "to", "on_delete",
        "formula", "returns", "from", "aggregate", "field", "condition", "format", "start",
        "renamed_from", "description", "personal", "system_visible", "controlling_field", "dependent_values",
    }
)


def humanize(name: str) -> str:
    """`expected_revenue` -> `Expected revenue`: the label when the author gave none."""
    return name.replace("_", " ").strip().capitalize()


def location(document: SourceDocument, path: tuple, *, at_key: bool = True) -> SourceLocation:
    position = document.position(path, at_key=at_key)
    return SourceLocation(document.file, position.line, position.column, path)


def build_package(documents: Sequence[SourceDocument], *, once_per_file: bool = True) -> Package:
    """One Package from its documents: a single file, or the files of a package folder; MetadataError when two
    files declare the same entry (`once_per_file`; not for packages already installed: Catalog.installed)."""
    head = next(doc for doc in documents if "package" in doc.data)
    data = head.data
    name = data["package"]
    repeated = _declared_twice(documents) if once_per_file else []
    if repeated:
        raise MetadataError(repeated)
    objects: dict[str, ObjectDef] = {}
    extends: dict[str, Extension] = {}
    for document in documents:
        for object_name, spec in (document.data.get("objects") or {}).items():
            objects[object_name] = build_object(document, name, object_name, spec)
        for object_name, spec in (document.data.get("extends") or {}).items():
            extends[object_name] = build_extension(document, name, object_name, spec)
    roles: dict[str, RoleDef] = {}
    permission_sets: dict[str, PermissionSetDef] = {}
    for document in documents:
        for role_name, spec in (document.data.get("roles") or {}).items():
            roles[role_name] = build_role(document, name, role_name, spec or {})
        for set_name, spec in (document.data.get("permission_sets") or {}).items():
            permission_sets[set_name] = build_permission_set(document, name, set_name, spec or {})
    return Package(
        name=name,
        version=data["version"],
        label=Label.of(data.get("label"), humanize(name)),
        description=Label.of(data.get("description")) if data.get("description") else Label(),
        depends_on=tuple(data.get("depends_on") or ()),
        objects=frozen_map(objects),
        extends=frozen_map(extends),
        roles=frozen_map(roles),
        permission_sets=frozen_map(permission_sets),
        automations=tuple(rule for doc in documents
                          for rule in build_automations(doc, name, (), doc.data.get("automations") or ())),
        reports=frozen_map({key: report for doc in documents for key, report in build_reports(doc, name).items()}),
        dashboards=frozen_map({key: board for doc in documents
                               for key, board in build_dashboards(doc, name).items()}),
        fiscal_year_start_month=package_fiscal_start(documents),
        documents=tuple(doc.data for doc in documents),
        files=tuple(doc.file for doc in documents),
    )


#: The sections of a package whose entries a folder package may declare in any of its files, but only once.
DECLARED_ONCE = ("objects", "extends", "roles", "permission_sets")  # reports and dashboards: report_builder.py


def _declared_twice(documents: Sequence[SourceDocument]) -> list[Problem]:
    """A problem at each entry a file of a folder package declares again after another file did (the later one
    would silently replace the earlier, as a key given twice in one mapping is refused)."""
    first: dict[tuple[str, str], str] = {}
    problems = []
    for document in documents:
        for section in DECLARED_ONCE:
            entries = document.data.get(section)
            for entry in entries if isinstance(entries, Mapping) else ():
                other = first.setdefault((section, str(entry)), document.file)
                if other != document.file:
                    problems.append(document.problem(
                        (section, entry), f"'{entry}' is declared under {section} in {other} too; a package declares "
                                          "it once: keep one of them (merge their lines), or rename one.", at_key=True))
    return problems


def default_plural(label: Label) -> Label:
    """The plural of an object's label when the package gives none: English adds "s" ("Deal" -> "Deals"); other
    languages keep the label (Chinese has no plural form: 交易), so no language is named in English."""
    return Label.of({language: text + "s" if language.split("-")[0] == "en" else text
                     for language, text in label.texts.items()})


def build_object(document: SourceDocument, package: str, name: str, spec: Mapping[str, Any]) -> ObjectDef:
    base = ("objects", name)
    label = Label.of(spec.get("label"), humanize(name))
    plural = spec.get("plural_label")
    return ObjectDef(
        name=name,
        label=label,
        plural_label=Label.of(plural) if plural else default_plural(label),
        package=package,
        fields=build_fields(document, package, base, spec.get("fields") or {}),
        description=Label.of(spec["description"]) if spec.get("description") else Label(),
        title_field=spec.get("title_field"),
        track_history=bool(spec.get("track_history", False)),
        renamed_from=spec.get("renamed_from"),
        validations=build_validations(document, package, base, spec.get("validations") or ()),
        indexes=build_indexes(spec.get("indexes") or ()),
        default_sort=tuple(spec.get("default_sort") or ()),
        sharing=spec.get("sharing", DEFAULT_SHARING),
        sharing_parent=spec.get("sharing_parent"),
        sharing_rules=tuple(build_sharing_rule(document, base + ("sharing_rules", index), rule)
                            for index, rule in enumerate(spec.get("sharing_rules") or ())),
        transitions=(transitions := build_transitions(document, package, base, spec.get("transitions") or {})),
        automations=build_automations(document, package, base, spec.get("automations") or ()) + move_rules(transitions),
        scoring=build_scoring(document, package, base, spec.get("scoring")),
        layout=build_layout(document, base, spec.get("layouts")),
        location=location(document, base),
        email_templates=build_email_templates(document, package, base, spec.get("email_templates") or {}),
    )


def build_extension(document: SourceDocument, package: str, name: str, spec: Mapping[str, Any]) -> Extension:
    base = ("extends", name)
    return Extension(
        object=name,
        package=package,
        fields=build_fields(document, package, base, spec.get("fields") or {}),
        validations=build_validations(document, package, base, spec.get("validations") or ()),
        indexes=build_indexes(spec.get("indexes") or ()),
        transitions=(transitions := build_transitions(document, package, base, spec.get("transitions") or {})),
        automations=build_automations(document, package, base, spec.get("automations") or ()) + move_rules(transitions),
        scoring=build_scoring(document, package, base, spec.get("scoring")),
        layout=build_layout(document, base, spec.get("layouts")),
        location=location(document, base),
        email_templates=build_email_templates(document, package, base, spec.get("email_templates") or {}),
    )


def build_fields(document: SourceDocument, package: str, base: tuple, specs: Mapping[str, Any]) -> Mapping[str, FieldDef]:
    return frozen_map(
        {name: build_field(document, package, base + ("fields", name), name, spec) for name, spec in specs.items()}
    )


def build_field(document: SourceDocument, package: str, path: tuple, name: str, spec: Mapping[str, Any]) -> FieldDef:
    default = spec.get("default")
    default_expression = None
    if isinstance(default, Mapping):
        default_expression, default = default.get("expression"), None
    return FieldDef(
        name=name,
        type=spec["type"],
        label=Label.of(spec.get("label"), humanize(name)),
        package=package,
        help=Label.of(spec["help"]) if spec.get("help") else Label(),
        required=bool(spec.get("required", False)),
        unique=bool(spec.get("unique", False)),
        indexed=bool(spec.get("indexed", False)),
        searchable=bool(spec.get("searchable", False)),
        read_only=bool(spec.get("read_only", False)),
        personal=bool(spec.get("personal", False)),
        default=tuple(default) if isinstance(default, list) else default,
        default_expression=default_expression,
        max_length=spec.get("max_length"),
        min=_decimal(spec.get("min")),
        max=_decimal(spec.get("max")),
        precision=spec.get("precision"),
        scale=spec.get("scale"),
        options=tuple(build_option(option) for option in spec.get("options") or ()),
        to=spec.get("to"),
        on_delete=spec.get("on_delete", "set_null"),
        formula=spec.get("formula"),
        returns=spec.get("returns"),
        rollup=build_rollup(spec),
        system_visible=bool(spec.get("system_visible", False)),
        format=spec.get("format"),
        start=spec.get("start", 1),
        renamed_from=spec.get("renamed_from"),
        controlling_field=spec.get("controlling_field"),
        dependent_values=frozen_map({str(key): tuple(values)
                                     for key, values in (spec.get("dependent_values") or {}).items()}),
        extra=frozen_map({key: value for key, value in spec.items() if key not in _FIELD_KEYS}),
        given_options=frozenset(spec),
        location=location(document, path),
    )


def build_option(option: str | Mapping[str, Any]) -> PicklistOption:
    if isinstance(option, str):
        return PicklistOption(value=option, label=Label.of(option))
    return PicklistOption(
        value=option["value"],
        label=Label.of(option.get("label"), option["value"]),
        color=option.get("color"),
        inactive=bool(option.get("inactive", False)),
    )


def build_rollup(spec: Mapping[str, Any]) -> RollupDef | None:
    source = spec.get("from")
    if spec.get("type") != "rollup" or not isinstance(source, str) or "." not in source:
        return None
    child_object, via = source.split(".", 1)
    condition = spec.get("condition")
    return RollupDef(
        child_object=child_object,
        via=via,
        aggregate=spec.get("aggregate", "count"),
        field=spec.get("field"),
        condition=frozen_map(condition) if condition else None,
    )


def build_validations(document: SourceDocument, package: str, base: tuple, specs: Sequence[Mapping[str, Any]]) -> tuple[ValidationRule, ...]:
    return tuple(
        ValidationRule(
            name=spec["name"],
            condition=spec["condition"],
            message=Label.of(spec["message"]),
            field=spec.get("field"),
            on=tuple(spec.get("on") or ("create", "update")),
            package=package,
            discloses_protected_fields=bool(spec.get("discloses_protected_fields")),
            location=location(document, base + ("validations", index), at_key=False),
        )
        for index, spec in enumerate(specs)
    )


def build_sharing_rule(document: SourceDocument, path: tuple, spec: Mapping[str, Any]) -> SharingRule:
    target = spec.get("share_with") or {}
    return SharingRule(
        name=spec["name"],
        criteria=frozen_map(spec.get("criteria") or {}),
        role=target.get("role"),
        team=target.get("team"),
        subordinates=bool(target.get("subordinates", False)),
        access=spec.get("access", "read"),
        location=location(document, path, at_key=False),
    )


def build_role(document: SourceDocument, package: str, name: str, spec: Mapping[str, Any]) -> RoleDef:
    return RoleDef(name=name, label=Label.of(spec.get("label"), humanize(name)), parent=spec.get("parent"),
                   package=package, location=location(document, ("roles", name)))


def object_permissions(spec: Any) -> frozenset[str]:
    """[create, read] or {create: true, read: true} -> frozenset({"create", "read"})."""
    if isinstance(spec, Mapping):
        return frozenset(name for name, granted in spec.items() if granted)
    return frozenset(spec or ())


def build_permission_set(document: SourceDocument, package: str, name: str, spec: Mapping[str, Any]) -> PermissionSetDef:
    return PermissionSetDef(
        name=name,
        label=Label.of(spec.get("label"), humanize(name)),
        package=package,
        description=Label.of(spec["description"]) if spec.get("description") else Label(),
        roles=tuple(spec.get("roles") or ()),
        objects=frozen_map({obj: object_permissions(perms) for obj, perms in (spec.get("objects") or {}).items()}),
        all_objects=object_permissions(spec.get("all_objects")),
        fields=frozen_map({key: frozenset(perms) for key, perms in (spec.get("fields") or {}).items()}),
        system=frozenset(spec.get("system") or ()),
        location=location(document, ("permission_sets", name)),
    )


def build_indexes(specs: Sequence[Mapping[str, Any]]) -> tuple[IndexDef, ...]:
    return tuple(IndexDef(fields=tuple(spec["fields"]), unique=bool(spec.get("unique", False))) for spec in specs)


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    return Decimal(str(value))
