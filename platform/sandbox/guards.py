"""Runtime guards that the policy's rewritten code calls instead of plain Python.

Expressions run in the web process, so every operation that could build a huge value
is checked *before* it allocates: sequence repetition and concatenation, big integer
powers and shifts, %-formatting and f-string widths, and the string methods that pad
or multiply text. Attribute reads use an allow-list per type, so only plain data
(text, numbers, dates, lists, dicts, records) can be explored, never Python internals.
"""

from __future__ import annotations

import math
import operator
import re
import threading
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from .policy import SandboxLimitError
from .records import RECORD_TYPES

MAX_ITEMS = 1_000_000  # longest text, list or range one operation may build
MAX_INT_BITS = 4096  # largest integer an operation may build (about 1,233 digits)
MAX_FORMAT_WIDTH = 1_000  # widest field or precision in %-formatting and f-strings
MAX_DECIMAL_EXPONENT = 1_000  # decimals beyond 10**1000 are never written out digit by digit
MAX_ROUND_DIGITS = 100
EXPRESSION_WORK_LIMIT = 2_000_000  # items one expression may build in total

_SEQUENCES = (str, bytes, bytearray, list, tuple)
_FAST_NUMBERS = frozenset({float, Decimal, complex})
_SCALARS = (str, int, float, Decimal, complex, date, time, timedelta, type(None))
_FORMAT_DIGITS = re.compile(r"\d+")
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?.?")


class _WorkBudget(threading.local):
    remaining: float = float(EXPRESSION_WORK_LIMIT)


_budget = _WorkBudget()


def reset_work_budget(limit: float = EXPRESSION_WORK_LIMIT) -> None:
    """Start counting the items built by one evaluation (scripts pass math.inf)."""
    _budget.remaining = limit


def charge(items: int) -> None:
    """Count a large value being built; small ones are free to keep guards cheap."""
    if items >= 1024:
        _budget.remaining -= items
        if _budget.remaining < 0:
            raise SandboxLimitError(f"the expression builds more than {EXPRESSION_WORK_LIMIT:,} "
                                    "items of data in total; simplify it or use a script")


def check_items(count: int, what: str) -> None:
    if count > MAX_ITEMS:
        raise SandboxLimitError(f"{what} would be longer than the limit of {MAX_ITEMS:,} "
                                "characters or items")
    charge(count)


def _check_int_bits(bits: float) -> None:
    if bits > MAX_INT_BITS:
        raise SandboxLimitError(f"the result would be a number with more than {MAX_INT_BITS:,} bits "
                                "(about 1,200 digits)")


def check_decimal(value: Decimal) -> None:
    """Refuse to write out the digits of a decimal like 1E+999999999."""
    if value.is_finite() and abs(value.adjusted()) > MAX_DECIMAL_EXPONENT:
        raise SandboxLimitError("the decimal number is too large or too small to write out in full")


# Operators -------------------------------------------------------------------------------


def _check_add(a: Any, b: Any) -> None:
    if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
        check_items(len(a) + len(b), "the joined text or list")


def _check_mul(a: Any, b: Any) -> None:
    if type(a) in _FAST_NUMBERS or type(b) in _FAST_NUMBERS:
        return
    if isinstance(a, int) and isinstance(b, int):
        _check_int_bits(a.bit_length() + b.bit_length())
    elif isinstance(a, _SEQUENCES) and isinstance(b, int):
        _check_repeat(a, b)
    elif isinstance(b, _SEQUENCES) and isinstance(a, int):
        _check_repeat(b, a)


