"""docs/query.md documents every operator, relative date and query-string key the code knows."""
from __future__ import annotations

from pathlib import Path

import pytest

from crmkit.engine.fieldtypes.base import OPERATORS_BY_VALUE_KIND
from crmkit.engine.query import OPERATORS, RELATIVE_DATES
from crmkit.engine.query.querystring import RESERVED

DOCS = (Path(__file__).parents[2] / "docs" / "query.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("word", [*OPERATORS, *RELATIVE_DATES])
def test_every_operator_and_relative_date_is_documented(word):
    assert f"`{word}" in DOCS


@pytest.mark.parametrize("key", RESERVED)
def test_every_query_string_key_is_documented(key):
    assert f"`{key}=" in DOCS


@pytest.mark.parametrize("kind", sorted(OPERATORS_BY_VALUE_KIND))
def test_the_operators_of_every_value_kind_are_listed(kind):
    rows = [line for line in DOCS.splitlines() if line.startswith("| ") and line.count("|") == 4]
    listed = [set(row.split("|")[3].split("(")[0].replace(" ", "").split(",")) for row in rows]
    assert set(OPERATORS_BY_VALUE_KIND[kind]) in listed
