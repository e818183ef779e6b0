"""ASCII text takes a shortcut through query/tokens.py `runs` (one regular expression pass);
its runs must be the ones the general path (NFKC, casefold, a kind per character) finds."""
from __future__ import annotations

import string

import pytest

from crmkit.engine.query import tokens


def general_runs(text: str) -> list[tuple[str, str]]:
    """The general path's runs, the shortcut bypassed by adding a non-ASCII separator."""
    return list(tokens.runs(text + "\u3000"))  # an ideographic space: a separator, not ASCII


@pytest.mark.parametrize("text", [
    "Zephyrine Robotics Ltd", "ACME-42 Trading_co.", "wei.zhang+crm@Example.COM", "  ", "",
    "+86 10 1234 5678", "A1B2c3", string.printable,
])
def test_ascii_text_has_the_runs_of_the_general_path(text):
    assert list(tokens.runs(text)) == general_runs(text)


def test_mixed_case_ascii_is_indexed_lowercase():
    assert tokens.index_tokens("Zephyrine ROBOTICS 2026") == ["zephyrine", "ᵖz", "ᵖze", "robotics", "ᵖr", "ᵖro",
                                                                "2026", "ᵖ2", "ᵖ20"]
