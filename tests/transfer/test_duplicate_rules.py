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


INDEXED_PACKAGE = """
package: duplicates_indexed
version: "1.0.0"
objects:
  lead:
    label: {en: Lead}
    title_field: name
    sharing: public_read_write
    fields:
      name: {type: text, required: true, indexed: true}
      email: {type: email, indexed: true}
"""


@pytest.mark.query_plans
@pytest.mark.parametrize("kind, field", [("email", "email"), ("name", "name")])
def test_a_batchs_stored_duplicates_are_found_through_the_fields_case_insensitive_index(crm, install, kind, field):
    from sqlalchemy import select, text

    from crmkit.engine.transfer.duplicates import DuplicateRule

    install(INDEXED_PACKAGE)
    leads = crm.as_system().records("lead")
    leads.create({"name": "Jane SMITH", "email": "Jane.Smith@Example.com"})
    leads.create({"name": "John Doe", "email": "john@example.com"})
    table = crm.runtime.table("lead")
    rule = DuplicateRule.of(crm.runtime.object("lead"), kind)
    keys = [rule.key("jane smith" if kind == "name" else " JANE.smith@example.COM ")]
    query = select(table.c.id, table.c[field]).where(rule.candidates(table.c[field], keys, crm.engine.dialect.name))
    with crm.engine.connect() as connection:
        assert [row[0] for row in connection.execute(query)] == [1]
        sql = str(query.compile(connection, compile_kwargs={"literal_binds": True}))
        if connection.dialect.name == "sqlite":
            plan = " ".join(row[-1] for row in connection.execute(text("EXPLAIN QUERY PLAN " + sql)))
        else:  # two rows: make the planner say whether it could use the index at all
            connection.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(row[0] for row in connection.execute(text("EXPLAIN " + sql)))
    assert f"ip_lead_{field}" in plan, plan
