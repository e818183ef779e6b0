"""attack12: packages that `crmkit validate` and `install` accept although they cannot work.

The standard (README): metadata errors are `file:line:column: what is wrong, and how to fix it`,
found when the package is checked, never later as a failure of every record save or as the
database's own words during the migration.
"""
from __future__ import annotations

import pytest

from crmkit.metadata import MetadataError, validate_paths


def project(fields: str) -> str:
    """A one-object package whose `project` has `name` and the given field lines (indented 6 spaces)."""
    return ('package: example\nversion: "1.0.0"\nobjects:\n  project:\n    title_field: name\n'
            f"    fields:\n      name: {{type: text}}\n{fields}")


def problems_of(write_package, catalog, text: str) -> list[str]:
    try:
        validate_paths([write_package(text)], catalog)
    except MetadataError as error:
        return [problem.format() for problem in error.problems]
    return []


WRONG_DEFAULTS = [
    ("      n: {type: integer, default: abc}\n", "integer default 'abc'"),
    ("      n: {type: integer, default: 1.5}\n", "integer default 1.5"),
    ("      n: {type: integer, max: 5, default: 10}\n", "default above max"),
    ("      d: {type: date, default: '2024-02-30'}\n", "date default Feb 30"),
    ("      t: {type: text, max_length: 3, default: abcdef}\n", "text default beyond max_length"),
    ("      e: {type: email, default: notanemail}\n", "email default not an address"),
    ("      u: {type: url, default: 'javascript:alert(1)'}\n", "url default with a javascript scheme"),
    ("      n: {type: decimal, default: .inf}\n", "decimal default infinity"),
    ("      n: {type: integer, default: 99999999999999999999999}\n", "integer default beyond 64 bits"),
]


@pytest.mark.parametrize(("fields", "what"), WRONG_DEFAULTS, ids=[what for _, what in WRONG_DEFAULTS])
def test_a_default_the_field_would_refuse_is_a_metadata_error_at_its_line(write_package, catalog, fields, what):
    found = problems_of(write_package, catalog, project(fields))
    assert any("package.yaml:8:" in text and "default" in text for text in found), (what, found)


def test_a_package_with_an_invalid_default_is_not_installed(crm, write_package):
    path = write_package(project("      n: {type: integer, default: abc}\n"))
    with pytest.raises(MetadataError):
        crm.install(path)
    assert "project" not in crm.runtime.registry.objects  # refused whole: nothing installed


def test_an_autonumber_start_beyond_64_bits_is_a_metadata_error(write_package, catalog):
    found = problems_of(write_package, catalog,
                        project("      code: {type: autonumber, format: 'P-{0}', start: 100000000000000000000}\n"))
    assert any("package.yaml:8:" in text and "start" in text for text in found), found


@pytest.mark.parametrize("name", ["xmin", "xmax", "cmin", "cmax", "ctid", "tableoid"])
def test_postgresql_system_column_names_are_refused_at_their_line(write_package, catalog, name):
    found = problems_of(write_package, catalog, project(f"      {name}: {{type: text}}\n"))
    assert any("package.yaml:8:7:" in text and name in text for text in found), found


def test_title_field_naming_a_system_field_gets_a_sentence_that_does_not_contradict_itself(write_package, catalog):
    found = problems_of(write_package, catalog, project("").replace("title_field: name", "title_field: id"))
    assert found and not any("Did you mean 'id'?" in text for text in found), found


def test_scoring_points_beyond_what_the_score_field_holds_are_a_metadata_error(write_package, catalog):
    text = project("      score: {type: integer}\n") + (
        "    scoring:\n      field: score\n      rules:\n"
        "        - {condition: 'True', points: 99999999999999999999}\n")
    found = problems_of(write_package, catalog, text)
    assert any("package.yaml:12:" in problem and "points" in problem for problem in found), found
