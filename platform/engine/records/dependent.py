"""Dependent picklists in the save pipeline: a value its controlling field's value does not allow is refused.

    loss_reason: {type: picklist, controlling_field: stage, dependent_values: {Closed Lost: [Price, ...]}}

Checked on create, and on update whenever the dependent field or its controlling field is
given, so changing the stage of a deal with a loss reason asks for the reason to be cleared;
an update that touches neither leaves values stored before the rule existed alone. The error
is a field error on the dependent field, in the acting user's language (en or zh). When the
acting user may not read the controlling field, the error names neither it, nor its value,
nor the options that value allows ("'Slow' is not allowed with the value of a field you may
not see.").
"""
from __future__ import annotations

from typing import Any, Collection, Mapping

from crmkit.engine.messages import CONTROLLING_EMPTY, DEPENDS_ON_HIDDEN, NONE_ALLOWED, NOT_ALLOWED
from crmkit.metadata.model import FieldDef, ObjectDef

def dependent_fields(obj: ObjectDef) -> tuple[FieldDef, ...]:
    """The picklists of `obj` whose options depend on another picklist."""
    return tuple(f for f in obj.fields.values() if f.controlling_field and f.type in ("picklist", "multi_picklist"))


def dependent_picklist_errors(
    obj: ObjectDef, fields: Collection[FieldDef], values: Mapping[str, Any], given: Collection[str] | None,
    language: str, hidden: Collection[str] = frozenset(),
) -> dict[str, list[str]]:
    """{field: [message]} for each dependent picklist in `values` its controlling value does not allow.

    `given` names the fields the caller set (None on create: every field is checked); `hidden`
    the fields the acting user may not read (a controlling field among them is never told).
    """
    errors: dict[str, list[str]] = {}
    for fdef in fields:
        if given is not None and fdef.name not in given and fdef.controlling_field not in given:
            continue
        value = values.get(fdef.name)
        chosen = [] if value is None else (list(value) if isinstance(value, (list, tuple)) else [value])
        if not chosen:
            continue
        controlling_value = values.get(fdef.controlling_field)
        allowed = fdef.allowed_values(controlling_value)
        refused = [item for item in chosen if item not in allowed]
        if refused:
            errors[fdef.name] = [_message(obj, fdef, refused[0], controlling_value, allowed, language,
                                          fdef.controlling_field in hidden)]
    return errors


def _message(obj: ObjectDef, fdef: FieldDef, value: str, controlling_value: Any, allowed: tuple[str, ...],
             language: str, controlling_hidden: bool = False) -> str:
    controlling = obj.fields[fdef.controlling_field]
    labels = {option.value: option.label.get(language) for option in fdef.options}
    if controlling_hidden:
        return DEPENDS_ON_HIDDEN.in_language(language, value=labels.get(value, value))
    parts = {
        "value": labels.get(value, value),
        "controlling": controlling.label.get(language),
        "controlling_value": next((o.label.get(language) for o in controlling.options if o.value == controlling_value),
                                  controlling_value),
        "allowed": ("、" if language.startswith("zh") else ", ").join(labels[item] for item in allowed),
    }
    if controlling_value is None:
        template = CONTROLLING_EMPTY
    else:
        template = NOT_ALLOWED if allowed else NONE_ALLOWED
    return template.in_language(language, **parts)
