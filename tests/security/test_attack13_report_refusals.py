"""attack13 (issue 12): a report reading a protected field is listed to a rep as one he may run, and its refusal
names the protected field.

docs/api.md, "Reports and dashboards": `GET /api/v1/reports` lists "the reports the caller may run", a dashboard's
widgets say whether they are `available`. A report whose fixed `filter` reads `deal.margin` (protected; reps hold no
read grant) is refused to a rep, as it should be (its rows would tell which deals have a margin over 100), but:

- `GET /api/v1/reports` lists it to the rep, and `GET /api/v1/dashboards/board` says its widget is
  `"available": true`; running either answers 422;
- the 422 detail says "the report 'big_margin' cannot be run: deal has no field 'margin'." (zh: "...交易没有字段
  “margin”。"): the API name of a field describe and openapi.json keep from the rep, which the rep never sent
  (docs/api.md, "Errors": a protected field keeps the API name *they sent*).

- a Chinese caller reads that refusal half in English: "the report 'big_margin' cannot be run: deal 没有字段“margin”。"
  (docs/api.md: title and detail both in the caller's language).

What should happen: the list leaves out (and the dashboard marks unavailable) a report the caller cannot run, and
its refusal names no field hidden from the caller (as a report on an object they may not read is refused).
Both databases.
"""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.security.conftest import rep_world

PACKAGE = """
package: attack13_reports
version: "1.0.0"
permission_sets:
  reps:
    objects:
      deal: [create, read, edit, delete]
  auditors:
    fields:
      deal.margin: [read]
objects:
  deal:
    label: {en: Deal, zh: 交易}
    title_field: name
    sharing: private
    fields:
      name: {type: text, required: true}
      margin: {type: currency, label: {en: Secret Margin, zh: 毛利}}
reports:
  big_margin:
    object: deal
    kind: tabular
    columns: [name]
    filter: {margin: {gt: 100}}
  all_deals:
    object: deal
    kind: tabular
    columns: [name]
dashboards:
  board:
    widgets:
      - {report: big_margin, chart: table}
      - {report: all_deals, chart: table}
"""


@pytest.fixture(scope="module")
def world(module_database_url: str, tmp_path_factory) -> Iterator[dict[str, Any]]:
    with rep_world(module_database_url, tmp_path_factory.mktemp("attack13_reports"), PACKAGE,
                   ("7.00", "999.50")) as world:
        yield world


def test_the_report_is_refused_to_the_rep(world):
    """Held: no rows of a report filtering on the hidden margin."""
    answer = world["api"].get("/reports/big_margin")
    assert answer.status_code >= 400 and "rows" not in answer.get_json()


@pytest.mark.parametrize("path", ["/reports/big_margin", "/dashboards/board/widgets/0"])
@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_the_refusal_names_no_field_hidden_from_the_rep(world, path, language):
    answer = world["api"].get(path, headers={"Accept-Language": language})
    text = answer.get_data(as_text=True).replace("big_margin", "")  # the report's name: the caller asked for it
    assert answer.status_code == 403 and "margin" not in text and "毛利" not in text, text


def test_the_reports_listed_are_the_ones_the_rep_may_run(world):
    listed = [report["name"] for report in world["api"].get("/reports").get_json()["data"]]
    runnable = [name for name in listed if world["api"].get(f"/reports/{name}").status_code == 200]
    assert listed == runnable


def test_a_widget_the_rep_cannot_run_is_not_available(world):
    widgets = world["api"].get("/dashboards/board").get_json()["widgets"]
    for widget in widgets:
        runs = world["api"].get(f"/dashboards/board/widgets/{widget['index']}").status_code == 200
        assert widget["available"] == runs, widget


@pytest.mark.parametrize("path", ["/reports/big_margin", "/dashboards/board/widgets/0"])
def test_a_chinese_caller_is_told_of_the_refusal_in_chinese(world, path):
    detail = world["api"].get(path, headers={"Accept-Language": "zh-CN"}).get_json()["detail"]
    assert "cannot be run" not in detail and "the report" not in detail, detail
