"""Checks of dependent picklists: a picklist whose allowed options depend on another picklist's value.

    loss_reason:
      type: picklist
      options: [Price, Competitor, No Budget]
      controlling_field: stage
      dependent_values: {Closed Lost: [Price, Competitor, No Budget]}

The engine refuses a value the controlling value does not allow (crmkit.engine.records.dependent);
these checks make sure the declaration itself makes sense before anything is saved.
"""
from __future__ import annotations

from typing import Iterator

from crmkit.metadata.errors import did_you_mean
from crmkit.metadata.model import FieldDef, ObjectDef

Problems = Iterator[tuple[str, tuple]]


def dependent_picklist_problems(obj: ObjectDef, fdef: FieldDef) -> Problems:
    """(message, option path) for everything wrong with `fdef`'s dependency on its controlling field."""
    given = fdef.given_options
    if "dependent_values" in given and not fdef.controlling_field:
        yield ("'dependent_values' needs 'controlling_field': the picklist whose value decides which of "
               f"{fdef.name}'s options are allowed."), ("dependent_values",)
        return
    if not fdef.controlling_field:
        return
    name = fdef.controlling_field
    if "dependent_values" not in given:
        yield (f"a dependent picklist needs 'dependent_values': for each value of '{name}', the options of "
               f"{fdef.name} allowed with it."), ("controlling_field",)
    controlling = obj.fields.get(name)
    if controlling is None:
        hint = did_you_mean(name, obj.fields)
        yield f"controlling_field names '{name}', which is not a field of {obj.name}.{hint}", ("controlling_field",)
        return
    if name == fdef.name:
        yield f"{fdef.name} cannot control itself; name another picklist of {obj.name}.", ("controlling_field",)
        return
    if controlling.type != "picklist":
        yield (f"'{name}' is a {controlling.type} field; a controlling field must be a picklist "
               "(one value at a time)."), ("controlling_field",)
        return
    yield from _value_problems(fdef, controlling)
    yield from _default_problems(fdef, controlling)
    cycle = _cycle(obj, fdef)
    if cycle:
        yield (f"these picklists control each other in a circle: {' -> '.join(cycle)}; "
               "one of them must not depend on the others."), ("controlling_field",)


def _value_problems(fdef: FieldDef, controlling: FieldDef) -> Problems:
    for key, values in fdef.dependent_values.items():
        if key not in controlling.option_values:
            hint = did_you_mean(key, controlling.option_values) or \
                f" Its options are: {', '.join(controlling.option_values)}."
            yield f"'{key}' is not an option of {controlling.name}.{hint}", ("dependent_values", key)
        for index, value in enumerate(values):
            if value not in fdef.option_values:
                hint = did_you_mean(value, fdef.option_values) or f" Its options are: {', '.join(fdef.option_values)}."
                yield f"'{value}' is not an option of {fdef.name}.{hint}", ("dependent_values", key, index)


def _default_problems(fdef: FieldDef, controlling: FieldDef) -> Problems:
    defaults = fdef.default if isinstance(fdef.default, tuple) else (fdef.default,)
    for value in defaults:
        if value is None or value not in fdef.option_values:
            continue  # no default, or one reported as not an option
        if value not in fdef.allowed_values(controlling.default):
            shown = f"'{controlling.default}'" if controlling.default is not None else "empty"
            yield (f"the default '{value}' is not allowed while {controlling.name} is {shown} (its default), so every "
                   f"new record would be refused; list it under dependent_values or remove the default."), ("default",)


def _cycle(obj: ObjectDef, fdef: FieldDef) -> list[str] | None:
    chain = [fdef.name]
    current = obj.fields.get(fdef.controlling_field or "")
    while current is not None and current.controlling_field:
        chain.append(current.name)
        if current.controlling_field == fdef.name:
            return chain + [fdef.name]
        if current.controlling_field in chain:
            return None  # a circle that does not pass through fdef: reported on its own members
        current = obj.fields.get(current.controlling_field)
    return None
