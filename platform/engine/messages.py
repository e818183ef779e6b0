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
caller formats a value first (`value=repr(value)`); a brace of the sentence itself is doubled
(`{{"stage": "Won"}}`), as str.format reads it. tests/engine/test_messages.py checks
that every template has a Chinese text with the same placeholders.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from itertools import chain
from typing import Callable, Mapping, Sequence

from crmkit.metadata.model import Label

PLACEHOLDER = re.compile(r"\{(\w+)\}")
HAN = re.compile("[\u4e00-\u9fff]")


@dataclass(frozen=True)
class Message:
    """One sentence in English (`en`) and Chinese (`zh`), with `{name}` placeholders.

    `words` translates the values of a placeholder that is itself a word of the engine
    ({"action": {"delete": {"zh": "删除"}}}), and the sentence is read only with one of
    them there; `open_words` translates the words it knows and leaves any other value as it
    is. `inner` names placeholders whose value is itself a sentence of the engine
    ("sentence"), a validation summary "field: sentence; field: sentence" ("summary") or a
    phrase naming what the sentence is about ("phrase": PHRASES, "the condition on amount"):
    `translated` translates those values too. Other values are shown as they are.
    """

    en: str
    zh: str
    words: Mapping[str, Mapping[str, Mapping[str, str]]] = field(default_factory=dict)
    open_words: Mapping[str, Mapping[str, Mapping[str, str]]] = field(default_factory=dict)
    inner: Mapping[str, str] = field(default_factory=dict)

    def __call__(self, **params: object) -> str:
        """The English sentence with `params` filled in (what errors carry)."""
        return self.en.format(**params)

    def in_language(self, language: str, **params: object) -> str:
        """The sentence in `language` (a tag such as 'zh-CN'; English when there is no text for it)."""
        shown = {name: self._word(name, str(value), language) for name, value in params.items()}
        return _filled(Label.of({"en": self.en, "zh": self.zh}).get(language), shown)

    def _word(self, name: str, value: str, language: str) -> str:
        translations = (self.words.get(name) or self.open_words.get(name) or {}).get(value)
        return Label.of({"en": value, **translations}).get(language) if translations else value

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        """A regular expression matching the English sentence, capturing each placeholder's value."""
        parts, seen, position = [], set(), 0
        for match in PLACEHOLDER.finditer(self.en):
            parts.append(_literal(self.en[position:match.start()]))
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
        parts.append(_literal(self.en[position:]))
        return re.compile("".join(parts), re.DOTALL)


def _literal(text: str) -> str:
    """The text between placeholders as a pattern: `{{` and `}}` (str.format's braces) are one brace."""
    return re.escape(text.replace("{{", "{").replace("}}", "}"))


def _filled(template: str, shown: Mapping[str, str]) -> str:
    """`template` with its placeholders filled; the space around a placeholder is left out where Chinese
    meets Chinese ("的 {object} 记录" with 客户 is "的客户记录"; with account it stays "的 account 记录")."""
    parts, position, previous = [], 0, ""
    for match in [*PLACEHOLDER.finditer(template), None]:
        literal = template[position:match.start() if match else len(template)].replace("{{", "{").replace("}}", "}")
        value = shown[match[1]] if match else ""
        if literal.startswith(" ") and HAN.match(previous[-1:]) and HAN.match(literal[1:2] or value[:1]):
            literal = literal[1:]
        if literal.endswith(" ") and HAN.match(value[:1]) and HAN.match(literal[-2:-1] or previous[-1:]):
            literal = literal[:-1]
        parts += [literal, value]
        if match:
            position, previous = match.end(), value
    return "".join(parts)


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
NO_RECORD = Message("there is no {object} record with id {id}.", "不存在 id 为 {id} 的 {object} 记录。",
                    open_words={"object": _zh(recycle_bin="回收站", share="共享")})
IMPORT_RIGHTS_CHANGED = Message(
    "your permissions changed while the import ran, so it stopped after row {rows}; the rows before it are saved: "
    "resume the import to go on with your permissions of now.",
    "导入进行期间你的权限发生了变化，因此导入在第 {rows} 行之后停止；之前的行已保存：请继续导入，将按你当前的权限进行。")
NO_ACTIVE_USER = Message("there is no active user with id {id}.", "不存在 id 为 {id} 的启用用户。")
DUPLICATE = Message("{value} is already used by another {object} record.", "{value} 已被另一条 {object} 记录使用。")
COMBINATION_IN_BATCH = Message("the combination of {fields} is already used by row {row}, and must be unique.",
                               "{fields} 的组合已被第 {row} 行使用，必须唯一。")
UNIQUE_IN_BATCH = Message("{value} is already used by row {row}, and must be unique.",
                          "{value} 已被第 {row} 行使用，必须唯一。")
COMBINATION = Message("another {object} record already has this combination ({values}), which must be unique.",
                      "另一条 {object} 记录已有相同的组合（{values}），该组合必须唯一。")
COMBINATION_WITH_HIDDEN = Message(
    "another {object} record already has the same values ({values}) together with fields you may not see, "
    "which must be unique together.",
    "另一条 {object} 记录的这些值（{values}）与您无权查看的字段组合相同，该组合必须唯一。")
COMBINATION_ALL_HIDDEN = Message(
    "another {object} record already has the same values in fields you may not see, which must be unique together.",
    "另一条 {object} 记录在您无权查看的字段中的值相同，这些值的组合必须唯一。")

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
DEPENDS_ON_HIDDEN = Message("'{value}' is not allowed with the value of a field you may not see.",
                            "“{value}”与您无权查看的字段的值不相符，不能选择。")
CONTROLLING_EMPTY = Message("choose {controlling} first: '{value}' is allowed only with some values of it.",
                            "请先选择{controlling}：“{value}”只适用于其部分取值。")

# ---- stage transitions (built in the user's language by engine.automation.transitions) ---------------------------
MOVE_NOT_ALLOWED = Message("cannot move from '{previous}' to '{value}'; from '{previous}' it can move to: {allowed}.",
                           "不能从“{previous}”改为“{value}”；从“{previous}”只能改为：{allowed}。")
MOVE_NOWHERE = Message("cannot change once it is '{previous}'.", "为“{previous}”后不能再修改。")
NOT_INITIAL = Message("a new record cannot start at '{value}'; it starts at: {allowed}.",
                      "新记录不能从“{value}”开始；只能从以下值开始：{allowed}。")
REQUIRED_ON_MOVE = Message("is required when {field} moves to '{value}'.", "{field}改为“{value}”时此字段为必填项。")
MOVE_CONDITION = Message("cannot move from '{previous}' to '{value}' now: the move's condition is not met.",
                         "现在不能从“{previous}”改为“{value}”：不满足此变更的条件。")
MOVE_UNCHECKED = Message("the condition of the move of {field} to '{value}' could not be checked: {reason}",
                         "{field}改为“{value}”的条件无法检查：{reason}")
MOVE_UNCHECKED_WITHHELD = Message("the condition of the move of {field} to '{value}' could not be checked; an "
                                  "administrator can see why in the server's log.",
                                  "{field}改为“{value}”的条件无法检查；管理员可在服务器日志中查看原因。")
#: A validation rule that raised: the record is refused. Its reason (the sandbox's sentence) may quote a value of a
#: field hidden from the user or of a related record they cannot see, so only administrators are told it.
VALIDATION_UNCHECKED = Message("the validation rule '{rule}' could not be checked: {reason}",
                               "验证规则“{rule}”无法检查：{reason}")
VALIDATION_UNCHECKED_WITHHELD = Message("the validation rule '{rule}' could not be checked, so the record was not "
                                        "saved; an administrator can see why in the server's log.",
                                        "验证规则“{rule}”无法检查，因此记录未保存；管理员可在服务器日志中查看原因。")

# ---- automation rules --------------------------------------------------------------------------------------------
RUN_LOG_ADMINS_ONLY = Message("the automation run log is for administrators.", "自动化运行日志仅供管理员查看。")
ACTION_FAILED_NO_DETAIL = Message("it gave no detail; the server's log has more.", "未提供详情；服务器日志中有更多信息。")
ACTION_FAILED = Message("the action failed: {reason}", "动作执行失败：{reason}", inner={"reason": "sentence"})
RULE_FAILED = Message("the automation rule '{rule}' could not run: {reason}", "自动化规则“{rule}”无法运行：{reason}")
# What a user who is not an administrator is told of a rule that could not run: its reason may quote values
# (of fields hidden from them, of records they cannot see); the run log keeps it for administrators.
RULE_FAILED_WITHHELD = Message("the automation rule '{rule}' could not run; an administrator can see why in the "
                               "automation log.", "自动化规则“{rule}”无法运行；管理员可在自动化日志中查看原因。")
DEPTH_REACHED = Message("not run: automation rules triggered each other {limit} times in a row, the limit.",
                        "未运行：自动化规则已连续相互触发 {limit} 次，达到上限。")

# ---- dashboards (engine.reports.dashboards) ----------------------------------------------------------------------
NO_DASHBOARD = Message("there is no dashboard named {name}.", "不存在名为 {name} 的仪表板。")
NO_WIDGET = Message("the dashboard {name} has no widget {index}; its widgets are numbered from 0 to fewer than {count}.",
                    "仪表板 {name} 没有编号为 {index} 的组件；其组件编号从 0 开始，小于 {count}。")
