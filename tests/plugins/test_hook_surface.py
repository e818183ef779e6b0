"""The hooks past the engine: dashboard widget kinds, detail panels, form widgets, routes, CLI commands, startup.

Each hook is implemented by one plugin class here and exercised where crmkit calls it
(tests/test_plugins.py checks that every hook in crmkit.hookspecs has a test in one of these files).
"""
from __future__ import annotations

import re
from decimal import Decimal

import click
import pytest
from click.testing import CliRunner
from flask import Blueprint, Flask
from markupsafe import Markup

from crmkit.engine import Crm
from crmkit.engine.extensions import Extensions
from crmkit.engine.fieldtypes.presentation import Presentation
from crmkit.engine.reports.widget_kinds import DashboardWidgetKind, collect_widget_kinds
from crmkit.errors import CrmkitError
from crmkit.hookspecs import hookimpl
from crmkit.plugins import make_plugin_manager
from crmkit.ui.extension_points import Panel

SALES = """
package: board
version: "1.0.0"
objects:
  deal:
    title_field: name
    fields:
      name: {type: text}
      owner_name: {type: text}
      amount: {type: currency}
reports:
  by_owner:
    object: deal
    kind: summary
    group_by: [{field: owner_name}]
    aggregates: [{name: total, function: sum, field: amount}]
  deal_list:
    object: deal
    kind: tabular
    columns: [name, amount]
dashboards:
  podium_board:
    widgets:
      - {report: by_owner, chart: podium}
"""


def podium(result, widget, show):
    """The three largest groups, as the podium script draws them."""
    column = widget.value or result.value_columns[0].name
    groups = sorted((g for g in result.groups if g.level == 1), key=lambda g: g.values[column] or 0, reverse=True)
    return {"places": [{"name": g.labels[0], "value": float(g.values[column] or 0)} for g in groups[:3]]}


def podium_problems(widget, report):
    if len(report.group_by) != 1:
        yield "a podium ranks one grouping level; group the report by one field.", "chart"


class BoardPlugin:
    """A plugin adding a dashboard widget kind, a detail panel, a form widget, routes, a command and start-up work."""

    def __init__(self, script_path) -> None:
        self.script_path = script_path
        self.started: list[tuple[object, object]] = []

    @hookimpl
    def crmkit_dashboard_widgets(self):
        return [DashboardWidgetKind.of("podium", podium, script=self.script_path, check=podium_problems,
                                       description="The three largest groups on a podium.")]

    @hookimpl
    def crmkit_detail_panels(self, context, object_name, record):
        if object_name != "deal":
            return None
        return [Panel("deal-size", "Deal size", "large" if (record["amount"] or 0) >= 1000 else "small"),
                Panel("raw", "Raw <b>", Markup("<em>{}</em>").format(record["name"]))]

    @hookimpl
    def crmkit_form_widgets(self):
        return {"slider": lambda widget, errors: Markup(
            '<input type="range" id="{}" name="{}" value="{}" data-errors="{}">').format(
                widget.id, widget.name, widget.value, len(errors))}

    @hookimpl
    def crmkit_web_routes(self, app):
        app.add_url_rule("/board/ping", "board_ping", lambda: "pong")

    @hookimpl
    def crmkit_api_routes(self, blueprint):
        blueprint.add_url_rule("/board", "board", lambda: {"board": "ok"})

    @hookimpl
    def crmkit_cli_commands(self, cli):
        @cli.command("board-hello")
        @click.argument("name")
        def hello(name):
            """Say hello."""
            click.echo(f"hello {name}")

    @hookimpl
    def crmkit_startup(self, crm, app):
        self.started.append((crm, app))

    @hookimpl
    def crmkit_field_types(self):
        from sqlalchemy import Integer

        from crmkit.engine.fieldtypes import FieldType
        from crmkit.engine.fieldtypes.inputs import WholeNumber
        from crmkit.metadata.catalog import FieldKind

        return [FieldType(FieldKind("percent_slider", "integer"), column=lambda fdef, lookup, registry: Integer(),
                          input_field=lambda fdef: WholeNumber(), widget="slider")]


