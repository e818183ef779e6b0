"""marshmallow fields that turn what users type into stored values."""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from marshmallow import ValidationError, fields, validate


#: Characters no database column can hold: NUL (PostgreSQL text refuses it, SQLite cuts text at it in
#: some tools) and lone surrogates (U+D800-U+DFFF: half of a UTF-16 pair, not encodable as UTF-8, RFC 3629).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: Any) -> Any:
    """`value` unchanged if every text in it can be stored; else ValidationError naming the character.

    Checks text and the items of lists (multi-picklists); the same sentence on SQLite and PostgreSQL.
    """
    texts = value if isinstance(value, (list, tuple)) else (value,)
    for text in texts:
        if isinstance(text, str) and (found := UNSTORABLE.search(text)):
            character = found.group()
            what = "a NUL character (U+0000)" if character == "\x00" else \
                f"an unpaired surrogate (U+{ord(character):04X}, half of a character)"
            raise ValidationError(f"Contains {what} at position {found.start() + 1}, which cannot be stored; "
                                  "remove it.")
    return value


class BlankIsNone:
    """Blank input means no value, and no value is never checked against length or range rules.

    `coerce` is the save pipeline's entry point: a value that already has the stored type
    (a Decimal for a currency, a date for a date) is normalised directly and checked by the
    same validators; anything else goes through marshmallow's `deserialize`.
    """

    native_types: tuple[type, ...] = ()

    def _validate(self, value: Any) -> None:
        if value is not None:
            super()._validate(value)  # type: ignore[misc]

    def coerce(self, value: Any) -> Any:
        if type(value) in self.native_types:
            result = self._native(value)
            if result is not None:
                for validator in self.validators:  # type: ignore[attr-defined]
                    validator(result)
            return result
        return self.deserialize(value)  # type: ignore[attr-defined]

    def _native(self, value: Any) -> Any:
        return value


class CleanText(BlankIsNone, fields.String):
    """Text with surrounding whitespace removed; blank text is no value."""

    native_types = (str,)

    def __init__(self, *, strip: bool = True, **kwargs: Any) -> None:
        super().__init__(allow_none=True, **kwargs)
        self.strip = strip

    def _native(self, value: str) -> str | None:
        text = value.strip() if self.strip else value
        return text if text.strip() else None

    def _deserialize(self, value: Any, attr, data, **kwargs) -> str | None:
        if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            value = str(value)
        text = super()._deserialize(value, attr, data, **kwargs)
        if self.strip:
            text = text.strip()
        return text if text.strip() else None


def number_text(value: Any) -> Any:
    """'1,234.50 ' -> '1234.50'; blank text -> None; anything else unchanged."""
    if isinstance(value, str):
        value = value.strip().replace(",", "")
        return value or None
    return value


BIGGEST_INTEGER = 2**63 - 1


def within_64_bits(number: int) -> int:
    if abs(number) > BIGGEST_INTEGER:
        raise ValidationError("The number is too large.")
    return number


class WholeNumber(BlankIsNone, fields.Integer):
    """An integer; '12' and 12.0 are accepted, 12.5 is not silently cut."""

    default_error_messages = {"invalid": "Not a valid whole number."}
    native_types = (int,)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_none=True, strict=False, **kwargs)

    def _native(self, value: int) -> int:
        return within_64_bits(value)

    def _deserialize(self, value: Any, attr, data, **kwargs) -> int | None:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        value = number_text(value)
        if value is None:
            return None
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid")
        if isinstance(value, (str, Decimal)):
            try:
                number = Decimal(value)
            except ArithmeticError:
                raise self.make_error("invalid") from None
            if not number.is_finite() or number != number.to_integral_value():
                raise self.make_error("invalid")
            value = int(number)
        return within_64_bits(super()._deserialize(value, attr, data, **kwargs))


class ExactNumber(BlankIsNone, fields.Decimal):
    """A decimal rounded half-up to the field's scale; text like '1,234.50' is accepted."""

    native_types = (Decimal, int)

    def __init__(self, scale: int, precision: int, **kwargs: Any) -> None:
        super().__init__(places=scale, rounding=ROUND_HALF_UP, allow_none=True, allow_nan=False, **kwargs)
        self.limit = Decimal(10) ** (precision - scale)
        self.quantum = Decimal(1).scaleb(-scale)

    def _native(self, value: Decimal | int) -> Decimal:
        number = Decimal(value)
        if not number.is_finite():
            raise self.make_error("special")
        number = number.quantize(self.quantum, rounding=ROUND_HALF_UP)
        if abs(number) >= self.limit:
            raise ValidationError(f"The number must be smaller than {self.limit:,}.")
        return number

    def _deserialize(self, value: Any, attr, data, **kwargs) -> Decimal | None:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        value = number_text(value)
        if value is None:
            return None
        number = super()._deserialize(value, attr, data, **kwargs)
        if number is not None and abs(number) >= self.limit:
            raise ValidationError(f"The number must be smaller than {self.limit:,}.")
        return number


class CalendarDate(BlankIsNone, fields.Date):
    native_types = (date,)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_none=True, **kwargs)

    def _deserialize(self, value: Any, attr, data, **kwargs) -> date | None:
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, str) and not value.strip():
            return None
        return super()._deserialize(value, attr, data, **kwargs)


def in_utc(moment: datetime) -> datetime:
    """An aware moment in UTC; ValidationError when UTC falls outside years 1 to 9999 (Python's calendar)."""
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        raise ValidationError("The date and time is outside the supported range (years 1 to 9999 in UTC).") from None


class UtcTimestamp(BlankIsNone, fields.AwareDateTime):
    """A moment in time; naive input is taken as UTC, everything is stored as UTC."""

    native_types = (datetime,)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(default_timezone=timezone.utc, allow_none=True, **kwargs)

    def _native(self, value: datetime) -> datetime:
        return in_utc(value if value.tzinfo else value.replace(tzinfo=timezone.utc))

    def _deserialize(self, value: Any, attr, data, **kwargs) -> datetime | None:
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        else:
            moment = super()._deserialize(value, attr, data, **kwargs)
        return in_utc(moment)


class WebAddress(CleanText):
    """A URL; `example.com` becomes `https://example.com`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=validate.URL(relative=False, require_tld=False, schemes={"http", "https"}), **kwargs)

    def _deserialize(self, value: Any, attr, data, **kwargs) -> str | None:
        text = super()._deserialize(value, attr, data, **kwargs)
        if text and "://" not in text:
            text = f"https://{text}"
        return text


PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{2,29}(\s*(x|ext\.?|#)\s*[0-9]{1,6})?$", re.IGNORECASE)


class MultiChoice(BlankIsNone, fields.List):
    """Several picklist values: a list, or text separated by ';'. Kept in option order, no repeats."""

    def __init__(self, options: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(fields.String(validate=validate.OneOf(options)), allow_none=True, **kwargs)
        self.order = {value: index for index, value in enumerate(options)}

    def _deserialize(self, value: Any, attr, data, **kwargs) -> list[str] | None:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(";") if part.strip()]
        if isinstance(value, tuple):
            value = list(value)
        items = super()._deserialize(value, attr, data, **kwargs)
        unique = sorted(set(items), key=lambda item: self.order.get(item, len(self.order)))
        return unique or None


class YesNo(BlankIsNone, fields.Boolean):
    native_types = (bool,)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_none=True, **kwargs)