WIDGET_NOT_AVAILABLE = Message("this widget is not available to you: it shows records you may not read.",
                               "此组件对你不可用：它显示你无权查看的记录。")
FILTER_NOT_OFFERED = Message("the dashboard {name} has no {filter} filter; the filters it offers: {offered}.",
                             "仪表板 {name} 没有{filter}筛选；可用的筛选：{offered}。",
                             open_words={"filter": _zh(date_range="日期范围", owner="负责人", team="团队")})

# ---- email and webhooks of automation rules (automation/deliveries.py), kept on their outbox rows ----------------
EMAIL_NOT_CONFIGURED = Message("email is not configured: set {variables} (docs/automation.md).",
                               "邮件尚未配置：请设置 {variables}（见 docs/automation.md）。")
EMAIL_TEMPLATE_GONE = Message("the email template '{template}' of {object} no longer exists.",
                              "{object} 的邮件模板“{template}”已不存在。")
EMAIL_NOT_RENDERED = Message("the email template '{template}' could not be rendered: {reason}",
                             "邮件模板“{template}”无法生成：{reason}")
EMAIL_NO_RECIPIENT = Message("not sent: no recipient (none given, or every one opted out).",
                             "未发送：没有收件人（未提供，或都已退订）。")
EMAIL_MAY_HAVE_BEEN_DELIVERED = Message(
    "the worker stopped while the SMTP server was taking the message, so it may have been delivered "
    "(Message-ID {message_id}); it is not sent again by itself: look in the recipient's mailbox, then replay the "
    "row if it did not arrive.",
    "SMTP 服务器接收邮件时工作进程中断，邮件可能已送达（Message-ID {message_id}）；系统不会自动重发：请先确认收件人是否收到，"
    "未收到再重放此行。")
EMAIL_NEEDS_BASE_URL = Message(
    "marketing mail needs an unsubscribe link: set {variable} to the web address of crmkit (for example "
    "https://crm.example.com).",
    "营销邮件需要退订链接：请将 {variable} 设为 crmkit 的网址（例如 https://crm.example.com）。")
SMTP_REFUSED_SENDER = Message("the SMTP server refused the sender: {reply}", "SMTP 服务器拒绝了发件人：{reply}")
SMTP_REFUSED_RECIPIENTS = Message("the SMTP server refused every recipient: {reply}",
                                  "SMTP 服务器拒绝了所有收件人：{reply}")
SMTP_REFUSED_MESSAGE = Message("the SMTP server refused the message: {reply}", "SMTP 服务器拒收了邮件：{reply}")
WEBHOOK_NOT_HTTP = Message("'{url}' is not an http or https URL.", "“{url}”不是 http 或 https 网址。")
WEBHOOK_HOST_NOT_ALLOWED = Message("the webhook's host '{host}' is not allowed: add it to {variable}.",
                                   "Webhook 的主机“{host}”不在允许范围内：请将其加入 {variable}。")
WEBHOOK_INTERNAL_ADDRESS = Message(
    "the webhook's host '{host}' resolves to {address}, an internal address; add its network to {variable} to "
    "allow it.",
    "Webhook 的主机“{host}”解析为内部地址 {address}；如需允许，请将其网段加入 {variable}。")
WEBHOOK_GONE = Message("the webhook's target is gone (410): {answer}", "Webhook 的目标已不存在（410）：{answer}")
WEBHOOK_ERROR_STATUS = Message("the webhook's target answered {status}: {answer}",
                               "Webhook 的目标返回了 {status}：{answer}")
#: The two above when the answer has no text (an empty or blank body: a proxy's or a bare framework's 503).
WEBHOOK_GONE_NO_ANSWER = Message("the webhook's target is gone (410), with no explanation.",
                                 "Webhook 的目标已不存在（410），未附说明。")
WEBHOOK_ERROR_STATUS_NO_ANSWER = Message("the webhook's target answered {status}, with no explanation.",
                                         "Webhook 的目标返回了 {status}，未附说明。")
WEBHOOK_SECRET_MISSING = Message("the webhook's signing secret is not set: set the environment variable {variable}.",
                                 "Webhook 的签名密钥未设置：请设置环境变量 {variable}。")
UNSUBSCRIBE_LINK_INVALID = Message("this unsubscribe link is not valid.", "此退订链接无效。")

# ---- records as a whole: not found, changed meanwhile, refused ----------------------------------------------------
STALE = Message(
    "{object} {id} was changed by someone else (you edited version {expected}, it is now at version {actual}); "
    "reload it and apply your change again.",
    "{object} {id} 已被他人修改（你编辑的是第 {expected} 版，现在是第 {actual} 版）；请重新加载后再修改。")
NO_PERMISSION = Message("you do not have permission to {action} {objects}.", "你没有{action}{objects}的权限。",
                        words={"action": PERMISSION_WORDS})
NO_ACTIVE_USER = Message("there is no active user with id {id}.", "没有 ID 为 {id} 的在用用户。")
NO_ACTIVE_USER_ID = Message("a user id is a whole number, so no active user has the id {id}.",
                            "用户 ID 是一个整数，因此没有 ID 为 {id} 的在用用户。")
RIGHTS_CHANGED = Message(
    "your permissions changed while this transaction ran, so it stopped and none of it is saved; do it again.",
    "此事务进行期间你的权限发生了变化，因此它已停止，其中的更改均未保存；请重新操作。")
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
VALIDATION_FAILED = Message("the record is not valid: {summary}", "记录无效：{summary}", inner={"summary": "summary"})

# ---- deleting, the recycle bin, bulk changes -----------------------------------------------------------------------
RESTRICTED_UNSEEN = Message(
    "{object} {id} cannot be deleted: records you may not see still point to it and their lookup is set to "
    "on_delete: restrict. Delete or re-link them first (ask someone who can see them).",
    "{object} {id} 无法删除：仍有你无权查看的记录指向它，且它们的查找字段设置为 on_delete: restrict。"
    "请先删除这些记录或改为关联其他记录（请联系能查看它们的人）。")
RESTRICTED_ALSO_UNSEEN = Message(
    "{object} {id} cannot be deleted: {listed} and records you may not see still point to it and their lookup is "
    "set to on_delete: restrict. Delete or re-link them first (ask someone who can see them).",
    "{object} {id} 无法删除：仍有 {listed} 以及你无权查看的记录指向它，且它们的查找字段设置为 on_delete: restrict。"
    "请先删除这些记录或改为关联其他记录（请联系能查看它们的人）。")
RESTRICTED = Message(
    "{object} {id} cannot be deleted: {listed} still point to it and their lookup is set to on_delete: restrict. "
    "Delete or re-link them first.",
    "{object} {id} 无法删除：仍有 {listed} 指向它，且它们的查找字段设置为 on_delete: restrict。"
    "请先删除这些记录或改为关联其他记录。")
RESTORE_UNINSTALLED = Message("{object} records cannot be restored: the object is no longer installed.",
                              "{object} 记录无法恢复：该对象已不再安装。")
RESTORE_UNIQUE = Message(
    "{object} {id} cannot be restored: another record now uses {value} in '{field}', which must be unique.",
    "{object} {id} 无法恢复：另一条记录现在在“{field}”中使用了 {value}，该字段的值必须唯一。")
RESTORE_UNIQUE_UNSEEN = Message(
    "{object} {id} cannot be restored: another record now uses one of its unique values, in a field you may not "
    "see; ask someone who can see it.",
    "{object} {id} 无法恢复：另一条记录现在使用了它的某个唯一值，该值位于你无权查看的字段中；请联系能查看该字段的人。")
PURGE_REFUSED = Message(
    "you may not delete {object} records for good: it needs the permission to delete them; ask an administrator.",
    "你不能永久删除 {object} 记录：这需要删除此类记录的权限；请联系管理员。")
RESTORE_REFUSED = Message(
    "you may not restore {object} records: a restore creates the record again, which needs the permission to "
    "create them; ask an administrator.",
    "你不能恢复 {object} 记录：恢复会重新创建记录，这需要创建此类记录的权限；请联系管理员。")
BULK_AS_TEXT = Message("name the records as a list of ids or as {{id: version}}, not as one text.",
                       "请以 id 列表或 {{id: 版本}} 的形式指定记录，而不是一段文本。")
SHARE_EDITORS_ONLY = Message("only those who may edit {object} {id} can share it.",
                             "只有可以编辑 {object} {id} 的用户才能共享它。")
SHARE_OWNERS_ONLY = Message(
    "only the owner of {object} {id}, people above the owner, or those who may modify all of its records can "
    "share it or see its shares.",
    "只有 {object} {id} 的所有人、所有人的上级或可修改全部此类记录的用户才能共享它或查看其共享。")
SHARE_WITH_ONE = Message("share with exactly one user or one team.", "请只共享给一个用户或一个团队。")
EXPORT_UNKNOWN_FIELDS = Message("{object} has no field {fields} to export.", "{object} 没有可导出的字段 {fields}。")
BULK_TOO_MANY = Message("at most {max} records can be changed at once; {count} were chosen.",
                        "一次最多只能修改 {max} 条记录；你选择了 {count} 条。")

