"""Admin expressions (formulas, defaults, conditions): compiled once, cached, evaluated in-process."""

from __future__ import annotations

import ast
import decimal
import functools
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from .constants import constant_parts
from .functions import BUILTIN_FUNCTIONS, SAFE_BUILTINS
from .guards import (
    guarded_add,
    guarded_div,
    guarded_floordiv,
    guarded_format,
    guarded_getitem,
    guarded_lshift,
    guarded_mod,
    guarded_mul,
    guarded_pow,
    guarded_sub,
    make_getattr,
    reset_work_budget,
)
from .policy import (
    CompileProblem,
    ExpressionRuntimeError,
    ExpressionSyntaxError,
    SandboxError,
    SandboxLimitError,
    compile_restricted,
    expression_position,
)
from .records import is_empty

_TEXT_METHODS = frozenset("""
    capitalize casefold center count endswith expandtabs find index isalnum isalpha isascii
    isdecimal isdigit islower isnumeric isspace istitle isupper join ljust lower lstrip partition
    removeprefix removesuffix replace rfind rindex rjust rpartition rsplit rstrip split splitlines
    startswith strip swapcase title upper zfill""".split())
_INT_ATTRIBUTES = frozenset("real imag numerator denominator conjugate bit_length".split())
_DATE_ATTRIBUTES = frozenset(
    "year month day weekday isoweekday isoformat isocalendar replace strftime toordinal ctime".split())
_TIME_ATTRIBUTES = frozenset(
    "hour minute second microsecond tzinfo fold utcoffset tzname dst".split())
_SET_ATTRIBUTES = frozenset(
    "union intersection difference symmetric_difference issubset issuperset isdisjoint".split())

# What an expression may read on each kind of value; everything else is refused.
EXPRESSION_ATTRIBUTES: dict[type, frozenset[str]] = {
    str: _TEXT_METHODS,
    int: _INT_ATTRIBUTES,
    bool: _INT_ATTRIBUTES,
    float: frozenset("real imag conjugate is_integer".split()),
    Decimal: frozenset("""adjusted compare copy_abs copy_negate exp is_finite is_infinite is_nan
        is_signed is_zero ln log10 max min normalize quantize sqrt to_integral
        to_integral_value real imag""".split()),
    date: _DATE_ATTRIBUTES,
    datetime: _DATE_ATTRIBUTES | _TIME_ATTRIBUTES | {"date", "time", "timetz", "timestamp", "astimezone"},
    time: _TIME_ATTRIBUTES | {"isoformat", "strftime", "replace"},
    timedelta: frozenset("days seconds microseconds total_seconds".split()),
    tzinfo: frozenset("utcoffset tzname dst".split()),
    list: frozenset({"count", "index"}),
    tuple: frozenset({"count", "index"}),
    dict: frozenset({"get", "keys", "values", "items"}),
    set: _SET_ATTRIBUTES,
    frozenset: _SET_ATTRIBUTES,
    BaseException: frozenset({"args"}),
}

GUARDS: dict[str, Any] = {
    "_getitem_": guarded_getitem, "_getiter_": iter, "_add_": guarded_add, "_sub_": guarded_sub,
    "_mul_": guarded_mul, "_div_": guarded_div, "_floordiv_": guarded_floordiv,
    "_mod_": guarded_mod, "_pow_": guarded_pow, "_lshift_": guarded_lshift,
    "_format_": guarded_format, "_is_empty_": is_empty,
}

_BUILTINS: dict[str, Any] = {**SAFE_BUILTINS, **BUILTIN_FUNCTIONS}

_EXPRESSION_GLOBALS: dict[str, Any] = {
    **GUARDS,
    "__builtins__": _BUILTINS,
    "_getattr_": make_getattr(EXPRESSION_ATTRIBUTES, {}),
}


