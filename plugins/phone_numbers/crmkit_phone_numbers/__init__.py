"""Phone numbers stored in E.164 and validated by country, with Google's libphonenumber (phonenumberslite).

    fields:
      phone: {type: phone_number}                # the default region: CRMKIT_PHONE_REGION, else + required
      mobile: {type: phone_number, region: CN}   # 138 1234 5678 is stored as +8613812345678
      hq_phone: {type: phone_number, region: CN, countries: [CN, HK, MO, TW]}

A number is read in the field's `region` (an ISO 3166 country code) unless it starts with
`+` or `00`; it must be a valid number of its country (libphonenumber's metadata: length,
prefixes), of one of `countries` when the field lists them, and is stored as E.164
(`+8613812345678`). It is shown in the national format when it is of the field's region
(`138 1234 5678`), else in the international one (`+1 415-555-2671`), linked as `tel:`.

A number typed without its country code in a region whose trunk prefix is 0 (China, the
United Kingdom, Germany, ...) must be a mobile number or start with that 0: libphonenumber
reads "(415) 555-2671" in region CN as the Chinese landline +86 415 555 2671, which is
almost always an American number typed without +1, so it is refused with a hint instead.

Formulas get `phone_country(phone)`: the country code ("CN") of a stored number.
"""
from __future__ import annotations

import os
import re
from typing import Any

import phonenumbers
from marshmallow import ValidationError
from sqlalchemy import String

from crmkit.engine.fieldtypes import FieldType
from crmkit.engine.fieldtypes.display import Display
from crmkit.engine.fieldtypes.inputs import CleanText
from crmkit.engine.fieldtypes.presentation import Presentation
from crmkit.engine.messages import Message
from crmkit.hookspecs import hookimpl
from crmkit.metadata.catalog import FieldKind

#: The region numbers without a country code are read in when a field names none (an ISO 3166 code such as CN).
REGION_VARIABLE = "CRMKIT_PHONE_REGION"
#: E.164: + and at most 15 digits.
E164_LENGTH = 16
REGION = {"type": "string", "pattern": "^[A-Z]{2}$", "description": "An ISO 3166-1 alpha-2 country code, such as CN."}

NOT_A_NUMBER = Message("Not a phone number: type the digits, with + and the country code for a number abroad.",
                       "不是电话号码：请输入数字；外国号码请以 + 和国家代码开头。")
INVALID = Message("Not a valid phone number of {country}: check its length and prefix.",
                  "不是有效的 {country} 电话号码：请检查位数和开头。")
NEEDS_COUNTRY = Message("Type the number with + and its country code, such as +86 138 1234 5678.",
                        "请以 + 和国家代码开头输入号码，例如 +86 138 1234 5678。")
AMBIGUOUS = Message("A landline of {country} typed without its leading 0 is ambiguous: type it with its area code "
                    "(010 6552 9988), or with + and the country code if it is abroad (+1 415 555 2671).",
                    "未加区号前 0 的 {country} 座机号码含义不明：请加区号输入（010 6552 9988）；外国号码请以 + 和国家代码开头"
                    "（+1 415 555 2671）。")
WRONG_COUNTRY = Message("A number of {country} is not accepted here; accepted: {countries}.",
                        "此处不接受 {country} 的号码；可接受：{countries}。")
MESSAGES = (NOT_A_NUMBER, INVALID, NEEDS_COUNTRY, AMBIGUOUS, WRONG_COUNTRY)


def default_region(fdef: Any) -> str | None:
    """The field's `region`, else $CRMKIT_PHONE_REGION (upper-cased), else None."""
    region = fdef.extra.get("region") if fdef is not None else None
    return region or (os.environ.get(REGION_VARIABLE) or "").strip().upper() or None


def normalise(text: str, region: str | None, countries: frozenset[str] = frozenset()) -> str | None:
    """`text` as E.164, or None when blank; raises marshmallow's ValidationError with a Message saying why."""
    if not text.strip():
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as error:
        if error.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE and region is None:
            raise ValidationError(NEEDS_COUNTRY()) from None
        raise ValidationError(NOT_A_NUMBER()) from None
    country = phonenumbers.region_code_for_number(number)
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(INVALID(country=country or f"+{number.country_code}"))
    if _typed_nationally(text) and _missing_trunk_zero(text, number, region):
        raise ValidationError(AMBIGUOUS(country=region))
    if countries and country not in countries:
        raise ValidationError(WRONG_COUNTRY(country=country, countries=", ".join(sorted(countries))))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _typed_nationally(text: str) -> bool:
    return not re.match(r"\s*(\+|00)", text)


def _missing_trunk_zero(text: str, number: phonenumbers.PhoneNumber, region: str | None) -> bool:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region or "")
    if metadata is None or metadata.national_prefix != "0":
        return False
    if phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE:
        return False
    return not phonenumbers.normalize_digits_only(text).startswith("0")


class PhoneNumber(CleanText):
    """A phone number read in `region`, stored as E.164; `countries` limits the countries accepted."""

    def __init__(self, region: str | None, countries: frozenset[str] = frozenset(), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.region = region
        self.countries = countries

    def _native(self, value: str) -> str | None:
        return normalise(value, self.region, self.countries)

    def _deserialize(self, value: Any, attr, data, **kwargs) -> str | None:
        text = super()._deserialize(value, attr, data, **kwargs)
        return None if text is None else normalise(text, self.region, self.countries)


def show_phone(fdef: Any, value: Any, show: Presentation) -> Display:
    """National format for a number of the field's region, international otherwise; a tel: link either way."""
    try:
        number = phonenumbers.parse(str(value), None)
    except phonenumbers.NumberParseException:
        return Display("text", str(value))  # stored before the type checked it: shown as it is
    national = phonenumbers.region_code_for_number(number) == default_region(fdef)
    style = phonenumbers.PhoneNumberFormat.NATIONAL if national else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return Display("link", phonenumbers.format_number(number, style), href=f"tel:{e164}")


def phone_country(phone: Any) -> str | None:
    """The ISO 3166 country code of a stored (E.164) number, such as "CN"; None for no number or an unknown one."""
    if not phone:
        return None
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(str(phone), None))
    except phonenumbers.NumberParseException:
        return None


PHONE = FieldType(
    FieldKind("phone_number", "text", options=frozenset({"region", "countries"}),
              option_schemas={"region": REGION, "countries": {"type": "array", "items": REGION, "minItems": 1,
                                                              "uniqueItems": True}},
              searchable=True, description="A phone number validated for its country and stored in E.164."),
    column=lambda fdef, lookup, registry: String(E164_LENGTH),
    input_field=lambda fdef: PhoneNumber(default_region(fdef), frozenset(fdef.extra.get("countries") or ())),
    widget="tel",
    formatter=show_phone,
    input_attributes=lambda fdef: {"maxlength": "32", "inputmode": "tel", "autocomplete": "tel"},
    filter_operators=("eq", "startswith", "is_null"),
)


@hookimpl
def crmkit_field_types() -> list[FieldType]:
    return [PHONE]


@hookimpl
def crmkit_messages() -> list[Message]:
    return list(MESSAGES)


@hookimpl
def crmkit_sandbox_functions() -> dict[str, Any]:
    return {"phone_country": phone_country}
