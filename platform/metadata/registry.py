"""The Registry: installed packages merged into one resolved, immutable model."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping, Sequence

from crmkit.metadata.assignment_checks import check_assignment
from crmkit.metadata.automation_checks import check_automation
from crmkit.metadata.package_automations import attach_package_automations
from crmkit.metadata.package_reports import merge_analytics
from crmkit.metadata.report_checks import check_analytics
from crmkit.metadata.catalog import Catalog
from crmkit.metadata.errors import MetadataError, UnknownObject, did_you_mean
from crmkit.metadata.derived_layout import effective_layout
from crmkit.metadata.disclosure_checks import disclosure_problems
from crmkit.metadata.expressions import ExpressionReport, FieldRef, find_cycle, topological_order
from crmkit.metadata.layout_checks import check_layout
from crmkit.metadata.layouts import Layout, merge_layouts
from crmkit.metadata.model import Extension, FieldDef, ObjectDef, Package, PermissionSetDef, RoleDef, frozen_map
from crmkit.metadata.reports import DashboardDef, ReportDef
from crmkit.metadata.security_checks import (
    check_permission_sets,
    check_sharing,
    merge_permission_sets,
    merge_roles,
    role_descendants,
)
from crmkit.metadata.semantic import ObjectScope, Reporter, check_object
from crmkit.metadata.source import SourceDocument


@dataclass(frozen=True)
class RollupLink:
    """A rollup on `parent` that must be recomputed when its child records change."""

    parent: str
    field: str


@dataclass(frozen=True)
class RelatedFormulas:
    """Formulas on `obj` that read fields of the record its lookup `via` points to."""

    obj: str
    via: str
    reads: frozenset[str]
    formulas: tuple[str, ...]


@dataclass(frozen=True)
class Registry:
    packages: Mapping[str, Package]
    objects: Mapping[str, ObjectDef]
    catalog: Catalog
    #: object -> its formula fields in the order they must be computed.
    formula_order: Mapping[str, tuple[str, ...]] = field(default_factory=frozen_map)
    #: object -> lookup field -> fields of the target that its expressions read.
    related_reads: Mapping[str, Mapping[str, frozenset[str]]] = field(default_factory=frozen_map)
    #: child object -> rollups on parents that aggregate it.
    rollups_by_child: Mapping[str, tuple[RollupLink, ...]] = field(default_factory=frozen_map)
    #: target object -> formulas elsewhere that read its fields through a lookup.
    related_formulas: Mapping[str, tuple[RelatedFormulas, ...]] = field(default_factory=frozen_map)
    #: object -> (child object, lookup field) pairs pointing at it.
    children: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=frozen_map)
    #: object -> the fields each formula reads, for recomputing only what a change touches.
    formula_reads: Mapping[str, Mapping[str, frozenset[str]]] = field(default_factory=frozen_map)
    roles: Mapping[str, RoleDef] = field(default_factory=frozen_map)
    #: role -> every role below it in the hierarchy.
    role_descendants: Mapping[str, frozenset[str]] = field(default_factory=frozen_map)
    permission_sets: Mapping[str, PermissionSetDef] = field(default_factory=frozen_map)
    #: object -> its effective layout: the declared parts, the others derived (docs/layouts.md).
    layouts: Mapping[str, Layout] = field(default_factory=frozen_map)
    #: Reports and dashboards of every installed package, by name (docs/reports.md).
    reports: Mapping[str, ReportDef] = field(default_factory=frozen_map)
    dashboards: Mapping[str, DashboardDef] = field(default_factory=frozen_map)
    #: The month (1-12) the fiscal year starts in, for fiscal buckets: the packages' setting, default 1.
    fiscal_year_start_month: int = 1

    def object(self, name: str) -> ObjectDef:
        try:
            return self.objects[name]
        except (KeyError, TypeError):  # TypeError: an unhashable "name", such as a list
            raise UnknownObject(name, self.objects) from None

    def layout(self, name: str) -> Layout:
        """The effective layout of the object `name`; raises UnknownObject for a name not installed."""
        obj = self.object(name)
        layout = self.layouts.get(name)
        if layout is None:  # a registry assembled by hand (tests) rather than by build()
            labels = {package.name: package.label for package in self.packages.values()}
            layout = effective_layout(obj, self.objects, self.catalog, labels)
        return layout

    @classmethod
    def build(
        cls,
        packages: Sequence[Package],
        catalog: Catalog,
        documents: Iterable[SourceDocument] = (),
    ) -> "Registry":
        """Check `packages` together and merge them; raises MetadataError listing every problem."""
        report = Reporter(documents={doc.file: doc for doc in documents})
        ordered = _order_packages(packages, report)
        objects = _merge_objects(ordered, report)
        by_name = {package.name: package for package in ordered}
        visible = {package.name: _dependencies(package, by_name) | {package.name} for package in ordered}
        attach_package_automations(ordered, objects, visible, report)
        analytics = merge_analytics(ordered, visible, report)
        roles = merge_roles(ordered, report)
        permission_sets = merge_permission_sets(ordered, report)
        if report.problems:
            raise MetadataError(report.problems)
        analyses: dict[str, dict[str, ExpressionReport]] = {}
        for obj in objects.values():
            analyses[obj.name] = check_object(ObjectScope(obj, objects, catalog), report)
            analyses[obj.name].update(check_automation(ObjectScope(obj, objects, catalog), report))
            analyses[obj.name].update(check_assignment(ObjectScope(obj, objects, catalog), roles, report))
            check_sharing(obj, roles, objects, report)
            check_layout(ObjectScope(obj, objects, catalog), report)
        check_permission_sets(permission_sets, roles, objects, report)
        check_analytics(analytics, objects, catalog, visible, report)
        if not report.problems:
            _check_cycles(objects, analyses, report)
            for location, message, key in disclosure_problems(objects, permission_sets, analyses, catalog.lenient):
                report.at(location, message, *(key if isinstance(key, tuple) else (key,)))
        if report.problems:
            raise MetadataError(report.problems)
        registry = _derive(cls, ordered, objects, catalog, analyses)
        labels = {package.name: package.label for package in ordered}
        layouts = {obj.name: effective_layout(obj, objects, catalog, labels) for obj in objects.values()}
        registry = replace(registry, roles=frozen_map(roles), role_descendants=role_descendants(roles),
                           permission_sets=frozen_map(permission_sets), layouts=frozen_map(layouts),
                           reports=analytics.reports, dashboards=analytics.dashboards,
                           fiscal_year_start_month=analytics.fiscal_year_start_month)
        for check in catalog.registry_checks:  # the engine's (filter values); not of packages already installed
            for location, message, keys in check(registry):
                report.at(location, message, *keys)
        if report.problems:
            raise MetadataError(report.problems)
        return registry

    def with_packages(self, packages: Sequence[Package], documents: Iterable[SourceDocument] = (), *,
                      read_back: Iterable[str] = ()) -> "Registry":
        """A new registry with `packages` added or replacing installed ones of the same name.

        The packages given are checked with every rule, even where they replace installed ones (Catalog.installed),
        except those named in `read_back`: installed ones given again only for their source's positions."""
        merged = {name: package for name, package in self.packages.items()}
        for package in packages:
            merged[package.name] = package
        catalog = replace(self.catalog, installed=(self.catalog.installed - {package.name for package in packages})
                          | frozenset(read_back))
        return Registry.build(list(merged.values()), catalog, documents)


