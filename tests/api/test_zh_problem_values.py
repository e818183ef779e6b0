"""A caller in Chinese reads the API's own problems in Chinese (docs/api.md, "Errors") whatever the values the
sentence repeats back: an empty operation path or method, or a value that reads like another of the API's sentences."""
from __future__ import annotations

import json

import pytest

from crmkit.engine import messages

ZH = {"Content-Type": "application/json", "Accept-Language": "zh-CN"}


def _detail(api, method, path, body=None) -> str:
    response = api("wang").call(method, path, data=None if body is None else json.dumps(body).encode(), headers=ZH)
    assert response.status_code == 400, response.get_json()
    return response.get_json()["detail"]


def _chinese(text: str) -> bool:
    return any("\u4e00" <= character <= "\u9fff" for character in text)


@pytest.mark.parametrize("operation", [{"method": "GET", "path": ""}, {"method": "", "path": "/objects/account"},
                                       {"method": "", "path": ""}])
def test_an_operation_with_an_empty_method_or_path_is_refused_in_chinese(api, operation):
    detail = _detail(api, "POST", "/composite", {"operations": [operation]})
    assert _chinese(detail) and "is not a record operation" not in detail, detail


WORDED_LIKE_API_FLAG = "x must be true or false, not y"


@pytest.mark.parametrize(("path", "message", "params"), [
    (f"/changes?limit={WORDED_LIKE_API_FLAG}", messages.API_LIMIT, {"max": "1,000"}),
    (f"/changes?since={WORDED_LIKE_API_FLAG}", messages.CHANGES_SINCE, {}),
    (f"/reports/sales_funnel?from={WORDED_LIKE_API_FLAG}", messages.API_DATE, {"name": "from"}),
])
def test_a_value_worded_like_another_sentence_does_not_change_which_sentence_is_translated(api, path, message, params):
    detail = _detail(api, "GET", path)
    assert detail == message.in_language("zh", value=repr(WORDED_LIKE_API_FLAG), **params)


@pytest.mark.parametrize("value", [WORDED_LIKE_API_FLAG + ".", "it's 'x' must be true or false, not \"y\".",
                                   "'a' has no field 'b' you may read; fields are 'c'."])
def test_the_catalog_reads_an_api_sentence_back_whole_when_its_value_quotes_another(value):
    sentence = messages.API_LIMIT(max="1,000", value=repr(value))
    assert messages.translated(sentence, "zh") == messages.API_LIMIT.in_language("zh", max="1,000", value=repr(value))


def test_an_operation_path_worded_like_another_sentence_is_refused_in_its_own_chinese_sentence(api):
    path = "/x must be true or false, not y"
    detail = _detail(api, "POST", "/composite", {"operations": [{"method": "GET", "path": path}]})
    assert detail == messages.API_NOT_RECORD_OPERATION.in_language("zh", method="'GET'", path=repr(path))


def test_an_apostrophe_inside_a_word_is_no_quote():
    sentence = messages.API_VIA_NEEDED(child="o'brien_note", object="account", lookups="a, b")
    assert messages.translated(sentence, "zh").startswith("o'brien_note 通过")