def _check_repeat(sequence: Any, count: int) -> None:
    """Repeating a list repeats references: [big_text, other_big_text] * 10**6 is huge to
    compare, sort or write out, so items count with the text and items they hold."""
    if count <= 1:
        return
    if isinstance(sequence, (str, bytes, bytearray)):
        check_items(len(sequence) * count, "the repeated text")
    else:
        check_items(_weight(sequence, MAX_ITEMS // count + 1) * count, "the repeated list")


def _weight(value: Any, limit: int) -> int:
    """Items and characters reachable from ``value`` (1 for a number), stopping past ``limit``."""
    if isinstance(value, str):
        return max(len(value), 1)
    if not isinstance(value, (list, tuple, set, frozenset, dict)):
        return 1
    total = 0
    for item in (value.items() if isinstance(value, dict) else value):
        total += _weight(item, limit - total)
        if total > limit:
            break
    return max(total, 1)


def _check_pow(a: Any, b: Any) -> None:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        _check_int_bits(b * math.log2(abs(a)) if b.bit_length() < 64 else math.inf)


def _check_lshift(a: Any, b: Any) -> None:
    if isinstance(a, int) and isinstance(b, int) and a and b > 0:
        _check_int_bits(a.bit_length() + b)


def _check_mod(a: Any, b: Any) -> None:
    """'%05d' % x: bound the widths and the values written before formatting."""
    if not isinstance(a, str):
        return
    for match in _PERCENT_SPEC.finditer(a):
        for number in match.groups():
            if number == "*":
                raise SandboxLimitError("'*' widths are not allowed in %-formatting; write the number")
            if number and int(number) > MAX_FORMAT_WIDTH:
                raise SandboxLimitError(f"formatting widths above {MAX_FORMAT_WIDTH:,} are not allowed")
    values = b.values() if isinstance(b, dict) else b if isinstance(b, tuple) else (b,)
    for value in values:
        check_text_size(value)


def _mix(a: Any, b: Any) -> tuple[Any, Any]:
    """A decimal combined with a float stays a decimal: budget * 0.2 works on currency fields."""
    kind_a, kind_b = type(a), type(b)
    if kind_a is Decimal and kind_b is float:
        return a, Decimal(repr(b))
    if kind_a is float and kind_b is Decimal:
        return Decimal(repr(a)), b
    return a, b


def guarded_add(a: Any, b: Any) -> Any:
    a, b = _mix(a, b)
    _check_add(a, b)
    return a + b


def guarded_mul(a: Any, b: Any) -> Any:
    a, b = _mix(a, b)
    _check_mul(a, b)
    return a * b


def _mixing(operation: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """An operator that cannot build big values, but mixes decimals with floats like the others."""
    def guarded(a: Any, b: Any) -> Any:
        a, b = _mix(a, b)
        return operation(a, b)
    return guarded


guarded_sub = _mixing(operator.sub)
guarded_div = _mixing(operator.truediv)
guarded_floordiv = _mixing(operator.floordiv)


def guarded_pow(a: Any, b: Any) -> Any:
    a, b = _mix(a, b)
    _check_pow(a, b)
    return a ** b


def guarded_lshift(a: Any, b: Any) -> Any:
    _check_lshift(a, b)
    return a << b


def guarded_mod(a: Any, b: Any) -> Any:
    a, b = _mix(a, b)
    _check_mod(a, b)
    return a % b


_INPLACE: dict[str, tuple[Callable[[Any, Any], Any], Callable[[Any, Any], Any]]] = {
    "+=": (guarded_add, operator.iadd), "-=": (guarded_sub, operator.isub),
    "*=": (guarded_mul, operator.imul), "/=": (guarded_div, operator.itruediv),
    "//=": (guarded_floordiv, operator.ifloordiv), "%=": (guarded_mod, operator.imod),
    "**=": (guarded_pow, operator.ipow), "<<=": (guarded_lshift, operator.ilshift),
    ">>=": (operator.rshift, operator.irshift), "&=": (operator.and_, operator.iand),
    "|=": (operator.or_, operator.ior), "^=": (operator.xor, operator.ixor),
    "@=": (operator.matmul, operator.imatmul),
}


def guarded_inplace(op: str, target: Any, value: Any) -> Any:
    """x += y in scripts: lists, sets and dicts change in place after the size checks of x + y."""
    binary, inplace = _INPLACE[op]
    if not isinstance(target, (list, bytearray, set, dict)):
        return binary(target, value)
    if op == "+=" and isinstance(target, (list, bytearray)):
        value = value if isinstance(value, _SEQUENCES) else list(value)
        _check_add(target, value)
    elif op == "*=":
        _check_mul(target, value)
    return inplace(target, value)


# Turning values into text ----------------------------------------------------------------


def check_text_size(value: Any, quoted: bool = False) -> None:
    """Refuse to write out values whose text would be huge ([big_text] * 10**6, 1E+999999999).

    ``quoted`` is for repr() and ascii(), which may write a character of text as up to ten.
    """
    if isinstance(value, Decimal):
        check_decimal(value)
    elif quoted or not isinstance(value, _SCALARS):
        size = _text_size(value, MAX_ITEMS)
        if size > MAX_ITEMS:
            raise SandboxLimitError(f"the value would be longer than {MAX_ITEMS:,} characters as text")
        charge(size)


def _text_size(value: Any, limit: int) -> int:
    """An upper estimate of len(repr(value)) that stops early once it passes ``limit``."""
    if isinstance(value, str):
        return len(value) + 2 if value.isprintable() else len(value) * 10 + 2
    if isinstance(value, int):
        return value.bit_length() // 3 + 2
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        total = 2
        for item in (value.items() if isinstance(value, dict) else value):
            total += _text_size(item, limit - total) + 2
            if total > limit:
                break
        return total
    return 64


def guarded_str(value: Any = "") -> str:
    check_text_size(value)
    return str(value)


def guarded_repr(value: Any) -> str:
    check_text_size(value, quoted=True)
    return repr(value)


def guarded_ascii(value: Any) -> str:
    check_text_size(value, quoted=True)
    return ascii(value)


_CONVERSIONS: dict[str, Callable[[Any], str]] = {"s": guarded_str, "r": guarded_repr, "a": guarded_ascii}


def guarded_format(value: Any, conversion: str, spec: str) -> str:
    """The value of one f-string field, f"{value!conversion:spec}", with bounded widths."""
    if type(value) is str and not spec and not conversion:
        return value
    if conversion:
        value = _CONVERSIONS[conversion](value)
    if len(spec) > 100:
        raise SandboxLimitError("format specifications longer than 100 characters are not allowed")
    dates = isinstance(value, (date, time))  # strftime patterns: their output is bounded by Python
    if spec and not dates and any(int(n) > MAX_FORMAT_WIDTH for n in _FORMAT_DIGITS.findall(spec)):
        raise SandboxLimitError(f"formatting widths above {MAX_FORMAT_WIDTH:,} are not allowed")
    check_text_size(value)
    return format(value, spec)


# String methods that pad or multiply text ------------------------------------------------


def _padding(method: str) -> Callable[[str], Callable[..., str]]:
    def bind(text: str) -> Callable[..., str]:
        def pad(width: int, *fill: str) -> str:
            check_items(width, f"the text from {method}()")
            return getattr(text, method)(width, *fill)
        return pad
    return bind


def _expandtabs(text: str) -> Callable[..., str]:
    def expandtabs(tabsize: int = 8) -> str:
        check_items(len(text) + text.count("\t") * max(tabsize, 0), "the text from expandtabs()")
        return text.expandtabs(tabsize)
    return expandtabs


def _replace(text: str) -> Callable[..., str]:
    def replace(old: str, new: str, count: int = -1) -> str:
        found = text.count(old) if old else len(text) + 1
        if count >= 0:
            found = min(found, count)
        check_items(len(text) + found * (len(new) - len(old)), "the text from replace()")
        return text.replace(old, new, count)
    return replace


def _join(text: str) -> Callable[[Iterable[str]], str]:
    def join(parts: Iterable[str]) -> str:
        parts = list(parts)
        try:
            size = sum(map(len, parts)) + len(text) * max(len(parts) - 1, 0)
        except TypeError:
            size = 0  # a part that is not text: str.join raises its own clear error
        check_items(size, "the joined text")
        return text.join(parts)
    return join


def _strftime(value: date | time) -> Callable[[str], str]:
    def strftime(pattern: str) -> str:
        if len(pattern) > 100:
            raise SandboxLimitError("date formats longer than 100 characters are not allowed")
        return value.strftime(pattern)
    return strftime


_TEXT_METHOD_GUARDS: dict[str, Callable[[Any], Callable[..., Any]]] = {
    "center": _padding("center"), "ljust": _padding("ljust"), "rjust": _padding("rjust"),
    "zfill": _padding("zfill"), "expandtabs": _expandtabs, "replace": _replace, "join": _join,
}


def _bind_method(value: Any, name: str) -> Any:
    """The method or attribute, wrapped in a size check where it can pad or multiply text."""
    if isinstance(value, str) and name in _TEXT_METHOD_GUARDS:
        return _TEXT_METHOD_GUARDS[name](value)
    if name == "strftime" and isinstance(value, (date, time)):
        return _strftime(value)
    return getattr(value, name)


# Attribute and item access ---------------------------------------------------------------


def make_getattr(attributes: dict[type, frozenset[str]], class_attributes: dict[type, frozenset[str]],
                 delegates: frozenset[type] = RECORD_TYPES) -> Callable[[Any, str], Any]:
    """Build the ``_getattr_`` guard for one allow-list (expressions or scripts).

    ``attributes`` lists what may be read on values of each type (subclasses included),
    ``class_attributes`` what may be read on the classes themselves, and ``delegates``
    are types that enforce their own rules (records, script modules).
    """
    resolved: dict[type, frozenset[str]] = dict(attributes)

    def guarded_getattr(value: Any, name: str) -> Any:
        if type(name) is not str:
            raise TypeError("attribute names must be plain text")
        if name.startswith("_"):
            raise AttributeError(f"'{name}' is not allowed: names starting with '_' are private")
        kind = type(value)
        if kind in delegates:
            return getattr(value, name)
        names = resolved.get(kind)
        if names is None:
            names = _allowed_names(value, attributes, class_attributes)
            if not isinstance(value, type):
                resolved[kind] = names
        if name not in names:
            if name in ("format", "format_map"):  # "{0.__class__}".format(x) reads any attribute
                raise AttributeError(f"'.{name}()' is not allowed; use an f-string such as "
                                     "f\"{amount} EUR\" or text()")
            raise AttributeError(f"'{name}' cannot be used on {describe(value)}")
        return _bind_method(value, name)

    return guarded_getattr


def _allowed_names(value: Any, attributes: dict[type, frozenset[str]],
                   class_attributes: dict[type, frozenset[str]]) -> frozenset[str]:
    if isinstance(value, type):
        return class_attributes.get(value, frozenset())
    for base in type(value).__mro__:
        if base in attributes:
            return attributes[base]
    return frozenset()


def guarded_write(value: Any) -> Any:
    """Scripts may change lists and dicts (x[k] = v); nothing else, so modules stay intact."""
    if type(value) in (list, dict):
        return value
    raise TypeError(f"only lists and dicts can be changed; {describe(value)} cannot")


_INDEXABLE = (str, list, tuple, dict, range, re.Match)


def guarded_getitem(value: Any, key: Any) -> Any:
    """Only plain containers can be indexed, so [...] never reaches an object's internals."""
    if isinstance(value, _INDEXABLE):
        return value[key]
    raise TypeError(f"{describe(value)} cannot be indexed with [...]")


def describe(value: Any) -> str:
    """A short, plain description of a value's kind for error messages."""
    kind = _KIND_NAMES.get(type(value))
    if kind is None:
        kind = "a function" if callable(value) and not isinstance(value, type) else (
            f"a value of type '{type(value).__name__}'")
    return kind


_KIND_NAMES = {
    str: "a text value", int: "a whole number", float: "a number", Decimal: "a decimal number",
    bool: "a yes/no value", type(None): "an empty value (None)", date: "a date",
    datetime: "a date and time", time: "a time of day", timedelta: "a duration", list: "a list",
    tuple: "a list", dict: "a dictionary", set: "a set",
}