# ---- imports (engine/transfer) --------------------------------------------------------------------------------------
IMPORT_NO_FILE = Message("there is no file {path} to import.", "没有要导入的文件 {path}。")
IMPORT_BINARY_WORKBOOK = Message("{path} is an Excel binary workbook (XLSB), which is not imported: its sheet's size "
                                 "cannot be checked before it is read. Save it as XLSX or CSV and import that.",
                                 "{path} 是 Excel 二进制工作簿（XLSB），不能导入：读取前无法检查其工作表大小。"
                                 "请另存为 XLSX 或 CSV 后导入。")
IMPORT_ENCODING = Message("the file's text encoding cannot be told; save it as UTF-8 CSV and import it again.",
                          "无法识别文件的文本编码；请另存为 UTF-8 CSV 后重新导入。")
IMPORT_NO_HEADER = Message("the file has no header row: its first row must name the columns.",
                           "文件没有标题行：第一行必须是各列的名称。")
IMPORT_BAD_CSV = Message("row {row} of the file cannot be read as CSV ({reason}); a cell may be too large "
                         "(at most {limit} characters) or a quote left open.",
                         "文件第 {row} 行无法按 CSV 读取（{reason}）；可能某个单元格过大（最多 {limit} 个字符）或引号未闭合。")
IMPORT_SPREADSHEET_TOO_LARGE = Message("the spreadsheet {name} unpacks to {size} MB, more than the {limit} MB an "
                                       "import reads; split it into smaller files or save it as CSV.",
                                       "电子表格 {name} 解压后为 {size} MB，超过导入可读取的 {limit} MB；"
                                       "请拆分为较小的文件或另存为 CSV。")
IMPORT_TOO_MANY_COLUMNS = Message("the file has {count} columns, more than the {max} an import reads; leave out "
                                  "the columns you do not import, or split them into several files.",
                                  "文件有 {count} 列，超过导入可读取的 {max} 列；请删去不导入的列，或拆分为多个文件。")
IMPORT_SHEET_TOO_LARGE = Message("the first sheet of {name} spans {rows} rows by {columns} columns ({cells} cells), "
                                 "more than the {max} cells an import reads from a spreadsheet; split it into "
                                 "smaller files or save it as CSV.",
                                 "电子表格 {name} 的第一个工作表占 {rows} 行 × {columns} 列（{cells} 个单元格），"
                                 "超过导入可从电子表格读取的 {max} 个单元格；请拆分为较小的文件或另存为 CSV。")
IMPORT_BAD_SPREADSHEET = Message("the spreadsheet {name} cannot be read ({reason}).",
                                 "无法读取电子表格 {name}（{reason}）。")
IMPORT_NO_COLUMN = Message("the file has no column {column}; its columns are: {columns}.",
                           "文件中没有列 {column}；文件的列为：{columns}。")
IMPORT_NOT_IMPORTABLE = Message("the column {column} cannot go to {field}: {object} has no field of that name "
                                "that an import may set.",
                                "列 {column} 不能导入到 {field}：{object} 没有可导入的同名字段。")
IMPORT_FIELD_TWICE = Message("two columns go to the field {field}; map it from one column only.",
                             "有两列都对应字段 {field}；请只让一列对应它。")
IMPORT_NOTHING_MAPPED = Message("no column of the file matches a field of {object}; map the columns to fields.",
                                "文件中没有任何列对应 {object} 的字段；请为各列指定字段。")
IMPORT_FIELD_NOT_EDITABLE = Message("the column {column} goes to the field {field}, which you may not edit: "
                                    "leave the column out of the import.",
                                    "列 {column} 对应字段 {field}，你无权修改该字段：请不要导入这一列。")
IMPORT_NO_SAVED_MAPPING = Message("there is no saved mapping {name} for {object}.",
                                  "{object} 没有名为 {name} 的已保存映射。")
IMPORT_DUPLICATE_ACTION = Message("duplicates are handled by {actions}, not {action}.",
                                  "重复记录的处理方式只能是 {actions}，不能是 {action}。")
IMPORT_UPSERT_NOT_UNIQUE = Message("{object} records are matched for an update by a unique field; {field} is not one.",
                                   "只能按唯一字段匹配要更新的 {object} 记录；{field} 不是唯一字段。")
IMPORT_UPSERT_NOT_MAPPED = Message("no column goes to {field}, the field records are matched by.",
                                   "没有任何列对应用于匹配记录的字段 {field}。")
IMPORT_LOOKUP_MISSING = Message("there is no {object} record {value}.", "不存在 {object} 记录 {value}。")
IMPORT_LOOKUP_AMBIGUOUS = Message("{count} records of {object} are called {value}; name it by a unique field.",
                                  "有 {count} 条 {object} 记录都叫 {value}；请用唯一字段指明。")
IMPORT_OWNER_MISSING = Message("there is no active user {value}.", "不存在有效用户 {value}。")
IMPORT_OWNER_AMBIGUOUS = Message("several users are called {value}; give the username.",
                                 "有多个用户都叫 {value}；请填写用户名。")
IMPORT_DUPLICATE_STORED = Message("a {object} record with the same {rule} exists already: #{id}.",
                                  "已存在 {rule} 相同的 {object} 记录：#{id}。")
IMPORT_DUPLICATE_IN_FILE = Message("row {row} of the file has the same {rule}.", "文件第 {row} 行的 {rule} 与此相同。")
IMPORT_NO_JOB = Message("there is no import {id} of yours.", "不存在你的导入任务 {id}。")
MERGE_CHOICE = Message("choose one record to keep and 1 to {max} other records to merge into it.",
                       "请选择一条要保留的记录，以及 1 到 {max} 条要合并到其中的其他记录。")
MERGE_VALUE = Message("the value of {field} cannot be taken from record {id}: it is not one of the merged records, "
                      "or not a field you may edit.",
                      "不能从记录 {id} 取 {field} 的值：它不是被合并的记录之一，或该字段你无权修改。")
MERGE_UNIQUE_CHILD = Message("these {object} records cannot be merged: each has a related record of a kind that may "
                             "point at one {object} only (or one per combination of values). Delete or move one of "
                             "them first.",
                             "这些{object}记录无法合并：它们各有一条相关记录，而这类记录每个{object}（或每种取值组合）只能有一条。"
                             "请先删除或移走其中一条。")
DUPLICATE_RULE_UNKNOWN = Message("duplicates are found by {rules}, not {rule}.",
                                 "只能按 {rules} 查找重复记录，不能按 {rule}。")
DUPLICATE_RULE_NO_FIELD = Message("{object} has no field to find duplicates by {rule}.",
                                  "{object} 没有可用于按 {rule} 查找重复记录的字段。")

# ---- text no database can store ----------------------------------------------------------------------------------
#: The characters no database stores, as the refusals name them (an unpaired surrogate keeps its code point).
CHARACTER_WORDS = _zh(**{"a NUL character (U+0000)": "NUL 字符（U+0000）"})
UNSTORABLE_VALUE = Message("Contains {character} at position {position}, which cannot be stored; remove it.",
                           "第 {position} 个字符是 {character}，无法存储；请删除它。",
                           open_words={"character": CHARACTER_WORDS})
UNSTORABLE_ANYWHERE = Message(
    "a value contains a character that cannot be stored or searched for (a NUL character or half of a surrogate "
    "pair); remove it and try again.",
    "某个值包含无法存储或搜索的字符（NUL 字符或半个代理对）；请删除后重试。")
UNSEARCHABLE = Message("{what} contains {character}, which cannot be stored or searched for; remove it.",
                       "{what} 包含 {character}，无法存储或搜索；请删除它。", inner={"what": "phrase"},
                       open_words={"character": CHARACTER_WORDS,
                                   "what": _zh(the_search="搜索内容", the_sort_order="排序",
                                               a_field_name_in_the_filter="筛选条件中的字段名",
                                               view_name="视图名称", display_name="显示名称")})

# ---- filters, sorting, searching, pages (crmkit.engine.query) ----------------------------------------------------
UNKNOWN_FIELD_MAYBE = Message("{object} has no field '{name}'. Did you mean '{suggestion}'?",
                              "{object} 没有字段“{name}”。你是否想输入“{suggestion}”？")
UNKNOWN_FIELD_OPERATOR = Message(
    "{object} has no field '{name}'. To use an operator in a query string, write field__operator, "
    "e.g. amount__gte=100.",
    "{object} 没有字段“{name}”。要在查询字符串中使用运算符，请写成 字段__运算符，例如 amount__gte=100。")
UNKNOWN_FIELD = Message("{object} has no field '{name}'.", "{object} 没有字段“{name}”。")
# Said by crmkit.metadata (disclosure_checks.py: RULE_TELLS, AUTOMATION_TELLS, AUTOMATION_COPIES, DEFAULT_COPIES),
# which cannot import this catalog: same words.
DISCLOSURE_RULE = Message(
    "{what} reads {read}, which the permission set '{set}' protects. It is judged on the whole record, so its "
    "refusals would tell a user who may not see {name}, save by save, whether the condition holds for values they "
    "choose. Leave {shown} out of the condition, or add `discloses_protected_fields: true` to accept that.",
    "{what} 读取了 {read}，该字段受权限集“{set}”保护。它按完整记录判断，因此其拒绝会让看不到 {name} 的用户通过一次次"
    "保存，得知条件对其所选的值是否成立。请从条件中去掉 {shown}，或加上 `discloses_protected_fields: true` 表示接受。")
