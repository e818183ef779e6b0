"""The sentences the engine says to users, in English and Chinese: one catalog, one way to translate.

The engine builds its messages in English from the templates here (`REQUIRED()`,
`DUPLICATE(value="'a@b.cn'", object="account")`), so `str(error)`, `error.errors`, logs,
the command line and the API stay English. A screen shows a message in the user's
language with `translated(message, language)`: the English sentence is matched against
the templates, its parameters are read back from it, and the Chinese template is filled
with them. A text no template matches (a plugin's own sentence, a validation rule's
message already in the user's language) is returned unchanged.

The same catalog holds the English texts of marshmallow's own messages that reach users
("Not a valid date.", "Must be one of: {choices}."), so they are translated the same way.

    translated("there is no account record with id 7.", "zh-CN")   # '不存在 id 为 7 的 account 记录。'
    translated("is required.", "en")                                 # 'is required.'

Templates use `{name}` placeholders only, without conversions or format specifications: a
caller formats a value first (`value=repr(value)`). tests/engine/test_messages.py checks
that every template has a Chinese text with the same placeholders.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from itertools import chain
from typing import Mapping, Sequence

from crmkit.metadata.model import Label

PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Message:
    """One sentence in English (`en`) and Chinese (`zh`), with `{name}` placeholders.

    `words` translates the values of a placeholder that is itself a word of the engine
    ({"action": {"delete": {"zh": "删除"}}}); other values are shown as they are.
    """

    en: str
    zh: str
    words: Mapping[str, Mapping[str, Mapping[str, str]]] = field(default_factory=dict)

    def __call__(self, **params: object) -> str:
        """The English sentence with `params` filled in (what errors carry)."""
        return self.en.format(**params)

    def in_language(self, language: str, **params: object) -> str:
        """The sentence in `language` (a tag such as 'zh-CN'; English when there is no text for it)."""
        shown = {name: self._word(name, str(value), language) for name, value in params.items()}
        return Label.of({"en": self.en, "zh": self.zh}).get(language).format(**shown)

    def _word(self, name: str, value: str, language: str) -> str:
        translations = self.words.get(name, {}).get(value)
        return Label.of({"en": value, **translations}).get(language) if translations else value

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        """A regular expression matching the English sentence, capturing each placeholder's value."""
        parts, seen, position = [], set(), 0
        for match in PLACEHOLDER.finditer(self.en):
            parts.append(re.escape(self.en[position:match.start()]))
            name = match[1]
            if name in seen:
                parts.append(f"(?P={name})")
            elif name in self.words:  # one of its words, so "modify all Projects" is read as "modify all"
                words = sorted(self.words[name], key=len, reverse=True)
                parts.append(f"(?P<{name}>{'|'.join(map(re.escape, words))})")
            else:
                parts.append(f"(?P<{name}>.+?)")
            seen.add(name)
            position = match.end()
        parts.append(re.escape(self.en[position:]))
        return re.compile("".join(parts), re.DOTALL)


def _zh(**words: str) -> dict[str, dict[str, str]]:
    return {word.replace("_", " "): {"zh": text} for word, text in words.items()}


#: The permissions of docs/permissions.md as the refusals name them ("you do not have permission to export ...").
PERMISSION_WORDS = _zh(read="查看", create="新建", edit="编辑", delete="删除", export="导出", view_all="查看全部",
                       modify_all="修改全部", transfer="转移")

# ---- a record's fields -------------------------------------------------------------------------------------------
REQUIRED = Message("is required.", "此字段为必填项。")
NOT_A_FIELD_MAYBE = Message("is not a field of {object}. Did you mean {suggestion}?",
                            "不是 {object} 的字段。你是否想输入 {suggestion}？")
NOT_A_FIELD = Message("is not a field of {object}.", "不是 {object} 的字段。")
SYSTEM_FIELD = Message("is set by the platform and cannot be changed.", "由平台设置，不能修改。")
COMPUTED = Message("is computed ({type}) and cannot be set.", "是计算字段（{type}），不能设置。")
READ_ONLY = Message("is read-only.", "此字段为只读。")
READ_NOT_EDIT = Message("you may see this field but not change it.", "你可以查看此字段，但不能修改。")
NO_RECORD = Message("there is no {object} record with id {id}.", "不存在 id 为 {id} 的 {object} 记录。")
NO_ACTIVE_USER = Message("there is no active user with id {id}.", "不存在 id 为 {id} 的启用用户。")
DUPLICATE = Message("{value} is already used by another {object} record.", "{value} 已被另一条 {object} 记录使用。")
COMBINATION = Message("another {object} record already has this combination ({values}), which must be unique.",
                      "另一条 {object} 记录已有相同的组合（{values}），该组合必须唯一。")

# ---- values a field type cannot store (crmkit's inputs and marshmallow's own texts) ---------------------------
NOT_WHOLE_NUMBER = Message("Not a valid whole number.", "不是有效的整数。")
NOT_NUMBER = Message("Not a valid number.", "不是有效的数字。")
NOT_INTEGER = Message("Not a valid integer.", "不是有效的整数。")
SPECIAL_NUMBER = Message("Special numeric values (nan or infinity) are not permitted.", "不允许特殊数值（nan 或无穷大）。")
TOO_LARGE = Message("The number is too large.", "数字太大。")
TOO_MANY_DIGITS = Message(
    "The number must have at most {digits} digits before the decimal point (between -{limit} and {limit}).",
    "整数部分最多 {digits} 位（介于 -{limit} 与 {limit} 之间）。")
