"""What the admin pages show around the engine's UserAdministration: choices, problems and labels.

The views (views/admin.py) call the engine; this module only turns its answers and its
refusals into what the templates need: the role and permission-set choices with their
labels in the user's language, and a refused change as a problem beside the right input.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from flask_babel import gettext as _

from crmkit.engine.security.users import PasswordRefused, UserError
from crmkit.metadata.model import Label
from crmkit.metadata.registry import Registry
from crmkit.ui.errors import sentence
from crmkit.ui.i18n import label_text
from crmkit.ui.password_feedback import refusal_sentence

#: Status of a form the engine refused because of an input (the input is shown again with it).
FIELD_ERROR = 422
#: Status of a change refused because of the accounts' state (oneself, the last administrator).
CONFLICT = 409


@dataclass(frozen=True)
class Choice:
    """One option of a select: its stored name and its label in the user's language."""

    name: str
    text: str


@dataclass
class Problems:
    """A refused form: `form` names which one, `fields` {input: sentence}, `general` one for the form."""

    form: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    general: str = ""

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)


def refused(form: str, error: UserError, inputs: tuple[str, ...]) -> tuple[Problems, int]:
    """The engine's refusal as Problems of `form`: beside its input when it names one the form has (422),
    else above the form (409: the change conflicts with the accounts as they are)."""
    if isinstance(error, PasswordRefused) and "password" in inputs:  # zxcvbn's advice, in the user's language
        return Problems(form, {"password": refusal_sentence(error)}), FIELD_ERROR
    if error.field in inputs:
        return Problems(form, {error.field: sentence(error.message)}), FIELD_ERROR
    return Problems(form, general=sentence(error.message)), CONFLICT


def role_choices(registry: Registry) -> list[Choice]:
    """The installed metadata's roles, by label in the user's language."""
    return sorted((Choice(name, label_text(role.label) or name) for name, role in registry.roles.items()),
                  key=lambda choice: choice.text.lower())


def permission_set_choices(registry: Registry) -> list[Choice]:
    """The installed metadata's permission sets (admin included), by label in the user's language."""
    return sorted((Choice(name, label_text(definition.label) or name)
                   for name, definition in registry.permission_sets.items()), key=lambda choice: choice.text.lower())


def labels_of(choices: list[Choice]) -> Mapping[str, str]:
    """{name: label} of `choices`; a name the metadata no longer has shows as itself (templates use .get)."""
    return {choice.name: choice.text for choice in choices}


def team_label(label: str | Mapping[str, str] | None, name: str) -> str:
    """A team's label in the user's language, else its name."""
    return label_text(Label.of(label)) if label else name


def password_problems(mode: str, password: str, confirm: str) -> dict[str, str]:
    """What is wrong with the password part of a form before the engine checks its policy, by input:
    {"password": ...} when none was typed, {"confirm_password": ...} when the repeat differs; {} if nothing.
    (The page's script says the repeat differs before the form is sent; this is the check that counts.)"""
    if mode == "set" and not password:
        return {"password": _("Type a password, or choose to generate one.")}
    if mode == "set" and password != confirm:
        return {"confirm_password": _("The password and its confirmation differ.")}
    return {}
