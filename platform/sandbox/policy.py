"""Compile-time policy for admin code, and the errors the sandbox raises.

Admin code is parsed, checked against the policy (a RestrictedPython
``RestrictingNodeTransformer`` subclass) and rewritten so that every attribute
read, item read, risky arithmetic operation and f-string field goes through a
runtime guard (see ``guards.py``). Every rejection becomes a ``CompileProblem``
with a 1-based line and column and a sentence a non-programmer can act on.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import types
import unicodedata
from dataclasses import dataclass

from RestrictedPython.transformer import FORBIDDEN_FUNC_NAMES, RestrictingNodeTransformer

from crmkit.errors import CrmkitError

MAX_EXPRESSION_LENGTH = 10_000
MAX_SCRIPT_LENGTH = 100_000


class SandboxError(CrmkitError):
    """Base class of every error the sandbox raises for admin-written code."""

    status = 422
    title = "Admin code failed"


class SandboxLimitError(SandboxError):
    """A resource limit was hit (size, work, time or memory)."""

    title = "Admin code too costly"


class ExpressionRuntimeError(SandboxError):
    """The admin's expression failed while running."""


class ScriptError(SandboxError):
    """The admin's script failed while running; ``line`` is where, if known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line

    def __str__(self) -> str:
        """`line 3: division by zero: ...`; `message` is the sentence without the line."""
        return self.message if self.line is None else f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class CompileProblem:
    """One reason why admin code was rejected, at a 1-based line and column."""

    line: int
    column: int
    message: str


class ExpressionSyntaxError(SandboxError):
    """Admin code was rejected before running (syntax or policy)."""

    def __init__(self, problems: list[CompileProblem]) -> None:
        first = problems[0]
        super().__init__(first.message)
        self.line = first.line
        self.column = first.column
        self.problems = tuple(problems)

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"


# Node kinds rejected outright, with the sentence shown to the admin.
_NODE_MESSAGES = {
    "ListComp": "loops are not allowed in expressions ([... for ...]); use sum(), min(), max(), "
    "any(), all() or contains() on a list, or write a script",
    "SetComp": "loops are not allowed in expressions ({... for ...}); write a script instead",
    "DictComp": "loops are not allowed in expressions ({...: ... for ...}); write a script instead",
    "GeneratorExp": "loops are not allowed in expressions (... for ... in ...); use sum(), min(), "
    "max(), any() or all() on a list, or write a script",
    "Lambda": "functions cannot be defined in expressions (lambda); use the helper functions",
    "NamedExpr": "assigning a value (:=) is not allowed in expressions; repeat the calculation "
    "instead",
    "Starred": "unpacking with * is not allowed in expressions; pass the values one by one",
    "Await": "async code is not allowed",
    "AsyncFunctionDef": "async code is not allowed",
    "AsyncFor": "async code is not allowed",
    "AsyncWith": "async code is not allowed",
    "Yield": "generators (yield) are not allowed; build a list and return it instead",
    "YieldFrom": "generators (yield from) are not allowed; build a list and return it instead",
    "ClassDef": "classes cannot be defined; use dicts and lists to hold data",
    "With": "with blocks are not allowed",
    "TryStar": "except* (exception groups) is not allowed; use a plain except",
    "Nonlocal": "nonlocal is not allowed; return values from functions instead",
    "Match": "match statements are not allowed; use if and elif",
    "AnnAssign": "type annotations are not allowed; write the assignment without one",
}

_RESTRICTED_PYTHON_MESSAGES = [
    (re.compile(r'^"(.*)" is an invalid attribute name because it (starts with "_"|ends with)'),
     "attributes starting with '_' are not allowed ('{0}'); use the field names of the record"),
    (re.compile(r'^"(.*)" is a restricted name'),
     "'{0}' gives access to Python internals and is not allowed"),
    (re.compile(r"^(Exec|Eval) calls are not allowed"),
     "eval() and exec() are not allowed"),
    (re.compile(r'^"\*" imports are not allowed'),
     "'import *' is not allowed; import the names you need"),
    (re.compile(r"^Augmented assignment of"),
     "+= and similar only work on plain names; write x['key'] = x['key'] + 1 instead"),
]

#: Comparisons with None that are compiled into `_is_empty_(x)` (negated for the second group).
_NONE_TESTS = {ast.Is: False, ast.Eq: False, ast.IsNot: True, ast.NotEq: True}
_FORMAT_METHODS = ("format", "format_map")
_FORMAT_ADVICE = ("; use an f-string such as f\"{amount} EUR\", %-formatting or text() (a format "
                  "string can read attributes and items, as in '{0.__class__}')")

_GUARDED_BINOPS = {
    ast.Add: "_add_", ast.Sub: "_sub_", ast.Mult: "_mul_", ast.Div: "_div_",
    ast.FloorDiv: "_floordiv_", ast.Mod: "_mod_", ast.Pow: "_pow_", ast.LShift: "_lshift_",
}


class SandboxPolicy(RestrictingNodeTransformer):
    """Shared rules for expressions and scripts; reports plain-language problems."""

    kind = "code"

    def __init__(self, source: str) -> None:
        super().__init__()
        self.problems: list[CompileProblem] = []
        self._lines = source.splitlines()

    def reject(self, node: ast.AST, message: str) -> None:
        """Record a problem at ``node`` (and fail the compilation)."""
        line = getattr(node, "lineno", 1) or 1
        self.errors.append(message)
        self.problems.append(CompileProblem(line, self._column(node, line), message))

    def _column(self, node: ast.AST, line: int) -> int:
        """Turn the UTF-8 byte offset of the AST into a 1-based character column."""
        offset = getattr(node, "col_offset", 0) or 0
        if isinstance(node, ast.Attribute) and node.end_lineno == line and node.end_col_offset:
            offset = node.end_col_offset - len(node.attr.encode())  # point at the name itself
        if 0 < line <= len(self._lines):
            return len(self._lines[line - 1].encode()[:offset].decode(errors="ignore")) + 1
        return offset + 1

    def error(self, node: ast.AST, info: str) -> None:
        self.reject(node, _plain_message(info))

    def not_allowed(self, node: ast.AST) -> ast.AST:  # type: ignore[override]
        """Reject ``node`` but keep it in the tree, so the rest can still be checked."""
        name = type(node).__name__
        self.reject(node, _NODE_MESSAGES.get(name, f"{name} is not allowed in {self.kind}"))
        return node

    def check_name(self, node: ast.AST, name: str | None, allow_magic_methods: bool = False) -> None:
        """Stricter than RestrictedPython: no '_' names at all, even magic methods."""
        if name is None or name == "_":
            return
        if name.startswith("_") or name.endswith("__roles__"):
            self.reject(node, f"names starting with '_' are not allowed ('{name}'); "
                              "use the field names of the record")
        elif name in FORBIDDEN_FUNC_NAMES:
            self.reject(node, f"'{name}' is a reserved name and cannot be used here")

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        """Route arithmetic through guards: size checks, and decimal-with-float mixing."""
        node = self.node_contents_visit(node)
        guard = _GUARDED_BINOPS.get(type(node.op))
        if guard is None:
            return node
        call = ast.Call(func=ast.Name(guard, ast.Load()), args=[node.left, node.right], keywords=[])
        return ast.copy_location(call, node)

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        """``x is None`` becomes ``_is_empty_(x)``: an empty lookup counts as None (see records.py).

        The same for ``is not``, ``==`` and ``!=`` with None on either side; chained
        comparisons (``a == b == None``) keep Python's meaning.
        """
        node = self.node_contents_visit(node)
        if len(node.ops) != 1 or type(node.ops[0]) not in _NONE_TESTS:
            return node
        left, right = node.left, node.comparators[0]
        if _is_none(right):
            value = left
        elif _is_none(left):
            value = right
        else:
            return node
        test: ast.expr = ast.Call(func=ast.Name("_is_empty_", ast.Load()), args=[value], keywords=[])
        if _NONE_TESTS[type(node.ops[0])]:
            test = ast.UnaryOp(op=ast.Not(), operand=test)
        return ast.copy_location(test, node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        """'{0.__class__}'.format(x) reads attributes unguarded: refused when the text is literal.

        Any other ``.format()`` is refused when it runs (the attribute guard has no 'format'),
        so that a record field called ``format`` still reads fine.
        """
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in _FORMAT_METHODS and _is_literal_text(func.value):
            self.reject(func, f"'.{func.attr}()' is not allowed" + _FORMAT_ADVICE)
        return super().visit_Call(node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        """f"{x!r:>10}" becomes f"{_format_(x, 'r', '>10')}" so widths can be bounded."""
        node = self.node_contents_visit(node)
        spec = node.format_spec if node.format_spec is not None else ast.Constant("")
        conversion = chr(node.conversion) if node.conversion > 0 else ""
        call = ast.Call(func=ast.Name("_format_", ast.Load()),
                        args=[node.value, ast.Constant(conversion), spec], keywords=[])
        node.value = ast.copy_location(call, node.value)
        node.conversion = -1
        node.format_spec = None
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        if node.decorator_list:
            self.reject(node, "decorators (@...) are not allowed")
        return super().visit_FunctionDef(node)

    # Not for admin code: classes (metaclass tricks), with (context managers), generators (frames).
    visit_ClassDef = visit_With = visit_Yield = visit_YieldFrom = not_allowed  # type: ignore[assignment]


class ExpressionPolicy(SandboxPolicy):
    """Expressions: no loops, no functions, no assignments, no unpacking."""

    kind = "expressions"

    visit_ListComp = visit_SetComp = visit_DictComp = SandboxPolicy.not_allowed  # type: ignore[assignment]
    visit_GeneratorExp = visit_Lambda = visit_NamedExpr = SandboxPolicy.not_allowed  # type: ignore[assignment]
    visit_Starred = SandboxPolicy.not_allowed  # type: ignore[assignment]

    def visit_Dict(self, node: ast.Dict) -> ast.AST:
        if any(key is None for key in node.keys):
            self.reject(node, "unpacking with ** is not allowed in expressions; "
                              "write the keys one by one")
        return self.node_contents_visit(node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if any(keyword.arg is None for keyword in node.keywords):
            self.reject(node, "unpacking with ** is not allowed in expressions; "
                              "pass the values one by one")
        return super().visit_Call(node)

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in ("print", "printed"):
            self.reject(node, "print() is not available in expressions; the value of the "
                              "expression is its result")
            return node
        return super().visit_Name(node)


class ScriptPolicy(SandboxPolicy):
    """Scripts: statements and loops are allowed; they run in a child process."""

    kind = "scripts"


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _is_literal_text(node: ast.AST) -> bool:
    """Text written in the code: 'abc', f'...', 'a' + 'b', 'ab' * 2, 'abc'[1:], ('a' if c else 'b')."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (str, bytes))
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _is_literal_text(node.left) or _is_literal_text(node.right)
    if isinstance(node, ast.Subscript):
        return _is_literal_text(node.value)
    if isinstance(node, ast.IfExp):
        return _is_literal_text(node.body) or _is_literal_text(node.orelse)
    return False