def _order_packages(packages: Sequence[Package], report: Reporter) -> list[Package]:
    by_name: dict[str, Package] = {}
    for package in packages:
        if package.name in by_name:
            report.at(_package_location(package), f"the package '{package.name}' is given twice.")
        by_name[package.name] = package
    for package in by_name.values():
        for dependency in package.depends_on:
            if dependency not in by_name:
                hint = did_you_mean(dependency, by_name)
                report.at(_package_location(package),
                          f"'{package.name}' depends on '{dependency}', which is not installed or given.{hint}",
                          "depends_on")
    edges = {(name, ""): [(dep, "") for dep in package.depends_on if dep in by_name] for name, package in by_name.items()}
    cycle = find_cycle(edges)
    if cycle:
        names = " -> ".join(node[0] for node in cycle)
        report.at(_package_location(by_name[cycle[0][0]]), f"packages depend on each other in a circle: {names}.", "depends_on")
        return list(by_name.values())
    order = topological_order(by_name, lambda name: by_name[name].depends_on)
    return [by_name[name] for name in order]


def _package_location(package: Package):
    from crmkit.metadata.model import SourceLocation

    return SourceLocation(package.files[0] if package.files else f"<package {package.name}>", 1, 1, ())


def _dependencies(package: Package, by_name: Mapping[str, Package]) -> set[str]:
    seen: set[str] = set()
    pending = list(package.depends_on)
    while pending:
        name = pending.pop()
        if name not in seen and name in by_name:
            seen.add(name)
            pending.extend(by_name[name].depends_on)
    return seen