@pytest.fixture
def board_plugin(tmp_path) -> BoardPlugin:
    script = tmp_path / "podium.js"
    script.write_text("/* draws a podium */\n", encoding="utf-8")
    return BoardPlugin(script)


def extensions_with(plugin) -> Extensions:
    return Extensions.from_plugins(make_plugin_manager(load_entry_points=False, extra_plugins=[plugin]))


@pytest.fixture
def board_crm(board_plugin, database_url, write_package):
    crm = Crm.open(database_url, extensions=extensions_with(board_plugin))
    crm.install(write_package(SALES))
    yield crm
    crm.close()


def test_a_plugin_widget_kind_is_valid_metadata_and_draws_its_report(board_crm):
    deals = board_crm.as_system().records("deal")
    for name, owner, amount in [("a", "Wang", 500), ("b", "Li", 900), ("c", "Wang", 700), ("d", "Zhao", 100),
                                ("e", "Sun", 50)]:
        deals.create({"name": name, "owner_name": owner, "amount": amount})
    widget = board_crm.registry.dashboards["podium_board"].widgets[0]
    result = board_crm.as_system().reports.run("by_owner")
    data = board_crm.extensions.widget_kinds["podium"].chart_data(result, widget, Presentation.of("en"))
    assert data == {"kind": "podium", "places": [{"name": "Wang", "value": 1200.0}, {"name": "Li", "value": 900.0},
                                                 {"name": "Zhao", "value": 100.0}]}
    assert result.grand_total["total"] == Decimal("2250.00")


def test_a_plugin_widget_kinds_own_check_and_the_common_checks_refuse_bad_widgets(board_plugin, tmp_path):
    from crmkit.metadata.errors import MetadataError

    crm = Crm.open(f"sqlite:///{tmp_path / 'refused.db'}", extensions=extensions_with(board_plugin))
    try:
        tabular = SALES.replace("{report: by_owner, chart: podium}", "{report: deal_list, chart: podium}")
        package = tmp_path / "tabular.yaml"
        package.write_text(tabular, encoding="utf-8")
        with pytest.raises(MetadataError, match="is tabular, so it is drawn as chart: table"):
            crm.install(package)
        two_levels = SALES.replace("group_by: [{field: owner_name}]", "group_by: [{field: owner_name}, {field: name}]")
        package.write_text(two_levels, encoding="utf-8")
        with pytest.raises(MetadataError, match=r"tabular.yaml:\d+:\d+: a podium ranks one grouping level"):
            crm.install(package)
    finally:
        crm.close()


def test_without_the_plugin_its_widget_kind_is_an_unknown_chart(tmp_path):
    from crmkit.metadata.errors import MetadataError

    crm = Crm.open(f"sqlite:///{tmp_path / 'plain.db'}")
    try:
        package = tmp_path / "board.yaml"
        package.write_text(SALES, encoding="utf-8")
        with pytest.raises(MetadataError, match="podium"):
            crm.install(package)
    finally:
        crm.close()


def test_a_widget_kind_may_not_take_a_built_in_name_or_one_given_twice():
    twice = [[DashboardWidgetKind.of("podium", podium)], [DashboardWidgetKind.of("podium", podium)]]
    with pytest.raises(ValueError, match="two plugins define the dashboard widget kind 'podium'"):
        collect_widget_kinds(twice)
    with pytest.raises(ValueError, match="'funnel' is built in"):
        collect_widget_kinds([[DashboardWidgetKind.of("funnel", podium)]])


# ---- the web application ---------------------------------------------------------------


