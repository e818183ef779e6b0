"""Published escapes from RestrictedPython, Zope AccessControl and Frappe's safe_exec fail here.

Each test names the advisory or discussion it reproduces. Expressions are checked through
compile/evaluate (in-process); scripts through run_script (child process), and several
script escapes share one run to keep the suite fast.
"""
from __future__ import annotations

import pytest

from crmkit.sandbox import (
    ExpressionRuntimeError,
    ExpressionSyntaxError,
    RecordView,
    SandboxError,
    ScriptError,
    check_expression,
    check_script,
    compile_expression,
    run_script,
)
from crmkit.sandbox.expression import EXPRESSION_ATTRIBUTES
from crmkit.sandbox.guards import make_getattr


def rejected(source: str) -> str:
    """The first compile problem of an expression (which must be rejected)."""
    problems = check_expression(source)
    assert problems, f"{source!r} should be rejected"
    with pytest.raises(ExpressionSyntaxError):
        compile_expression(source)
    return problems[0].message


def fails_at_runtime(source: str, **variables) -> str:
    with pytest.raises(SandboxError) as caught:
        compile_expression(source).evaluate(variables)
    return caught.value.message


def test_generator_frame_walking_is_rejected():
    """CVE-2023-37271 (GHSA-wqc8-x2pr-7jqh): gi_frame.f_back reaches real globals.

    Same idea as danthedeckie/simpleeval#138 (foo.bar().gi_frame.f_globals['__builtins__']).
    """
    assert "loops are not allowed" in rejected("(x for x in ()).gi_frame.f_back.f_back.f_globals")
    assert "gives access to Python internals" in rejected("gen.gi_frame.f_back")
    for attribute in ("gi_code", "cr_frame", "ag_frame", "tb_frame", "tb_next", "f_globals",
                      "f_locals", "f_builtins", "co_code"):
        assert check_expression(f"value.{attribute}"), attribute


def test_a_generator_passed_in_cannot_be_explored_at_runtime():
    """Belt and braces for CVE-2023-37271: the runtime guard allows only data attributes."""
    guard = make_getattr(EXPRESSION_ATTRIBUTES, {})
    generator = (x for x in ())
    for name in ("gi_frame", "gi_code", "gi_yieldfrom", "send", "throw"):
        with pytest.raises(AttributeError):
            guard(generator, name)


def test_str_format_attribute_walking_is_rejected():
    """CVE-2023-41039 (GHSA-xjw2-6jm9-rf67) and Zope AccessControl#27/#46 (PloneHotfix20170117).

    "{0.__class__}".format(x) reads attributes without any guard
    (https://lucumr.pocoo.org/2016/12/29/careful-with-str-format/).
    """
    # A literal format string is refused before anything runs...
    assert "'.format()' is not allowed; use an f-string" in rejected("'{0.__class__.__mro__}'.format(name)")
    assert "'.format_map()' is not allowed" in rejected("'{x.__class__}'.format_map(values)")
    for source in ("('{0.' + '__class__}').format(name)", "f'{name}{{0.__class__}}'.format(name)",
                   "'{0[0]}'.format(items)", "('{0.x}' if name else '{0.y}').format(name)"):
        assert "is not allowed" in rejected(source), source
    # ...and one that arrives in a variable is refused when it runs.
    assert "'.format()' is not allowed; use an f-string" in fails_at_runtime(
        "template.format(name)", template="{0.__class__.__mro__}", name="x")
    assert "'.format()' is not allowed; use an f-string" in fails_at_runtime(
        "template.format(items)", template="{0[0]}", items=["x"])
    assert "'.format_map()' is not allowed" in fails_at_runtime(
        "template.format_map(values)", template="{x.__class__}", values={"x": 1})
    assert "unknown name 'format'" in fails_at_runtime("format(name, '>10')", name="x")
    # Refused by value type at runtime, so a record field that happens to be called
    # "format" still reads fine.
    document = RecordView({"format": "PDF"})
    assert compile_expression("document.format").evaluate({"document": document}) == "PDF"
    guard = make_getattr(EXPRESSION_ATTRIBUTES, {})
    for name in ("format", "format_map", "maketrans", "translate", "encode"):
        with pytest.raises(AttributeError):
            guard("text", name)


def test_str_type_cannot_be_used_to_reach_format():
    """The builtin str is a guarded function here, so str.format and str.join are unreachable."""
    assert "'.format()' is not allowed" in fails_at_runtime("str.format('{0.__class__}', 1)")
    assert "cannot be used on a function" in fails_at_runtime("str.join('', ['a'])")
    assert "cannot be used on a function" in fails_at_runtime("str.mro()")
    assert "cannot be used on a function" in fails_at_runtime("str.upper('x')")


