"""Merge the reports, dashboards and fiscal year of installed packages into the registry's Analytics.

A package may declare reports over its own objects and those of the packages it depends
on, and dashboards whose widgets draw its own reports or theirs. Report and dashboard
names are unique across installed packages. `fiscal_year_start_month` is one setting for
the whole installation: a package that sets it overrides the packages it depends on; two
packages that do not depend on each other may not set different months.

What each report and widget says is checked afterwards (report_checks.py), against the
merged objects.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from crmkit.metadata.model import ObjectDef, Package, SourceLocation, frozen_map
from crmkit.metadata.reports import Analytics, DashboardDef, ReportDef
from crmkit.metadata.semantic import Reporter


def merge_analytics(packages: Sequence[Package], visible: Mapping[str, set[str]], report: Reporter) -> Analytics:
    """The reports, dashboards and fiscal year start of `packages` (in dependency order), merged.

    `visible` maps a package name to the packages it may build on (itself and its
    dependencies). A name given twice is reported at the later definition.
    """
    reports: dict[str, ReportDef] = {}
    dashboards: dict[str, DashboardDef] = {}
    for package in packages:
        _twice_in_package(package, report)
        for name, definition in package.reports.items():
            if name in reports:
                report.at(definition.location, f"a report named '{name}' is already defined by the package "
                                               f"'{reports[name].package}'; choose another name.", at_key=True)
                continue
            reports[name] = definition
        for name, board in package.dashboards.items():
            if name in dashboards:
                report.at(board.location, f"a dashboard named '{name}' is already defined by the package "
                                          f"'{dashboards[name].package}'; choose another name.", at_key=True)
                continue
            dashboards[name] = board
    return Analytics(reports=frozen_map(reports), dashboards=frozen_map(dashboards),
                     fiscal_year_start_month=_fiscal_start(packages, visible, report))


def _twice_in_package(package: Package, report: Reporter) -> None:
    """A report or dashboard name declared in two files of one folder package (the later file's is kept)."""
    for key, kept in (("reports", package.reports), ("dashboards", package.dashboards)):
        files = [name for data in package.documents for name in (data.get(key) or {})]
        for name in sorted({name for name in files if files.count(name) > 1}):
            noun = key[:-1]
            report.at(kept[name].location, f"the {noun} '{name}' is declared in more than one file of the package "
                                           f"'{package.name}'; keep one, or rename the other.", at_key=True)


def report_object_problem(definition: ReportDef, objects: Mapping[str, ObjectDef],
                          visible: Mapping[str, set[str]]) -> str | None:
    """Why the report may not read its object (unknown, or of a package its package does not depend on), or None."""
    from crmkit.metadata.errors import did_you_mean

    allowed = visible.get(definition.package, {definition.package})
    target = objects.get(definition.object)
    if target is not None and target.package in allowed:
        return None
    names = sorted(name for name, obj in objects.items() if obj.package in allowed)
    hint = did_you_mean(definition.object, names) or (f" Objects it may read: {', '.join(names)}." if names else "")
    if target is None:
        return f"the report '{definition.name}' reads '{definition.object}', which is not an object here.{hint}"
    return (f"the report '{definition.name}' reads '{definition.object}', which is defined by the package "
            f"'{target.package}'; add it to depends_on of '{definition.package}'.")


def _fiscal_start(packages: Sequence[Package], visible: Mapping[str, set[str]], report: Reporter) -> int:
    chosen: Package | None = None
    for package in packages:
        month = package.fiscal_year_start_month
        if month is None:
            continue
        if (chosen is not None and month != chosen.fiscal_year_start_month
                and chosen.name not in visible.get(package.name, ())):
            report.at(_package_location(package),
                      f"the package '{package.name}' starts the fiscal year in month {month}, but the package "
                      f"'{chosen.name}' starts it in month {chosen.fiscal_year_start_month}; the installation has "
                      f"one fiscal year: set the same month, or make one package depend on the other.",
                      "fiscal_year_start_month")
            continue
        chosen = package
    return chosen.fiscal_year_start_month if chosen is not None and chosen.fiscal_year_start_month else 1


def _package_location(package: Package) -> SourceLocation:
    return SourceLocation(package.files[0] if package.files else f"<package {package.name}>", 1, 1, ())
