"""Layouts are checked like the rest of a package: each problem at its line and column, with what to do."""
from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from crmkit.metadata import validate_paths
from crmkit.metadata.schema_check import package_schema

from .test_validation import problems_of

DEALS = """\
package: sales
version: "1.0.0"
objects:
  company:
    title_field: name
    fields:
      name: {{type: text, required: true}}
      region: {{type: picklist, options: [North, South]}}
  deal:
    title_field: name
    fields:
      name: {{type: text, required: true}}
      stage: {{type: picklist, options: [Open, Won, Lost], default: Open}}
      amount: {{type: currency}}
      notes: {{type: textarea}}
      tags: {{type: multi_picklist, options: [A, B]}}
      company: {{type: lookup, to: company}}
      partner: {{type: lookup, to: company}}
      weighted: {{type: formula, returns: currency, formula: "amount * 2 if amount else 0"}}
    layouts:
{layout}
"""


def deals(layout: str) -> str:
    """The `sales` package with `layout` (YAML lines indented 6 spaces) as the deal's layouts."""
    return DEALS.format(layout=layout)


def only_problem(write_package, catalog, layout: str) -> str:
    found = problems_of(write_package, catalog, deals(layout))
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(("layout", "where", "message"), [
    # form
    ("      form:\n        - {name: main, fields: [name, stag]}\n", "22:39",
     "the form names 'stag', which is not a field of deal. Did you mean 'stage'? (at objects.deal.layouts.form[0].fields[1])"),
    ("      form:\n        - {name: main, fields: [name, stage]}\n        - {name: more, fields: [stage]}\n", "23:33",
     "'stage' is already in the form (section 'main'); list each field once."),
    ("      form:\n        - {name: main, fields: [name]}\n        - {name: main, fields: [amount]}\n", "23:18",
     "two form sections of deal are named 'main'; rename one."),
    ("      form:\n        - {name: main, fields: [name, created_at]}\n", "22:39",
     "'created_at' is a system field the platform sets, not a form field; show it in the list columns or the "
     "highlights instead."),
    ("      form:\n        - {name: main, fields: [stage, amount]}\n", "21:7",
     "the form leaves out 'name', which is required and has no default, so no new record could be saved; "
     "add it to a section. (at objects.deal.layouts.form)"),
    ("      form:\n        - {name: main, fields: [name, {field: amount, visible_when: \"stge == 'Won'\"}]}\n", "22:69",
     "the visible_when uses 'stge', which is neither a field of deal nor a helper function. Did you mean 'stage'?"),
    ("      form:\n        - {name: main, fields: [name, {field: amount, visible_when: \"company.region == 'North'\"}]}\n",
     "22:69", "visible_when reads 'company.region' through a lookup; it may read only deal's own fields"),
    ("      form:\n        - {name: main, fields: [name, {field: amount, visible_when: \"changed('stage')\"}]}\n",
     "22:69", "visible_when cannot use changed()"),
    ("      form:\n        - {name: main, fields: [{field: name, visible_when: \"stage == 'Won'\"}]}\n", "22:33",
     "'name' is required and has no default, so hiding it with its visible_when could leave a record nobody can "
     "save; give the field a default or move it out of the condition."),
    ("      form:\n        - {name: main, visible_when: \"amount\", fields: [name]}\n", "22:57",
     "'name' is required and has no default, so hiding it with section 'main''s visible_when"),
    ("      form:\n        - {name: main, columns: 3, fields: [name]}\n", "22:33",
     "'columns' must be one of 1, 2, not 3."),
    ("      form:\n        - {name: main, fields: [name], colums: 1}\n", "22:40",
     "unknown key 'colums' in item 1 of 'form'. Did you mean 'columns'?"),
    # list
    ("      list: {columns: [name, amout]}\n", "21:30",
     "the list names 'amout', which is not a field of deal. Did you mean 'amount'? (at objects.deal.layouts.list.columns[1])"),
    ("      list: {columns: [name, amount, name]}\n", "21:38", "'name' is listed twice in the list; list each field once."),
    ("      list: {columns: [name], sort: [-tags]}\n", "21:38",
     "cannot sort by 'tags', a multi_picklist field (a record holds several values); sort by another field."),
    ("      list: {columns: [name], sort: [-updated]}\n", "21:38",
     "the sort names 'updated', which is not a field of deal. Did you mean 'updated_by'?"),
    # kanban
    ("      kanban: {group_by: amount}\n", "21:26",
     "the kanban groups by 'amount', a currency field; a board needs a picklist, whose options become its columns."),
    ("      kanban: {group_by: tags}\n", "21:26", "the kanban groups by 'tags', a multi_picklist field"),
    ("      kanban: {group_by: stage, sum: notes}\n", "21:38",
     "cannot sum 'notes', a textarea field; the kanban's sum must be a number or currency field."),
    ("      kanban: {group_by: stage, sum: weighted, card: [company, compny]}\n", "21:64",
     "the kanban's card names 'compny', which is not a field of deal. Did you mean 'company'?"),
    ("      kanban: true\n", "21:15", "'kanban' has the wrong form. false for no board, or {group_by, sum, card}."),
    # related
    ("      related:\n        - {object: dael, via: deal}\n", "22:20",
     "the related list shows 'dael', which is not an object here. Did you mean 'deal'?"),
    ("      related:\n        - {object: deal, via: company}\n", "22:31",
     "'company' does not point to deal: a related list needs a lookup of deal that points to deal. "
     "deal has no lookup to deal; add one, or remove this related list."),
    ("      related:\n        - {object: deal, via: nothing}\n", "22:31", "'nothing' is not a field of deal"),
    # highlights
    ("      highlights: [stage, owner_id, stage]\n", "21:37",
     "'stage' is listed twice in the highlights; list each field once."),
    ("      highlights: [stage, formula_errors]\n", "21:27",
     "the highlights names 'formula_errors', which is not a field of deal."),
])
def test_each_layout_problem_is_placed_and_explained(write_package, catalog, layout, where, message):
    problem = only_problem(write_package, catalog, layout)
    assert f"package.yaml:{where}: " in problem, problem
    assert message in problem, problem


