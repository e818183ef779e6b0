"""The engine's messages: every template has a Chinese text, and what users cause comes out in their language."""
from __future__ import annotations

import re

import pytest

from crmkit.engine import RecordValidationError
from crmkit.engine.messages import CATALOG, PLACEHOLDER, translated
from crmkit.engine.messages import BAD_VALUE, LIST_OF_CONDITIONS, NOT_DATE, UNKNOWN_FIELD, UNSEARCHABLE
from crmkit.engine.records.errors import DeleteRestrictedError, RecordNotFound, StaleRecordError
from crmkit.engine.security.access import PermissionDenied
from tests.conftest import add_users

CHINESE = re.compile("[\u4e00-\u9fff]")


def plugin_messages():
    from crmkit.engine.extensions import default_extensions

    return default_extensions().messages


TEMPLATES = CATALOG + plugin_messages()


@pytest.mark.parametrize("message", TEMPLATES, ids=lambda message: message.en[:40])
def test_every_template_has_a_chinese_text_with_the_same_placeholders(message):
    assert CHINESE.search(message.zh), message.en
    assert set(PLACEHOLDER.findall(message.zh)) == set(PLACEHOLDER.findall(message.en))


@pytest.mark.parametrize("message", TEMPLATES, ids=lambda message: message.en[:40])
def test_every_english_sentence_is_read_back_and_translated_by_its_own_template(message):
    params = {name: next(iter(message.words[name])) if name in message.words else f"<{name} {index}>"
              for index, name in enumerate(PLACEHOLDER.findall(message.en))}
    english = message(**params)
    assert translated(english, "zh-CN", plugin_messages()) == message.in_language("zh", **params)
    assert translated(english, "en") == translated(english, "de") == english


def test_a_sentence_no_template_matches_is_left_as_it_is():
    assert translated("Budget must not be negative", "zh") == "Budget must not be negative"
    assert translated("预算不能为负", "zh") == "预算不能为负"
    assert translated("", "zh") == ""


def test_a_permission_word_is_translated_too():
    refusal = "you do not have permission to modify all Projects."
    assert translated(refusal, "zh") == "你没有修改全部Projects的权限。"


BAD_PROJECT = {"name": "", "headcount": "4.5", "score": "many", "budget": "1e30", "discount": "120",
               "billable": "maybe", "starts_on": "31/02/2026", "kickoff": "tomorrow", "contact_email": "not-an-email",
               "contact_phone": "call me", "website": "javascript:alert(1)", "status": "Unknown", "tags": ["Purple"],
               "company": 999999, "legacy_code": "x" * 21, "margin": 1, "created_at": "2020-01-01", "nosuch": 1,
               "owner_id": 999999}


def test_every_field_error_of_every_built_in_type_has_a_chinese_sentence(projects):
    with pytest.raises(RecordValidationError) as refused:
        projects.create(BAD_PROJECT)
    errors = refused.value.errors
    assert set(errors) == set(BAD_PROJECT)
    assert str(refused.value).startswith("the record is not valid: ")  # logs, the CLI and the API stay English
    for field, texts in errors.items():
        for text in texts:
            assert not CHINESE.search(text), (field, text)
            assert CHINESE.search(translated(text, "zh-CN")), (field, text)
    assert translated(errors["name"][0], "zh") == "此字段为必填项。"
    assert translated(errors["status"][0], "zh") == "必须是以下选项之一：Planned, Active, Done。"


def test_lookups_unique_values_versions_and_missing_records_are_told_in_chinese(projects, companies):
    with pytest.raises(RecordValidationError) as refused:
        projects.create({"name": "P", "company": 999999})
    assert translated(refused.value.errors["company"][0], "zh") == "不存在 id 为 999999 的 company 记录。"
    project = projects.create({"name": "P"})
    projects.update(project.id, {"name": "P2"}, version=project.version)
    with pytest.raises(StaleRecordError) as stale:
        projects.update(project.id, {"name": "P3"}, version=project.version)
    assert translated(stale.value.message, "zh") == \
        f"project {project.id} 已被他人修改（你编辑的是第 1 版，现在是第 2 版）；请重新加载后再修改。"
    with pytest.raises(RecordNotFound) as missing:
        projects.get(987654)
    assert translated(missing.value.message, "zh") == "不存在 id 为 987654 的 project 记录。"


def test_a_refusal_of_the_permission_rules_is_told_in_chinese(crm, all_types):
    """An object the user may not read is named as they named it: its label is kept from them (security/labels.py)."""
    nobody = add_users(crm, [("nobody", None, [])])["nobody"]
    with pytest.raises(PermissionDenied) as denied:
        crm.as_user(nobody).records("project").create({"name": "P"})
    assert denied.value.message == "you do not have permission to create project."
    assert translated(denied.value.message, "zh") == "你没有新建project的权限。"


