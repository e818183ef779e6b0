"""Malformed packages get `file:line:column: what is wrong, and how to fix it`, all at once."""
from __future__ import annotations

import json

import pytest

from crmkit.metadata import MetadataError, validate_paths


def problems_of(write_package, catalog, text: str, *others: tuple[str, str]) -> list[str]:
    paths = [write_package(body, name) for name, body in others] + [write_package(text)]
    with pytest.raises(MetadataError) as caught:
        validate_paths(paths, catalog)
    return [problem.format() for problem in caught.value.problems]


def project(fields: str, extra: str = "") -> str:
    """A one-object package whose `project` has the given field lines (indented 6 spaces)."""
    return (
        'package: example\nversion: "1.0.0"\nobjects:\n  project:\n    title_field: name\n'
        f"{extra}    fields:\n      name: {{type: text}}\n{fields}"
    )


@pytest.mark.parametrize(
    ("fields", "message", "line"),
    [
        ("      budget: {type: currency, fomula: x}\n",
         "unknown key 'fomula' in field 'budget'. Did you mean 'formula'?", 8),
        ("      budget: {type: curency}\n", "'curency' is not a field type. Did you mean 'currency'?", 8),
        ("      title: {type: text, options: [A, B]}\n",
         "'options' does not apply to a text field; it is for multi_picklist, picklist fields.", 8),
        ("      account: {type: lookup, to: acount}\n", "the lookup points to 'acount', which is not an object here.", 8),
        ("      status: {type: picklist, options: [Planned, Done], default: Planed}\n",
         "the default 'Planed' is not one of the options. Did you mean 'Planned'?", 8),
        ("      from: {type: text}\n", "'from' is a Python keyword, so formulas could not refer to it", 8),
        ("      class: {type: text}\n", "'class' is a Python keyword", 8),
        ("      version: {type: integer}\n", "'version' is a system field every record already has", 8),
        ("      Budget: {type: currency}\n", "'Budget' is not a valid name", 8),
        ("      total: {type: formula, returns: decimal, formula: \"sum(x for x in [1])\"}\n",
         "the formula does not compile", 8),
        ("      total: {type: formula, returns: decimal, formula: \"budjet * 2\"}\n      budget: {type: currency}\n",
         "the formula uses 'budjet', which is neither a field of project nor a helper function. Did you mean 'budget'?", 8),
        ("      total: {type: formula, returns: money, formula: \"1\"}\n", "a formula cannot return 'money'", 8),
        ("      total: {type: formula, formula: \"1\"}\n", "a formula field needs 'returns'.", 8),
        ("      code: {type: autonumber, format: \"P-{0.__class__}\"}\n", "the placeholder in 'P-{0.__class__}' must be", 8),
        ("      owner_ref: {type: lookup, to: project, required: true}\n",
         "a required lookup cannot use on_delete: set_null", 8),
        ("      size: {type: integer, min: 10, max: 1}\n", "min (10) is greater than max (1).", 8),
    ],
)
def test_field_problems_point_at_the_field_and_say_what_to_do(write_package, catalog, fields, message, line):
    found = problems_of(write_package, catalog, project(fields))
    assert any(message in text for text in found), found
    assert any(f"package.yaml:{line}:" in text for text in found if message in text), found


def test_every_problem_is_reported_at_once(write_package, catalog):
    fields = "      a: {type: txt}\n      b: {type: lookup, to: nowhere}\n      c: {type: picklist, options: [X], default: Y}\n"
    found = problems_of(write_package, catalog, project(fields))
    assert len(found) == 3


def test_problems_carry_line_column_and_document_path(write_package, catalog):
    found = problems_of(write_package, catalog, project("      budget: {type: curency}\n"))
    assert len(found) == 1
    file_part, line, column, rest = found[0].split(":", 3)
    assert file_part.endswith("package.yaml") and line == "8" and column.isdigit()
    assert rest.endswith("(at objects.project.fields.budget.type)")


def test_missing_version_shows_an_example(write_package, catalog):
    found = problems_of(write_package, catalog, "package: example\nobjects: {}\n")
    assert found == [f"{found[0].split(':')[0]}:1:1: the package is missing 'version' (for example `version: \"1.0.0\"`)."]


def test_version_must_be_semantic(write_package, catalog):
    found = problems_of(write_package, catalog, "package: example\nversion: \"1.0\"\n")
    assert "'1.0' is not a semantic version" in found[0] and ":2:10:" in found[0]


def test_labels_are_text_or_a_language_map(write_package, catalog):
    found = problems_of(write_package, catalog, 'package: example\nversion: "1.0.0"\nlabel: {english: Example}\n')
    assert "has the wrong form" in found[0] and "{en: Account, zh: 客户}" in found[0]


def test_formula_cycles_are_reported_with_the_chain(write_package, catalog):
    fields = ('      a: {type: formula, returns: integer, formula: "b + 1"}\n'
              '      b: {type: formula, returns: integer, formula: "a + 1"}\n')
    found = problems_of(write_package, catalog, project(fields))
    assert any("depend on each other in a circle: project.a -> project.b -> project.a" in text for text in found), found


def test_related_fields_must_exist_on_the_lookup_target(write_package, catalog):
    fields = ('      parent: {type: lookup, to: project}\n'
              '      parent_name: {type: formula, returns: text, formula: "parent.nam"}\n')
    found = problems_of(write_package, catalog, project(fields))
    assert any("reads 'parent.nam', but project has no field 'nam'. Did you mean 'name'?" in t for t in found), found


