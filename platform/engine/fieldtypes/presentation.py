"""The presentation context of one user: language, locale, time zone and currency.

    >>> shown = Presentation.of(language="zh", timezone="Asia/Shanghai", currency="CNY")
    >>> shown.locale
    Locale('zh')
    >>> shown.text("yes")
    '是'

Every formatter, widget and list filter of a field type takes one, so a value is shown the
same way in a list, on a detail page and in a form. The words the field types themselves
show (yes and no, the filter operators, relative dates) are kept here in English and
Chinese; any other language falls back to English for them, while numbers and dates still
follow the user's locale through Babel.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale

from crmkit.engine.fieldtypes.inputs import input_locale
from crmkit.metadata.model import Label

#: The words field types show, in English and Chinese. Keys are stable; the UI never parses the texts.
TEXTS: dict[str, Label] = {
    key: Label.of({"en": en, "zh": zh}) for key, en, zh in (
        ("yes", "Yes", "是"),
        ("no", "No", "否"),
        ("hidden", "Hidden", "已隐藏"),
        ("empty", "No value", "无值"),
        ("none_selected", "None", "无"),
        ("any", "Any", "全部"),
        ("from", "From", "从"),
        ("to", "To", "到"),
        ("period", "Period", "期间"),
        ("has_value", "Has a value", "有值"),
        ("is_empty", "Is empty", "为空"),
        ("time_zone", "Time zone: {zone}", "时区：{zone}"),
        ("record", "Record {id}", "记录 {id}"),
        ("search_records", "Type to search", "输入以搜索"),
        ("retired_option", "{label} (no longer offered)", "{label}（已停用）"),
        ("default_on_save", "If left empty, it gets its default when saved.", "留空则在保存时填入默认值。"),
    )
}


@dataclass(frozen=True)
class Presentation:
    """How one user reads values: a language tag ('en', 'zh', 'zh-CN'), an IANA time zone, a currency (ISO 4217).

    The currency is the organisation's (amounts are stored without one); an unknown time zone
    reads as UTC and an unknown language as English, so showing a value never fails.
    """

    language: str = "en"
    timezone: str = "UTC"
    currency: str = "USD"

    @classmethod
    def of(cls, language: str | None = None, timezone: str | None = None, currency: str | None = None
           ) -> "Presentation":
        """A Presentation from possibly missing settings (a user without a time zone reads UTC)."""
        return cls(language or "en", timezone or "UTC", (currency or "USD").upper())

    @classmethod
    def for_actor(cls, actor: object, currency: str | None = None) -> "Presentation":
        """The presentation of an engine `Actor` (its `language` and `timezone`)."""
        return cls.of(getattr(actor, "language", None), getattr(actor, "timezone", None), currency)

    @cached_property
    def locale(self) -> Locale:
        """The Babel locale of the language tag; unknown tags read as English."""
        return input_locale(self.language)

    @cached_property
    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            return ZoneInfo("UTC")

    def label(self, label: Label | str | None) -> str:
        """A metadata label (or plain text) in the user's language."""
        if label is None:
            return ""
        if isinstance(label, Label):
            return label.get(self.language)
        return str(label)

    def text(self, key: str, **values: object) -> str:
        """One of TEXTS in the user's language, with `{name}` placeholders filled from `values`."""
        text = TEXTS[key].get(self.language)
        return text.format(**values) if values else text
