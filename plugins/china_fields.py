"""Field types for Chinese business data: mainland mobile numbers and Unified Social Credit Codes.

    fields:
      mobile: {type: cn_mobile}                 # 13812345678, +86 138 1234 5678
      credit_code: {type: cn_credit_code, unique: true}   # 统一社会信用代码, checksum verified

Shipped in plugins/ so the plugin folder is exercised by the product itself.
"""
from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import String

from crmkit.engine.fieldtypes import FieldType
from crmkit.engine.fieldtypes.display import Display
from crmkit.engine.fieldtypes.inputs import CleanText
from crmkit.engine.fieldtypes.presentation import Presentation
from crmkit.engine.messages import Message
from crmkit.hookspecs import hookimpl
from crmkit.metadata.catalog import FieldKind

MOBILE = re.compile(r"1[3-9][0-9]{9}")
#: The 31 characters of a credit code, in the order that gives each its value (GB 32100-2015).
CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
#: The plugin's sentences, in English and Chinese (returned by crmkit_messages, docs/errors.md).
NOT_A_MOBILE = Message("Not a valid mainland China mobile number (11 digits starting with 1).",
                       "不是有效的中国大陆手机号码（以 1 开头的 11 位数字）。")
CODE_SHAPE = Message("A Unified Social Credit Code has 18 characters: digits and capital letters except I, O, S, V "
                     "and Z.", "统一社会信用代码为 18 位：数字和除 I、O、S、V、Z 以外的大写字母。")
CODE_MISTYPED = Message("This Unified Social Credit Code is mistyped: its last character does not match.",
                        "统一社会信用代码有误：最后一位校验码不符。")


class NormalisedText(CleanText):
    """Text brought to one stored form by `normalise`, whether it arrives as text or through the fast path."""

    def _native(self, value: str) -> str | None:
        return self.normalise(value)

    def _deserialize(self, value: Any, attr, data, **kwargs) -> str | None:
        text = super()._deserialize(value, attr, data, **kwargs)
        return None if text is None else self.normalise(text)

    @staticmethod
    def normalise(text: str) -> str | None:
        return text


class MainlandMobile(NormalisedText):
    """Stored as the 11 digits, whatever spaces, dashes or +86 prefix were typed."""

    @staticmethod
    def normalise(text: str) -> str | None:
        digits = re.sub(r"[\s\-()]", "", text)
        digits = re.sub(r"^(\+86|0086|86)(?=1)", "", digits)
        if not digits:
            return None
        if not MOBILE.fullmatch(digits):
            raise ValidationError(NOT_A_MOBILE())
        return digits


def credit_code_check_character(first17: str) -> str:
    total = sum(CODE_ALPHABET.index(char) * weight for char, weight in zip(first17, CODE_WEIGHTS))
    return CODE_ALPHABET[(31 - total % 31) % 31]


class CreditCode(NormalisedText):
    """An 18-character Unified Social Credit Code; letters are stored upper-case; the check character must match."""

    @staticmethod
    def normalise(text: str) -> str | None:
        code = text.strip().upper()
        if not code:
            return None
        if len(code) != 18 or any(char not in CODE_ALPHABET for char in code):
            raise ValidationError(CODE_SHAPE())
        if credit_code_check_character(code[:17]) != code[17]:
            raise ValidationError(CODE_MISTYPED())
        return code


def show_mobile(fdef: Any, value: Any, show: Presentation) -> Display:
    """13812345678 shown as people read it, 138 1234 5678, dialable from abroad (tel:+8613812345678)."""
    digits = str(value)
    if not MOBILE.fullmatch(digits):
        return Display("text", digits)  # stored before the type checked it: shown as it is
    return Display("link", f"{digits[:3]} {digits[3:7]} {digits[7:]}", href=f"tel:+86{digits}")


CHINA_FIELD_TYPES = (
    FieldType(
        FieldKind("cn_mobile", "text", description="A mainland China mobile number, stored as 11 digits.",
                  searchable=True),
        column=lambda fdef, lookup, registry: String(11),
        input_field=lambda fdef: MainlandMobile(),
        widget="tel",
        formatter=show_mobile,
        input_attributes=lambda fdef: {"maxlength": "20", "inputmode": "tel", "autocomplete": "tel-national"},
        filter_operators=("eq", "startswith", "is_null"),
    ),
    FieldType(
        FieldKind("cn_credit_code", "text", description="A Unified Social Credit Code (统一社会信用代码), checksum verified.",
                  searchable=True),
        column=lambda fdef, lookup, registry: String(18),
        input_field=lambda fdef: CreditCode(),
        widget="text",
        input_attributes=lambda fdef: {"maxlength": "18", "autocapitalize": "characters", "spellcheck": "false",
                                       "autocomplete": "off"},
        filter_operators=("eq", "startswith", "is_null"),
    ),
)


@hookimpl
def crmkit_field_types() -> list[FieldType]:
    return list(CHINA_FIELD_TYPES)


@hookimpl
def crmkit_messages() -> list[Message]:
    return [NOT_A_MOBILE, CODE_SHAPE, CODE_MISTYPED]