def _plain_message(info: str) -> str:
    """Rephrase a RestrictedPython message as a plain sentence."""
    info = re.sub(r"^Line \w+: ", "", info)
    for pattern, template in _RESTRICTED_PYTHON_MESSAGES:
        match = pattern.search(info)
        if match:
            return template.format(*match.groups())
    return info[:1].lower() + info[1:].rstrip(".")


def compile_restricted(source: object, mode: str) -> tuple[types.CodeType | None, ast.AST | None,
                                                           list[CompileProblem]]:
    """Parse, check and compile admin code (mode "eval" or "exec"); never raises for bad input.

    Returns (code, original syntax tree, problems); code is None when there are problems.
    """
    what = "expression" if mode == "eval" else "script"
    limit = MAX_EXPRESSION_LENGTH if mode == "eval" else MAX_SCRIPT_LENGTH
    if not isinstance(source, str):
        return None, None, [CompileProblem(1, 1, f"the {what} must be text")]
    if len(source) > limit:
        return None, None, [CompileProblem(1, 1, f"the {what} is longer than {limit:,} characters")]
    if not source.strip():
        return None, None, [CompileProblem(1, 1, f"the {what} is empty")]
    text, first_line, indent = _dedent(source) if mode == "eval" else (source, 1, 0)
    try:
        code, original, problems = _compile_checked(text, mode, what)
    except SyntaxError as exc:
        code, original, problems = None, None, [_syntax_problem(exc, what)]
    except (MemoryError, RecursionError):
        code, original, problems = None, None, [CompileProblem(1, 1, f"the {what} is nested too deeply")]
    except ValueError as exc:
        code, original, problems = None, None, [CompileProblem(1, 1, f"the {what} could not be read: {exc}")]
    problems = [CompileProblem(p.line, p.column + indent, p.message) if p.line == first_line else p
                for p in problems]
    return code, original, sorted(set(problems), key=lambda p: (p.line, p.column, p.message))