def test_a_related_list_must_use_a_lookup_pointing_here(write_package, catalog):
    text = deals("      list: {columns: [name]}\n").replace(
        "      region: {type: picklist, options: [North, South]}\n",
        "      region: {type: picklist, options: [North, South]}\n"
        "    layouts:\n      related:\n        - {object: deal, via: amount}\n        - {object: deal, via: company}\n"
        "        - {object: deal, via: company}\n")
    found = problems_of(write_package, catalog, text)
    assert len(found) == 2, found
    assert "package.yaml:11:31: 'amount' does not point to company: a related list needs a lookup of deal that " \
           "points to company. Lookups from deal to company: company, partner." in found[0]
    assert "package.yaml:13:11: the related list of deal through 'company' is listed twice; keep one." in found[1]


def test_a_kanban_cannot_group_by_a_picklist_users_may_not_change(write_package, catalog):
    text = deals("      kanban: {group_by: stage}\n").replace(
        "stage: {type: picklist, options: [Open, Won, Lost], default: Open}",
        "stage: {type: picklist, options: [Open, Won, Lost], default: Open, read_only: true}")
    found = problems_of(write_package, catalog, text)
    assert found == [f"{found[0].split(':')[0]}:21:26: 'stage' is read-only, so cards could not be moved between "
                     "columns; group by a picklist users may change. (at objects.deal.layouts.kanban.group_by)"]


def test_every_problem_of_a_layout_is_reported_at_once(write_package, catalog):
    layout = ("      form:\n        - {name: main, fields: [name, nme]}\n"
              "      list: {columns: [nme]}\n      kanban: {group_by: amount}\n      highlights: [nme]\n")
    assert len(problems_of(write_package, catalog, deals(layout))) == 4


def test_a_complete_layout_is_accepted_and_computed_fields_are_read_only(write_package, catalog):
    layout = """\
      form:
        - name: main
          title: {en: Deal, zh: 交易}
          fields: [name, stage, {field: amount, help: {en: Before tax, zh: 税前}}, company]
        - name: lost
          columns: 1
          visible_when: "stage == 'Lost'"
          fields: [notes, {field: weighted, visible_when: "amount is not None and amount > 0"}]
      list: {columns: [name, stage, amount, owner_id], sort: [-amount, name]}
      kanban: {group_by: stage, sum: amount, card: [company, weighted]}
      related: []
      highlights: [stage, amount, owner_id, created_at]
"""
    registry = validate_paths([write_package(deals(layout))], catalog)
    layout = registry.layout("deal")
    assert layout.derived == frozenset()  # `related: []` is declared: no related lists
    assert [section.name for section in layout.form] == ["main", "lost"]
    assert layout.form[0].title.get("zh") == "交易" and layout.form[1].columns == 1
    assert layout.form_field("amount").help.get("zh") == "税前"
    assert layout.form_field("weighted").read_only and not layout.form_field("amount").read_only
    assert layout.form_field("weighted").reads == frozenset({"amount"})
    assert layout.form[1].reads == frozenset({"stage"})
    assert (layout.board.group_by, layout.board.sum) == ("stage", "amount")
    assert layout.related == ()
    assert layout.highlights == ("stage", "amount", "owner_id", "created_at")


