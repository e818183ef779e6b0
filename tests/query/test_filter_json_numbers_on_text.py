"""A number in a JSON filter compared with a text field, as the API reads it: `filter=` JSON numbers are exact
decimals (querystring.py `parse_float=Decimal`, so money is not rounded), and a decimal is text to compare as an
integer or a float was before: `{"name": 1.5}` finds the record named '1.5'; not a 400 quoting Python's repr
`Decimal('1.5')`."""
from __future__ import annotations

from crmkit.engine.query.querystring import parse_query_string


def test_a_decimal_number_in_filter_json_compares_with_a_text_field_as_its_text(db):
    db.insert("opportunity", {"name": "1.5"}, {"name": "release 2.5 plan"})
    assert db.names("opportunity", parse_query_string({"filter": '{"name": 1.5}'}).filter) == {"1.5"}
    assert db.names("opportunity", parse_query_string({"filter": '{"name": {"contains": 2.5}}'}).filter) == {
        "release 2.5 plan"}
