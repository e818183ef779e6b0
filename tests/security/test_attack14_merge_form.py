"""attack14: the merge page (/r/<object>/<id>/merge, ui/views/merges.py) answers 500 to a superscript digit.

`chosen_ids` and the `keep-<field>` choices keep a value when `str.isdigit()` holds and then call `int()` on it;
"²" (and every other superscript or circled digit) is a digit to isdigit() but not to int(): ValueError, a 500 for
`GET ...?with=²`, `POST with=²`, or `POST keep-phone=²`. Expected: the value ignored (as a non-digit is) or a 400.
"""
from __future__ import annotations

import pytest

from tests.ui.conftest import csrf_token
from tests.ui.test_import_pages import admin, import_app  # noqa: F401 (fixtures)


@pytest.fixture
def duplicates(import_app):  # noqa: F811
    contacts = import_app.extensions["crmkit"].crm.as_system().records("contact")
    return [contacts.create({"last_name": "Dup", "email": "dup14@example.cn", "phone": phone}).id
            for phone in ("13800138000", "13900139000")]


def test_a_superscript_digit_in_the_merge_query_is_no_500(admin, duplicates):  # noqa: F811
    kept, _ = duplicates
    assert admin.get(f"/r/contact/{kept}/merge?with=%C2%B2").status_code < 500


@pytest.mark.parametrize("field", ["with", "keep-phone"])
def test_a_superscript_digit_in_the_merge_form_is_no_500(admin, duplicates, field):  # noqa: F811
    kept, other = duplicates
    token = csrf_token(admin.get(f"/r/contact/{kept}/merge").get_data(as_text=True))
    form = {"csrf_token": token, "with": str(other), field: "²"}
    assert admin.post(f"/r/contact/{kept}/merge", data=form).status_code < 500