def _merge_objects(packages: Sequence[Package], report: Reporter) -> dict[str, ObjectDef]:
    objects: dict[str, ObjectDef] = {}
    by_name = {package.name: package for package in packages}
    for package in packages:
        for obj in package.objects.values():
            if obj.name in objects:
                other = objects[obj.name].package
                report.at(obj.location, f"the object '{obj.name}' is already defined by the package '{other}'; "
                                        f"use 'extends:' to add fields to it.", at_key=True)
                continue
            objects[obj.name] = obj
        visible = _dependencies(package, by_name) | {package.name}
        for extension in package.extends.values():
            target = objects.get(extension.object)
            if target is None or target.package not in visible:
                hint = did_you_mean(extension.object, objects)
                report.at(extension.location, f"'{extension.object}' is not an object of a package that "
                                              f"'{package.name}' depends on.{hint}", at_key=True)
                continue
            objects[target.name] = _extend(target, extension, report)
    return objects


def _extend(target: ObjectDef, extension: Extension, report: Reporter) -> ObjectDef:
    fields: dict[str, FieldDef] = dict(target.fields)
    for name, fdef in extension.fields.items():
        if name in fields:
            report.at(fdef.location, f"{target.name} already has a field '{name}' (from the package "
                                     f"'{fields[name].package}'); choose another name.", at_key=True)
            continue
        fields[name] = fdef
    return replace(
        target,
        fields=frozen_map(fields),
        validations=target.validations + extension.validations,
        indexes=target.indexes + extension.indexes,
        automations=target.automations + extension.automations,
        transitions=_merged_transitions(target, extension, report),
        scoring=_merged_scoring(target, extension, report),
        layout=merge_layouts(target.layout, extension.layout),
        email_templates=frozen_map({**target.email_templates, **extension.email_templates}),
    )


def _merged_scoring(target: ObjectDef, extension: Extension, report: Reporter):
    """The target's scoring, or the extension's: an object's scoring is declared in one place."""
    if extension.scoring is None:
        return target.scoring
    if target.scoring is not None:
        report.at(extension.scoring.location, f"{target.name} already has scoring (from the package "
                                              f"'{target.scoring.package}'); an object's scoring is declared once.",
                  at_key=True)
        return target.scoring
    return extension.scoring


def _merged_transitions(target: ObjectDef, extension: Extension, report: Reporter):
    """The target's stage transitions and the extension's; one picklist's moves are declared in one place."""
    merged = dict(target.transitions)
    for name, transitions in extension.transitions.items():
        if name in merged:
            report.at(transitions.location, f"{target.name}.{name} already has stage transitions (from the package "
                                            f"'{merged[name].package}'); a picklist's moves are declared once.",
                      at_key=True)
            continue
        merged[name] = transitions
    return frozen_map(merged)


