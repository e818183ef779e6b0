"""Stage transitions in the save pipeline: a move of a picklist that its `transitions:` do not allow is refused.

Checked with the validation rules (records/evaluation.py), so every write path (form,
kanban, bulk edit, import, API, before-save changes) is refused alike, as a field error in
the acting user's language:

- a new record whose value is not one of `initial` (when given);
- a change from one value to another that no move lists;
- a listed move whose `requires` fields are blank (an error on each of them);
- a listed move whose `condition` is false (its `message`, else a sentence naming the move).

The first move listing both values decides. Keeping the value, moving from a blank value
(a record older than the transitions) to a value `initial` allows, and clearing the value
are not moves. A condition that cannot be checked refuses the save, as a validation rule does.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

from crmkit.engine import messages
from crmkit.engine.records.errors import RECORD_ERRORS
from crmkit.metadata.automation import StageTransitions
from crmkit.metadata.model import FieldDef, ObjectDef
from crmkit.sandbox import SandboxError, compile_expression

logger = logging.getLogger("crmkit.automation")


def transition_errors(obj: ObjectDef, previous: Mapping[str, Any] | None, values: Mapping[str, Any],
                      namespace: Mapping[str, Any], functions: Mapping[str, Any],
                      language: str, reasons: bool = True) -> dict[str, list[str]]:
    """{field: [sentence]} for every move of `values` (from `previous`, None on create) that is refused; `reasons`:
    whether a condition that could not be checked is refused with the sandbox's reason (records/evaluation.py)."""
    errors: dict[str, list[str]] = {}
    for fdef, transitions, before, value in _changes(obj, previous, values):
        unlisted = _unlisted(fdef, transitions, before, value, language)
        if unlisted is not None:
            errors.setdefault(fdef.name, []).append(unlisted)
        elif before is not None:
            _check_move(fdef, transitions, before, value, namespace, functions, language, errors, obj, reasons)
    return errors


def unlisted_move_errors(obj: ObjectDef, previous: Mapping[str, Any] | None, values: Mapping[str, Any],
                         language: str) -> dict[str, list[str]]:
    """{field: [sentence]} for every change of `values` that no move lists (or `initial` does not allow):
    what needs no formula or condition, so a save refused before its rules run (a blank required field,
    a dependent picklist) also says that the move itself is not allowed."""
    errors: dict[str, list[str]] = {}
    for fdef, transitions, before, value in _changes(obj, previous, values):
        unlisted = _unlisted(fdef, transitions, before, value, language)
        if unlisted is not None:
            errors.setdefault(fdef.name, []).append(unlisted)
    return errors


def _changes(obj: ObjectDef, previous: Mapping[str, Any] | None, values: Mapping[str, Any]):
    """(field, its transitions, value before or None, new value) of each governed field `values` changes."""
    for transitions in obj.transitions.values():
        fdef = obj.fields[transitions.field]
        value = values.get(fdef.name)
        before = previous.get(fdef.name) if previous is not None else None
        if value is not None and value != before:
            yield fdef, transitions, before, value


def _unlisted(fdef: FieldDef, transitions: StageTransitions, before: Any, value: Any, language: str) -> str | None:
    """The sentence refusing a start `initial` does not allow or a move no move lists; None for a listed one."""
    if before is None:
        if transitions.initial is not None and value not in transitions.initial:
            return messages.NOT_INITIAL.in_language(language, value=_label(fdef, value, language),
                                                    allowed=_labels(fdef, transitions.initial, language))
        return None
    if transitions.move(before, value) is not None:
        return None
    allowed = transitions.targets(before, fdef.option_values)
    if allowed:
        return messages.MOVE_NOT_ALLOWED.in_language(
            language, previous=_label(fdef, before, language), value=_label(fdef, value, language),
            allowed=_labels(fdef, allowed, language))
    return messages.MOVE_NOWHERE.in_language(language, previous=_label(fdef, before, language))


def _check_move(fdef: FieldDef, transitions: StageTransitions, before: Any, value: Any, namespace, functions,
                language: str, errors: dict[str, list[str]], obj: ObjectDef, reasons: bool = True) -> None:
    """The `requires` and `condition` of the listed move from `before` to `value`."""
    words = {"previous": _label(fdef, before, language), "value": _label(fdef, value, language)}
    field = fdef.label.get(language)
    move = transitions.move(before, value)
    for name in move.requires:
        if _blank(namespace.get(name)):
            errors.setdefault(name, []).append(messages.REQUIRED_ON_MOVE.in_language(
                language, field=field, value=words["value"]))
    if not move.condition:
        return
    try:
        allowed_now = compile_expression(move.condition).evaluate(namespace, functions)
    except SandboxError as error:
        logger.warning("the condition of the move of %s.%s to %r could not be checked for record %s: %s", obj.name,
                       fdef.name, value, namespace.get("id"), error)
        errors.setdefault(RECORD_ERRORS, []).append(messages.MOVE_UNCHECKED.in_language(
            language, field=field, value=words["value"], reason=str(error)) if reasons
            else messages.MOVE_UNCHECKED_WITHHELD.in_language(language, field=field, value=words["value"]))
        return
    if not allowed_now:
        text = move.message.get(language) if move.message else messages.MOVE_CONDITION.in_language(language, **words)
        errors.setdefault(fdef.name, []).append(text)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, tuple)) and not value)


def _label(fdef: FieldDef, value: Any, language: str) -> str:
    return next((option.label.get(language) for option in fdef.options if option.value == value), str(value))


def _labels(fdef: FieldDef, values, language: str) -> str:
    return ("、" if language.startswith("zh") else ", ").join(_label(fdef, value, language) for value in values)


def allowed_targets(obj: ObjectDef, field: str, previous: Any) -> tuple[str, ...] | None:
    """The values a record holding `previous` in `field` may move to (conditions aside); None: any value."""
    transitions = obj.transitions.get(field)
    if transitions is None:
        return None
    fdef = obj.fields[field]
    if previous is None:
        return transitions.initial if transitions.initial is not None else fdef.option_values
    return (previous, *transitions.targets(previous, fdef.option_values))