ROLLUPS = """\
package: rollups
version: "1.0.0"
objects:
  company:
    fields:
      region: {type: picklist, options: [North, South]}
      biggest: {type: rollup, from: deal.company, aggregate: max, field: amount}
      latest: {type: rollup, from: deal.company, aggregate: max, field: since}
    layouts:
      kanban: {group_by: region, sum: SUM}
  deal:
    fields:
      amount: {type: currency}
      since: {type: date}
      company: {type: lookup, to: company}
"""


def test_a_kanban_may_sum_a_rollup_of_numbers_but_not_of_dates(write_package, catalog):
    registry = validate_paths([write_package(ROLLUPS.replace("SUM", "biggest"))], catalog)
    assert registry.layout("company").board.sum == "biggest"
    found = problems_of(write_package, catalog, ROLLUPS.replace("SUM", "latest"))
    assert len(found) == 1, found
    assert "package.yaml:10:39: cannot sum 'latest', a rollup field; the kanban's sum must be a number or " \
           "currency field." in found[0]


def test_kanban_false_means_no_board(write_package, catalog):
    registry = validate_paths([write_package(deals("      kanban: false\n"))], catalog)
    assert registry.layout("deal").board is None and registry.layout("deal").kanban is None
    assert registry.layout("company").board is not None  # derived: region is a picklist


def test_the_package_schema_with_layouts_is_a_valid_schema(catalog):
    Draft202012Validator.check_schema(package_schema(catalog))


# -- extends ------------------------------------------------------------------------------------

BASE = """\
package: base
version: "1.0.0"
objects:
  ticket:
    title_field: subject
    fields:
      subject: {type: text, required: true}
      status: {type: picklist, options: [New, Done]}
      hours: {type: decimal}
    layouts:
      form:
        - {name: main, title: Main, fields: [subject, status]}
        - {name: effort, title: Effort, fields: [hours]}
      list: {columns: [subject, status]}
      kanban: {group_by: status, sum: hours}
"""


def extension(layout: str = "", fields: str = "      priority: {type: picklist, options: [Low, High]}\n") -> str:
    return ('package: addon\nversion: "1.0.0"\nlabel: {en: Add-on, zh: 插件}\ndepends_on: [base]\nextends:\n'
            f"  ticket:\n    fields:\n{fields}{layout}")


def test_an_extension_replaces_sections_by_name_appends_new_ones_and_replaces_other_parts(write_package, catalog):
    layout = ("    layouts:\n      form:\n        - {name: effort, title: Work, fields: [hours, priority]}\n"
              "        - {name: extra, fields: [status]}\n      list: {columns: [subject, priority]}\n")
    found = problems_of(write_package, catalog, extension(layout), ("base.yaml", BASE))
    assert len(found) == 1 and "'status' is already in the form (section 'main')" in found[0], found
    layout = ("    layouts:\n      form:\n        - {name: effort, title: Work, fields: [hours, priority]}\n"
              "      list: {columns: [subject, priority]}\n      kanban: false\n")
    registry = validate_paths([write_package(BASE, "base.yaml"), write_package(extension(layout), "addon.yaml")],
                              catalog)
    ticket = registry.layout("ticket")
    assert [(s.name, str(s.title), s.field_names) for s in ticket.form] == [
        ("main", "Main", ("subject", "status")), ("effort", "Work", ("hours", "priority"))]
    assert ticket.list.columns == ("subject", "priority") and ticket.board is None


def test_fields_an_extension_adds_but_no_section_places_get_a_section_of_their_package(write_package, catalog):
    registry = validate_paths([write_package(BASE, "base.yaml"), write_package(extension(), "addon.yaml")], catalog)
    ticket = registry.layout("ticket")
    assert [s.name for s in ticket.form] == ["main", "effort", "addon"]
    assert ticket.form[-1].title.get("zh") == "插件" and ticket.form[-1].field_names == ("priority",)
    assert ticket.list.columns == ("subject", "status") and ticket.board.sum == "hours"  # base parts kept


def test_an_extension_layout_is_checked_against_the_merged_object(write_package, catalog):
    layout = "    layouts:\n      kanban: {group_by: priorty}\n"
    found = problems_of(write_package, catalog, extension(layout), ("base.yaml", BASE))
    assert len(found) == 1
    assert "package.yaml:10:26: the kanban's group_by names 'priorty', which is not a field of ticket. " \
           "Did you mean 'priority'?" in found[0]