def _compile_checked(text: str, mode: str, what: str) -> tuple[types.CodeType | None, ast.AST,
                                                               list[CompileProblem]]:
    original = ast.parse(text, f"<{what}>", mode)
    policy = (ExpressionPolicy if mode == "eval" else ScriptPolicy)(text)
    try:
        tree = policy.visit(ast.parse(text, f"<{what}>", mode))
    except (AttributeError, TypeError, ValueError):
        if not policy.problems:  # a transformer crash on an unforeseen tree: refuse, don't guess
            policy.problems.append(CompileProblem(1, 1, f"this {what} is not supported"))
    problems = _look_alike_problems(text) + policy.problems
    if problems:
        return None, original, problems
    return compile(ast.fix_missing_locations(tree), f"<{what}>", mode), original, problems


def expression_position(source: str, node: ast.AST) -> tuple[int, int]:
    """The 1-based line and character column in ``source`` of a node of its parsed expression.

    The tree compile_restricted returns for an expression is parsed without the leading
    indentation, and its columns count UTF-8 bytes; this undoes both.
    """
    text, first_line, indent = _dedent(source)
    line = getattr(node, "lineno", 1) or 1
    offset = getattr(node, "col_offset", 0) or 0
    lines = text.splitlines()
    column = len(lines[line - 1].encode()[:offset].decode(errors="ignore")) + 1 if 0 < line <= len(lines) else offset + 1
    return line, column + (indent if line == first_line else 0)