@dataclass(frozen=True, slots=True, eq=False)
class CompiledExpression:
    """A checked, compiled expression; evaluate it as often as needed."""

    source: str
    #: Every free name it uses: the values it reads and the functions it calls.
    names: frozenset[str]
    attribute_paths: frozenset[tuple[str, ...]]
    _code: types.CodeType = field(repr=False)
    #: Names used only as the callee of a call (`phone_country(mobile)`): functions, not the field of that name.
    called_only: frozenset[str] = frozenset()

    @property
    def value_names(self) -> frozenset[str]:
        """The names it reads as values (fields): every name but those it only calls."""
        return self.names - self.called_only

    def evaluate(self, variables: Mapping[str, Any],
                 functions: Mapping[str, Callable[..., Any]] | None = None) -> Any:
        """Run the expression; variables shadow functions, which shadow the built-in helpers, except that a name
        only ever called is the function of that name, not a variable of the same name that is no function (a
        field's value: `phone_country(mobile)` beside a field phone_country)."""
        scope = dict(functions) if functions else {}
        scope.update(variables)
        for name in self.called_only:
            if name in variables and not callable(variables[name]):
                function = functions.get(name) if functions else None
                function = _BUILTINS.get(name) if function is None else function
                if function is not None:
                    scope[name] = function
        scope.update(_EXPRESSION_GLOBALS)
        return _run(self._code, scope)


def _run(code: types.CodeType, scope: dict[str, Any]) -> Any:
    reset_work_budget()
    try:
        return eval(code, scope)  # noqa: S307 - restricted code, guarded globals
    except SandboxError:
        raise
    except (MemoryError, RecursionError) as exc:
        raise SandboxLimitError("the expression needs too much memory or nests too deeply") from exc
    except Exception as exc:
        raise ExpressionRuntimeError(describe_error(exc)) from exc


#: Built-in functions whose result depends only on their arguments (not today() or now()).
_PURE_FUNCTIONS = frozenset(name for name, value in {**SAFE_BUILTINS, **BUILTIN_FUNCTIONS}.items()
                            if callable(value)) - {"today", "now"}


def check_expression(source: str, scope_names: Iterable[str] | None = None) -> list[CompileProblem]:
    """The problems that stop ``source`` from running; [] when it is a valid expression.

    Besides syntax and policy problems, a part that reads no field and fails whenever it
    runs (``10**10**10``, ``'x' * 10**9``, ``1 / 0``) is reported at its line and column;
    compile_expression still accepts such an expression, which then fails when it runs.
    ``scope_names`` are the names the expression's scope will define (fields, engine
    functions): built-in functions not among them, such as ``range(10**12)``, are checked
    the same way; without it, calls by name are not.
    """
    if not isinstance(source, str):
        return compile_restricted(source, "eval")[2]
    source = str.__str__(source)
    result = _compile(source)
    if isinstance(result, tuple):
        return list(result)
    callable_names = frozenset() if scope_names is None else _PURE_FUNCTIONS - frozenset(scope_names)
    return list(_constant_problems(source, callable_names))


def compile_expression(source: str) -> CompiledExpression:
    """Compile (or fetch from the cache) an admin expression; raises ExpressionSyntaxError.

    >>> compile_expression("amount * 0.2").evaluate({"amount": Decimal("10")})
    Decimal('2.0')
    """
    if not isinstance(source, str):
        raise ExpressionSyntaxError(compile_restricted(source, "eval")[2])
    result = _compile(str.__str__(source))
    if isinstance(result, tuple):
        raise ExpressionSyntaxError(list(result))
    return result


@functools.lru_cache(maxsize=4096)
def _compile(source: str) -> CompiledExpression | tuple[CompileProblem, ...]:
    """Cached by source text: problems are cached too, so validating metadata stays cheap."""
    code, tree, problems = compile_restricted(source, "eval")
    if code is None or tree is None:
        return tuple(problems)
    names, paths = analyse_names(tree)
    return CompiledExpression(source, names, paths, code, called_names(tree))


