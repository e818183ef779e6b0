"""marshmallow fields that turn what users type into stored values."""
from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Context, Decimal
from functools import lru_cache
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.numbers import NumberFormatError, get_decimal_symbol, get_group_symbol, parse_decimal
from marshmallow import ValidationError, fields, validate

from crmkit.engine import messages


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
            raise ValidationError(messages.UNSTORABLE_VALUE(character=what, position=found.start() + 1))
    return value


class BlankIsNone:
    """Blank input means no value, and no value is never checked against length or range rules.

    `coerce` is the save pipeline's entry point: a value that already has the stored type
    (a Decimal for a currency, a date for a date) is normalised directly and checked by the
    same validators; anything else goes through marshmallow's `deserialize`, which passes the
    user's `language` on to `_deserialize` (number text is read in the user's locale).
    """

    native_types: tuple[type, ...] = ()

    def _validate(self, value: Any) -> None:
        if value is not None:
            super()._validate(value)  # type: ignore[misc]

    def coerce(self, value: Any, language: str | None = None) -> Any:
        if type(value) in self.native_types:
            result = self._native(value)
            if result is not None:
                for validator in self.validators:  # type: ignore[attr-defined]
                    validator(result)
            return result
        return self.deserialize(value, language=language)  # type: ignore[attr-defined]

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


class PhoneText(CleanText):
    """A phone number's text in its compatibility form (Unicode NFKC): the full-width digits, plus sign, brackets
    and spaces a Chinese input method types ("＋８６ １３８ ００１３ ８０００") stored as the ASCII ones PHONE reads
    and search, duplicate rules and `tel:` links compare."""

    def _native(self, value: str) -> str | None:
        return super()._native(unicodedata.normalize("NFKC", value))

    def _deserialize(self, value: Any, attr, data, **kwargs) -> str | None:
        text = super()._deserialize(value, attr, data, **kwargs)
        return unicodedata.normalize("NFKC", text) if text is not None else None


#: The plain, locale-free form API clients send: digits, one '.', an optional exponent.
PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


@lru_cache(maxsize=64)
def input_locale(language: str | None) -> Locale:
    """The Babel locale of a user's language tag ('en', 'zh-CN', 'de-DE'); unknown tags read as English."""
    try:
        return Locale.parse((language or "en").replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return Locale("en")


@lru_cache(maxsize=64)
def _point_is_decimal(language: str | None) -> bool:
    return get_decimal_symbol(input_locale(language)) == "."


def number_text(value: Any, language: str | None = None) -> Any:
    """Number text as a Decimal; blank text -> None; anything that is not text is returned unchanged.

    Text is read two ways: in the plain form `1234.50` (every locale, for API clients) and
    strictly in the user's locale through Babel (`1,234.50` in en and zh, `1.234,50` in de),
    where a misplaced group separator is an error, never a different number. When both
    readings succeed they must agree (`1.234` for a German user is refused as ambiguous).
    Raises ValidationError for text that is no number.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return None
    plain = Decimal(text) if PLAIN_NUMBER.fullmatch(text) else None
    if plain is not None and _point_is_decimal(language):
        return plain  # digits and a '.' read the same in a locale whose decimal separator is '.'
    locale = input_locale(language)
    group = get_group_symbol(locale)
    try:
        # A no-break space groups digits in French and others; people type an ordinary space.
        local = parse_decimal(text.replace(" ", group) if group.isspace() else text, locale, strict=True)
    except (NumberFormatError, ArithmeticError, ValueError):
        local = None
    if plain is not None and local is not None and plain != local:
        raise ValidationError(messages.AMBIGUOUS_NUMBER(text=text, plain=plain, local=local, locale=locale.english_name))
    number = plain if plain is not None else local
    if number is None:
        raise NotANumber(f"'{text}' is not a number.")
    return number


class NotANumber(ValidationError):
    """Text that is no number in the plain form nor in the user's locale; fields say it their own way."""


BIGGEST_INTEGER = 2**63 - 1


def within_64_bits(number: int) -> int:
    if abs(number) > BIGGEST_INTEGER:
        raise ValidationError(messages.TOO_LARGE())
    return number


class NumberText:
    def _number_text(self, value: Any, language: str | None) -> Any:
        try:
            return number_text(value, language)
        except NotANumber:
            raise self.make_error("invalid") from None  # type: ignore[attr-defined]


class WholeNumber(NumberText, BlankIsNone, fields.Integer):
    """An integer; '12' and 12.0 are accepted, 12.5 is not silently cut."""

    default_error_messages = {"invalid": messages.NOT_WHOLE_NUMBER()}
    native_types = (int,)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_none=True, strict=False, **kwargs)

    def _native(self, value: int) -> int:
        return within_64_bits(value)

    def _deserialize(self, value: Any, attr, data, **kwargs) -> int | None:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        value = self._number_text(value, kwargs.get("language"))
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
            value = within_64_bits(int(number)) if number.adjusted() < 19 else within_64_bits(BIGGEST_INTEGER + 1)
        return within_64_bits(super()._deserialize(value, attr, data, **kwargs))


