"""The fields a notify action's message quotes: a recipient who may not read one of them is not told.

    quoted_fields(obj, compile_expression("'Was ' + text(previous('margin'))"))  # {("ticket", "margin")}

An expression reads a field not only by its name (`margin`) and a lookup's field by a path
(`account.rating`), but also by a string given to `previous(...)` or `changed(...)`, and a
lookup used as a value (`text(account)`) reads as the related record's `name`
(crmkit.sandbox.RecordView.__str__). A `previous`/`changed` whose argument is not a plain
string could name any field, so every field of the object counts as quoted then.

A value of a related record is quoted only to who may read that record (its row filter), as
the record page shows a lookup's title only to who may see the record: `quoted_lookups` names
the lookups whose record the message reads, and the payload carries their ids.
"""
from __future__ import annotations

import ast

from crmkit.metadata.model import ObjectDef
from crmkit.sandbox.expression import CompiledExpression

#: The record functions (crmkit.engine.records.evaluation.record_functions) that take a field's name.
FIELD_NAME_FUNCTIONS = frozenset({"previous", "changed"})
#: What a related record reads as when used as text (RecordView.__str__: its name, else its id).
SHOWN_AS = "name"


def quoted_fields(obj: ObjectDef, compiled: CompiledExpression) -> set[tuple[str, str]]:
    """{(object, field)} the expression `compiled`, evaluated over a record of `obj`, may put in its result."""
    fields = obj.fields
    read = {(obj.name, name) for name in compiled.value_names if name in fields}
    read |= {(fields[path[0]].to, path[1]) for path in compiled.attribute_paths
             if path[0] in fields and fields[path[0]].is_lookup and len(path) > 1}
    tree = ast.parse(compiled.source.strip(), mode="eval")
    bases = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FIELD_NAME_FUNCTIONS:
            named = [arg.value for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
            if len(named) != len(node.args) or node.keywords:  # a computed name: it could be any field
                read |= {(obj.name, name) for name in fields}
            read |= {(obj.name, name) for name in named if name in fields}
        elif (isinstance(node, ast.Name) and id(node) not in bases and node.id in fields
              and fields[node.id].is_lookup):
            read.add((fields[node.id].to, SHOWN_AS))
    return read


def quoted_lookups(obj: ObjectDef, compiled: CompiledExpression) -> set[str]:
    """The lookup fields of `obj` whose related record `compiled` reads a value of (`account.rating`, `text(account)`)."""
    fields = obj.fields
    lookups = {path[0] for path in compiled.attribute_paths
               if path[0] in fields and fields[path[0]].is_lookup and len(path) > 1}
    tree = ast.parse(compiled.source.strip(), mode="eval")
    bases = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    lookups |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and id(node) not in bases
                and node.id in fields and fields[node.id].is_lookup}
    return lookups
