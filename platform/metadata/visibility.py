"""Which form sections and fields `visible_when` hides for a record being edited (presentation only).

    >>> visibility = form_visibility(registry.layout("opportunity"), {"stage": "Negotiation"}, functions)
    >>> visibility.shows("loss_reason")
    False

Two rules keep a hidden field from hiding a problem: a field that carries an error is shown
(and so is its section), and a condition that cannot be evaluated shows what it guards.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Collection, Mapping

from crmkit.metadata.layouts import Layout
from crmkit.sandbox import SandboxError, compile_expression


@dataclass(frozen=True)
class Visibility:
    """The names of the form sections and fields hidden for one set of values."""

    hidden_sections: frozenset[str] = frozenset()
    hidden_fields: frozenset[str] = frozenset()

    def shows(self, field_name: str) -> bool:
        return field_name not in self.hidden_fields


def form_visibility(
    layout: Layout,
    values: Mapping[str, Any],
    functions: Mapping[str, Callable[..., Any]] | None = None,
    errors: Collection[str] = (),
) -> Visibility:
    """Evaluate every `visible_when` of `layout`'s form over `values` (field name -> stored value).

    `functions` are the helper functions expressions may call (the engine's runtime functions);
    `errors` names the fields that carry an error, which are never hidden. A field in a hidden
    section is hidden too. Values should be of the stored types (numbers, dates), as the engine
    coerces them; a condition that raises on other values shows its section or field.
    """
    variables = {name: values.get(name) for name in _read_names(layout)}
    hidden_sections: set[str] = set()
    hidden_fields: set[str] = set()
    for section in layout.form or ():
        section_hidden = section.visible_when is not None and not _holds(section.visible_when, variables, functions)
        for item in section.fields:
            own_hidden = item.visible_when is not None and not _holds(item.visible_when, variables, functions)
            if (section_hidden or own_hidden) and item.name not in errors:
                hidden_fields.add(item.name)
        if section_hidden and not any(item.name in errors for item in section.fields):
            hidden_sections.add(section.name)
    return Visibility(frozenset(hidden_sections), frozenset(hidden_fields))


def _read_names(layout: Layout) -> set[str]:
    names: set[str] = set()
    for section in layout.form or ():
        names |= section.reads
        for item in section.fields:
            names |= item.reads
    return names


def _holds(source: str, variables: Mapping[str, Any], functions) -> bool:
    try:
        return bool(compile_expression(source).evaluate(variables, functions))
    except SandboxError:
        return True  # shown: a condition that cannot be evaluated must not hide a field
