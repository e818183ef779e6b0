"""newuser14 (issue 12, outside check as an integrator): the API's answers to a caller whose profile is Chinese."""
from __future__ import annotations

import pytest


@pytest.mark.xfail(strict=True, reason=(
    "newuser14: docs/api.md, Languages: error sentences come in the caller's language, '... else the user's "
    "profile language'; but an address no route matches (a mistyped path, /dashboards/sales/widgets/-1, "
    "/objects/account/abc) or a method it does not take answers a zh-CN user (token, no Accept-Language) "
    "in English: 'Not Found' / 'there is nothing at this address.', 'Method Not Allowed'"))
@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/dashboards/sales/widgets/-1"),
    ("GET", "/objects/account/abc"),
    ("DELETE", "/changes"),
])
def test_a_routing_error_speaks_the_profile_language_of_the_caller(api, method, path):
    response = api("zh").call(method, path)
    assert response.status_code in (404, 405)
    problem = response.get_json()
    assert problem["title"] in ("未找到", "不允许该方法") or not problem["title"].isascii(), problem
    assert not problem["detail"].isascii(), problem
