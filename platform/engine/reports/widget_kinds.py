"""Dashboard widget kinds that plugins register (the `crmkit_dashboard_widgets` hook).

    from crmkit.engine.reports.widget_kinds import DashboardWidgetKind
    from crmkit.hookspecs import hookimpl

    @hookimpl
    def crmkit_dashboard_widgets():
        return [DashboardWidgetKind.of("leaderboard", build_leaderboard, script=STATIC / "leaderboard.js",
                                       check=check_leaderboard)]

A widget declaring `chart: leaderboard` is then valid metadata (the package schema's chart
names and `crmkit validate` include it, with the kind's own `check`), and the dashboard page
asks the kind for its chart data: `build(result, widget, presentation)` returns a JSON-ready
dict (the ReportResult of the widget's report, its WidgetDef, and the viewer's Presentation:
language, locale, time zone), which the page puts beside the widget for the kind's `script`
to draw. The built-in kinds are crmkit.metadata.reports.CHART_KINDS.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from crmkit.metadata.catalog import ChartCheck, ChartKind
from crmkit.metadata.model import frozen_map
from crmkit.metadata.reports import CHART_KINDS

if TYPE_CHECKING:
    from crmkit.engine.fieldtypes.presentation import Presentation
    from crmkit.engine.reports.result import ReportResult
    from crmkit.metadata.reports import WidgetDef

Build = Callable[["ReportResult", "WidgetDef", "Presentation"], Mapping[str, Any]]


@dataclass(frozen=True)
class DashboardWidgetKind:
    """A plugin's widget kind: its metadata (`kind`), its chart-data builder and the script that draws it."""

    kind: ChartKind
    build: Build
    #: The JavaScript file that draws the kind's data (served by the web app at /plugin-widgets/NAME.js).
    script: Path | None = None

    @property
    def name(self) -> str:
        return self.kind.name

    @classmethod
    def of(cls, name: str, build: Build, *, script: str | Path | None = None, check: ChartCheck | None = None,
           groups: bool = True, description: str = "") -> "DashboardWidgetKind":
        """A kind named `name` (an identifier, not a built-in chart's) drawn from `build`'s data by `script`.

        `groups`: it draws the groups of a summary or matrix report (False: a total);
        `check(widget, report)` yields `(message, key)` problems of its own."""
        return cls(ChartKind(name, groups, check, description), build, Path(script) if script is not None else None)

    def chart_data(self, result: "ReportResult", widget: "WidgetDef", show: "Presentation") -> dict[str, Any]:
        """The kind's data for `widget`, with `kind` set to its name: a JSON-ready dict."""
        return {**dict(self.build(result, widget, show)), "kind": self.name}


def collect_widget_kinds(contributions: Iterable[Iterable[DashboardWidgetKind] | None]) -> Mapping[str, DashboardWidgetKind]:
    """name -> DashboardWidgetKind from the hook's results; ValueError for a built-in's name or a name given twice."""
    found: dict[str, DashboardWidgetKind] = {}
    for contribution in contributions:
        for widget_kind in contribution or ():
            if widget_kind.name in CHART_KINDS:
                raise ValueError(f"the dashboard widget kind {widget_kind.name!r} is built in; a plugin cannot "
                                 "replace it: choose another name")
            if widget_kind.name in found:
                raise ValueError(f"two plugins define the dashboard widget kind {widget_kind.name!r}")
            found[widget_kind.name] = widget_kind
    return frozen_map(found)
