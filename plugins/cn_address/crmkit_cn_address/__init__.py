"""A Chinese address field type: province / city / district (GB/T 2260 codes), optionally with the street.

    fields:
      region: {type: cn_address}                       # "广东 深圳 南山" is stored as 440305
      office: {type: cn_address, street: true}         # "广东省深圳市南山区科技南十二路2号" -> "440305 科技南十二路2号"
      province: {type: cn_address, level: province}    # "深圳市南山区" is stored as 440000

A value is typed as names from any level down, full or short (广东省深圳市南山区, 深圳 南山,
北京朝阳区), or as the 6-digit code. It is stored as the code of the division (with `street:
true`, the code, a space and the rest of the address), so lists filter a province with
"starts with 44" and reports group by it. It must name a division at the field's `level`
(default district) when that division has any below it (东莞市 has no districts); a finer
one is stored at the field's level. A name that several places have (朝阳区: Beijing's and
Changchun's) is refused with the places to choose from.

Shown as the names joined as Chinese addresses are written (北京市朝阳区 建国路88号).
Formulas get cn_province(value), cn_city(value) and cn_district(value): the names, or None.
"""
from __future__ import annotations

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

from crmkit_cn_address.regions import LEVELS, PLACEHOLDERS, Ambiguous, divisions, level_of

STREET_LENGTH = 300

UNKNOWN = Message("'{text}' is not a province, city or district of China: type it as 广东省深圳市南山区 or its code, "
                  "440305.", "“{text}”不是中国的省、市或区县：请按“广东省深圳市南山区”或代码 440305 输入。")
SEVERAL = Message("'{text}' names several places ({places}): add the province or city.",
                  "“{text}”对应多个地方（{places}）：请加上省或市。")
TOO_COARSE = Message("Choose the {level} too: {place} has several.", "请同时选择{level}：{place}下有多个。",
                     words={"level": {"city": {"zh": "市"}, "district": {"zh": "区县"}}})
HAS_STREET = Message("This field holds the province, city and district only; put '{street}' in a field of its own.",
                     "此字段只填省、市、区县；请把“{street}”填入单独的字段。")
MESSAGES = (UNKNOWN, SEVERAL, TOO_COARSE, HAS_STREET)


class ChineseAddress(CleanText):
    """A division of China at `level` or below (stored at `level`), with the street after it when `street`."""

    def __init__(self, level: str = "district", street: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.depth = LEVELS.index(level) + 1
        self.level = level
        self.street = street

    def _native(self, value: str) -> str | None:
        return self.normalise(value)

    def _deserialize(self, value: Any, attr, data, **kwargs) -> str | None:
        text = super()._deserialize(value, attr, data, **kwargs)
        return None if text is None else self.normalise(text)

    def normalise(self, text: str) -> str | None:
        if not text.strip():
            return None
        regions = divisions()
        try:
            code, rest = regions.split(text)
        except Ambiguous as several:
            places = "、".join("".join(regions.path(code)) for code in several.candidates)
            raise ValidationError(SEVERAL(text=text.strip(), places=places)) from None
        if code is None:
            raise ValidationError(UNKNOWN(text=text.strip()))
        if rest and not self.street:
            raise ValidationError(HAS_STREET(street=rest))
        if level_of(code) < self.depth and regions.has_children(code):
            raise ValidationError(TOO_COARSE(level=self.level, place="".join(regions.path(code))))
        if level_of(code) > self.depth:
            code = code[: 2 * self.depth].ljust(6, "0")
        return f"{code} {rest}" if rest else code


def address_text(value: Any) -> tuple[tuple[str, ...], str]:
    """(division names, street) of a stored value; ((), value) for one that is not a known code."""
    code, _, street = str(value).partition(" ")
    regions = divisions()
    return (regions.path(code), street) if code in regions else ((), str(value))


def show_address(fdef: Any, value: Any, show: Presentation) -> Display:
    names, street = address_text(value)
    return Display("text", " ".join(part for part in ("".join(names), street) if part))


def _name_at(level: int):
    def name(value: Any) -> str | None:
        """The name of the value's division at this level, or None."""
        if not value:
            return None
        code = str(value).partition(" ")[0]
        regions = divisions()
        if code not in regions or level_of(code) < level:
            return None
        at = code[: 2 * level].ljust(6, "0")
        found = regions.names.get(at)
        return None if found is None or found in PLACEHOLDERS else found
    return name


CN_ADDRESS = FieldType(
    FieldKind("cn_address", "text", options=frozenset({"level", "street"}),
              option_schemas={"level": {"enum": list(LEVELS), "description": "The finest division required."},
                              "street": {"type": "boolean", "description": "Keep the street after the district."}},
              searchable=True, description="A Chinese address: province / city / district (GB/T 2260), "
                                           "optionally with the street."),
    column=lambda fdef, lookup, registry: String(STREET_LENGTH if fdef.extra.get("street") else 6),
    input_field=lambda fdef: ChineseAddress(fdef.extra.get("level", "district"), bool(fdef.extra.get("street"))),
    widget="text",
    formatter=show_address,
    input_attributes=lambda fdef: {"maxlength": str(STREET_LENGTH), "placeholder": "广东省深圳市南山区",
                                   "autocomplete": "street-address" if fdef.extra.get("street") else "off"},
    filter_operators=("startswith", "eq", "is_null"),
)


@hookimpl
def crmkit_field_types() -> list[FieldType]:
    return [CN_ADDRESS]


@hookimpl
def crmkit_messages() -> list[Message]:
    return list(MESSAGES)


@hookimpl
def crmkit_sandbox_functions() -> dict[str, Any]:
    return {"cn_province": _name_at(1), "cn_city": _name_at(2), "cn_district": _name_at(3)}
