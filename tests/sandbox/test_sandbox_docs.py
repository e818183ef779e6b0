"""docs/sandbox.md documents every helper function, and its examples are true."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from crmkit.sandbox import BUILTIN_FUNCTIONS, compile_expression

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sandbox.md"
EXAMPLE = re.compile(r"^>>> (?P<source>.+)\n(?P<expected>.+)$", re.MULTILINE)


def sections() -> dict[str, str]:
    """Helper name -> the text of its '### name(...)' section."""
    parts = re.split(r"^### ", DOCS.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return {part.split("(", 1)[0]: part for part in parts[1:]}


@pytest.mark.parametrize("name", sorted(BUILTIN_FUNCTIONS))
def test_every_helper_is_documented_with_an_example(name):
    section = sections().get(name)
    assert section, f"docs/sandbox.md has no '### {name}(...)' section"
    assert any(name in match["source"] for match in EXAMPLE.finditer(section)), (
        f"the section of {name} has no '>>> ' example that uses it")


@pytest.mark.parametrize("example", EXAMPLE.findall(DOCS.read_text(encoding="utf-8")),
                         ids=lambda example: example[0])
def test_documented_examples_are_true(example):
    source, expected = example
    assert compile_expression(source).evaluate({}) == compile_expression(expected).evaluate({})
