"""Constant parts of an expression: the sub-expressions that read no field.

Their value is the same on every run, so the sandbox evaluates them once when the
expression is checked (under the same limits as at run time) and refuses the expression
when such a part can only fail: ``10**10**10``, ``'x' * 10**9``, ``1 / 0``,
``range(10**12)``. This module only finds the parts; expression.py runs them.
"""
from __future__ import annotations

import ast
from collections.abc import Iterator

#: Node kinds that are constant when every sub-expression they hold is.
_COMPOSITE = (ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Subscript, ast.Slice,
              ast.List, ast.Tuple, ast.Set, ast.Dict, ast.JoinedStr, ast.FormattedValue, ast.Attribute)
#: Node kinds that only write values down (a literal list): they cannot fail, so are not run.
_LITERAL = (ast.Constant, ast.List, ast.Tuple, ast.Set, ast.Dict)


def constant_parts(tree: ast.AST, callable_names: frozenset[str]) -> Iterator[ast.expr]:
    """The largest sub-expressions of ``tree`` that read no variable and compute something.

    ``callable_names`` are the functions such a part may call: built-in functions whose
    names nothing in the expression's scope can shadow (a field called ``range`` would).
    Method calls on constant values (``'x'.ljust(10**9)``) are constant too.
    """
    known: dict[int, bool] = {}
    pending = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.expr) and _is_constant(node, callable_names, known):
            if not _only_literals(node):
                yield node
            continue
        pending.extend(reversed(list(ast.iter_child_nodes(node))))


def _is_constant(node: ast.AST, callable_names: frozenset[str], known: dict[int, bool]) -> bool:
    answer = known.get(id(node))
    if answer is None:
        answer = known[id(node)] = _decide(node, callable_names, known)
    return answer


def _decide(node: ast.AST, callable_names: frozenset[str], known: dict[int, bool]) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name):
            callee = func.id in callable_names
        elif isinstance(func, ast.Attribute):
            callee = _is_constant(func.value, callable_names, known)
        else:
            callee = False
        arguments = [*node.args, *(keyword.value for keyword in node.keywords)]
        return callee and all(keyword.arg is not None for keyword in node.keywords) and all(
            _is_constant(argument, callable_names, known) for argument in arguments)
    if isinstance(node, ast.Dict) and any(key is None for key in node.keys):
        return False
    if isinstance(node, _COMPOSITE):
        return all(_is_constant(child, callable_names, known)
                   for child in ast.iter_child_nodes(node) if isinstance(child, ast.expr))
    return False


def _only_literals(node: ast.AST) -> bool:
    return isinstance(node, _LITERAL) and all(
        _only_literals(child) for child in ast.iter_child_nodes(node) if isinstance(child, ast.expr))
