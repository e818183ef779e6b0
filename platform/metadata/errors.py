"""Problems a metadata author can cause, each pointing at a place in their file."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from crmkit.errors import CrmkitError

DocumentPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a metadata document: where it is and what to do about it."""

    file: str
    line: int
    column: int
    message: str
    path: DocumentPath = ()

    def format(self) -> str:
        """`file:line:column: message (at objects.project.fields.name)`."""
        where = f" (at {format_path(self.path)})" if self.path else ""
        return f"{self.file}:{self.line}:{self.column}: {self.message}{where}"

    def __str__(self) -> str:
        return self.format()


def format_path(path: DocumentPath) -> str:
    """Render a document path the way an author reads it: `objects.project.fields[0]`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


@dataclass
class MetadataError(CrmkitError):
    """Raised with every problem found, never just the first one; `message` is one problem per line."""

    status = 422
    title = "Invalid metadata"

    problems: Sequence[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.problems = sorted(self.problems, key=lambda p: (p.file, p.line, p.column))
        super().__init__(self.format())

    def format(self) -> str:
        return "\n".join(problem.format() for problem in self.problems)

    def __str__(self) -> str:
        return self.format()


def raise_if_any(problems: Iterable[Problem]) -> None:
    problems = list(problems)
    if problems:
        raise MetadataError(problems)


class UnknownObject(CrmkitError, KeyError):
    """An object name the installed metadata does not define (also a KeyError, for code that looks names up)."""

    status = 404
    title = "Unknown object"

    def __init__(self, name: object, known: Iterable[str]) -> None:
        hint = did_you_mean(name, known) if isinstance(name, str) else ""
        super().__init__(f"there is no object named {name!r}.{hint}")
        self.name = name


def closest(word: str, candidates: Iterable[str]) -> str:
    """The candidate closest to `word` (a likely typo of it), or '' when nothing is close."""
    import difflib

    matches = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return matches[0] if matches else ""


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A ` Did you mean 'x'?` suffix, or '' when nothing is close."""
    match = closest(word, candidates)
    return f" Did you mean '{match}'?" if match else ""
