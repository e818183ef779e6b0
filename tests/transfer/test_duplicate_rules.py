"""Duplicate keys: the same email, phone or name however it is written."""
from __future__ import annotations

import pytest

from crmkit.engine.transfer.duplicates import DuplicateRule, name_key, phone_key


@pytest.mark.parametrize("written", ["138 0013 8000", "13800138000", "+86 138-0013-8000", "0086 13800138000"])
def test_a_chinese_mobile_number_has_one_key_however_written(written):
    assert phone_key(written, "CN") == "+8613800138000"


def test_a_number_with_its_country_code_is_read_in_its_country_whatever_the_region():
    assert phone_key("+1 (415) 555-2671", "CN") == "+14155552671"


def test_a_us_number_without_country_code_is_not_made_chinese_in_region_cn():
    # phonenumbers with region CN takes "(415) 555-2671" for +86 415 5552671 (STACK.md trap 6).
    assert phone_key("(415) 555-2671", "CN") == "4155552671"
    assert phone_key("(415) 555-2671", "US") == "+14155552671"


def test_text_without_digits_has_no_phone_key():
    assert phone_key("ask reception", "CN") is None


def test_names_compare_without_case_width_or_extra_spaces():
    assert name_key("ＡＣＭＥ   Ltd ") == name_key("acme ltd") == "acme ltd"


def test_an_email_key_ignores_case_and_surrounding_spaces():
    rule = DuplicateRule("email", "email")
    assert rule.key(" Li.Wei@Example.COM ") == "li.wei@example.com"