AMBIGUOUS_NUMBER = Message(
    "'{text}' is ambiguous: it is {plain} written plainly but {local} as written in {locale}; "
    "write it without group separators.",
    "“{text}”有歧义：按普通写法是 {plain}，按{locale}的写法是 {local}；请不要使用千位分隔符。")
NOT_DATE = Message("Not a valid date.", "不是有效的日期。")
NOT_DATETIME = Message("Not a valid datetime.", "不是有效的日期时间。")
OUT_OF_RANGE_MOMENT = Message("The date and time is outside the supported range (years 1 to 9999 in UTC).",
                              "日期时间超出支持的范围（UTC 的 1 年至 9999 年）。")
NOT_EMAIL = Message("Not a valid email address.", "不是有效的邮箱地址。")
NOT_PHONE = Message("Not a valid phone number.", "不是有效的电话号码。")
NOT_WEB_ADDRESS = Message("Not a valid web address (an http or https URL).", "不是有效的网址（须为 http 或 https 地址）。")
NOT_BOOLEAN = Message("Not a valid boolean.", "不是有效的是/否值。")
NOT_TEXT = Message("Not a valid string.", "不是有效的文本。")
NOT_LIST = Message("Not a valid list.", "不是有效的列表。")
NOT_AN_OPTION = Message("Must be one of: {choices}.", "必须是以下选项之一：{choices}。")
TOO_LONG = Message("Longer than maximum length {max}.", "超过最大长度 {max}。")
BETWEEN = Message("Must be greater than or equal to {min} and less than or equal to {max}.",
                  "必须大于或等于 {min} 且小于或等于 {max}。")
AT_LEAST = Message("Must be greater than or equal to {min}.", "必须大于或等于 {min}。")
AT_MOST = Message("Must be less than or equal to {max}.", "必须小于或等于 {max}。")

# ---- dependent picklists (built in the user's language by records.dependent) ------------------------------------
NOT_ALLOWED = Message("'{value}' is not allowed while {controlling} is '{controlling_value}'; allowed: {allowed}.",
                      "{controlling}为“{controlling_value}”时不能选择“{value}”；可选：{allowed}。")
NONE_ALLOWED = Message("no value is allowed while {controlling} is '{controlling_value}'; leave it empty.",
                       "{controlling}为“{controlling_value}”时此字段须留空。")
CONTROLLING_EMPTY = Message("choose {controlling} first: '{value}' is allowed only with some values of it.",
                            "请先选择{controlling}：“{value}”只适用于其部分取值。")

# ---- records as a whole: not found, changed meanwhile, refused ----------------------------------------------------
STALE = Message(
    "{object} {id} was changed by someone else (you edited version {expected}, it is now at version {actual}); "
    "reload it and apply your change again.",
    "{object} {id} 已被他人修改（你编辑的是第 {expected} 版，现在是第 {actual} 版）；请重新加载后再修改。")
NO_PERMISSION = Message("you do not have permission to {action} {objects}.", "你没有{action}{objects}的权限。",
                        words={"action": PERMISSION_WORDS})
SEE_NOT_CHANGE = Message("you may see {object} {id} but not change it.", "你可以查看 {object} {id}，但不能修改。")
MAY_NOT_DELETE = Message(
    "you may not delete {object} {id}: only its owner, users in roles above the owner's and users who may modify "
    "all of them can delete it; ask its owner.",
    "你不能删除 {object} {id}：只有其所有人、角色高于所有人的用户以及可修改全部此类记录的用户才能删除；请联系其所有人。")
CASCADE_REFUSED = Message(
    "{object} {id} cannot be deleted: it has related records that would be deleted with it and that you may not "
    "delete. Ask their owners or an administrator to delete or move them first.",
    "{object} {id} 无法删除：它有会被一并删除、而你无权删除的相关记录。请先让这些记录的所有人或管理员删除或移走它们。")
KEEP_AN_OWNER = Message("a record must keep an owner; give it to someone instead.", "记录必须有所有人；请改为转给他人。")
OWNER_ONLY_GIVES = Message(
    "only the record's owner, people above the owner, or those who may modify all {objects} can give it to "
    "someone else.",
    "只有记录的所有人、所有人的上级或可修改全部{objects}的用户才能把它转给他人。")
GIVE_ONLY_BELOW = Message("you may only give records to yourself or to people below you.",
                          "你只能把记录转给自己或你的下级。")
VALIDATION_FAILED = Message("the record is not valid: {summary}", "记录无效：{summary}")

#: Every template, most specific first: `translated` uses the first that matches the whole sentence.
CATALOG: tuple[Message, ...] = tuple(value for value in dict(globals()).values() if isinstance(value, Message))


def translated(sentence: str, language: str, extra: Sequence[Message] = ()) -> str:
    """`sentence`, an English message of the engine, in `language` ('zh', 'zh-CN', 'en'); else unchanged.

    `extra` are more templates, tried after the catalog: plugins' own (Extensions.messages).
    Only whole sentences are translated: a text no template matches from start to end is
    returned as it is (English, or a message already in the user's language).
    """
    if not sentence or Label.of({"en": "en", "zh": "zh"}).get(language) == "en":
        return sentence  # the sentence is English already
    for message in chain(CATALOG, extra):
        match = message.pattern.fullmatch(sentence)
        if match:
            return message.in_language(language, **match.groupdict())
    return sentence