def test_string_formatter_is_unreachable():
    """CVE-2023-41039 and CVE-2024-47532: string.Formatter().get_field leaks attributes."""
    assert "unknown name 'string'" in fails_at_runtime("string.Formatter().get_field('0.x', [1], {})")
    # In scripts `import string` is refused at runtime: see test_scripts_cannot_reach_internals.


def test_attribute_names_must_be_exact_str():
    """RestrictedPython#282 (7.2): a str subclass with a lying __eq__/startswith passed to getattr."""

    class Sneaky(str):
        def startswith(self, *args):  # pretends not to start with '_'
            return False

        def __eq__(self, other):
            return False

        __hash__ = str.__hash__

    guard = make_getattr(EXPRESSION_ATTRIBUTES, {})
    with pytest.raises(TypeError, match="plain text"):
        guard("text", Sneaky("__class__"))
    with pytest.raises(TypeError, match="plain text"):
        guard(RecordView({"name": 1}), Sneaky("name"))


def test_underscore_names_are_refused_by_the_runtime_guard_too():
    guard = make_getattr(EXPRESSION_ATTRIBUTES, {})
    for value in ("text", 1, [], RecordView({}), len):
        with pytest.raises(AttributeError, match="private"):
            guard(value, "__class__")


def test_positional_only_parameters_cannot_shadow_guards():
    """GHSA-ffg3-p8fm-mjx2 (RestrictedPython 8.3): `def f(_getattr_, /)` skipped the name check.

    See dimagi/open-chat-studio#4563 for the regression tests that followed.
    """
    assert "functions cannot be defined" in rejected("(lambda _getattr_=len, /: 1)()")
    for hook in ("_getattr_", "_write_", "_getitem_", "_print_", "_inplacevar_", "_mul_"):
        problems = check_script(f"def f({hook}, /):\n    return 1\nresult = f(1)")
        assert any("names starting with '_'" in p.message for p in problems), hook
        problems = check_script(f"f = lambda {hook}=None, /: 1")
        assert any("names starting with '_'" in p.message for p in problems), hook


def test_except_star_is_rejected():
    """CVE-2025-22153 (RestrictedPython 8.0): try/except* allowed a type confusion escape."""
    problems = check_script("try:\n    pass\nexcept* Exception:\n    pass")
    assert problems and "except* (exception groups) is not allowed" in problems[0].message


@pytest.mark.parametrize("source", [
    "x.\uff3f\uff3fclass\uff3f\uff3f",  # fullwidth low lines fold to '__class__'
    "x.\ufe4d\ufe4dclass\ufe4d\ufe4d",  # dashed low lines fold to '__class__'
    "\uff46ormat(x, '')",  # a fullwidth 'f'
    "name.\uff55pper()",  # looks like name.upper()
    "f'{x.\uff3f\uff3fclass\uff3f\uff3f}'",
    "f'{\uff46ormat}'",
])
def test_look_alike_identifiers_are_rejected(source):
    """Python folds identifiers with NFKC, so look-alikes can spell names the reader doesn't see."""
    assert rejected(source)


def test_look_alike_identifiers_are_rejected_in_scripts():
    assert check_script("\uff52esult = 1")


@pytest.mark.parametrize("source", [
    "x.__class__.__subclasses__()",
    "().__class__.__bases__[0].__subclasses__()",
    "type.__subclasses__(type)",
    "x.__class__.__mro__[-1]",
    "__builtins__",
    "__import__('os')",
    "x.__dict__",
    "x.__init__.__globals__",
    "len.__self__",
    "account._values",
])
def test_dunder_walks_are_rejected_at_compile_time(source):
    assert rejected(source)


@pytest.mark.parametrize("name", [
    "type", "getattr", "setattr", "vars", "dir", "globals", "locals", "open", "compile", "object",
    "super", "classmethod", "memoryview", "input", "help", "id", "format", "ExceptionGroup", "exit",
])
def test_dangerous_builtins_do_not_exist(name):
    """Frappe#15334 review: exposing getattr/setattr/type to server scripts is an escape."""
    assert f"unknown name '{name}'" in fails_at_runtime(f"{name}(x)", x=1)


def test_eval_exec_and_breakpoint_are_rejected():
    assert "eval() and exec() are not allowed" in rejected("eval('1')")
    assert "eval() and exec() are not allowed" in rejected("exec('1')")
    assert "'breakpoint' is a reserved name" in rejected("breakpoint()")


