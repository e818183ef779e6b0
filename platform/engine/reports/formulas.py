"""Summary formulas: arithmetic over the aggregates of one group ("won / closed"), exact, None on division by zero.

    >>> formula_value("won / closed", {"won": 3, "closed": 4}, "percent")
    0.75

The expression is read with Python's parser and only numbers, aggregate (or earlier
formula) names, + - * / and parentheses are accepted; nothing is ever evaluated as code.
It is computed from the group's aggregates the database returned (a handful of numbers
per group), never from rows. A missing value (an empty group's sum) or a division by zero
gives None. "percent" and "number" formulas are floats (a percent as a fraction:
0.75 is 75 %), "money" ones Decimals rounded to cents.
"""
from __future__ import annotations

import ast
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Mapping

from crmkit.engine import messages
from crmkit.engine.query.errors import QueryError

_OPERATORS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
              ast.Div: lambda a, b: a / b}


def parse(expression: str) -> ast.expr:
    """The expression's tree; QueryError for anything beyond numbers, names, + - * / and parentheses."""
    try:
        tree = ast.parse(str(expression), mode="eval").body
    except SyntaxError:
        raise QueryError(messages.REPORT_FORMULA(expression=repr(expression))) from None
    for node in ast.walk(tree):
        if not isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Name, ast.Constant, ast.Load, ast.USub, ast.UAdd,
                                 *_OPERATORS)):
            raise QueryError(messages.REPORT_FORMULA(expression=repr(expression)))
        if isinstance(node, ast.Constant) and (isinstance(node.value, bool) or not isinstance(node.value, (int, float))):
            raise QueryError(messages.REPORT_FORMULA(expression=repr(expression)))
    return tree


def names(expression: str) -> set[str]:
    """The aggregate and formula names an expression reads."""
    return {node.id for node in ast.walk(parse(expression)) if isinstance(node, ast.Name)}


def formula_value(expression: str, values: Mapping[str, Any], format: str = "number") -> Any:
    """The formula over one group's values (see the module docstring for types and None)."""
    result = _evaluate(parse(expression), values)
    if result is None:
        return None
    if format == "money":
        return result.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return float(result)


def _evaluate(node: ast.expr, values: Mapping[str, Any]) -> Decimal | None:
    if isinstance(node, ast.Constant):
        return Decimal(repr(node.value)) if isinstance(node.value, float) else Decimal(node.value)
    if isinstance(node, ast.Name):
        if node.id not in values:
            raise QueryError(messages.REPORT_FORMULA_NAME(name=node.id))
        value = values[node.id]
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            return None
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, values)
        return None if operand is None else (-operand if isinstance(node.op, ast.USub) else operand)
    assert isinstance(node, ast.BinOp)
    left, right = _evaluate(node.left, values), _evaluate(node.right, values)
    if left is None or right is None:
        return None
    if isinstance(node.op, ast.Div) and right == 0:
        return None
    try:
        return _OPERATORS[type(node.op)](left, right)
    except (InvalidOperation, ArithmeticError):
        return None