DISCLOSURE_AUTOMATION = Message(
    "{what} reads {read}, which the permission set '{set}' protects. Its condition is judged on the whole record, so "
    "what it does would tell users who may not see {name} whether the condition holds. Leave {shown} out of the "
    "condition, or add `discloses_protected_fields: true` to the rule to accept that.",
    "{what} 读取了 {read}，该字段受权限集“{set}”保护。其条件按完整记录判断，因此它的动作会让看不到 {name} 的用户得知"
    "条件是否成立。请从条件中去掉 {shown}，或在规则上加上 `discloses_protected_fields: true` 表示接受。")
DISCLOSURE_AUTOMATION_COPY = Message(
    "{what} reads {read}, which the permission set '{set}' protects, and sets {copied} from it, which users who may "
    "not see it may read. Leave {shown} out of the value, protect {copied} with a permission set as well, or add "
    "`discloses_protected_fields: true` to the rule to accept that.",
    "{what} 读取了 {read}（该字段受权限集“{set}”保护），并据此设置 {copied}，而看不到前者的用户可以读取 {copied}。"
    "请从取值中去掉 {shown}，同样用权限集保护 {copied}，或在规则上加上 `discloses_protected_fields: true` 表示接受。")
DISCLOSURE_INSTALLED = Message(
    "the permission set '{set}' protects {read}, which {what} of the installed package '{package}' reads: {judged} "
    "would tell a user who may not see {name} whether the condition holds for values they choose. Add "
    "`discloses_protected_fields: true` to that rule (an upgrade of '{package}'), or protect another field.",
    "权限集“{set}”保护 {read}，而已安装的包“{package}”的 {what} 读取了它：{judged}会让看不到 {name} 的用户得知条件对其"
    "所选的值是否成立。请在该规则上加上 `discloses_protected_fields: true`（“{package}”的一次升级），或保护其他字段。",
    words=_zh(its_refusals="其拒绝", what_it_does="它的动作"))
DISCLOSURE_SCORE = Message(
    "a scoring rule of {defaulted} reads {read}, which the permission set '{set}' protects: users who may read "
    "{defaulted} but not {name} would read from the score whether the rule's condition holds. Leave {shown} out of "
    "the condition, or protect {defaulted} with a permission set as well.",
    "{defaulted} 的一条评分规则读取了 {read}，该字段受权限集“{set}”保护：能读取 {defaulted} 却看不到 {name} 的用户，"
    "会从分数得知该规则的条件是否成立。请从条件中去掉 {shown}，或同样用权限集保护 {defaulted}。")
DISCLOSURE_DEFAULT = Message(
    "the default of {defaulted} reads {read}, which the permission set '{set}' protects: users who may read "
    "{defaulted} but not {name} would read it in every record created. Leave {shown} out of the default, or protect "
    "{defaulted} with a permission set as well.",
    "{defaulted} 的默认值读取了 {read}，该字段受权限集“{set}”保护：能读取 {defaulted} 却看不到 {name} 的用户，会在"
    "每条新建记录中读到它的值。请从默认值中去掉 {shown}，或同样用权限集保护 {defaulted}。")
# Raised by crmkit.metadata (errors.py UnknownObject), which cannot import this catalog: same words.
UNKNOWN_OBJECT_MAYBE = Message("there is no object named '{name}'. Did you mean '{suggestion}'?",
                               "没有名为“{name}”的对象。你是否想输入“{suggestion}”？")
UNKNOWN_OBJECT = Message("there is no object named '{name}'.", "没有名为“{name}”的对象。")
NOT_A_DICTIONARY = Message("a filter must be a dictionary of conditions such as {{\"stage\": \"Won\"}}, not {node}.",
                           "筛选条件必须是由条件组成的字典，例如 {{\"stage\": \"Won\"}}，而不是 {node}。")
LIST_OF_CONDITIONS = Message(
    "'{key}' takes a list of conditions, e.g. {{\"{key}\": [{{\"stage\": \"Won\"}}, {{\"amount\": {{\"gt\": 100}}}}]}}.",
    "“{key}”需要一个条件列表，例如 {{\"{key}\": [{{\"stage\": \"Won\"}}, {{\"amount\": {{\"gt\": 100}}}}]}}。")
NOT_A_FIELD_NAME = Message("{key} is not a field name.", "{key} 不是字段名。")
NO_OPERATOR = Message("the condition on {key} names no operator; e.g. {{\"{key}\": {{\"eq\": ...}}}}.",
                      "{key} 的条件没有指定运算符；例如 {{\"{key}\": {{\"eq\": ...}}}}。")
FILTER_NOT_JSON = Message("'filter' is not valid JSON (line {line}, column {column}); write it as a JSON object, "
                          "such as {{\"stage\": \"Won\"}}.",
                          "'filter' 不是有效的 JSON（第 {line} 行第 {column} 列）；请写成 JSON 对象，例如 {{\"stage\": \"Won\"}}。")
FILTER_NOT_AN_OBJECT = Message("'filter' must be a JSON object of conditions, e.g. filter={{\"or\": [...]}}.",
                               "'filter' 必须是由条件组成的 JSON 对象，例如 filter={{\"or\": [...]}}。")
COUNTED_DAYS = Message("'{word}' needs a whole number of {unit} from 1 to {limit}, e.g. {example}.",
                       "“{word}”需要 1 到 {limit} 之间的整数（{unit}），例如 {example}。",
                       open_words={"unit": _zh(days="天数", months="月数")})
SEARCH_RESULTS_COUNT = Message("the number of search results must be a whole number from 1 to {max}.",
                               "搜索结果的数量必须是 1 到 {max} 之间的整数。")
NOT_A_LOOKUP = Message(
    "'{head}' is not a lookup field of {object}, so '{key}' cannot reach another object's field; "
    "lookup fields: {lookups}.",
    "“{head}”不是 {object} 的查找字段，因此“{key}”无法使用其他对象的字段；查找字段：{lookups}。")
TWO_LOOKUPS = Message("'{key}' goes through more than one lookup; filters reach one level deep, like '{example}'.",
                      "“{key}”跨越了多个查找字段；筛选条件只能跨一层，例如“{example}”。")
FILTER_TOO_DEEP = Message("the filter nests 'and', 'or' and 'not' more than {max} levels deep; simplify it.",
                          "筛选条件中 'and'、'or'、'not' 的嵌套超过 {max} 层；请简化。")
NOT_AN_OPERATOR = Message("'{op}' is not an operator (in the condition on {key}); operators: {allowed}.",
                          "“{op}”不是运算符（在 {key} 的条件中）；可用的运算符：{allowed}。")
OPERATOR_NOT_FOR = Message("the operator '{op}' cannot be used on {key} ({type}); allowed: {allowed}.",
                           "运算符“{op}”不能用于 {key}（{type}）；可用：{allowed}。")
TOO_MANY_CONDITIONS = Message("the filter has more than {max} conditions; narrow it down.",
                              "筛选条件超过 {max} 个；请缩小范围。")
BETWEEN_TWO_VALUES = Message("'between' on {key} takes two values [low, high], not {value}.",
                             "{key} 上的 'between' 需要两个值 [下限, 上限]，而不是 {value}。")
TOO_MANY_VALUES = Message("'{op}' on {key} got {count} values; at most {max} are allowed.",
                          "{key} 上的“{op}”收到了 {count} 个值；最多允许 {max} 个。")
IS_NULL_FLAG = Message("'is_null' on {key} takes true or false, not {value}.",
                       "{key} 上的 'is_null' 只能是 true 或 false，而不是 {value}。")
NEEDS_A_VALUE = Message("'{op}' on {key} needs a value.", "{key} 上的“{op}”需要一个值。")
NEEDS_TEXT = Message("'{op}' on {key} needs some text, not {value}.", "{key} 上的“{op}”需要文本，而不是 {value}。")
TEXT_TOO_LONG = Message("'{op}' on {key} got {count} characters of text; at most {max} are allowed.",
                        "{key} 上的“{op}”收到了 {count} 个字符；最多允许 {max} 个。")
VALUE_NEEDS_TEXT = Message("{value} is not a valid value for {key}: it needs text.",
                           "{value} 不是 {key} 的有效值：需要文本。")
BAD_VALUE = Message("'{value}' is not a valid value for {key}: {reason}", "“{value}”不是 {key} 的有效值：{reason}",
                    inner={"reason": "sentence"})
OUTSIDE_CALENDAR = Message("'{text}' reaches outside the calendar (years 1 to 9999).",
                           "“{text}”超出了日历范围（1 年至 9999 年）。")
NOT_A_QUERY_ZONE = Message("'{name}' is not a known time zone; use a name such as 'UTC' or 'Asia/Shanghai'.",
                           "“{name}”不是已知的时区；请使用 'UTC' 或 'Asia/Shanghai' 这样的名称。")
GIVEN_TWICE = Message("'{key}' is given {count} times; give it once.", "“{key}”出现了 {count} 次；只能出现一次。")
ONE_VALUE_ONLY = Message("'{key}' is given {count} times; an operator like '{op}' takes one value.",
                         "“{key}”出现了 {count} 次；“{op}”这样的运算符只接受一个值。")
OPERATOR_WITHOUT_FIELD = Message("'{key}' names an operator but no field; write field__{op}=value.",
                                 "“{key}”只有运算符而没有字段；请写成 字段__{op}=值。")