def test_class_attributes_are_not_reachable_from_expressions():
    """Only plain data attributes are readable: class objects expose nothing."""
    assert "cannot be used" in fails_at_runtime("date.today()")
    assert "cannot be used" in fails_at_runtime("Decimal.from_float(1.5)")
    assert "cannot be used" in fails_at_runtime("helper.func_globals", helper=len)
    assert "cannot be used" in fails_at_runtime("(1).to_bytes(10**9, 'big')")


def test_scripts_cannot_reach_internals():
    """A batch of script escapes in one child process; every attempt must fail inside it.

    - CVE-2024-47532 (GHSA-5rfv-66g4-jr8h): AttributeError.obj / NameError.name leaks.
    - Frappe#18706: modules reachable from allowed modules (re.enum.sys.modules['os']).
    - string.Formatter via import (CVE-2023-41039).
    - module poisoning through attribute writes (dimagi/open-chat-studio#4563).
    - print(..., file=obj) calls obj.write (RestrictedPython's PrintCollector).
    """
    attempts = {
        "attribute_error_obj": ("try:\n    (1).nope\nexcept AttributeError as e:\n    leak = e.obj",
                                "'obj' cannot be used on a value of type 'AttributeError'"),
        "name_error_name": ("try:\n    undefined\nexcept NameError as e:\n    leak = e.name",
                            "'name' cannot be used"),
        "exception_traceback": ("try:\n    1/0\nexcept Exception as e:\n    leak = e.with_traceback",
                                "'with_traceback' cannot be used"),
        "module_walk": ("import re\nleak = re.enum", "'enum' is not available in the module 're'"),
        "module_import_from": ("from re import enum", "cannot import name 'enum'"),
        "os_import": ("import os", "importing 'os' is not allowed"),
        "time_import": ("import time", "importing 'time' is not allowed"),
        "submodule_import": ("import json.decoder", "importing 'json.decoder' is not allowed"),
        "string_formatter": ("import string", "importing 'string' is not allowed"),
        "module_poisoning": ("import json\njson.dumps = log", "only lists and dicts can be changed"),
        "print_file": ("print('x', file=log)", "'file=' is not allowed"),
        "class_walk": ("from datetime import date\nleak = date.strftime", "'strftime' cannot be used"),
        "decimal_context": ("import decimal\nleak = decimal.getcontext", "'getcontext' is not available"),
        "statistics_internals": ("import statistics\nleak = statistics.Fraction",
                                 "'Fraction' is not available"),
    }
    script = "failures = {}\n"
    for name, (attempt, _) in attempts.items():
        body = "\n".join("        " + line for line in attempt.splitlines())
        script += (f"try:\n    def attempt():\n{body}\n        return 'escaped'\n"
                   f"    failures['{name}'] = attempt()\n"
                   f"except Exception as error:\n    failures['{name}'] = str(error)\n")
    outcome = run_script(script + "result = failures\n", {})
    for name, (_, fragment) in attempts.items():
        assert fragment in outcome.result[name], (name, outcome.result[name])


@pytest.mark.parametrize(("source", "fragment"), [
    ("@log\ndef f():\n    pass", "decorators (@...) are not allowed"),
    ("class A:\n    pass", "classes cannot be defined"),
    ("def g():\n    yield 1", "generators (yield) are not allowed"),
    ("with x:\n    pass", "with blocks are not allowed"),
    ("async def f():\n    pass", "async code is not allowed"),
    ("def f():\n    nonlocal x", "nonlocal is not allowed"),
    ("result = __builtins__", "names starting with '_' are not allowed"),
    ("from os import *", "'import *' is not allowed"),
    ("result = (x for x in ()).gi_frame", "gives access to Python internals"),
    ("print = log", "reserved name"),
])
def test_script_policy_rejections(source, fragment):
    problems = check_script(source)
    assert problems and fragment in problems[0].message
    with pytest.raises(ExpressionSyntaxError):
        run_script(source, {})  # refused before any process starts


def test_a_runtime_import_failure_names_the_allowed_modules():
    with pytest.raises(ScriptError) as caught:
        run_script("import subprocess", {})
    assert "importing 'subprocess' is not allowed" in caught.value.message
    assert "datetime, decimal, json, math, re, statistics" in caught.value.message
    assert caught.value.line == 1


def test_expression_errors_never_carry_objects_to_the_admin():
    """Messages are built from plain values only; the type name replaces anything else."""
    assert fails_at_runtime("{}[key]", key=("a" * 10, 1)) == "there is no such key"
    assert fails_at_runtime("{}[key]", key="b") == "there is no key 'b'"
    assert isinstance(fails_at_runtime("x.y", x=object()), str)
    with pytest.raises(ExpressionRuntimeError):
        compile_expression("x.y").evaluate({"x": object()})
