"""What admin-written expressions refer to, checked before anything runs.

Formulas, defaults and validation conditions may read the record's fields, fields of
records reached through lookups (`account.industry`) and helper functions. This module
checks those references and builds the dependency graph that orders formulas and finds
cycles. It never runs an expression: it only compiles it under the sandbox policy.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from crmkit.metadata.errors import did_you_mean
from crmkit.metadata.model import FORMULA_ERRORS, SYSTEM_FIELDS as ALL_SYSTEM_FIELDS, ObjectDef
from crmkit.sandbox import check_expression, compile_expression
from crmkit.sandbox.functions import SAFE_BUILTINS

#: Functions bound to the record being saved; they exist only on update, but name-check always.
RECORD_FUNCTIONS = frozenset({"previous", "changed"})

FieldRef = tuple[str, str]  # (object, field)

#: System fields expressions may read: not the record's formula errors, which formulas produce.
SYSTEM_FIELDS = tuple(name for name in ALL_SYSTEM_FIELDS if name != FORMULA_ERRORS)


@dataclass(frozen=True)
class ExpressionReport:
    problems: tuple[str, ...]
    #: Fields of the same record it reads.
    local_fields: frozenset[str]
    #: (lookup field, target field) pairs it reads through lookups.
    related_fields: frozenset[tuple[str, str]]
    #: It reads fields of the record by a name it computes (`previous(name)`): any field may be read.
    any_field: bool = False
    #: Lookup fields it shows as text (`text(account)`, `f"{account}"`): a record shows as its `name` (sandbox/records.py).
    shown_lookups: frozenset[str] = frozenset()


def analyse(
    source: str,
    obj: ObjectDef,
    objects: Mapping[str, ObjectDef],
    function_names: Iterable[str],
    kind: str = "expression",
    extra_names: Mapping[str, frozenset[str]] | None = None,
) -> ExpressionReport:
    """Compile-check `source` and resolve every name it uses against `obj`'s fields.

    `extra_names` maps names the expression may also read (automation's `user`) to the
    attributes each has; a field of the same name shadows one.
    """
    function_names = frozenset(function_names)
    extra = {name: attributes for name, attributes in (extra_names or {}).items() if name not in obj.fields}
    # Fields and engine functions shadow built-ins, so only other built-in calls are folded as constants.
    scope = (*obj.fields, *SYSTEM_FIELDS, *function_names, *RECORD_FUNCTIONS, *extra)
    compile_problems = check_expression(source, scope)
    if compile_problems:
        messages = tuple(
            f"the {kind} does not compile (line {p.line}, column {p.column}): {p.message}" for p in compile_problems
        )
        return ExpressionReport(messages, frozenset(), frozenset())
    compiled = compile_expression(source)
    functions = set(function_names) | RECORD_FUNCTIONS | set(SAFE_BUILTINS)
    known = set(obj.fields) | set(SYSTEM_FIELDS) | set(extra)
    problems: list[str] = []
    local: set[str] = set()
    for name in sorted(compiled.names):
        if name in compiled.called_only and name in functions:
            continue  # `phone_country(mobile)` calls the function, even beside a field phone_country (sandbox)
        if name in obj.fields or name in SYSTEM_FIELDS:
            local.add(name)
        elif name not in functions and name not in extra:
            hint = did_you_mean(name, known | functions)
            problems.append(f"the {kind} uses '{name}', which is neither a field of {obj.name} nor a helper function.{hint}")
    named, any_field = _read_by_name(source, obj, compiled.called_only)
    local |= named
    shown = _shown_lookups(source, obj)
    related: set[tuple[str, str]] = set()
    for path in sorted(compiled.attribute_paths):
        if path[0] in extra:
            if len(path) > 1 and path[1] not in extra[path[0]]:
                hint = did_you_mean(path[1], extra[path[0]]) or f" It has: {', '.join(sorted(extra[path[0]]))}."
                problems.append(f"the {kind} reads '{path[0]}.{path[1]}', but '{path[0]}' has no '{path[1]}'.{hint}")
            continue
        problem = _check_path(path, obj, objects)
        if problem:
            problems.append(f"the {kind} {problem}")
        elif path[0] in obj.fields and obj.fields[path[0]].is_lookup and len(path) >= 2:
            related.add((path[0], path[1]))
    return ExpressionReport(tuple(problems), frozenset(local), frozenset(related), any_field, shown)


def _shown_lookups(source: str, obj: ObjectDef) -> frozenset[str]:
    """The lookup fields an expression hands to a function (`text(account)`, `str(account)`) or puts in an f-string
    as they are, not one of their fields: the record then shows as its `name` where that is loaded."""
    lookups = {name for name, fdef in obj.fields.items() if fdef.is_lookup}
    if not lookups:
        return frozenset()
    shown: set[str] = set()
    for node in ast.walk(ast.parse(source, mode="eval")):
        values = [*node.args, *(keyword.value for keyword in node.keywords)] if isinstance(node, ast.Call) else \
            [node.value] if isinstance(node, ast.FormattedValue) else []
        shown |= {value.id for value in values if isinstance(value, ast.Name) and value.id in lookups}
    return frozenset(shown)


def _read_by_name(source: str, obj: ObjectDef, called_only: frozenset[str] = frozenset()) -> tuple[set[str], bool]:
    """The fields `previous('cost')` and `changed('cost')` read by a name given as text (they read the record's
    values, not a free name), and whether a name is not such a text (`previous(name)`, `f = previous`): then any."""
    # A field of the same name shadows the function, unless the name is only ever called (sandbox: called_only).
    functions = RECORD_FUNCTIONS - (set(obj.fields) - called_only)
    if not functions:
        return set(), False
    tree = ast.parse(source, mode="eval")  # compile_expression parsed it already
    named: set[str] = set()
    called = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in functions:
            first = node.args[0] if len(node.args) == 1 and not node.keywords else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                called.add(id(node.func))
                if first.value in obj.fields or first.value in SYSTEM_FIELDS:
                    named.add(first.value)
    any_field = any(isinstance(node, ast.Name) and node.id in functions and id(node) not in called
                    for node in ast.walk(tree))
    return named, any_field


def _check_path(path: tuple[str, ...], obj: ObjectDef, objects: Mapping[str, ObjectDef]) -> str | None:
    head = path[0]
    field = obj.fields.get(head)
    if field is None or not field.is_lookup or len(path) < 2:
        return None  # a method call on a plain value (e.g. name.upper), or an unknown name reported above
    target = objects.get(field.to or "")
    if target is None:
        return None  # the broken lookup is reported on the field itself
    attribute = path[1]
    if attribute not in target.fields and attribute not in SYSTEM_FIELDS:
        hint = did_you_mean(attribute, list(target.fields) + list(SYSTEM_FIELDS))
        return f"reads '{head}.{attribute}', but {target.name} has no field '{attribute}'.{hint}"
    if len(path) > 2 and target.fields.get(attribute) is not None and target.fields[attribute].is_lookup:
        return (f"reads '{'.'.join(path)}': only one lookup step is allowed in expressions; "
                f"add a formula field on {target.name} and read that instead.")
    return None


def find_cycle(edges: Mapping[FieldRef, Iterable[FieldRef]]) -> list[FieldRef] | None:
    """The first dependency cycle in `edges` (node -> nodes it depends on), or None."""
    state: dict[FieldRef, int] = {}
    stack: list[FieldRef] = []

    def visit(node: FieldRef) -> list[FieldRef] | None:
        state[node] = 1
        stack.append(node)
        for dependency in edges.get(node, ()):
            if state.get(dependency) == 1:
                return stack[stack.index(dependency):] + [dependency]
            if dependency not in state:
                found = visit(dependency)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def topological_order(nodes: Iterable[str], depends_on: Callable[[str], Iterable[str]]) -> tuple[str, ...]:
    """`nodes` ordered so each comes after the nodes it depends on (cycles are checked before)."""
    ordered: list[str] = []
    done: set[str] = set()
    wanted = list(nodes)
    wanted_set = set(wanted)

    def visit(node: str) -> None:
        if node in done:
            return
        done.add(node)
        for dependency in depends_on(node):
            if dependency in wanted_set:
                visit(dependency)
        ordered.append(node)

    for node in wanted:
        visit(node)
    return tuple(ordered)