NOT_A_SORT_ORDER = Message(
    "'{text}' is not a sort order; write field names separated by commas, with '-' before a field to sort it "
    "descending, e.g. sort=-amount,name.",
    "“{text}”不是排序方式；请写出以逗号分隔的字段名，降序的字段前加 '-'，例如 sort=-amount,name。")
TWO_VALUES_COMMA = Message("'{key}' takes two values separated by a comma, e.g. {key}=10,20.",
                           "“{key}”需要两个以逗号分隔的值，例如 {key}=10,20。")
TRUE_OR_FALSE = Message("'{key}' takes true or false, not '{value}'.", "“{key}”只能是 true 或 false，而不是“{value}”。")
FILTER_NESTS_TOO_DEEPLY = Message("'filter' nests too deeply.", "'filter' 嵌套太深。")
WHOLE_NUMBER_RANGE = Message("'{name}' must be a whole number from {low} to {high}, not {value}.",
                             "“{name}”必须是 {low} 到 {high} 之间的整数，而不是 {value}。")
WHOLE_NUMBER_FROM = Message("'{name}' must be a whole number from {low} or more, not {value}.",
                            "“{name}”必须是不小于 {low} 的整数，而不是 {value}。")
SEARCH_TOO_LONG = Message("the search has {count} characters; use at most {max}.",
                          "搜索内容有 {count} 个字符；最多 {max} 个。")
SEARCH_TOO_MANY_WORDS = Message("the search has {count} words; use at most {max}.", "搜索内容有 {count} 个词；最多 {max} 个。")
NOT_SEARCHABLE = Message(
    "{object} has no searchable fields; mark a text field 'searchable: true' or give the object a title field.",
    "{object} 没有可搜索的字段；请把某个文本字段标记为 'searchable: true'，或为该对象设置标题字段。")
SORT_TWICE = Message("the sort order names {name} twice.", "排序中 {name} 出现了两次。")
SORT_TOO_MANY = Message("a list can be sorted by at most {max} fields, not {count}.",
                        "列表最多可按 {max} 个字段排序，而不是 {count} 个。")
NOT_A_SORT_FIELD = Message("{item} is not a sort field; write a field name, with '-' before it for descending.",
                           "{item} 不是排序字段；请写字段名，降序时在前面加 '-'。")
SORT_OWN_FIELDS = Message("lists sort by their own fields, not by '{name}' of a linked record.",
                          "列表只能按自身的字段排序，不能按关联记录的“{name}”排序。")
UNSORTABLE = Message("{object} cannot be sorted by {field} ({type}); sort by another field.",
                     "{object} 不能按 {field}（{type}）排序；请按其他字段排序。")
INVALID_CURSOR = Message("this page link (cursor) is damaged or out of date; start again from the first page.",
                         "此分页链接（游标）已损坏或已过期；请从第一页重新开始。")
CURSOR_OTHER_SORT = Message(
    "this page link (cursor) was made for another sort order ({made}), not {order}; start again from the first page.",
    "此分页链接（游标）是为另一种排序（{made}）生成的，而不是 {order}；请从第一页重新开始。")
PAGE_SIZE = Message("the page size (limit) must be a whole number from 1 to {max}, not {value}.",
                    "每页条数（limit）必须是 1 到 {max} 之间的整数，而不是 {value}。")
OFFSET_RANGE = Message("the offset must be a whole number from 0 to {max}, not {value}.",
                       "偏移量（offset）必须是 0 到 {max} 之间的整数，而不是 {value}。")
CHANGES_CURSOR_AHEAD = Message(
    "since={after} is ahead of the change log (its newest change is {newest}): give a cursor the change feed "
    "returned (next_cursor), or none to start at the oldest change kept.",
    "since={after} 超出了变更日志（最新的变更为 {newest}）：请使用变更源返回的游标（next_cursor），或不提供游标以从保留的最早变更开始。")
CHANGES_EXPIRED = Message(
    "the changes after cursor {after} are no longer kept (the change log keeps the last {days} days): read the "
    "records again (a full sync), then read the changes from cursor {oldest} on.",
    "游标 {after} 之后的变更已不再保留（变更日志只保留最近 {days} 天）：请重新读取记录（完整同步），"
    "然后从游标 {oldest} 开始读取变更。")
CURSOR_OR_OFFSET = Message("give either a cursor (after) or an offset, not both.",
                           "请只指定游标（after）或偏移量（offset）之一，不能同时指定。")
NOT_GROUPABLE = Message("cannot group {object} by '{field}', a {type} field; records are grouped by a picklist.",
                        "不能按“{field}”（{type} 字段）对 {object} 分组；记录只能按选项列表字段分组。")
NOT_SUMMABLE = Message("cannot total '{field}', a {type} field; totals are of numbers.",
                       "不能对“{field}”（{type} 字段）求和；只能对数字求和。")
TIMELINE_PAGE = Message("a timeline page holds 1 to {max} entries.", "时间线每页包含 1 到 {max} 条。")
FILTER_CANNOT_BE_STORED = Message("the filter cannot be stored: use text, numbers, true/false, lists and mappings.",
                                  "筛选条件无法保存：请只使用文本、数字、true/false、列表和映射。")
RECENT_ITEMS_COUNT = Message("the number of recent items must be a whole number from 1 to {max}.",
                             "最近访问项的数量必须是 1 到 {max} 之间的整数。")

# ---- users, teams, roles and grants (crmkit.engine.security) -----------------------------------------------------
#: The things a user administrator names, as UserError's sentences call them.
USER_TEXT_WORDS = _zh(email_address="邮箱地址", display_name="显示名称", search_text="搜索文本", page_cursor="分页游标",
                      label="标签", team_name="团队名称", role_name="角色名称", permission_set_name="权限集名称",
                      view_name="视图名称", token_name="令牌名称")
NAME_WORDS = _zh(team="团队", role="角色", permission_set="权限集", display="显示", token="令牌")
NOT_A_USERNAME = Message("{username} is not a valid username: use 2 to 150 letters, digits, '.', '_', '-' or '@'.",
                         "{username} 不是有效的用户名：请使用 2 到 150 个字母、数字或 '.'、'_'、'-'、'@'。")
NOT_A_LANGUAGE = Message("{tag} is not a known language: use a code like 'en', 'zh', 'zh-CN' or 'de'.",
                         "{tag} 不是已知的语言：请使用 'en'、'zh'、'zh-CN' 或 'de' 这样的代码。")
USER_TEXT_UNSTORABLE = Message(
    "the {what} contains a character that cannot be stored (a NUL character or half of a surrogate pair); "
    "remove it.",
    "{what} 包含无法存储的字符（NUL 字符或半个代理对）；请删除它。", open_words={"what": USER_TEXT_WORDS})
NOT_AN_EMAIL_ADDRESS = Message("{email} is not an email address.", "{email} 不是邮箱地址。")
NAME_LENGTH = Message("a {what} name must have 1 to {length} characters; {value} does not.",
                      "{what} 名称必须为 1 到 {length} 个字符；{value} 不符合。", open_words={"what": NAME_WORDS})
USERNAME_TAKEN = Message("the username {username} is already taken.", "用户名 {username} 已被占用。")
NO_USER_NUMBER = Message("there is no user with id {id}: a user id is a whole number.",
                         "不存在 id 为 {id} 的用户：用户 id 是整数。")
NO_USER = Message("there is no user with id {id}.", "不存在 id 为 {id} 的用户。")
TEAM_TAKEN = Message("there is already a team named {name}.", "已存在名为 {name} 的团队。")
VIEW_NO_TEAM = Message("there is no team with id {id} to share the view with.", "不存在可共享此视图的团队（id 为 {id}）。")
NO_TEAM_NUMBER = Message("there is no team with id {id}: a team id is a whole number.",
                         "不存在 id 为 {id} 的团队：团队 id 是整数。")
NO_TEAM = Message("there is no team with id {id}.", "不存在 id 为 {id} 的团队。")
GRANT_TO_ONE = Message("a permission set is granted to a user or to a role: give exactly one of them.",
                       "权限集授予一个用户或一个角色：请只指定其中之一。")
NO_ROLE_MAYBE = Message("there is no role {role}. Did you mean '{suggestion}'? The roles are: {roles}.",
                        "不存在角色 {role}。你是否想输入“{suggestion}”？现有角色：{roles}。")
NO_ROLE = Message("there is no role {role}. The roles are: {roles}.", "不存在角色 {role}。现有角色：{roles}。")
NO_ROLES_INSTALLED = Message(
    "there is no role {role}. No installed package defines roles; install one first (crmkit install PACKAGE).",
    "不存在角色 {role}。已安装的包都没有定义角色；请先安装一个（crmkit install PACKAGE）。")
NO_PERMISSION_SET_MAYBE = Message(
    "there is no permission set {name}. Did you mean '{suggestion}'? The permission sets are: {sets}.",
    "不存在权限集 {name}。你是否想输入“{suggestion}”？现有权限集：{sets}。")
NO_PERMISSION_SET = Message("there is no permission set {name}. The permission sets are: {sets}.",
                            "不存在权限集 {name}。现有权限集：{sets}。")
LAST_ADMIN = Message(
    "this is the last active administrator, so they cannot be {change}; make someone else an administrator first.",
    "这是最后一位启用的管理员，因此不能{change}；请先让其他人成为管理员。",
    words={"change": _zh(deactivated="被停用", given_that_role="改为该角色",
                         left_without_the_admin_permission_set="失去管理员权限集")})