def test_validation_rules_are_checked(write_package, catalog):
    extra = ("    validations:\n"
             "      - {name: r, condition: \"nme == ''\", message: Bad, field: nmae}\n"
             "      - {name: r, condition: \"False\", message: Bad}\n")
    text = project("", extra=extra).replace("    fields:\n      name: {type: text}\n", "") + \
        "    fields:\n      name: {type: text}\n"
    found = problems_of(write_package, catalog, text)
    assert any("the condition uses 'nme'" in t and "Did you mean 'name'?" in t for t in found), found
    assert any("the rule's 'field' names 'nmae'" in t for t in found), found
    assert any("two validation rules of project are named 'r'" in t for t in found), found


def test_title_field_must_be_a_field(write_package, catalog):
    found = problems_of(write_package, catalog, project("").replace("title_field: name", "title_field: nam"))
    assert any("title_field names 'nam', which is not a field of project. Did you mean 'name'?" in t for t in found)


def test_rollups_must_follow_a_lookup_to_this_object(write_package, catalog):
    text = (
        'package: example\nversion: "1.0.0"\nobjects:\n'
        "  company:\n    fields:\n"
        "      name: {type: text}\n"
        "      total: {type: rollup, from: project.owner, aggregate: sum, field: name}\n"
        "  project:\n    fields:\n      name: {type: text}\n      company: {type: lookup, to: company}\n"
    )
    found = problems_of(write_package, catalog, text)
    assert any("'owner' is not a lookup from project to company. Lookups from project to company: project.company." in t
               for t in found), found
    assert any("cannot sum 'name', a text field." in t for t in found), found


def test_depends_on_and_extends_resolve(write_package, catalog):
    text = ('package: addon\nversion: "1.0.0"\ndepends_on: [basics]\n'
            "extends:\n  acount:\n    fields:\n      extra: {type: text}\n")
    base = ("base.yaml", 'package: basic\nversion: "1.0.0"\nobjects:\n  account:\n    fields:\n      name: {type: text}\n')
    found = problems_of(write_package, catalog, text, base)
    assert any("'addon' depends on 'basics', which is not installed or given. Did you mean 'basic'?" in t for t in found)


def test_extends_needs_a_dependency(write_package, catalog):
    base = ("base.yaml", 'package: basic\nversion: "1.0.0"\nobjects:\n  account:\n    fields:\n      name: {type: text}\n')
    text = 'package: addon\nversion: "1.0.0"\nextends:\n  account:\n    fields:\n      extra: {type: text}\n'
    found = problems_of(write_package, catalog, text, base)
    assert any("'account' is not an object of a package that 'addon' depends on." in t and ":4:3:" in t for t in found)


def test_an_object_belongs_to_one_package(write_package, catalog):
    base = ("base.yaml", 'package: basic\nversion: "1.0.0"\nobjects:\n  account:\n    fields:\n      name: {type: text}\n')
    text = ('package: addon\nversion: "1.0.0"\ndepends_on: [basic]\n'
            "objects:\n  account:\n    fields:\n      name: {type: text}\n")
    found = problems_of(write_package, catalog, text, base)
    assert any("already defined by the package 'basic'; use 'extends:'" in t for t in found), found


def test_reserved_object_names(write_package, catalog):
    text = 'package: example\nversion: "1.0.0"\nobjects:\n  crmkit_users:\n    fields:\n      name: {type: text}\n'
    found = problems_of(write_package, catalog, text)
    assert any("reserved for the platform" in t for t in found), found


def test_extension_adds_fields_and_rules(write_package, catalog):
    base = write_package('package: basic\nversion: "1.0.0"\nobjects:\n  account:\n    fields:\n      name: {type: text}\n',
                         "base.yaml")
    addon = write_package(
        'package: addon\nversion: "1.0.0"\ndepends_on: [basic]\nextends:\n  account:\n    fields:\n'
        '      tier: {type: picklist, options: [Gold, Silver]}\n    validations:\n'
        '      - {name: tier_needed, condition: "tier is None", message: {en: Pick a tier, zh: 请选择等级}}\n',
        "addon.yaml")
    registry = validate_paths([base, addon], catalog)
    account = registry.object("account")
    assert list(account.fields) == ["name", "tier"]
    assert account.fields["tier"].package == "addon"
    assert account.validations[0].message.get("zh") == "请选择等级"


def test_json_packages_are_checked_the_same_way(write_package, catalog):
    document = {"package": "example", "version": "1.0.0", "objects": {"project": {"fields": {"n": {"type": "txt"}}}}}
    path = write_package(json.dumps(document, indent=2), "package.json")
    with pytest.raises(MetadataError) as caught:
        validate_paths([path], catalog)
    (problem,) = caught.value.problems
    assert problem.message == "'txt' is not a field type. Did you mean 'text'?"
    assert (problem.line, problem.column) == (8, 19)


def test_a_folder_package_has_one_head_file(write_package, catalog):
    folder = write_package('package: example\nversion: "1.0.0"\n', "pkg/package.yaml").parent
    write_package("objects:\n  project:\n    fields:\n      name: {type: text}\n", "pkg/project.yaml")
    registry = validate_paths([folder], catalog)
    assert list(registry.objects) == ["project"]
