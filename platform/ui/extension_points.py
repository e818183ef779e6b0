"""What plugins add to the web pages: panels on detail pages, form inputs, routes, dashboard widget scripts.

`install(app, manager)` is called once by create_app: it lets plugins add routes
(crmkit_web_routes), gathers their form widgets (crmkit_form_widgets) into the template
global `plugin_control`, serves the scripts of their dashboard widget kinds at
`/plugin-widgets/<kind>.js`, and finally calls crmkit_startup. `detail_panels` gathers the
panels of a detail page (crmkit_detail_panels).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

from flask import Flask, Response, abort
from markupsafe import Markup, escape

if TYPE_CHECKING:
    import pluggy

    from crmkit.engine.context import UserContext
    from crmkit.engine.crm import Crm

FormWidget = Callable[[Any, list], "Markup | None"]


@dataclass(frozen=True)
class Panel:
    """A card on a record's detail page: `title` (plain text) and `body`.

    `body` is plain text, escaped when shown, unless it is a markupsafe.Markup (then it is the
    plugin's own HTML, which must escape what it interpolates: `Markup("<b>{}</b>").format(value)`).
    `key` names the panel in the page (its element id is `panel-<key>`).
    """

    key: str
    title: str
    body: "str | Markup"

    @property
    def html(self) -> Markup:
        return self.body if isinstance(self.body, Markup) else escape(self.body)


def detail_panels(manager: "pluggy.PluginManager", context: "UserContext", object_name: str,
                  record: Any) -> list[Panel]:
    """The plugins' panels for `record` of `object_name`, in plugin registration order."""
    results = manager.hook.crmkit_detail_panels(context=context, object_name=object_name, record=record)
    return [panel for result in reversed(results) for panel in result or ()]


def form_widgets(manager: "pluggy.PluginManager") -> Mapping[str, FormWidget]:
    """widget name -> renderer, from every plugin; ValueError for a name two plugins give."""
    found: dict[str, FormWidget] = {}
    for contribution in manager.hook.crmkit_form_widgets():
        for name, render in (contribution or {}).items():
            if name in found:
                raise ValueError(f"two plugins draw the form widget {name!r}")
            found[name] = render
    return found


def plugin_chart_data(crm_extensions: Any, spec: dict[str, Any], result: Any, widget: Any,
                      show: Any) -> dict[str, Any]:
    """`spec` (crmkit.ui.charts.chart_spec's: kind, locale, value_label, empty) with the data of the widget's
    plugin kind merged in, when `widget.chart` is one (crmkit_dashboard_widgets); else `spec` as it is."""
    kind = crm_extensions.widget_kinds.get(widget.chart)
    return spec if kind is None else {**spec, **kind.chart_data(result, widget, show)}


def install(app: Flask, crm: "Crm") -> None:
    """Hand the application to the plugins of `crm` (module docstring); raises what crmkit_startup raises."""
    manager = crm.extensions.plugin_manager
    manager.hook.crmkit_web_routes(app=app)
    renderers = form_widgets(manager)

    def plugin_control(widget: Any, errors: list) -> Markup | None:
        render = renderers.get(getattr(widget, "widget", ""))
        return render(widget, list(errors)) if render is not None else None

    app.jinja_env.globals["plugin_control"] = plugin_control
    scripts = {name: kind.script for name, kind in crm.extensions.widget_kinds.items() if kind.script is not None}

    def widget_script(kind: str):
        script = scripts.get(kind)
        if script is None:
            abort(404)
        return Response(script.read_bytes(), mimetype="text/javascript")

    app.add_url_rule("/plugin-widgets/<kind>.js", "plugin_widget_script", widget_script)
    app.jinja_env.globals["plugin_widget_scripts"] = tuple(sorted(scripts))  # dashboard.html loads them
    manager.hook.crmkit_startup(crm=crm, app=app)