DEACTIVATE_YOURSELF = Message("you cannot deactivate your own account; ask another administrator.",
                              "你不能停用自己的账户；请联系其他管理员。")
MANAGE_USERS_NEEDED = Message("managing users needs the manage_users permission; ask an administrator.",
                              "管理用户需要 manage_users 权限；请联系管理员。")
ADMIN_CHANGES_ADMIN = Message("only an administrator can change an administrator's account.",
                              "只有管理员才能修改管理员的账户。")
ADMIN_GRANTS_SET = Message(
    "only an administrator can grant or revoke the permission set {name}: it carries platform permissions.",
    "只有管理员才能授予或撤销权限集 {name}：它包含平台权限。")
ADMIN_OWN_ACCESS = Message("you cannot change your own access; ask an administrator.",
                           "你不能修改自己的访问权限；请联系管理员。")
ADMIN_OWN_ROLE = Message("you cannot change the access of your own role; ask an administrator.",
                         "你不能修改自己所属角色的访问权限；请联系管理员。")
ADMIN_HOLDS_MORE = Message(
    "only an administrator can change this account: it holds permission sets you do not ({names}).",
    "只有管理员才能修改此账户：它拥有你没有的权限集（{names}）。")
ADMIN_GRANTS_ONLY_HELD = Message(
    "you can grant or revoke only permission sets you hold yourself, and {name} is not one of them; ask an "
    "administrator.",
    "你只能授予或撤销自己拥有的权限集，而 {name} 不在其中；请联系管理员。")
PRIVACY_PERMISSION_NEEDED = Message("privacy requests need the manage_privacy permission.",
                                    "隐私请求需要 manage_privacy 权限。")
OWN_PASSWORD_IN_SETTINGS = Message(
    "change your own password on your settings page, which asks for the current one.",
    "请在“设置”页面修改你自己的密码，那里会要求输入当前密码。")
OLD_TIME_ZONE = Message("{zone} is an old name of a time zone; use {target} instead.",
                        "{zone} 是时区的旧名称；请改用 {target}。")
NOT_A_TIME_ZONE = Message("{zone} is not a time zone name; use one like 'UTC', 'Europe/Berlin' or 'Asia/Shanghai'.",
                          "{zone} 不是时区名称；请使用 'UTC'、'Europe/Berlin' 或 'Asia/Shanghai' 这样的名称。")
LOGIN_FAILED = Message("the username or password is incorrect.", "用户名或密码不正确。")
CURRENT_PASSWORD_WRONG = Message("the current password is incorrect.", "当前密码不正确。")
SESSION_ENDED = Message("your session has ended; sign in again.", "你的会话已结束；请重新登录。")
TOO_MANY_NAMED = Message("at most {max} users can be named at once; {count} were asked for.",
                         "一次最多只能查询 {max} 个用户；请求了 {count} 个。")
NO_TOKEN = Message("there is no API token with id {id}.", "不存在 id 为 {id} 的 API 令牌。")
USER_DEACTIVATED = Message("{username} is deactivated; activate the user before creating a token.",
                           "{username} 已停用；请先启用该用户再创建令牌。")

# ---- saved views (crmkit.engine.saved_views) ---------------------------------------------------------------------
NO_SAVED_VIEW = Message("there is no saved view with id {id}.", "不存在 id 为 {id} 的已保存视图。")
VIEW_UNUSABLE = Message(
    "the view {name} filters on fields you cannot see or that no longer exist, so it cannot be used; ask its owner "
    "to change it, or choose another view.",
    "视图 {name} 的筛选条件使用了你无权查看或已不存在的字段，因此无法使用；请让其所有人修改，或选择其他视图。")
VIEW_OWNER_ONLY = Message("only the owner of the view {name} or an administrator can change or delete it.",
                          "只有视图 {name} 的所有人或管理员才能修改或删除它。")
VIEW_NAME_TEXT = Message("a view's name is text, or text per language such as {{'en': ..., 'zh': ...}}.",
                         "视图名称是文本，或按语言分别给出的文本，例如 {{'en': ..., 'zh': ...}}。")
VIEW_OF_ANOTHER_OBJECT = Message("saved view {id} is a view of another object, not of {object}.",
                                 "已保存视图 {id} 属于另一个对象，而不是 {object}。")
VIEW_COLUMNS = Message("a view shows 1 to {max} different columns; name each field once.",
                       "视图显示 1 到 {max} 个不同的列；每个字段只能出现一次。")
VIEW_NOT_A_COLUMN = Message("{column} is not a column: name a field of {object}.", "{column} 不是列：请指定 {object} 的字段。")
VIEW_FILTER_TOO_LONG = Message("the filter is too long to save; a saved filter has at most {max} characters.",
                               "筛选条件太长，无法保存；保存的筛选条件最多 {max} 个字符。")
VIEW_SHARED_WITH = Message("a view is shared with one of: {choices}; not {given}.",
                           "视图只能共享给以下之一：{choices}；不能是 {given}。")
VIEW_NO_ROLE = Message("there is no role {role} to share the view with.", "不存在可共享此视图的角色 {role}。")
VIEW_NAME_LANGUAGES = Message("a view needs a name, in at most {max} languages.", "视图需要名称，最多可用 {max} 种语言。")
VIEW_NAME_LENGTH = Message("a view's name has 1 to {max} characters; {name} does not.",
                           "视图名称须为 1 到 {max} 个字符；{name} 不符合。")
ADMINS_ONLY = Message("only administrators may {what}.", "只有管理员才能{what}。", open_words={"what": _zh(
    see_every_shared_view="查看所有共享视图", share_a_view_with_everyone="把视图共享给所有人",
    share_a_view_with_a_role_other_than_their_own="把视图共享给其他角色",
    share_a_view_with_a_team_they_are_not_a_member_of="把视图共享给自己不在其中的团队")})

# ---- reports (crmkit.engine.reports, crmkit.engine.query.aggregate) ----------------------------------------------
NO_REPORT = Message("there is no report named '{name}'.", "不存在名为“{name}”的报表。")
REPORT_NOT_RUNNABLE = Message("the report '{report}' cannot be run: {reason}", "报表“{report}”无法运行：{reason}",
                              inner={"reason": "sentence"})
REPORT_NOT_READABLE = Message("the report '{report}' cannot be run for you: {reason}",
                              "报表“{report}”无法为你运行：{reason}", inner={"reason": "sentence"})
REPORT_READS_HIDDEN = Message("the report '{report}' reads fields you may not see: it cannot be run for you.",
                              "报表“{report}”读取了你无权查看的字段，无法为你运行。")
REPORT_PAGE_FILTER = Message("the report '{report}' can be filtered on the page by {allowed}, not by '{field}'.",
                             "报表“{report}”在页面上只能按 {allowed} 筛选，不能按“{field}”筛选。")
REPORT_NOT_GROUPABLE = Message("'{field}' is a {type} field: a report cannot group by it.",
                               "“{field}”是 {type} 字段：报表不能按它分组。")
REPORT_BUCKET_NEEDS_DATE = Message("'{field}' is a {type} field: date buckets need a date or date/time field.",
                                   "“{field}”是 {type} 字段：日期分段需要日期或日期时间字段。")
REPORT_RANGES_NEED_NUMBER = Message("'{field}' is a {type} field: ranges need a number field.",
                                    "“{field}”是 {type} 字段：数值区间需要数字字段。")
REPORT_AGGREGATE_NEEDS_FIELD = Message("the {function} of aggregate '{name}' needs a field.",
                                       "汇总“{name}”的 {function} 需要一个字段。")
REPORT_NOT_AGGREGATED = Message("'{field}' is a {type} field: {function} needs {needed}.",
                                "“{field}”是 {type} 字段：{function} 需要{needed}。",
                                words={"needed": _zh(**{"a number field": "数字字段",
                                                        "a number, date or text field": "数字、日期或文本字段",
                                                        "a field with one value": "单值字段",
                                                        "date fields": "日期字段"})})
REPORT_DAYS_BETWEEN = Message("days_between names two fields: [start, end].", "days_between 需要两个字段：[开始, 结束]。")
REPORT_EXPORT_FORMAT = Message("a report is exported as csv, xlsx or json, not '{format}'.",
                               "报表只能导出为 csv、xlsx 或 json，不能导出为“{format}”。")
REPORT_KEY = Message("the report '{report}' has no group {key}: give one value per grouping level, as the report returned it.",
                     "报表“{report}”没有分组 {key}：请按报表返回的样子为每个分组层级给出一个值。")
REPORT_DATE_RANGE = Message("a date range is (first day, last day), each a date or None; not {value}.",
                            "日期范围是（第一天，最后一天），每个是日期或 None；不能是 {value}。")
REPORT_NO_TEAM = Message("there is no team with id {id}.", "不存在 id 为 {id} 的团队。")
REPORT_NONE = Message("(none)", "（无）")
#: The group of records with no date (a date bucket) or no number (a range): named by what is missing.
REPORT_NO_FIELD = Message("No {field}", "无{field}")
#: Date buckets that CLDR has no skeleton for (reports/labels.py): an ISO week, a fiscal year and its quarters.
#: Labels, not sentences: kept out of CATALOG (a global Message), so `translated` never reads a sentence as one.
BUCKET_LABELS: Mapping[str, Message] = {
    "week": Message("{year}-W{week}", "{year}年第{week}周"),
    "fiscal_year": Message("FY{year}", "{year}财年"),
    "fiscal_quarter": Message("FY{year} Q{quarter}", "{year}财年第{quarter}季度"),
}
REPORT_FORMULA = Message("the summary formula {expression} may use only aggregate names, numbers, + - * / and "
                         "parentheses.", "汇总公式 {expression} 只能使用汇总名称、数字、+ - * / 和括号。")
