"""A stored value as a user reads it: the text, plus what a template needs to mark it up.

    >>> format_money(Decimal("1234567.89"), Presentation.of("zh", "Asia/Shanghai", "CNY"))
    '¥1,234,567.89'

Formatting never queries: a lookup's title is given by the caller (`titles`). It never
escapes either: the text is plain, and the templates' autoescape makes it safe HTML. Only
links with a safe scheme (http, https, mailto, tel) get an `href`.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Any, Callable, Mapping
from urllib.parse import quote, urlsplit

from babel.dates import format_date, format_datetime
from babel.lists import format_list
from babel.numbers import get_currency_precision, get_currency_symbol, get_decimal_symbol, get_group_symbol

from crmkit.engine.fieldtypes.inputs import input_locale
from crmkit.engine.fieldtypes.presentation import Presentation
from crmkit.metadata.model import FieldDef

#: How a template marks a value up; every Display has one of these kinds.
DISPLAY_KINDS = ("text", "number", "date", "datetime", "boolean", "link", "lookup", "lines", "list", "empty", "hidden")
#: The only schemes a shown value may link to (a `javascript:` or `data:` address is shown as text).
SAFE_SCHEMES = frozenset({"http", "https", "mailto", "tel"})


@dataclass(frozen=True)
class Display:
    """One value as shown to one user.

    `text` is plain text (never HTML); `iso` the machine value of dates and moments (ISO 8601,
    a moment with the user's offset) for `<time datetime>`; `href` a link target with a safe
    scheme; `lines` the lines of long text; `items` the labels of several values; `target`
    and `record_id` the record a lookup points at.
    """

    kind: str
    text: str = ""
    iso: str | None = None
    href: str | None = None
    lines: tuple[str, ...] = ()
    items: tuple[str, ...] = ()
    target: str | None = None
    record_id: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in _DISPLAY_KINDS:
            raise ValueError(f"'{self.kind}' is not a display kind; use one of {', '.join(DISPLAY_KINDS)}.")
        if self.href is not None and safe_link(self.href) is None:
            raise ValueError(f"'{self.href}' is not a safe link target (http, https, mailto or tel).")

    @property
    def numeric(self) -> bool:
        """Whether the value is a number (lists align such columns to the end)."""
        return self.kind == "number"

    def __str__(self) -> str:
        return self.text


_DISPLAY_KINDS = frozenset(DISPLAY_KINDS)
_NEW = object.__new__


def plain(kind: str, text: str, iso: str | None = None, target: str | None = None,
          record_id: int | None = None) -> Display:
    """`Display(kind, text, iso=iso, target=target, record_id=record_id)` made without `__post_init__`'s checks,
    for this module's formatters, which give only kinds of DISPLAY_KINDS and no `href` (nothing to check).

    A list page makes hundreds of Displays; a frozen dataclass's `__init__` sets each field
    with a call of its own. The result equals the one `Display(...)` makes. Not for a value
    with a link (`href`): those go through `Display`, which checks the address.
    """
    shown = _NEW(Display)
    shown.__dict__.update(kind=kind, text=text, iso=iso, href=None, lines=(), items=(), target=target,
                          record_id=record_id)
    return shown


#: A plugin's formatter: (field definition, stored value, presentation) -> Display, or plain text.
Formatter = Callable[[FieldDef, Any, Presentation], "Display | str"]


def empty(show: Presentation) -> Display:
    return Display("empty", show.text("empty"))


def hidden(show: Presentation) -> Display:
    """A field the user may not read (removed from the row by the engine's shaping)."""
    return Display("hidden", show.text("hidden"))


# ---- numbers -------------------------------------------------------------------------------

def exact_decimal(value: Any) -> Decimal:
    """A stored number as an exact Decimal: ints as they are, floats by their shortest text, -0 as 0."""
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, float):
        number = Decimal(repr(value))
    else:
        number = Decimal(value)
    return number.copy_abs() if number.is_zero() else number


def _places(number: Decimal) -> int:
    exponent = number.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _apply(pattern: Any, number: Decimal, show: Presentation, places: int, **kwargs: Any) -> str:
    """`number` in a locale pattern, with exactly `places` decimals (never rounded: places come from the value)."""
    pattern = copy.copy(pattern)
    pattern.frac_prec = (places, places)
    return pattern.apply(number, show.locale, **kwargs)


@lru_cache(maxsize=512)
def _pattern(language: str, kind: str, places: int) -> Any:
    """The locale's decimal or percent pattern (`kind`) with exactly `places` decimals, made once and kept."""
    locale = input_locale(language)
    pattern = copy.copy(locale.decimal_formats[None] if kind == "decimal" else locale.percent_formats[None])
    pattern.frac_prec = (places, places)
    return pattern


@lru_cache(maxsize=512)
def _money_pattern(language: str, currency: str, places: int) -> Any:
    """The locale's currency pattern with the currency's symbol (or code) already in place and `places`
    decimals, made once and kept; None when the pattern spells the currency's name (it depends on the amount)."""
    locale = input_locale(language)
    pattern = copy.copy(locale.currency_formats["standard"])
    if any("¤¤¤" in part for part in (*pattern.prefix, *pattern.suffix)):
        return None
    symbol = get_currency_symbol(currency, locale)

    def spelled(part: str) -> str:  # as NumberPattern.apply does it, in the same order
        return part.replace("¤¤", currency.upper()).replace("¤", symbol)

    pattern.prefix = tuple(spelled(part) for part in pattern.prefix)
    pattern.suffix = tuple(spelled(part) for part in pattern.suffix)
    pattern.frac_prec = (places, places)
    return pattern


@lru_cache(maxsize=512)
def _money_writer(language: str, currency: str, places: int) -> Callable[[Decimal], str] | None:
    """A faster writer of amounts for the common currency patterns (groups of three, no scale,
    no quotes), giving exactly what NumberPattern.apply gives; None for the other patterns."""
    pattern = _money_pattern(language, currency, places)
    if pattern is None or pattern.grouping != (3, 3) or pattern.scale or pattern.exp_prec or "@" in pattern.pattern \
            or pattern.int_prec[0] > 1 or not pattern.number_pattern \
            or any("'" in part for part in (*pattern.prefix, *pattern.suffix)):
        return None
    locale = input_locale(language)
    group, point = get_group_symbol(locale), get_decimal_symbol(locale)
    if "'" in group + point:  # apply() drops what stands between two quotes, even its own separators
        return None
    (positive, negative), (after, after_negative) = pattern.prefix, pattern.suffix

    def write(number: Decimal) -> str:
        digits = f"{abs(number):,.{places}f}".replace(",", "\0").replace(".", point).replace("\0", group)
        return f"{negative}{digits}{after_negative}" if number.is_signed() else f"{positive}{digits}{after}"

    return write


@lru_cache(maxsize=64)
def _currency_places(currency: str) -> int:
    return get_currency_precision(currency)


def format_number(number: Any, show: Presentation, places: int | None = None) -> str:
    """A number in the user's locale, keeping every decimal it has (at least `places`): '1,234,567.89'."""
    number = exact_decimal(number)
    wanted = max(_places(number), places or 0)
    return _pattern(show.language, "decimal", wanted).apply(number, show.locale)


def format_money(amount: Any, show: Presentation) -> str:
    """An amount in the presentation's currency and locale, exact: '$1,234,567.89', '¥0.30'.

    At least the currency's usual decimals are shown ('$0.30', '¥1,234' for yen), more if
    the amount has digits there that are not zero ('$0.125'): never rounded. The pattern of
    each language, currency and number of decimals is made once (a list page formats hundreds).
    """
    number = exact_decimal(amount)
    wanted = max(_places(number.normalize()) if number else 0, _currency_places(show.currency))
    write = _money_writer(show.language, show.currency, wanted)
    if write is not None:
        return write(number)
    pattern = _money_pattern(show.language, show.currency, wanted)
    if pattern is None:
        return _apply(show.locale.currency_formats["standard"], number, show, wanted, currency=show.currency,
                      currency_digits=False)
    return pattern.apply(number, show.locale)


def format_percentage(number: Any, show: Presentation) -> str:
    """A percent field's value (12.5 means 12.5 %) in the locale's percent pattern: '12.5%'."""
    number = exact_decimal(number)
    return _pattern(show.language, "percent", _places(number)).apply(number.scaleb(-2), show.locale)


def currency_symbol(show: Presentation) -> str:
    return get_currency_symbol(show.currency, show.locale)


# ---- dates ---------------------------------------------------------------------------------

def local_moment(moment: datetime, show: Presentation) -> datetime:
    """A stored moment (aware, or naive meaning UTC) in the user's time zone."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(show.zone)


def _date(value: Any, show: Presentation) -> Display:
    day = value.date() if isinstance(value, datetime) else value
    return plain("date", format_date(day, "medium", locale=show.locale), iso=day.isoformat())


def _datetime(value: Any, show: Presentation) -> Display:
    if not isinstance(value, datetime):
        return _date(value, show)
    moment = local_moment(value, show)
    return plain("datetime", format_datetime(moment, "medium", locale=show.locale), iso=moment.isoformat())


# ---- links ---------------------------------------------------------------------------------

#: Characters a browser drops or reads specially before the scheme (`java\tscript:`): none may appear.
_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f\\]")


def safe_link(address: Any) -> str | None:
    """`address` if it is an absolute link with a scheme in SAFE_SCHEMES, else None.

    Refuses control characters, spaces and backslashes anywhere (browsers strip some of them
    before reading the scheme, so `java\\tscript:` would run), and http(s) links without a host.
    """
    if not isinstance(address, str) or not address or _CONTROL.search(address):
        return None
    try:
        parts = urlsplit(address)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in SAFE_SCHEMES:
        return None
    if scheme in ("http", "https") and not parts.netloc:
        return None
    return address


def _url(value: Any, show: Presentation) -> Display:
    text = str(value)
    href = safe_link(text)
    return Display("link", text, href=href) if href else plain("text", text)


def _email(value: Any, show: Presentation) -> Display:
    text = str(value)
    href = safe_link("mailto:" + quote(text, safe="@.+-_!#$&'*/=?^`{|}~")) if "@" in text else None
    return Display("link", text, href=href) if href else plain("text", text)


#: What starts a phone number's extension ("x12", "ext. 12", "#12"), and what is not a digit.
_EXTENSION = re.compile(r"\s*(?:x|ext\.?|#)\s*", re.IGNORECASE)
_NOT_DIGIT = re.compile(r"[^0-9]")


def tel_link(number: str) -> str | None:
    """A `tel:` link of a phone number (RFC 3966 global form when it starts with +), or None if it has no digits."""
    main = _EXTENSION.split(number, maxsplit=1)[0]
    digits = _NOT_DIGIT.sub("", main)
    if not digits:
        return None
    return f"tel:{'+' if main.strip().startswith('+') else ''}{digits}"


def _phone(value: Any, show: Presentation) -> Display:
    text = str(value)
    href = tel_link(text)
    if not href:
        return plain("text", text)
    shown = plain("link", text)  # tel_link gives "tel:", perhaps "+", then digits only: a safe link as made
    shown.__dict__["href"] = href
    return shown


# ---- the rest ------------------------------------------------------------------------------

def _text(value: Any, show: Presentation) -> Display:
    return plain("text", value if type(value) is str else str(value))


def _lines(value: Any, show: Presentation) -> Display:
    text = str(value)
    lines = tuple(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return Display("lines", text, lines=lines)


def _boolean(value: Any, show: Presentation) -> Display:
    return plain("boolean", show.text("yes" if value else "no"))


def _option_label(fdef: FieldDef, value: Any, show: Presentation) -> str:
    for option in fdef.options:
        if option.value == value:
            return show.label(option.label) or option.value
    return str(value)  # a retired option: records keep it, shown as stored


def _picklist(fdef: FieldDef, value: Any, show: Presentation) -> Display:
    return plain("text", _option_label(fdef, value, show))


def picklist_formatter(fdef: FieldDef, show: Presentation) -> Callable[[Any], Display]:
    """`_picklist` for one field and user, its options' labels looked up once: value -> Display (a list's column)."""
    labels: dict[str, str] = {}
    for option in fdef.options:
        labels.setdefault(option.value, _option_label(fdef, option.value, show))

    def formatted(value: Any) -> Display:
        label = labels.get(value) if isinstance(value, str) else None
        return plain("text", label) if label is not None else _picklist(fdef, value, show)

    return formatted


def _multi_picklist(fdef: FieldDef, value: Any, show: Presentation) -> Display:
    values = value if isinstance(value, (list, tuple)) else [value]
    items = tuple(_option_label(fdef, item, show) for item in values)
    if not items:
        return empty(show)
    return Display("list", format_list(list(items), locale=show.locale), items=items)


def _integer(value: Any, show: Presentation) -> Display:
    return plain("number", format_number(value, show))


def _decimal(fdef: FieldDef, value: Any, show: Presentation) -> Display:
    return plain("number", format_number(value, show, fdef.scale))


#: Formatters by the name of a built-in type's widget; plugin types without a formatter use their value kind's.
BY_WIDGET: Mapping[str, Callable[[FieldDef, Any, Presentation], Display]] = {
    "text": lambda fdef, value, show: plain("text", value if type(value) is str else str(value)),
    "textarea": lambda fdef, value, show: _lines(value, show),
    "number": _decimal,
    "currency": lambda fdef, value, show: plain("number", format_money(value, show)),
    "percent": lambda fdef, value, show: plain("number", format_percentage(value, show)),
    "checkbox": lambda fdef, value, show: _boolean(value, show),
    "date": lambda fdef, value, show: _date(value, show),
    "datetime": lambda fdef, value, show: _datetime(value, show),
    "email": lambda fdef, value, show: _email(value, show),
    "tel": lambda fdef, value, show: _phone(value, show),
    "url": lambda fdef, value, show: _url(value, show),
    "select": _picklist,
    "multiselect": _multi_picklist,
}

BY_VALUE_KIND: Mapping[str, Callable[[FieldDef, Any, Presentation], Display]] = {
    "text": BY_WIDGET["text"],
    "integer": lambda fdef, value, show: _integer(value, show),
    "decimal": _decimal,
    "boolean": BY_WIDGET["checkbox"],
    "date": BY_WIDGET["date"],
    "datetime": BY_WIDGET["datetime"],
    "list": lambda fdef, value, show: Display("list", format_list([str(item) for item in value], locale=show.locale),
                                              items=tuple(str(item) for item in value)),
}


def lookup_display(fdef: FieldDef, value: Any, show: Presentation, title: str | None) -> Display:
    """A link to another record: its title as the caller read it (with the user's rights), else 'Record 42'."""
    record_id = int(value)
    text = title if title not in (None, "") else show.text("record", id=record_id)
    return plain("lookup", str(text), target=fdef.to, record_id=record_id)


def default_formatter(widget: str, value_kind: str) -> Callable[[FieldDef, Any, Presentation], Display]:
    """The built-in formatting of values that are not empty: by widget name, else by value kind, else as text."""
    if widget == "number" and value_kind == "integer":
        return BY_VALUE_KIND["integer"]
    return BY_WIDGET.get(widget) or BY_VALUE_KIND.get(value_kind) or BY_WIDGET["text"]


def default_display(widget: str, value_kind: str, fdef: FieldDef, value: Any, show: Presentation) -> Display:
    """The built-in formatting of a value that is not empty (default_formatter applied to it)."""
    return default_formatter(widget, value_kind)(fdef, value, show)


def as_display(result: "Display | str | None", show: Presentation) -> Display:
    """A plugin formatter's result as a Display: text becomes a plain text Display, None or '' empty."""
    if isinstance(result, Display):
        return result
    if result is None or result == "":
        return empty(show)
    return Display("text", str(result))


def is_empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, (list, tuple)) and not value)


def format_date_value(value: date, show: Presentation) -> Display:
    """A date (or a moment, in the user's time zone) as a Display: for callers outside field types."""
    return _datetime(value, show) if isinstance(value, datetime) else _date(value, show)
