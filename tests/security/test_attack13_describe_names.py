"""attack13 (issue 12): describe (and the OpenAPI document) name protected fields and their values to a user who may
not read them.

docs/api.md, "Describe": describe gives the object "as the caller may see it", and "Both show the caller what describe
shows them ... the document names no protected field to a user who may not read it"; docs/permissions.md: a user who
may not read a field sees it nowhere, and a dependent picklist whose controlling field is hidden is refused "with the
value of a field you may not see" (neither that field, its value, nor the options it allows). api/describe.py leaves
hidden fields out of `fields`, but copies from the metadata as they are:

- `title_field` and `default_sort`: a rep is told `"title_field": "codename"` and `"default_sort": ["-margin"]`,
  the API names of two protected fields;
- a readable dependent picklist's `controlling_field` and `dependent_values`: the rep is told the hidden picklist's
  name (`risk`) and, as the keys of `dependent_values`, every value it may hold (`Severe`, `Mild`), and which of
  the visible field's options each allows, so reading the visible field of a record tells the hidden value.

What should happen: none of these names or values reaches a caller who may not read the field (title_field and
default_sort without it or null; a dependent field described without its hidden controlling field, as the save
error words it). The OpenAPI document the rep reads is clean (held). Both databases.
"""
from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from tests.security.conftest import rep_world

PACKAGE = """
package: attack13_describe
version: "1.0.0"
permission_sets:
  reps:
    objects:
      deal: [create, read, edit, delete]
  auditors:
    fields:
      deal.margin: [read, edit]
      deal.risk: [read, edit]
      deal.codename: [read, edit]
objects:
  deal:
    label: {en: Deal, zh: 交易}
    title_field: codename
    sharing: private
    default_sort: [-margin]
    fields:
      codename: {type: text, label: {en: Codename, zh: 代号}}
      margin: {type: currency, label: {en: Secret Margin, zh: 毛利}}
      risk:
        type: picklist
        label: {en: Risk, zh: 风险}
        options: [Severe, Mild]
      handling:
        type: picklist
        label: {en: Handling, zh: 处理}
        options: [Escalate, Watch, Ignore]
        controlling_field: risk
        dependent_values: {Severe: [Escalate], Mild: [Watch, Ignore]}
"""

HIDDEN_NAMES = ("codename", "margin", "risk", "Severe", "Mild")


@pytest.fixture(scope="module")
def world(module_database_url: str, tmp_path_factory) -> Iterator[dict[str, Any]]:
    with rep_world(module_database_url, tmp_path_factory.mktemp("attack13_describe"), PACKAGE) as world:
        yield world


def test_describe_hides_the_protected_fields_themselves(world):
    """Held: the hidden fields are not among `fields`."""
    described = world["api"].get("/objects/deal/describe").get_json()
    assert {field["name"] for field in described["fields"]} & {"codename", "margin", "risk"} == set()


def test_describe_names_no_protected_field_as_title_or_sort(world):
    described = world["api"].get("/objects/deal/describe").get_json()
    assert described.get("title_field") in (None, "id")
    assert not any("margin" in item for item in described.get("default_sort") or [])


def test_describe_tells_nothing_of_a_hidden_controlling_picklist(world):
    described = world["api"].get("/objects/deal/describe").get_json()
    handling = next(field for field in described["fields"] if field["name"] == "handling")
    text = json.dumps(handling)
    assert not any(name in text for name in ("risk", "Severe", "Mild")), text


def test_the_openapi_document_names_nothing_hidden_from_the_rep(world):
    """Held: the rep's OpenAPI document names none of the hidden fields nor the hidden picklist's values."""
    text = world["api"].get("/openapi.json").get_data(as_text=True)
    named = [name for name in HIDDEN_NAMES if f'"{name}"' in text or f'"-{name}"' in text]
    assert not named, named
