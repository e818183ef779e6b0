"""Do the merged reports and dashboards make sense? Every mistake is reported where it was written.

Reports: the object exists and the report's package may read it. Dashboards: each
widget names a report its package may draw.
"""
from __future__ import annotations

from typing import Mapping

from crmkit.metadata.catalog import Catalog
from crmkit.metadata.errors import did_you_mean
from crmkit.metadata.model import ObjectDef
from crmkit.metadata.package_reports import report_object_problem
from crmkit.metadata.reports import Analytics
from crmkit.metadata.semantic import Reporter


def check_analytics(analytics: Analytics, objects: Mapping[str, ObjectDef], catalog: Catalog,
                    visible: Mapping[str, set[str]], report: Reporter) -> None:
    """Report every problem of `analytics` against the merged `objects`."""
    for definition in analytics.reports.values():
        problem = report_object_problem(definition, objects, visible)
        if problem:
            report.at(definition.location, problem, "object")
    for board in analytics.dashboards.values():
        allowed = visible.get(board.package, {board.package})
        names = sorted(name for name, item in analytics.reports.items() if item.package in allowed)
        for widget in board.widgets:
            target = analytics.reports.get(widget.report)
            if target is None or target.package not in allowed:
                hint = did_you_mean(widget.report, names) or (
                    f" Reports it may draw: {', '.join(names)}." if names else "")
                report.at(widget.location, f"the widget draws the report '{widget.report}', which is not a report "
                                           f"of this package or of one it depends on.{hint}", "report")