REPORT_FORMULA_NAME = Message("the summary formula names '{name}', which is no aggregate of the report.",
                              "汇总公式引用了“{name}”，它不是该报表的汇总。")

# ---- the installed metadata (crmkit.engine.crm) -----------------------------------------------------------------
#: Every call and page of a server answers this while the installed packages need field types of plugins other than
#: those it loaded when it started (a plugin pip-installed and a package using it installed meanwhile; a plugin
#: removed). `problems` are the metadata checks' own lines (English).
PLUGINS_CHANGED = Message(
    "the installed packages need plugins other than those this process loaded when it started: a plugin was "
    "installed or removed since. Restart the server (and `crmkit worker`) so that they load the plugins installed "
    "now; if a plugin that provides a field type was removed, install it again. What does not validate: {problems}",
    "已安装的包所需的插件与本进程启动时加载的插件不同：此后安装或删除了插件。请重启服务器（以及 `crmkit worker`），"
    "使其加载现在已安装的插件；如果删除了提供字段类型的插件，请重新安装它。无法通过校验的内容：{problems}")


# ---- problem titles (CrmkitError.title, the API's problem+json `title`) and the API's HTTP error sentences ---------
#: Each error class's short heading by its English text, in Chinese: `title_in` gives it in a caller's language.
#: tests/api checks that every CrmkitError subclass's title is here.
TITLES: Mapping[str, str] = {
    "Admin code failed": "管理员代码运行失败", "Admin code too costly": "管理员代码耗费过多",
    "Authentication needed": "需要身份验证", "Automation action refused": "自动化动作被拒绝",
    "Cannot delete": "无法删除", "Cannot restore": "无法恢复", "Changed by someone else": "已被他人修改",
    "Configuration problem": "配置问题", "Connection lost": "连接中断", "Dashboard not available": "仪表板不可用",
    "Database busy": "数据库繁忙", "Database unavailable": "数据库不可用", "Demo data not possible": "无法创建演示数据",
    "Email not configured": "邮件尚未配置", "File cannot be read": "无法读取文件", "Gone": "已不再保留",
    "Invalid database URL": "数据库网址无效", "Invalid metadata": "元数据无效", "Invalid query": "查询无效",
    "Invalid record": "记录无效", "Invalid records": "记录无效", "Invalid text": "文本无效",
    "Merge not possible": "无法合并", "Migration refused": "迁移被拒绝", "No database": "没有数据库",
    "Not allowed": "不允许", "Not found": "未找到", "Number out of range": "数字超出范围",
    "Password not changed": "密码未修改", "Permissions changed": "权限已变更", "Plugin not loaded": "插件未加载", "Report not available": "报表不可用",
    "Request not possible": "无法处理请求", "Sign-in failed": "登录失败", "Signed out": "已退出登录",
    "Too many attempts": "尝试次数过多", "Unknown object": "未知对象", "Unknown report": "未知报表",
    "Unknown team": "未知团队", "Unknown user": "未知用户", "Unsubscribe link not valid": "退订链接无效",
    "Unsupported media type": "不支持的媒体类型", "User change not possible": "无法修改用户",
    "Version needed": "需要版本号", "View not saved": "视图未保存", "View not usable": "视图不可用",
    "Webhook refused": "Webhook 被拒绝",
}

#: HTTP errors that are not the engine's, by status code, in Chinese (the English text is the status's name).
HTTP_TITLES: Mapping[int, str] = {
    400: "请求无效", 401: "需要身份验证", 403: "禁止访问", 404: "未找到", 405: "不支持该方法", 406: "无法接受",
    409: "冲突", 412: "前提条件不满足", 413: "请求内容过大", 415: "不支持的媒体类型", 422: "无法处理的内容",
    428: "需要前提条件", 429: "请求过多", 500: "服务器内部错误", 503: "服务不可用",
}


def title_in(title: str, language: str, status: int | None = None) -> str:
    """A problem's title in `language` ('en', 'zh', 'zh-CN'): a TITLES heading, else the HTTP status's
    (HTTP_TITLES, when `status` is given and `title` is not an engine title); else `title` unchanged."""
    chinese = TITLES.get(title) or (HTTP_TITLES.get(status) if status is not None else None)
    return Label.of({"en": title, "zh": chinese}).get(language) if chinese else title


HTTP_BAD_REQUEST = Message("the request could not be understood.", "无法理解该请求。")
HTTP_TOKEN_NEEDED = Message("a valid API token is needed.", "需要有效的 API 令牌。")
HTTP_FORBIDDEN = Message("you may not do this.", "你无权执行此操作。")
HTTP_NOT_FOUND = Message("there is nothing at this address.", "此地址下没有内容。")
HTTP_METHOD = Message("this address does not take that method.", "此地址不接受该方法。")
HTTP_JSON_ONLY = Message("the API answers with application/json only.", "API 只以 application/json 应答。")
HTTP_TOO_LARGE = Message("what was sent is too large.", "发送的内容过大。")
HTTP_SEND_JSON = Message("send the body as application/json.", "请以 application/json 发送请求体。")
HTTP_TOO_MANY = Message("too many requests for this token: wait before trying again.",
                        "此令牌的请求过多：请稍后再试。")
HTTP_SERVER_ERROR = Message("an unexpected problem occurred on the server; it has been logged.",
                            "服务器发生意外问题；已记录日志。")

# The REST API's own sentences (crmkit/api): a bad header, body or parameter of a call.
API_TOKEN_NEEDED = Message("a valid API token is needed: send it as 'Authorization: Bearer <token>'.",
                           "需要有效的 API 令牌：请以 'Authorization: Bearer <token>' 发送。")
API_TOKEN_UNKNOWN = Message("the API token is unknown, revoked or expired.", "API 令牌不存在、已被吊销或已过期。")
API_SEND_JSON = Message("send the body as application/json.", "请以 application/json 发送请求体。")
API_BODY_NOT_JSON = Message("the body is not valid JSON.", "请求体不是有效的 JSON。")
API_BODY_NOT_OBJECT = Message("the body must be a JSON object.", "请求体必须是 JSON 对象。")
API_IF_MATCH_NEEDED = Message("send the version you read as 'If-Match: \"<version>\"' (the record's ETag).",
                              "请以 'If-Match: \"<版本>\"' 发送您读取时的版本（记录的 ETag）。")
API_IF_MATCH_BAD = Message("If-Match must hold a record version such as \"3\", not {value}.",
                           "If-Match 必须是记录版本（例如 \"3\"），而不是 {value}。")
API_FLAG = Message("{name} must be true or false, not {value}.", "{name} 必须是 true 或 false，而不是 {value}。")
API_NO_SUCH_FIELD = Message("{object} has no field {field} you may read; fields are {fields}.",
                            "{object} 没有您可以读取的字段 {field}；可用字段为 {fields}。")
API_LIMIT = Message("limit must be a whole number from 1 to {max}, not {value}.",
                    "limit 必须是 1 到 {max} 之间的整数，而不是 {value}。")
API_OPERATIONS = Message("'operations' must be a list of 1 to {max} operations.",
                         "'operations' 必须是包含 1 到 {max} 个操作的列表。")
API_OPERATION_SHAPE = Message("each operation is an object with a 'method' and a 'path' (such as \"/objects/account\").",
                              "每个操作都是带有 'method' 和 'path'（例如 \"/objects/account\"）的对象。")
API_OPERATION_REF = Message("'ref' must be a new name of letters, digits and _, not {value}.",
                            "'ref' 必须是由字母、数字和 _ 组成的新名称，而不是 {value}。")
API_NOT_RECORD_OPERATION = Message("{method} {path} is not a record operation.", "{method} {path} 不是记录操作。")
API_OPERATION_BODY = Message("an operation's 'body' must be a JSON object.", "操作的 'body' 必须是 JSON 对象。")
API_OPERATION_DEPTH = Message("an operation's values may nest at most {max} levels of lists and objects.",
                              "操作的值中列表和对象最多嵌套 {max} 层。")
API_UNKNOWN_REF = Message("@{{{ref}.{name}}} names no earlier operation's 'ref'.",
                          "@{{{ref}.{name}}} 没有指向前面任何操作的 'ref'。")
API_REF_NO_VALUE = Message("the result of '{ref}' has no {name}.", "'{ref}' 的结果中没有 {name}。")
API_VIA_NEEDED = Message("{child} points at {object} through {lookups}: say which with ?via=.",
                         "{child} 通过 {lookups} 指向 {object}：请用 ?via= 指明使用哪一个。")
API_NO_LOOKUP_NAMED = Message("{child} has no lookup named {via} pointing at {object}.",
                              "{child} 没有名为 {via} 且指向 {object} 的查找字段。")
API_NO_LOOKUP = Message("{child} has no lookup pointing at {object}.", "{child} 没有指向 {object} 的查找字段。")
API_DATE = Message("{name} must be a date such as 2026-03-31, not {value}.",
                   "{name} 必须是日期（例如 2026-03-31），而不是 {value}。")
