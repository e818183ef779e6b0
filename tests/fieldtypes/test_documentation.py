"""docs/fields.md and docs/plugins.md keep up with the field types' presentation."""
from __future__ import annotations

from pathlib import Path

import pytest

from crmkit.engine.fieldtypes.builtin import BUILTIN_TYPES
from crmkit.engine.fieldtypes.display import DISPLAY_KINDS
from crmkit.engine.fieldtypes.list_filters import FILTER_OPERATORS
from crmkit.engine.fieldtypes.widgets import ALLOWED_ATTRIBUTES, BUILTIN_WIDGETS

DOCS = Path(__file__).resolve().parent.parent.parent / "docs"


def section(name: str, heading: str) -> str:
    text = (DOCS / name).read_text(encoding="utf-8")
    start = text.index(heading)
    end = text.find("\n#", start + len(heading))
    return text[start:end if end > 0 else None]


@pytest.mark.parametrize("name", sorted(field_type.name for field_type in BUILTIN_TYPES))
def test_every_field_type_has_a_display_and_a_widget_row(name):
    for heading in ("## Display", "## Widgets"):
        rows = [line.split("|")[1] for line in section("fields.md", heading).splitlines() if line.startswith("| ")]
        assert any(name in [part.strip() for part in row.split(",")] for row in rows), (heading, name)


@pytest.mark.parametrize("kind", DISPLAY_KINDS)
def test_every_display_kind_is_documented(kind):
    assert f"`{kind}`" in section("fields.md", "## Display")


def test_the_plugin_documentation_names_every_widget_attribute_and_filter_operator():
    text = section("plugins.md", "#### How a field type is shown")
    missing = [name for name in [*BUILTIN_WIDGETS, *ALLOWED_ATTRIBUTES, *FILTER_OPERATORS] if f"`{name}`" not in text]
    assert missing == []
    for attribute in ("widget", "formatter", "input_attributes", "filter_operators"):
        assert f"| `{attribute}` |" in text