@pytest.fixture
def board_app(board_plugin, tmp_path):
    from crmkit.ui import create_app
    from tests.webapp import build_web_crm

    web = build_web_crm(tmp_path / "web", spare_users=0)
    crm = Crm.open(web.url, extensions=extensions_with(board_plugin))
    package = tmp_path / "board.yaml"
    package.write_text(SALES.replace("      amount: {type: currency}\n",
                                     "      amount: {type: currency}\n      chance: {type: percent_slider}\n"),
                       encoding="utf-8")
    crm.install(package)
    deal = crm.as_system().records("deal").create({"name": "<Big> deal", "amount": 5000, "chance": 40})
    app = create_app(crm, {"SECRET_KEY": "test-secret-key-for-the-plugin-hook-tests"})
    yield app, crm, deal
    crm.close()


@pytest.fixture
def admin_client(board_app):
    from tests.ui.conftest import sign_in

    client = board_app[0].test_client()
    client.environ_base["REMOTE_ADDR"] = "10.201.0.1"
    assert sign_in(client, "admin").status_code == 302
    return client


def test_startup_runs_once_the_app_is_built_with_its_routes(board_app, board_plugin):
    app, crm, _ = board_app
    assert board_plugin.started == [(crm, app)]
    assert "/board/ping" in {rule.rule for rule in app.url_map.iter_rules()}


def test_plugin_routes_sit_behind_the_sign_in(board_app, admin_client):
    anonymous = board_app[0].test_client()
    assert anonymous.get("/board/ping").status_code == 302
    assert admin_client.get("/board/ping").get_data(as_text=True) == "pong"


def test_detail_panels_show_text_escaped_and_markup_as_given(board_app, admin_client):
    page = admin_client.get(f"/r/deal/{board_app[2].id}").get_data(as_text=True)
    assert re.search(r'id="panel-deal-size".*?Deal size</h2>\s*<div class="card-body">large</div>', page, re.S)
    assert "Raw &lt;b&gt;</h2>" in page
    assert "<em>&lt;Big&gt; deal</em>" in page


def test_a_plugin_form_widget_draws_its_field_types_input(board_app, admin_client):
    form = admin_client.get(f"/r/deal/{board_app[2].id}/edit").get_data(as_text=True)
    assert re.search(r'<input type="range" id="[^"]+" name="chance" value="40" data-errors="0">', form)
    assert 'name="amount"' in form  # other fields keep the built-in inputs


def test_a_widget_kinds_script_is_served_to_signed_in_users(admin_client):
    response = admin_client.get("/plugin-widgets/podium.js")
    assert (response.status_code, response.mimetype) == (200, "text/javascript")
    assert response.get_data(as_text=True) == "/* draws a podium */\n"
    assert admin_client.get("/plugin-widgets/funnel.js").status_code == 404


def test_a_startup_error_stops_the_app(tmp_path):
    from crmkit.ui import create_app

    class Broken:
        @hookimpl
        def crmkit_startup(self, crm, app):
            raise CrmkitError("the board plugin needs BOARD_TOKEN")

    crm = Crm.open(f"sqlite:///{tmp_path / 'broken.db'}", extensions=extensions_with(Broken()))
    try:
        with pytest.raises(CrmkitError, match="BOARD_TOKEN"):
            create_app(crm, {"SECRET_KEY": "test-secret-key-for-the-plugin-hook-tests"})
    finally:
        crm.close()


def test_api_routes_are_added_to_the_blueprint_the_api_hands_over(board_plugin):
    from crmkit.plugins import add_api_routes

    blueprint = Blueprint("api_v1", __name__, url_prefix="/api/v1")
    add_api_routes(blueprint, make_plugin_manager(load_entry_points=False, extra_plugins=[board_plugin]))
    app = Flask(__name__)
    app.register_blueprint(blueprint)
    assert app.test_client().get("/api/v1/board").get_json() == {"board": "ok"}


# ---- the command line ------------------------------------------------------------------