def test_a_plugins_own_messages_are_translated_after_the_engines(crm):
    from crmkit.bundled_plugins.china_fields import CODE_MISTYPED, NOT_A_MOBILE

    assert NOT_A_MOBILE in crm.extensions.messages and CODE_MISTYPED in crm.extensions.messages
    assert translated(NOT_A_MOBILE(), "zh", crm.extensions.messages) == "不是有效的中国大陆手机号码（以 1 开头的 11 位数字）。"
    assert translated(NOT_A_MOBILE(), "zh") == NOT_A_MOBILE()  # without the plugin's templates: as written


def test_sentences_inside_a_sentence_are_translated_too():
    assert translated(BAD_VALUE(value="31/02", key="closed_on", reason=NOT_DATE()), "zh") == \
        "“31/02”不是 closed_on 的有效值：不是有效的日期。"
    summary = "the record is not valid: name: is required.; status: Must be one of: A, B."
    assert translated(summary, "zh") == "记录无效：name: 此字段为必填项。；status: 必须是以下选项之一：A, B。"


def test_a_summary_holding_a_sentence_that_starts_with_its_value_is_read_as_the_summary():
    duplicate = "the record is not valid: erp_code: 'ERP-7' is already used by another account record."
    assert translated(duplicate, "zh") == "记录无效：erp_code: 'ERP-7' 已被另一条 account 记录使用。"


def test_what_a_refused_character_was_found_in_is_named_in_chinese_too():
    labels = {("account", "name"): "客户名称"}
    names = lambda obj, field: labels.get((obj, field))  # noqa: E731
    nul = "the condition on name contains a NUL character (U+0000), which cannot be stored or searched for; remove it."
    assert translated(nul, "zh", names=names, subject="account") == \
        "客户名称上的条件包含 NUL 字符（U+0000），无法存储或搜索；请删除它。"
    search = "the search contains a NUL character (U+0000), which cannot be stored or searched for; remove it."
    assert translated(search, "zh") == "搜索内容包含 NUL 字符（U+0000），无法存储或搜索；请删除它。"
    assert translated("the condition on name is odd.", "zh") == "the condition on name is odd."  # not a phrase alone


def test_objects_and_their_fields_are_named_by_the_labels_names_gives():
    labels = {("account", None): "客户", ("product", None): "产品", ("product", "product_code"): "产品编码"}
    names = lambda obj, field: labels.get((obj, field))  # noqa: E731
    assert translated("there is no account record with id 7.", "zh", names=names) == "不存在 id 为 7 的客户记录。"
    assert translated("there is no widget record with id 7.", "zh", names=names) == "不存在 id 为 7 的 widget 记录。"
    restore = "product 3 cannot be restored: another record now uses 'X-1' in 'product_code', which must be unique."
    assert translated(restore, "zh", names=names) == \
        "产品 3 无法恢复：另一条记录现在在“产品编码”中使用了 'X-1'，该字段的值必须唯一。"
    assert translated(UNKNOWN_FIELD(object="account", name="ratin"), "en", names=names) == \
        "account has no field 'ratin'."  # English stays as the engine wrote it


def test_a_sentence_about_a_field_of_its_subject_names_the_field_by_its_label_in_english_too():
    labels = {"en": {("opportunity", "amount"): "Amount"}, "zh": {("opportunity", "amount"): "金额"}}
    bad = BAD_VALUE(value="abc", key="amount", reason=NOT_DATE())
    for language, expected in [("en", "'abc' is not a valid value for Amount: Not a valid date."),
                               ("zh", "“abc”不是金额的有效值：不是有效的日期。")]:
        names = lambda obj, field, language=language: labels[language].get((obj, field))  # noqa: E731
        assert translated(bad, language, names=names, subject="opportunity") == expected
        assert translated(BAD_VALUE(value="abc", key="nosuch", reason=NOT_DATE()), language, names=names,
                          subject="opportunity").count("nosuch") == 1  # not a field: named as given
    assert translated(bad, "en", names=lambda obj, field: "Amount") == bad  # no subject: as the engine wrote it


def test_a_delete_restriction_braces_and_open_words_read_back():
    refused = DeleteRestrictedError("account", 7, {"商机 (opportunity.account)": 2}, unseen=True)
    assert translated(refused.message, "zh").startswith("account 7 无法删除：仍有 2 商机 (opportunity.account) 以及你无权查看的记录")
    assert LIST_OF_CONDITIONS(key="or") == \
        """'or' takes a list of conditions, e.g. {"or": [{"stage": "Won"}, {"amount": {"gt": 100}}]}."""
    assert translated(LIST_OF_CONDITIONS(key="or"), "zh").startswith("“or”需要一个条件列表，例如 {\"or\": [{")
    assert translated(UNSEARCHABLE(what="the search", character="a NUL character (U+0000)"), "zh") == \
        "搜索内容包含 NUL 字符（U+0000），无法存储或搜索；请删除它。"
    assert translated(UNSEARCHABLE(what="the condition on name", character="an unpaired surrogate (U+D800, half of "
                                   "a character)"), "zh").startswith("name 上的条件包含 an unpaired")
