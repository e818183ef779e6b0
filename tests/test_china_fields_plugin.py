"""The plugin shipped in plugins/: Chinese mobile numbers and Unified Social Credit Codes."""
from __future__ import annotations

import pytest

from crmkit.engine import RecordValidationError

PACKAGE = """
package: suppliers
version: "1.0.0"
objects:
  supplier:
    fields:
      name: {type: text}
      mobile: {type: cn_mobile}
      credit_code: {type: cn_credit_code, unique: true}
"""

VALID_CODE = "91350100M000100Y43"  # a well-formed code: its check character matches


@pytest.fixture
def suppliers(crm, install):
    install(PACKAGE)
    return crm.as_system().records("supplier")


def test_the_plugin_folder_is_loaded_by_default(catalog):
    assert {"cn_mobile", "cn_credit_code"} <= set(catalog.kinds)


def test_mobile_numbers_are_stored_as_eleven_digits(suppliers):
    record = suppliers.create({"name": "星辰", "mobile": "+86 138-1234-5678", "credit_code": VALID_CODE.lower()})
    assert (record["mobile"], record["credit_code"]) == ("13812345678", VALID_CODE)


@pytest.mark.parametrize(("values", "field", "message"), [
    ({"mobile": "12812345678"}, "mobile", "Not a valid mainland China mobile number"),
    ({"credit_code": "91350100M000100Y44"}, "credit_code", "its last character does not match"),
    ({"credit_code": "91350100M000100Y4"}, "credit_code", "has 18 characters"),
    ({"credit_code": "91350100M000100IO3"}, "credit_code", "has 18 characters"),
])
def test_mistyped_values_are_refused_with_a_reason(suppliers, values, field, message):
    with pytest.raises(RecordValidationError) as caught:
        suppliers.create(values)
    assert message in caught.value.errors[field][0]
