"""Columns of the CLI's plain-text tables, counted as a terminal shows them.

A terminal gives an East Asian wide character (Chinese, Japanese, Korean, most emoji) two
columns (Unicode Standard Annex #11, "East Asian Width"), so Python's `f"{name:<24}"`, which
counts characters, leaves a Chinese name's row 1 column short per character and the columns
after it out of line. The widths come from the wcwidth library (Unicode's tables).
"""
from __future__ import annotations

from wcwidth import wcswidth


def columns(text: str) -> int:
    """How many terminal columns `text` fills (a wide character 2, a combining mark 0); a text with a control
    character, which has no width, counts one column per character."""
    width = wcswidth(text)
    return width if width >= 0 else len(text)


def padded(text: str, width: int) -> str:
    """`text` followed by spaces up to `width` terminal columns; a longer text is kept whole (nothing is cut)."""
    return text + " " * max(0, width - columns(text))
