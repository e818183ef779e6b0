"""plugins/phone_numbers: phone numbers validated by country and stored in E.164 (libphonenumber)."""
from __future__ import annotations

import pytest

from crmkit.engine import RecordValidationError
from crmkit.engine.fieldtypes.presentation import Presentation
from tests.plugins.conftest import plugin_module

phone_plugin = plugin_module("phone_numbers")

PACKAGE = """
package: phones
version: "1.0.0"
objects:
  lead:
    fields:
      name: {type: text}
      phone: {type: phone_number, region: CN}
      anywhere: {type: phone_number}
      greater_china: {type: phone_number, region: CN, countries: [CN, HK, MO, TW]}
      country: {type: formula, returns: text, formula: "phone_country(phone)"}
"""


@pytest.fixture
def leads(crm_with):
    return crm_with(phone_plugin, PACKAGE).as_system().records("lead")


@pytest.mark.parametrize(("typed", "stored"), [
    ("138 1234 5678", "+8613812345678"),
    ("+86 138-1234-5678", "+8613812345678"),
    ("010 6552 9988", "+861065529988"),
    ("+1 (415) 555-2671", "+14155552671"),
    ("0044 20 7946 0958", "+442079460958"),
])
def test_numbers_are_stored_in_e164_whatever_their_typing(leads, typed, stored):
    assert leads.create({"phone": typed})["phone"] == stored


def test_a_formula_reads_the_country_of_a_number(leads):
    assert leads.create({"phone": "+1 415 555 2671"})["country"] == "US"
    assert leads.create({"phone": "13812345678"})["country"] == "CN"


@pytest.mark.parametrize(("values", "message"), [
    ({"phone": "138 1234"}, "Not a valid phone number of CN"),
    ({"phone": "call me"}, "Not a phone number"),
    ({"phone": "(415) 555-2671"}, "typed without its leading 0 is ambiguous"),  # STACK.md trap 6
    ({"greater_china": "+1 415 555 2671"}, "A number of US is not accepted here; accepted: CN, HK, MO, TW"),
])
def test_numbers_that_are_not_valid_for_their_country_are_refused(leads, values, message):
    with pytest.raises(RecordValidationError) as caught:
        leads.create(values)
    (field,) = values
    assert message in caught.value.errors[field][0]


def test_without_a_region_a_number_needs_its_country_code(leads, monkeypatch):
    monkeypatch.delenv(phone_plugin.REGION_VARIABLE, raising=False)
    assert leads.create({"anywhere": "+852 2123 4567"})["anywhere"] == "+85221234567"
    with pytest.raises(RecordValidationError) as caught:
        leads.create({"anywhere": "2123 4567"})
    assert "with + and its country code" in caught.value.errors["anywhere"][0]


def test_the_default_region_comes_from_the_environment_when_the_field_names_none(leads, monkeypatch):
    monkeypatch.setenv(phone_plugin.REGION_VARIABLE, "hk")
    field = phone_plugin.PHONE.input_field(leads.obj.fields["anywhere"])
    assert field.coerce("2123 4567") == "+85221234567"


def test_a_number_of_the_fields_region_reads_nationally_and_others_internationally(leads):
    fields = leads.obj.fields
    home = phone_plugin.show_phone(fields["phone"], "+8613812345678", Presentation.of("zh"))
    abroad = phone_plugin.show_phone(fields["phone"], "+14155552671", Presentation.of("zh"))
    assert (home.text, home.href) == ("138 1234 5678", "tel:+8613812345678")
    assert (abroad.text, abroad.href) == ("+1 415-555-2671", "tel:+14155552671")


def test_the_refusals_read_in_chinese(leads):
    from crmkit.engine.messages import translated

    messages = tuple(phone_plugin.MESSAGES)
    english = phone_plugin.INVALID(country="CN")
    assert translated(english, "zh-CN", messages) == "不是有效的 CN 电话号码：请检查位数和开头。"
