"""Read metadata files (YAML or JSON) into plain data that remembers where each node came from.

    >>> doc = load_text("package: sales\\nversion: 1\\n", "sales.yaml")
    >>> doc.data, doc.position(("version",))
    ({'package': 'sales', 'version': 1}, Position(line=2, column=10))

Every problem with the input is raised as a `MetadataError` of `file:line:column`
problems; nothing else escapes for bad input. YAML rules are in `yaml_loader`; JSON is
checked by the json module and then read again here to learn positions. Both share the
limits below, and both refuse invisible control characters and lone surrogates.
"""
from __future__ import annotations

import bisect
import codecs
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from crmkit.metadata.errors import DocumentPath, MetadataError, Problem, raise_if_any
from crmkit.metadata.yaml_loader import (
    SURROGATE, SURROGATE_MESSAGE, Mark, Parsed, parse_yaml,
)

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 64  # nested mappings and lists
MAX_NODES = 200_000  # keys and values, after YAML aliases are expanded
PACKAGE_SUFFIXES = (".yaml", ".yml", ".json")

_EMPTY = "the file is empty; a package needs at least `package:` and `version:`"
# YAML's printable set, minus U+FEFF (a byte order mark is only allowed at the start).
_NOT_ALLOWED = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd"
                          "\U00010000-\U0010ffff]")
_MAX_CHARACTER_PROBLEMS = 10


