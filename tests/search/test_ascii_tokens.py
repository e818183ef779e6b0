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


def test_the_token_groups_of_a_long_chinese_run_are_not_kept_in_memory():
    """Names and short phrases have their token groups cached (a save works them out again); a paragraph of Chinese
    without punctuation would fill the cache with its thousands of pairs and pinyin words."""
    from crmkit.engine.query import tokens

    tokens._short_cjk_groups.cache_clear()
    paragraph = "北京上海广州深圳科技有限公司" * 20
    assert "shenzhenkeji" in tokens.index_tokens(paragraph) and tokens._short_cjk_groups.cache_info().currsize == 0
    tokens.index_tokens("北京科技 有限公司")
    assert tokens._short_cjk_groups.cache_info().currsize == 2