API_WHOLE_NUMBER = Message("{name} must be a whole number, not {value}.", "{name} 必须是整数，而不是 {value}。")
API_OWNER = Message("owner must be a user id (a whole number).", "owner 必须是用户 id（整数）。")
API_REPORT_FILTER = Message("filter must be a JSON object of the report's page filters.",
                            "filter 必须是由报表页面筛选条件组成的 JSON 对象。")
CHANGES_SINCE = Message("since must be a cursor the change feed gave (next_cursor), not {value}.",
                        "since 必须是变更订阅给出的游标（next_cursor），而不是 {value}。")

#: Every template, most specific first: `translated` uses the first that matches the whole sentence with whole quoted
#: values in its placeholders (`_template_of`). Those holding a
#: validation summary (`inner` kind "summary") come first: "the record is not valid: email: 'a@b.cn' is already
#: used by another contact record." is the summary around DUPLICATE, which alone would read all before "is already
#: used" as its value.
CATALOG: tuple[Message, ...] = tuple(sorted(
    (value for value in dict(globals()).values() if isinstance(value, Message)),
    key=lambda message: "summary" not in message.inner.values()))

#: Phrases that name what a sentence is about (`inner` kind "phrase": UNSEARCHABLE's `what`), kept out of CATALOG:
#: "the condition on {key}" would read any sentence starting so as a phrase.
#: (Fixed phrases are the sentence's `open_words`.)
PHRASES: tuple[Message, ...] = (Message("the condition on {key}", "{key} 上的条件"),)


#: Where a validation summary ("name: is required.; stage: Must be one of: A, B.") starts a field's part: a
#: field's name, or a key that is not one quoted ("'first name': is not a field of deal.", records/errors.py).
SUMMARY_PART = re.compile(r"(?:^|; )(\w+|'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"): ")
#: Where one sentence of a field's part may end and the next begin: a field's sentences are joined by a space
#: ("Must be one of: A, B. Must be one of: A, B.").
SENTENCE_END = re.compile(r"(?<=[.?!]) ")


def translated(sentence: str, language: str, extra: Sequence[Message] = (),
               names: Callable[[str, str | None], str | None] | None = None, subject: str | None = None) -> str:
    """`sentence`, an English message of the engine, in `language` ('zh', 'zh-CN', 'en'); else unchanged.

    `extra` are more templates, tried after the catalog: plugins' own (Extensions.messages).
    `names(object, field)` gives the label in `language` of an object (field None) or of one of
    its fields, by API name (None: no such object or field); it names `{object}` and, in a
    sentence that names its object, `{field}` placeholders. Without it they stay API names.
    `subject` is the object the sentence is about when the sentence does not say (a list's or
    a record's object: a filter's "'abc' is not a valid value for amount"): with `names`, a
    `{key}` or `{field}` placeholder holding one of its fields' API names is named by the
    field's label, in English too ("... for Amount", "……不是 金额 的有效值").
    Only whole sentences are translated: a text no template matches from start to end is
    returned as it is (English, or a message already in the user's language). The sentences
    inside a sentence (`Message.inner`) are translated the same way.
    """
    english = Label.of({"en": "en", "zh": "zh"}).get(language) == "en"
    if not sentence or (english and (subject is None or names is None)):
        return sentence  # the sentence is English already, with no field to name
    found = _template_of(sentence, extra)
    if found is None:
        return sentence
    message, match = found
    params = match.groupdict()
    if english and not _names_a_field(params, subject, names) and "summary" not in message.inner.values() \
            and not (names is not None and (params.get("report") or "sentence" in message.inner.values())):
        return sentence
    for name, kind in message.inner.items():
        if kind == "summary":
            params[name] = _summary(params[name], language, extra, names, subject)
        elif kind == "phrase":
            params[name] = _phrase(params[name], language, names, subject)
        else:  # a sentence inside: about the same subject ("the report ... cannot be run: 'x' is not ... for amount")
            params[name] = translated(params[name], language, extra, names, subject)
    if names is not None and params.get("report"):
        params["report"] = names(REPORT_NAMES, params["report"]) or params["report"]
    if names is not None and params.get("object"):
        if params.get("field"):
            params["field"] = names(params["object"], params["field"]) or params["field"]
        params["object"] = names(params["object"], None) or params["object"]
    elif names is not None and subject is not None:
        for name in SUBJECT_FIELD_PLACEHOLDERS:
            if params.get(name):
                params[name] = names(subject, params[name]) or params[name]
    return message.in_language(language, **params)


#: A quoted value as the engine shows one (repr: 'a', "it's", 'a\\'b'), and an apostrophe inside a word (O'Brien).
QUOTED_VALUE = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
WORD_APOSTROPHE = re.compile(r"(?<=\w)'(?=\w)")


def _template_of(sentence: str, extra: Sequence[Message]) -> tuple[Message, re.Match[str]] | None:
    """The template `sentence` was written from, with its match; None when no template matches it whole.

    The first template (CATALOG, then `extra`) whose every placeholder holds whole quoted values;
    failing that, the first that matches at all. A value may hold another template's words
    ("limit must be ..., not 'x must be true or false, not y'."): read by that other template,
    a placeholder would start or end inside the quoted value ("limit must be ..., not 'x"),
    which the sentence's own template never does.
    """
    first = None
    for message in chain(CATALOG, extra):
        match = message.pattern.fullmatch(sentence)
        if match is None:
            continue
        if all(_whole_quotes(value) for value in match.groupdict().values()):
            return message, match
        first = first or (message, match)
    return first


def _whole_quotes(value: str) -> bool:
    """Whether every quote in a placeholder's `value` opens or closes a whole quoted value (or is a word's apostrophe)."""
    rest = QUOTED_VALUE.sub("", WORD_APOSTROPHE.sub("", value))
    return "'" not in rest and '"' not in rest


def _phrase(text: str, language: str, names: Callable[[str, str | None], str | None] | None,
            subject: str | None) -> str:
    """A PHRASES text in `language` (a field named by its label where `names` and `subject` allow); else as it is."""
    for message in PHRASES:
        match = message.pattern.fullmatch(text)
        if match:
            params = match.groupdict()
            if names is not None and subject is not None and params.get("key"):
                params["key"] = names(subject, params["key"]) or params["key"]
            return message.in_language(language, **params)
    return text


#: Placeholders that name a field of the sentence's subject when the sentence names no object.
SUBJECT_FIELD_PLACEHOLDERS = ("key", "field")
#: The pseudo-object `translated`'s `names` is asked a report's label of: names(REPORT_NAMES, report name) (no
#: object's name starts with crmkit_). A sentence's `{report}` placeholder is named so.
REPORT_NAMES = "crmkit_report"


def _names_a_field(params: Mapping[str, str], subject: str | None, names: Callable[[str, str | None], str | None] | None
                   ) -> bool:
    """Whether an English sentence's placeholders name a field of `subject` by its API name (so it reads better labelled)."""
    if params.get("object") or subject is None or names is None:
        return False
    return any(params.get(name) and names(subject, params[name]) for name in SUBJECT_FIELD_PLACEHOLDERS)


def _summary(summary: str, language: str, extra: Sequence[Message],
             names: Callable[[str, str | None], str | None] | None, subject: str | None = None) -> str:
    """A validation summary with each field's sentence translated: "name: 此字段为必填项。; ...".

    With `names` and `subject` (the record's object), each field is named by its label in
    `language`: "名称：此字段为必填项。；评分：必须是以下选项之一：A, B。" ("Name: is required." in English)."""
    starts = list(SUMMARY_PART.finditer(summary))
    if not starts or starts[0].start() != 0:
        return translated(summary, language, extra, names)
    labelled = names is not None and subject is not None
    colon = Label.of({"en": ": ", "zh": "："}).get(language) if labelled else ": "
    parts = []
    for index, start in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(summary)
        field = (names(subject, start[1]) if labelled else None) or start[1]
        parts.append(f"{field}{colon}{_sentences(summary[start.end():end], language, extra, names, subject)}")
    return Label.of({"en": "; ", "zh": "；"}).get(language).join(parts)


def _sentences(text: str, language: str, extra: Sequence[Message],
               names: Callable[[str, str | None], str | None] | None, subject: str | None) -> str:
    """A field's part of a summary translated: one sentence, or several joined by spaces (a field refused for two
    reasons), each read by its own template. Read as several where every one is a template's sentence (the first
    template of two equal sentences would otherwise read the second into its value); else as one."""
    pieces = _split_sentences(text, extra)
    if pieces is None or len(pieces) < 2:
        return translated(text, language, extra, names, subject)
    shown = [translated(piece, language, extra, names, subject) for piece in pieces]
    return "".join(piece if index == 0 or HAN.search(shown[index - 1][-1:]) else " " + piece
                   for index, piece in enumerate(shown))


def _split_sentences(text: str, extra: Sequence[Message]) -> list[str] | None:
    """`text` cut at sentence ends (SENTENCE_END) into sentences each some template reads whole, the shortest first
    sentence first; None when it cannot be cut so."""
    for end in SENTENCE_END.finditer(text):
        first = text[:end.start()]
        if _template_of(first, extra) is not None:
            rest = _split_sentences(text[end.end():], extra)
            if rest is not None:
                return [first, *rest]
    return [text] if _template_of(text, extra) is not None else None
