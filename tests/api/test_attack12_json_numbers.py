"""attack12: money sent as a JSON number through the API is read as a float and stored wrong.

docs/metadata.md, "Exact numbers": "Numbers given as numbers (JSON numbers, Python int and Decimal) are
taken as they are"; docs/api.md: "Sending values: numbers as JSON numbers or text". The README: "Money and
numbers are exact on both databases." api/requests.py `json_body` calls json.loads without
parse_float=Decimal, so `{"amount": 1234567890123456.78}` is stored as 1234567890123456.80, and the
largest amount a currency field holds, 9999999999999999.99, is refused as having 17 digits.
"""
from __future__ import annotations

import pytest

PACKAGE = """
package: money
version: "1.0.0"
objects:
  deal:
    title_field: name
    fields:
      name: {type: text}
      amount: {type: currency}
"""


@pytest.fixture
def api(crm, install):
    from crmkit.engine.security.tokens import TokenStore
    from crmkit.engine.security.users import SystemDirectory
    from crmkit.ui import create_app

    install(PACKAGE)
    admin = SystemDirectory(crm).create_user("admin", display_name="Admin", permission_sets=["admin"]).id
    token = TokenStore(crm).create(admin, "attack12").token
    client = create_app(crm, {"SECRET_KEY": "attack12-secret-key-0123456789-0123456789",
                              "CRMKIT_API_RATE_LIMIT": ""}).test_client()
    return client, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


@pytest.mark.parametrize("amount", ["1234567890123456.78", "9999999999999999.99", "-9007199254740993.01"])
def test_a_json_number_amount_is_stored_exactly(api, amount):
    client, headers = api
    answer = client.post("/api/v1/objects/deal", headers=headers, data=f'{{"name": "d", "amount": {amount}}}')
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["amount"] == amount


def test_a_json_number_amount_in_a_composite_operation_is_stored_exactly(api):
    client, headers = api
    body = ('{"operations": [{"method": "POST", "path": "/objects/deal", '
            '"body": {"name": "d", "amount": 1234567890123456.78}}]}')
    answer = client.post("/api/v1/composite", headers=headers, data=body)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["results"][0]["body"]["amount"] == "1234567890123456.78"


def test_a_json_filter_compares_the_number_as_written(crm, api):
    client, headers = api
    crm.as_system().records("deal").create({"name": "near", "amount": "1234567890123456.80"})
    answer = client.get('/api/v1/objects/deal?filter={"amount":1234567890123456.78}', headers=headers)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["data"] == [], answer.get_json()