@functools.lru_cache(maxsize=1024)
def _constant_problems(source: str, callable_names: frozenset[str]) -> tuple[CompileProblem, ...]:
    tree = compile_restricted(source, "eval")[1]
    return _failing_parts(source, tree, callable_names) if tree is not None else ()


def _failing_parts(source: str, tree: ast.AST, callable_names: frozenset[str]) -> tuple[CompileProblem, ...]:
    """Run each constant part of the expression once, under the run-time limits; report failures."""
    problems = []
    for part in constant_parts(tree, callable_names):
        code = compile_restricted(ast.unparse(_standalone(part)), "eval")[0]
        if code is None:
            continue
        try:
            _run(code, dict(_EXPRESSION_GLOBALS))
        except SandboxError as error:
            line, column = expression_position(source, part)
            problems.append(CompileProblem(line, column, f"this part fails whenever it runs: {error.message}"))
    return tuple(problems)


def _standalone(part: ast.expr) -> ast.expr:
    """A part that can be written as an expression of its own: a slice or an f-string field is wrapped."""
    if isinstance(part, ast.FormattedValue):
        return ast.JoinedStr(values=[part])
    if isinstance(part, ast.Slice):
        return ast.Subscript(value=ast.Constant(""), slice=part, ctx=ast.Load())
    return part


def analyse_names(tree: ast.AST) -> tuple[frozenset[str], frozenset[tuple[str, ...]]]:
    """Free names read, and dotted reads from them (a called method is not part of a path)."""
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    inner = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    paths = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in inner:
            path = _dotted_path(node)
            if path and id(node) in called:
                path = path[:-1]
            if len(path) >= 2:
                paths.add(path)
    return frozenset(names), frozenset(paths)


def called_names(tree: ast.AST) -> frozenset[str]:
    """Free names used only as the callee of a call (`phone_country(mobile)`): the function of that name, never
    a field of the same name (a field's value is never callable); a name also read as a value is not among them."""
    callees = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    called: set[str] = set()
    read: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (called if id(node) in callees else read).add(node.id)
    return frozenset(called - read)


def _dotted_path(node: ast.Attribute) -> tuple[str, ...]:
    parts: list[str] = []
    current: ast.expr = node
    while isinstance(current, ast.Attribute):
        parts.append(current.attr)
        current = current.value
    if not isinstance(current, ast.Name):
        return ()
    return (current.id, *reversed(parts))


_SCALAR_ARGUMENTS = (str, int, float, Decimal, type(None))


def describe_error(exc: BaseException) -> str:
    """A plain sentence naming why admin code failed."""
    detail = _short_message(exc)
    if isinstance(exc, ZeroDivisionError):
        return "division by zero: a value used as a divisor is 0"
    if isinstance(exc, NameError) and exc.name:
        return f"unknown name '{exc.name}'"
    if isinstance(exc, decimal.InvalidOperation):
        return "invalid decimal calculation (for example a result with too many digits)"
    if isinstance(exc, (AttributeError, ImportError)) and detail:
        return detail
    if isinstance(exc, KeyError):
        return f"there is no key {detail}" if detail else "there is no such key"
    prefix = next((text for kind, text in _ERROR_PREFIXES if isinstance(exc, kind)),
                  type(exc).__name__)
    if isinstance(exc, TypeError) and "NoneType" in detail:
        prefix = "an empty value (None) was used where a value is needed"
    return f"{prefix}: {detail}" if detail else prefix


_ERROR_PREFIXES = (
    (OverflowError, "a number or date is too large"),
    (TypeError, "a value has the wrong type"),
    (IndexError, "a position is outside the list or text"),
    (ValueError, "invalid value"),
)


def _short_message(exc: BaseException) -> str:
    """str(exc), cut short, and only when its arguments are plain values (cheap to print)."""
    if not all(isinstance(arg, _SCALAR_ARGUMENTS) for arg in exc.args):
        return ""
    message = repr(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return message if len(message) <= 200 else message[:200] + "..."