def _dedent(source: str) -> tuple[str, int, int]:
    """Drop the indentation before an expression (eval mode refuses it), keeping line numbers."""
    stripped = source.lstrip()
    leading = source[: len(source) - len(stripped)]
    newlines = leading.count("\n")
    return "\n" * newlines + stripped, newlines + 1, len(leading) - (leading.rfind("\n") + 1)


def _syntax_problem(exc: SyntaxError, what: str) -> CompileProblem:
    message = (exc.msg or "invalid syntax").rstrip(".")
    return CompileProblem(max(exc.lineno or 1, 1), max(exc.offset or 1, 1),
                          f"the {what} could not be read: {message}")


def _look_alike_problems(source: str) -> list[CompileProblem]:
    """Names must be plain ASCII: Python folds look-alikes (NFKC) into other names."""
    problems = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            line, column = token.start
            if token.type == tokenize.NAME and not token.string.isascii():
                problems.append(CompileProblem(line, column + 1, (
                    f"the name '{token.string}' uses characters other than a-z, digits and '_' "
                    "(look-alike letters can hide other names); type it with plain letters")))
            elif token.type == tokenize.STRING and _has_folding_characters(token.string):
                problems.append(CompileProblem(line, column + 1, (
                    "this f-string contains characters that only look like plain letters; "
                    "type names with the letters a-z, digits and '_'")))
    except (tokenize.TokenError, SyntaxError):
        pass
    return problems


def _has_folding_characters(literal: str) -> bool:
    """True for an f-string holding a character that NFKC turns into ASCII name characters."""
    prefix = literal[: len(literal) - len(literal.lstrip("rRbBuUfF"))]
    if "f" not in prefix.lower():
        return False
    for char in literal:
        if not char.isascii():
            folded = unicodedata.normalize("NFKC", char)
            if folded != char and folded.isascii() and (folded.isalnum() or "_" in folded):
                return True
    return False