@dataclass(frozen=True, slots=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based


@dataclass(frozen=True)
class SourceDocument:
    """One loaded file: its data, and where each value and key starts in it."""

    file: str
    data: Any
    value_positions: Mapping[DocumentPath, Position]
    key_positions: Mapping[DocumentPath, Position]

    def position(self, path: DocumentPath, *, at_key: bool = False) -> Position:
        """Where `path` starts; else where its nearest known ancestor's key (or value) does."""
        path = tuple(path)
        if at_key and path in self.key_positions:
            return self.key_positions[path]
        if path in self.value_positions:
            return self.value_positions[path]
        while path:
            path = path[:-1]
            found = self.key_positions.get(path) or self.value_positions.get(path)
            if found is not None:
                return found
        return Position(1, 1)

    def problem(self, path: DocumentPath, message: str, *, at_key: bool = False) -> Problem:
        """A Problem in this file at `path` (see `position` for where it points)."""
        where = self.position(path, at_key=at_key)
        return Problem(self.file, where.line, where.column, message, tuple(path))


def load_text(text: str, file: str, *, format: str | None = None) -> SourceDocument:
    """Parse `text` as YAML or JSON; `format` None means JSON for `*.json`, else YAML."""
    kind = format or ("json" if file.lower().endswith(".json") else "yaml")
    if kind not in ("yaml", "json"):
        raise ValueError(f"format must be 'yaml', 'json' or None, not {format!r}")
    text = text.removeprefix("\ufeff")
    if len(text) > MAX_FILE_BYTES // 4:
        _check_size(len(text.encode("utf-8", "surrogatepass")), file)
    raise_if_any(_character_problems(text, file))
    parsed = _parse_json(text, file) if kind == "json" else parse_yaml(
        text, file, max_depth=MAX_DEPTH, max_nodes=MAX_NODES)
    if parsed is None:
        raise MetadataError([Problem(file, 1, 1, _EMPTY)])
    return SourceDocument(file, parsed.data, _positions(parsed.values), _positions(parsed.keys))


def load_file(path: str | os.PathLike[str]) -> SourceDocument:
    """Read a UTF-8 file (a byte order mark is fine) and parse it as `load_text` does."""
    file = os.fsdecode(path)
    return load_text(_decode(_read(file), file), file)


def load_package_files(path: str | os.PathLike[str]) -> list[SourceDocument]:
    """Load one file, or every *.yaml, *.yml and *.json under a folder, by relative path.

    Hidden files and folders (names starting with '.') are skipped; symbolic links to
    folders are not followed. Problems from all files are raised together.
    """
    root = os.fsdecode(path)
    if os.path.isfile(root):
        return [load_file(root)]
    if not os.path.isdir(root):
        raise MetadataError([Problem(root, 1, 1, (
            "this is not a file or a folder (a device, a pipe or a socket); give the *.yaml or *.json file or the "
            "folder that holds the package" if os.path.exists(root) else
            "this path does not exist; check the spelling, and give the file or the folder that holds the package"))])
    files, problems = _package_files(root)
    if not files and not problems:
        problems.append(Problem(root, 1, 1, (
            "this folder holds no metadata files (*.yaml, *.yml or *.json); give the "
            "folder that holds the package")))
    documents = []
    for file in files:
        try:
            documents.append(load_file(file))
        except MetadataError as error:
            problems.extend(error.problems)
    raise_if_any(problems)
    return documents


def _package_files(root: str) -> tuple[list[str], list[Problem]]:
    problems: list[Problem] = []

    def unreadable(error: OSError) -> None:
        problems.append(Problem(os.fsdecode(error.filename or root), 1, 1, (
            f"this folder cannot be read ({error.strerror}); check its permissions")))

    found: list[tuple[str, str]] = []
    for folder, folders, names in os.walk(root, onerror=unreadable):
        folders[:] = [name for name in folders if not name.startswith(".")]
        for name in names:
            if not name.startswith(".") and name.lower().endswith(PACKAGE_SUFFIXES):
                file = os.path.join(folder, name)
                found.append((os.path.relpath(file, root).replace(os.sep, "/"), file))
    return [file for _, file in sorted(found)], problems


def _positions(marks: dict[DocumentPath, Mark]) -> Mapping[DocumentPath, Position]:
    return MappingProxyType({path: Position(*mark) for path, mark in marks.items()})


# --- files and characters ------------------------------------------------------------


def _read(file: str) -> bytes:
    try:
        with open(file, "rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)
            if len(raw) > MAX_FILE_BYTES:
                _check_size(max(os.fstat(stream.fileno()).st_size, len(raw)), file)
            return raw
    except FileNotFoundError:
        reason = "this file does not exist; check the path"
    except IsADirectoryError:
        reason = "this is a folder, not a file; give a *.yaml or *.json file"
    except OSError as error:
        reason = f"this file cannot be read ({error.strerror or error}); check its permissions"
    raise MetadataError([Problem(file, 1, 1, reason)])


def _check_size(size: int, file: str) -> None:
    if size > MAX_FILE_BYTES:
        raise MetadataError([Problem(file, 1, 1, (
            f"the file is larger than the limit of {MAX_FILE_BYTES // 2**20} MiB "
            f"({size:,} bytes); split the package into several files"))])


def _decode(raw: bytes, file: str) -> str:
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise MetadataError([Problem(file, 1, 1, (
            "the file is saved as UTF-16; save it as UTF-8 in your editor"))])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line_start = raw.rfind(b"\n", 0, error.start) + 1
        before = raw[line_start:error.start].decode("utf-8-sig", "replace")
        line = raw.count(b"\n", 0, error.start) + 1
        raise MetadataError([Problem(file, line, len(before) + 1, (
            f"the file is not valid UTF-8 text (byte 0x{raw[error.start]:02X} on line "
            f"{line} cannot be read); save the file as UTF-8 in your editor"))]) from None


def _character_problems(text: str, file: str) -> list[Problem]:
    problems = []
    for match in _NOT_ALLOWED.finditer(text):
        line, column = _line_column(text, match.start())
        problems.append(Problem(file, line, column, (
            f"the file contains the invisible or invalid character U+{ord(match[0]):04X}, "
            "which metadata does not allow; delete it (such characters often come from "
            "copying text out of another program)")))
        if len(problems) == _MAX_CHARACTER_PROBLEMS:
            break
    return problems


def _line_column(text: str, offset: int) -> Mark:
    return text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)


# --- JSON ----------------------------------------------------------------------------


def _parse_json(text: str, file: str) -> Parsed | None:
    """Check the syntax with the json module, then read again to learn the positions."""
    if not text.strip():
        return None
    try:
        # Only the syntax matters here: numbers and objects are left unconverted.
        json.loads(text, parse_int=str, parse_float=str, parse_constant=str,
                   object_pairs_hook=lambda pairs: None)
    except json.JSONDecodeError as error:
        raise MetadataError([Problem(file, error.lineno, error.colno,
                                     _json_message(error.msg, text, error.pos))]) from None
    except RecursionError:
        pass  # nested deeper than the json module handles: the reader below refuses it
    reader = _JsonReader(text, file)
    data = reader.value((), 0)
    raise_if_any(reader.problems)
    return Parsed(data, reader.marks(reader.values), reader.marks(reader.keys))


class _JsonReader:
    """Reads JSON text already known to be valid, recording where every node starts."""

    def __init__(self, text: str, file: str) -> None:
        self.text, self.file, self.offset, self.count = text, file, 0, 0
        self.values: dict[DocumentPath, int] = {}
        self.keys: dict[DocumentPath, int] = {}
        self.problems: list[Problem] = []
        self.line_starts = [0] + [match.end() for match in re.finditer("\n", text)]

    def value(self, path: DocumentPath, depth: int) -> Any:
        start = self._skip_space()
        self.values[path] = start
        self._count(start)
        char = self.text[start]
        if char in "{[":
            if depth >= MAX_DEPTH:
                self._refuse(start, (
                    f"the data is nested more than {MAX_DEPTH} levels deep here; "
                    "metadata never needs that much, so flatten this part"))
            self.offset += 1
            return self._object(path, depth + 1) if char == "{" else self._array(path, depth + 1)
        if char == '"':
            return self._string(start)
        return self._scalar(start)

    def _object(self, path: DocumentPath, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        while self.text[self._skip_space()] != "}":
            key_start = self._skip_space(",")
            key = self._string(key_start)
            self._count(key_start)
            self._skip_space(":")
            if key in result:
                first, _ = self._mark(self.keys[(*path, key)])
                self._problem(key_start, (
                    f"'{key}' appears twice in this mapping (first at line {first}); "
                    "remove or rename one of them"), (*path, key))
                self.value((*path, key), depth)  # read past it; the problem stops the load
                continue
            self.keys[(*path, key)] = key_start
            result[key] = self.value((*path, key), depth)
        self.offset += 1
        return result

    def _array(self, path: DocumentPath, depth: int) -> list[Any]:
        result: list[Any] = []
        while self.text[self._skip_space()] != "]":
            if result:
                self._skip_space(",")
            result.append(self.value((*path, len(result)), depth))
        self.offset += 1
        return result

    def _scalar(self, start: int) -> Any:
        for literal, value in (("true", True), ("false", False), ("null", None)):
            if self.text.startswith(literal, start):
                self.offset = start + len(literal)
                return value
        for constant in ("NaN", "Infinity", "-Infinity"):
            if self.text.startswith(constant, start):
                self.offset = start + len(constant)
                self._problem(start, (
                    f"{constant} is not valid in JSON metadata; write a number, or null"))
                return None
        match = _NUMBER.match(self.text, start)
        assert match is not None, "the json module accepted this text"
        self.offset = match.end()
        integer, fraction, exponent = match.groups()
        try:
            number = float(match[0]) if fraction or exponent else int(integer)
        except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
            number = math.inf
        if math.isinf(number):
            self._problem(start, (
                f"the number {match[0][:20]} is too large to store; write a smaller number, "
                "or put it in quotes if it is an identifier"))
            return None
        return number

    def _string(self, start: int) -> str:
        text, self.offset = _DECODER.raw_decode(self.text, start)
        found = SURROGATE.search(text)
        if found:
            self._problem(start, SURROGATE_MESSAGE.format(code=ord(found[0])))
        return str(text)

    def _skip_space(self, expected: str = "") -> int:
        """Skip whitespace and the `expected` punctuation, if any; the offset after."""
        self.offset = _after_space(self.text, self.offset)
        if expected and self.text[self.offset] == expected:
            self.offset = _after_space(self.text, self.offset + 1)
        return self.offset

    def _count(self, offset: int) -> None:
        self.count += 1
        if self.count > MAX_NODES:
            self._refuse(offset, (
                f"the file holds more than {MAX_NODES:,} values; this limit protects the "
                "server. Split the package into several files"))

    def _refuse(self, offset: int, message: str) -> None:
        raise MetadataError([*self.problems, Problem(self.file, *self._mark(offset), message)])

    def _problem(self, offset: int, message: str, path: DocumentPath = ()) -> None:
        self.problems.append(Problem(self.file, *self._mark(offset), message, path))

    def _mark(self, offset: int) -> Mark:
        line = bisect.bisect_right(self.line_starts, offset)
        return line, offset - self.line_starts[line - 1] + 1

    def marks(self, offsets: dict[DocumentPath, int]) -> dict[DocumentPath, Mark]:
        return {path: self._mark(offset) for path, offset in offsets.items()}


_SPACE = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_DECODER = json.JSONDecoder()


def _after_space(text: str, offset: int) -> int:
    match = _SPACE.match(text, offset)
    return match.end() if match else offset


_JSON_HINTS = {
    "Expecting value": "a value is missing here; write text in double quotes, a number, "
                       "true, false, null, an object {...} or a list [...]",
    "Expecting property name enclosed in double quotes": "a key in double quotes is "
                       "expected here, such as \"name\"",
    "Expecting ':' delimiter": "a colon (:) is expected here, after the key",
    "Expecting ',' delimiter": "a comma is expected here, between two entries; check the "
                               "end of the previous entry",
    "Unterminated string starting at": "this text is never closed; add the closing double "
                                       "quote (\")",
    "Invalid control character at": "text in double quotes cannot contain a line break or "
                                    "tab; write it as \\n or \\t, or close the quotes",
    "Extra data": "there is more after the end of the JSON value; a file holds one object "
                  "(check for a stray bracket or a missing comma)",
}


def _json_message(message: str, text: str, offset: int) -> str:
    """A JSONDecodeError message as a sentence with a hint."""
    char = text[offset:offset + 1]
    before = text[:offset].rstrip()
    if not text[offset:].strip() and message.startswith("Expecting"):
        return _unclosed_json(text)
    if char == "'":
        return "JSON needs double quotes (\"), not single quotes ('), around text and keys"
    if char and char in "]}" and before.endswith(","):
        return "JSON does not allow a comma before a closing bracket; remove the comma"
    if message.startswith("Invalid \\"):
        return "invalid escape sequence in text; write a backslash as \\\\"
    return _JSON_HINTS.get(message, f"this is not valid JSON ({message})")


def _unclosed_json(text: str) -> str:
    """Which bracket is still open at the end of the text, and where it was opened."""
    stack: list[tuple[str, int]] = []
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', text):
        token = match[0]
        if token in "[{":
            stack.append((token, match.start()))
        elif token in "]}" and stack:
            stack.pop()
    if not stack:
        return "the JSON ends too early; a value is missing at the end"
    bracket, offset = stack[-1]
    line, column = _line_column(text, offset)
    closer = "]" if bracket == "[" else "}"
    return (f"the '{bracket}' opened at line {line}, column {column} is never closed; add "
            f"the missing '{closer}'")