def _check_cycles(objects: Mapping[str, ObjectDef], analyses, report: Reporter) -> None:
    """Formulas and rollups that depend on themselves, within or across objects."""
    edges: dict[FieldRef, set[FieldRef]] = {}
    for obj in objects.values():
        for fdef in obj.fields.values():
            node = (obj.name, fdef.name)
            if fdef.type == "formula":
                result = analyses[obj.name].get(f"formula:{fdef.name}")
                if result:
                    deps = {(obj.name, name) for name in result.local_fields}
                    deps |= {(obj.fields[via].to, target) for via, target in result.related_fields}
                    edges[node] = deps
            elif fdef.rollup is not None:
                child = fdef.rollup.child_object
                edges[node] = {(child, fdef.rollup.via)} | ({(child, fdef.rollup.field)} if fdef.rollup.field else set())
    cycle = find_cycle(edges)
    if cycle:
        obj_name, field_name = cycle[0]
        chain = " -> ".join(f"{o}.{f}" for o, f in cycle)
        report.at(objects[obj_name].fields[field_name].location,
                  f"these fields depend on each other in a circle: {chain}; break the circle by removing one reference.")


def _derive(cls, packages, objects, catalog, analyses) -> Registry:
    formula_order: dict[str, tuple[str, ...]] = {}
    related_reads: dict[str, dict[str, set[str]]] = {}
    formula_reads: dict[str, dict[str, frozenset[str]]] = {}
    related_formulas: dict[str, list[RelatedFormulas]] = {}
    rollups_by_child: dict[str, list[RollupLink]] = {}
    children: dict[str, list[tuple[str, str]]] = {}
    for obj in objects.values():
        reports = analyses[obj.name]
        formulas = [f.name for f in obj.fields.values() if f.type == "formula"]
        local = {name: reports[f"formula:{name}"].local_fields for name in formulas}
        formula_order[obj.name] = topological_order(formulas, lambda name, local=local: local.get(name, ()))
        formula_reads[obj.name] = frozen_map(local)
        reads = related_reads.setdefault(obj.name, {})
        by_lookup: dict[str, tuple[set[str], list[str]]] = {}
        for key, result in reports.items():
            for via, target_field in result.related_fields:
                reads.setdefault(via, set()).add(target_field)
                if key.startswith("formula:"):
                    entry = by_lookup.setdefault(via, (set(), []))
                    entry[0].add(target_field)
                    entry[1].append(key.split(":", 1)[1])
        for via, (target_fields, names) in by_lookup.items():
            target = obj.fields[via].to
            ordered = tuple(name for name in formula_order[obj.name] if name in names or _reads_any(local, name, names))
            related_formulas.setdefault(target, []).append(RelatedFormulas(obj.name, via, frozenset(target_fields), ordered))
        for fdef in obj.fields.values():
            if fdef.is_lookup and fdef.to:
                children.setdefault(fdef.to, []).append((obj.name, fdef.name))
            if fdef.rollup is not None:
                rollups_by_child.setdefault(fdef.rollup.child_object, []).append(RollupLink(obj.name, fdef.name))
    return cls(
        packages=frozen_map({package.name: package for package in packages}),
        objects=frozen_map(objects),
        catalog=catalog,
        formula_order=frozen_map(formula_order),
        related_reads=frozen_map({name: frozen_map({k: frozenset(v) for k, v in reads.items()})
                                  for name, reads in related_reads.items()}),
        rollups_by_child=frozen_map({name: tuple(links) for name, links in rollups_by_child.items()}),
        related_formulas=frozen_map({name: tuple(items) for name, items in related_formulas.items()}),
        children=frozen_map({name: tuple(items) for name, items in children.items()}),
        formula_reads=frozen_map(formula_reads),
    )


def _reads_any(local: Mapping[str, frozenset[str]], name: str, names: list[str], depth: int = 0) -> bool:
    """Whether formula `name` depends, directly or not, on one of `names` (so it must be recomputed too)."""
    if depth > len(local):
        return False
    return any(dep in names or _reads_any(local, dep, names, depth + 1) for dep in local.get(name, ()) if dep in local)
