"""attack13 (issue 12): an object whose default_sort is a protected field cannot be listed by a user who may not read it.

docs/metadata.md lets an object name any of its fields in `default_sort`; docs/permissions.md says a user who may not
read a field "sees it nowhere". A deal object sorted by default on its protected `margin` (`default_sort: [-margin]`)
is installed without a word; then every list of a rep who holds no read grant on `deal.margin` (the engine's
`records.query(None)`, `GET /api/v1/objects/deal` with no `sort=`, a related list) is refused with
"deal has no field 'margin'.": the rep never named that field, cannot list their own deals at all, and is told the
API name of a protected field that describe and openapi.json keep from them.

What should happen: the rep's list is read in an order they may know (the default sort without the fields hidden from
them, `id` last), or the installer refuses a default_sort on a protected field; either way no refusal names it.
Both databases.
"""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.security.conftest import rep_world

PACKAGE = """
package: attack13_sort
version: "1.0.0"
permission_sets:
  reps:
    objects:
      deal: [create, read, edit, delete]
      note: [create, read, edit, delete]
  auditors:
    fields:
      deal.margin: [read]
objects:
  deal:
    label: {en: Deal, zh: 交易}
    title_field: name
    sharing: private
    default_sort: [-margin]
    fields:
      name: {type: text, required: true, label: {en: Name, zh: 名称}}
      margin: {type: currency, label: {en: Secret Margin, zh: 毛利}}
  note:
    title_field: body
    sharing: public_read_write
    fields:
      body: {type: text}
      deal: {type: lookup, to: deal, on_delete: set_null}
"""


@pytest.fixture(scope="module")
def world(module_database_url: str, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """rep holds `reps` (sees their own deals, never deal.margin) and owns two deals whose margins the system set."""
    with rep_world(module_database_url, tmp_path_factory.mktemp("attack13_sort"), PACKAGE, ("7.00", "999.50")) as world:
        yield world


def test_a_rep_lists_his_deals_through_the_api_when_the_default_sort_is_hidden_from_him(world):
    answer = world["api"].get("/objects/deal")
    assert answer.status_code == 200, answer.get_json()
    assert sorted(row["id"] for row in answer.get_json()["data"]) == sorted(world["deals"])
    assert "margin" not in answer.get_data(as_text=True)


def test_the_engine_lists_a_reps_deals_when_the_default_sort_is_hidden_from_him(world):
    page = world["crm"].as_user(world["rep"]).records("deal").query(None)
    assert sorted(record.id for record in page.records) == sorted(world["deals"])


def test_no_answer_of_the_list_names_the_protected_field(world):
    answer = world["api"].get("/objects/deal", headers={"Accept-Language": "zh-CN"})
    text = answer.get_data(as_text=True)
    assert "margin" not in text and "毛利" not in text, text
