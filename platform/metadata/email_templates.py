"""Email templates in the model: an object's `email_templates:`, named by its send_email actions.

    objects:
      contact:
        email_templates:
          welcome:
            marketing: true
            subject: {en: "Welcome, {{ record.first_name }}", zh: "欢迎，{{ record.first_name }}"}
            html: {en: "<p>Hello {{ record.first_name }} of {{ record.account.name }}</p>"}
            text: {en: "Hello {{ record.first_name }}"}

Each part is a Jinja template per language, rendered in the sandbox (crmkit.sandbox.templates)
by the worker; `check_email_templates` reports a template's syntax error at its own line and
column in the package file.
"""
from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as _field
from typing import TYPE_CHECKING, Any, Mapping

from crmkit.metadata.model import NOWHERE, Label, SourceLocation, frozen_map

if TYPE_CHECKING:
    from crmkit.metadata.source import SourceDocument

#: The parts of a template, in the order a message is built from them.
PARTS = ("subject", "html", "text")


@dataclass(frozen=True)
class EmailTemplate:
    """An email's `subject`, `html` and `text` bodies, each a Jinja template per language."""

    name: str
    subject: Label
    html: Label = _field(default_factory=Label)
    text: Label = _field(default_factory=Label)
    #: Marketing mail is never sent to a recipient who opted out, and carries List-Unsubscribe.
    marketing: bool = False
    package: str = ""
    #: Where each (part, language) source starts in its file, for syntax errors at their place.
    sources: Mapping[tuple[str, str], SourceLocation] = _field(default_factory=frozen_map, compare=False,
                                                               repr=False)
    location: SourceLocation = _field(default=NOWHERE, compare=False, repr=False)

    def part(self, name: str, language: str) -> str:
        """The source of `name` ("subject", "html", "text") in `language` (else English, else any)."""
        return getattr(self, name).get(language)


def build_email_templates(document: "SourceDocument", package: str, base: tuple,
                          specs: Mapping[str, Mapping[str, Any]]) -> Mapping[str, EmailTemplate]:
    from crmkit.metadata.builder import location

    built = {}
    for name, spec in specs.items():
        path = base + ("email_templates", name)
        parts = {part: Label.of(spec[part]) if spec.get(part) is not None else Label() for part in PARTS}
        sources = {}
        for part, label in parts.items():
            for language in label.texts:
                given = spec[part]
                where = path + (part,) if isinstance(given, str) else path + (part, language)
                sources[(part, language)] = _value_location(document, where, label.texts[language])
        built[name] = EmailTemplate(name=name, marketing=bool(spec.get("marketing", False)), package=package,
                                    sources=frozen_map(sources), location=location(document, path), **parts)
    return frozen_map(built)


def _value_location(document: "SourceDocument", path: tuple, source: str) -> SourceLocation:
    """Where the template's first line is: the value's start, or the line after a `|` block indicator.

    A template of several lines is written as a YAML block (`html: |`), whose text starts on
    the line after the indicator the value's position points at.
    """
    position = document.position(path)
    line = position.line + 1 if "\n" in source.rstrip("\n") or source.endswith("\n") else position.line
    return SourceLocation(document.file, line, position.column, path)