def test_a_plugin_command_runs_under_crmkit_and_is_listed(board_plugin):
    from crmkit.cli import PluginCommands, main

    manager = make_plugin_manager(load_entry_points=False, extra_plugins=[board_plugin])
    cli = PluginCommands("crmkit", commands=dict(main.commands), params=main.params, callback=main.callback,
                         plugin_manager=lambda: manager)
    result = CliRunner().invoke(cli, ["board-hello", "Li"])
    assert (result.exit_code, result.output) == (0, "hello Li\n")
    listing = CliRunner().invoke(cli, ["--help"])
    assert "board-hello" in listing.output and "install" in listing.output


# ---- automation triggers ---------------------------------------------------------------

DOUBLING = """
package: doubling
version: "1.0.0"
objects:
  task:
    fields:
      subject: {type: text}
  deal:
    title_field: name
    fields:
      name: {type: text}
      amount: {type: currency}
    automations:
      - name: celebrate
        on: [amount_doubled]
        condition: "amount > 100"
        actions:
          - {type: create_record, object: task, set: {subject: "'Doubled: ' + name"}}
"""


def doubled(event):
    previous, current = event.previous["amount"], event.current["amount"]
    return "amount" in event.changed and bool(previous) and current >= 2 * previous


class DoublingPlugin:
    @hookimpl
    def crmkit_automation_triggers(self):
        from crmkit.engine.automation.trigger_types import TriggerType

        return [TriggerType.of("amount_doubled", doubled, operations={"update"})]


@pytest.fixture
def doubling_crm(database_url, write_package):
    crm = Crm.open(database_url, extensions=extensions_with(DoublingPlugin()))
    crm.install(write_package(DOUBLING))
    yield crm
    crm.close()


def test_a_plugin_trigger_fires_its_rules_after_save_actions_when_its_test_holds(doubling_crm):
    deals, tasks = doubling_crm.as_system().records("deal"), doubling_crm.as_system().records("task")
    deal = deals.create({"name": "Harbour", "amount": 40})
    for change in [{"amount": 80},  # doubled, but the rule's condition (amount > 100) does not hold
                   {"amount": 150},  # not doubled
                   {"amount": 120}, {"name": "Harbour Ltd"}]:  # amount unchanged
        deal = deals.update(deal.id, change, version=deal.version)
    doubling_crm.outbox.work_due()
    assert tasks.count().value == 0
    deals.update(deal.id, {"amount": 240}, version=deal.version)  # doubled, and the condition holds
    doubling_crm.outbox.work_due()
    assert [task["subject"] for task in tasks.query().records] == ["Doubled: Harbour Ltd"]


def test_a_rule_on_a_plugin_trigger_may_not_change_the_record_before_its_save(doubling_crm, tmp_path):
    from crmkit.metadata.errors import MetadataError

    package = tmp_path / "late.yaml"
    package.write_text(DOUBLING.replace("{type: create_record, object: task, set: {subject: \"'Doubled: ' + name\"}}",
                                        "{type: update_record, set: {name: \"'x'\"}}"), encoding="utf-8")
    with pytest.raises(MetadataError, match="on amount_doubled cannot use it; use update_related or create_record"):
        doubling_crm.install(package)


def test_without_the_plugin_its_trigger_is_unknown(tmp_path):
    from crmkit.metadata.errors import MetadataError

    crm = Crm.open(f"sqlite:///{tmp_path / 'plain.db'}")
    try:
        package = tmp_path / "doubling.yaml"
        package.write_text(DOUBLING, encoding="utf-8")
        with pytest.raises(MetadataError, match="amount_doubled"):
            crm.install(package)
    finally:
        crm.close()


def test_a_trigger_may_not_take_a_built_in_name_or_an_unknown_operation():
    from crmkit.engine.automation.trigger_types import TriggerType, collect_trigger_types

    with pytest.raises(ValueError, match="'saved' is built in"):
        collect_trigger_types([[TriggerType.of("saved", doubled)]])
    with pytest.raises(ValueError, match="not on erase"):
        TriggerType.of("erased_twice", doubled, operations={"erase"})