class ExactNumber(NumberText, BlankIsNone, fields.Decimal):
    """A decimal rounded half-up to the field's scale; text is read by `number_text` ('1,234.50', '1.234,50' in de)."""

    native_types = (Decimal, int)

    def __init__(self, scale: int, precision: int, *, bounded: bool = True, **kwargs: Any) -> None:
        super().__init__(places=scale, rounding=ROUND_HALF_UP, allow_none=True, allow_nan=False, **kwargs)
        self.bounded = bounded
        self.digits = precision - scale
        self.context = Context(prec=max(precision, 28) + 1)
        self.limit = Decimal(10) ** self.digits
        self.quantum = Decimal(1).scaleb(-scale)

    @classmethod
    def for_search(cls) -> "ExactNumber":
        """Any finite number, exactly as written, for comparing with a decimal field in a filter.

        A field's precision limits what it stores, not what a search may compare it with:
        `{amount: {gt: 1e30}}` is a valid search that matches nothing.
        """
        return cls(scale=0, precision=1, bounded=False)

    def _native(self, value: Decimal | int) -> Decimal:
        return self._fit(Decimal(value))

    def _deserialize(self, value: Any, attr, data, **kwargs) -> Decimal | None:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, str) and "_" in value:
            raise self.make_error("invalid")  # Python reads '1_000' as a number; nobody types one so
        value = self._number_text(value, kwargs.get("language"))
        if value is None:
            return None
        if isinstance(value, float):
            value = Decimal(repr(value))  # the shortest text of the float, as people wrote it
        if not isinstance(value, (int, Decimal)):
            raise self.make_error("invalid")
        return self._fit(Decimal(value))

    def _fit(self, number: Decimal) -> Decimal:
        """The number rounded half-up to the scale; refused if not finite or too large for the precision."""
        if not number.is_finite():
            raise self.make_error("special")
        if not self.bounded:
            return number.copy_abs() if number.is_zero() else number
        if number and number.adjusted() >= self.digits:
            raise ValidationError(self._too_large())
        number = number.quantize(self.quantum, rounding=ROUND_HALF_UP, context=self.context)
        if abs(number) >= self.limit:
            raise ValidationError(self._too_large())
        return number.copy_abs() if number.is_zero() else number  # no negative zero: -0 is 0

    def _too_large(self) -> str:
        return messages.TOO_MANY_DIGITS(digits=self.digits, limit=f"{self.limit - self.quantum:,}")


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
        raise ValidationError(messages.OUT_OF_RANGE_MOMENT()) from None


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


#: `name:` at the start of a web address: a scheme (`mailto:`), unless what follows is a port (`example.com:8080`).
SCHEME_PREFIX = re.compile(r"^([a-z][a-z0-9+.-]*):(?![0-9]+(?:[/?#]|$))", re.IGNORECASE)


class WebAddress(CleanText):
    """An http or https URL (RFC 3986); without a scheme, `https://` is put in front.

    `example.com`, `www.example.com/path` and `example.com:8080` become `https://...`; a
    leading `//` gets `https:`. Any other scheme (`javascript:`, `ftp://`, `mailto:`),
    spaces, a missing host and `someone@example.com` (an email address) are refused.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=validate.URL(relative=False, require_tld=False, schemes={"http", "https"},
                                               error=messages.NOT_WEB_ADDRESS()), **kwargs)

    def _native(self, value: str) -> str | None:
        return with_scheme(super()._native(value))

    def _deserialize(self, value: Any, attr, data, **kwargs) -> str | None:
        return with_scheme(super()._deserialize(value, attr, data, **kwargs))


def with_scheme(text: str | None) -> str | None:
    """`https://` in front of a web address written without a scheme; text with a scheme is unchanged."""
    if not text or "://" in text or SCHEME_PREFIX.match(text):
        return text
    if "@" in text.lstrip("/").split("/", 1)[0]:
        return text  # an email address or credentials, not a web address: left for the check to refuse
    return f"https:{text}" if text.startswith("//") else f"https://{text}"


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
