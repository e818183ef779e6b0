"""YAML text to plain data, with the line and column of every key and value.

Used through `crmkit.metadata.source`. PyYAML only tokenizes and parses (events); the
composing and the building of data happen here, so that:

- Scalars follow the YAML 1.2 core schema, narrowed for metadata authors: `true`/`false`
  (also `True`, `TRUE`, ...) are booleans, `null`, `~` and empty are null, decimal
  numbers are ints and floats. Everything else stays text: `yes`, `no`, `on`, `off`,
  dates, `0x1F`, `0o17`, `1_000`, `1:30`, `.inf`, and integers with a leading zero
  (`007`, zip codes such as `02134`). Quoted scalars are always text.
- Tags (`!!python/object`, `!!str`, `!custom`) are refused; so are keys that are not text.
- Merge keys (`<<: *defaults`, or a list of aliases) are supported; keys written in the
  mapping itself win over merged ones, and earlier merged mappings win over later ones.
- Size and depth are bounded while composing, before any data is built: aliases count
  the full size of what they copy, so an alias bomb is refused in microseconds.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any, NamedTuple, NoReturn

import yaml
from yaml import events

from crmkit.metadata.errors import DocumentPath, MetadataError, Problem

Mark = tuple[int, int]
"""(line, column), both 1-based."""

LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""The PyYAML loader class whose parser produces the events (libyaml when available)."""

_MERGE = object()  # what _key_name returns for a plain `<<` key
_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(
    r"[-+]?(?:(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+)")
_TOO_LARGE = object()
SURROGATE = re.compile("[\ud800-\udfff]")
SURROGATE_MESSAGE = ("this text contains an escape for half a character (\\u{code:04X}, a "
                     "surrogate); write the character itself instead")
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # what PyYAML counts as a new line


class Parsed(NamedTuple):
    data: Any
    values: dict[DocumentPath, Mark]
    keys: dict[DocumentPath, Mark]


def parse_yaml(text: str, file: str, *, max_depth: int, max_nodes: int) -> Parsed | None:
    """The document in `text`, or None when the text holds no document at all.

    Raises MetadataError (`file:line:column` problems) for syntax errors and for text over
    the limits. The limits are checked here, on the event stream, so the sentence and the
    position do not depend on the PyYAML or libyaml release: libyaml (PyYAML 6.0.4) refuses
    flow nesting deeper than 1,000 levels while it scans ahead, before any event of that
    part arrives. When the fast parser fails, the text is read again by `_GuardedLoader`,
    which stops at the first flow collection over `max_depth`, before any parser limit.
    """
    composer = _Composer(file, max_depth, max_nodes)
    try:
        found = composer.compose(yaml.parse(text, Loader=LOADER))
    except yaml.YAMLError as error:
        _compose_guarded(_Composer(file, max_depth, max_nodes), text, error)
    if not found or composer.root is None:
        return None
    builder = _Builder(file, composer.problems)
    data = builder.build(composer.root, ())
    if builder.problems:
        raise MetadataError(list(builder.problems.values()))
    return Parsed(data, builder.values, builder.keys)


def _compose_guarded(composer: _Composer, text: str, first_error: yaml.YAMLError) -> NoReturn:
    """Compose again with the pure-Python parser to find a limit the text breaks before
    the place `first_error` is about; otherwise the fast parser's verdict stands."""
    loader = _GuardedLoader(text, composer.max_depth)
    try:
        composer.compose(_events(loader))
    except yaml.YAMLError:
        if loader.too_deep is not None:
            raise composer.refuse(loader.too_deep, depth_message(composer.max_depth)) from None
    finally:
        loader.dispose()
    raise MetadataError([syntax_problem(first_error, text, composer.file)]) from None


def _events(loader: yaml.SafeLoader) -> Iterable[events.Event]:
    while loader.check_event():
        yield loader.get_event()


class _GuardedLoader(yaml.SafeLoader):
    """PyYAML's pure-Python parser, whose scanner ends the stream at the first flow
    collection (`[` or `{`) nested deeper than `max_depth`, and remembers where it is.

    Every event before that point still reaches the composer, which refuses the same
    place (a flow level is a data level) unless it found a problem earlier in the text.
    """

    def __init__(self, text: str, max_depth: int) -> None:
        super().__init__(text)
        self.max_depth = max_depth
        self.too_deep: Any = None

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:  # noqa: N803 (PyYAML's name)
        if self.flow_level >= self.max_depth:
            self.too_deep = self.get_mark()
            self.fetch_stream_end()
            return
        super().fetch_flow_collection_start(TokenClass)


def depth_message(max_depth: int) -> str:
    return (f"the data is nested more than {max_depth} levels deep here; "
            "metadata never needs that much, so flatten this part")


def plain_scalar(text: str) -> Any:
    """The value of an unquoted, untagged scalar under the narrowed core schema."""
    if text in _NULLS:
        return None
    if text in _BOOLS:
        return _BOOLS[text]
    try:
        if _INT.fullmatch(text):
            return int(text)
        if _FLOAT.fullmatch(text):
            number = float(text)
            return number if math.isfinite(number) else _TOO_LARGE
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        return _TOO_LARGE
    return text


# --- composing: events -> nodes, with the limits -------------------------------------


class _Node:
    """A composed YAML node: scalar text or a list of child references, and where it starts."""

    __slots__ = ("height", "kind", "mark", "open", "plain", "size", "tag", "value")

    def __init__(self, kind: str, mark: Mark, value: Any, tag: str | None = None,
                 plain: bool = False) -> None:
        self.kind = kind  # "scalar", "mapping" or "sequence"
        self.tag = tag
        self.value = value
        self.plain = plain
        self.mark = mark
        self.size = 1  # nodes in the data once every alias below is expanded
        self.height = 0 if kind == "scalar" else 1  # collections nested in it, itself included
        self.open = kind != "scalar"


class _Alias:
    """A use of an anchor (`*name`): the anchored node, and where the alias is written."""

    __slots__ = ("mark", "target")

    def __init__(self, target: _Node, mark: Mark) -> None:
        self.target = target
        self.mark = mark


_Ref = _Node | _Alias


def _mark(mark: Any) -> Mark:
    return (mark.line + 1, mark.column + 1)


def _node(kind: str, event: Any, value: Any) -> _Node:
    tag = None if event.tag in (None, "!") else event.tag
    plain = kind == "scalar" and event.tag is None and event.implicit[0]
    return _Node(kind, _mark(event.start_mark), value, tag, plain)


class _Composer:
    """Turns parser events into a node tree, refusing too much size or depth on the way."""

    def __init__(self, file: str, max_depth: int, max_nodes: int) -> None:
        self.file, self.max_depth, self.max_nodes = file, max_depth, max_nodes
        self.stack: list[_Node] = []
        self.anchors: dict[str, _Node] = {}
        self.problems: list[Problem] = []
        self.root: _Ref | None = None
        self.documents = 0
        self.expanded = 0

    def compose(self, stream: Iterable[events.Event]) -> bool:
        """Compose the first document; False if the stream holds none."""
        for event in stream:
            if isinstance(event, events.DocumentStartEvent):
                self.documents += 1
                if self.documents > 1:
                    raise self.refuse(event.start_mark, (
                        "a second YAML document starts here (after '---'); write one "
                        "package document per file, and move this one to a file of its own"))
            elif isinstance(event, events.AliasEvent):
                self._alias(event)
            elif isinstance(event, events.ScalarEvent):
                self._attach(_node("scalar", event, event.value), event.start_mark, event.anchor)
            elif isinstance(event, events.CollectionStartEvent):
                kind = "mapping" if isinstance(event, events.MappingStartEvent) else "sequence"
                node = _node(kind, event, [])
                self._attach(node, event.start_mark, event.anchor)
                self.stack.append(node)
            elif isinstance(event, events.CollectionEndEvent):
                node = self.stack.pop()
                node.open = False
                self._grow(node.size, node.height)
        return self.documents > 0

    def _alias(self, event: events.AliasEvent) -> None:
        target = self.anchors.get(event.anchor)
        mark = _mark(event.start_mark)
        if target is None or target.open:
            message = _alias_message(event.anchor, defined=target is not None)
            self.problems.append(Problem(self.file, *mark, message))
            target = _Node("scalar", mark, "", plain=True)  # stands in for it: null
        self._attach(_Alias(target, mark), event.start_mark)

    def _attach(self, ref: _Ref, start: Any, anchor: str | None = None) -> None:
        node = ref.target if isinstance(ref, _Alias) else ref
        if anchor is not None:
            self.anchors[anchor] = node
        self.expanded += 1 if node.open else node.size
        if self.expanded > self.max_nodes:
            raise self.refuse(start, (
                f"the file holds more than {self.max_nodes:,} values once its aliases "
                "(*name) are expanded; this limit protects the server. Split the "
                "package into several files, or use fewer aliases"))
        if len(self.stack) + node.height > self.max_depth:
            raise self.refuse(start, depth_message(self.max_depth))
        if self.stack:
            self.stack[-1].value.append(ref)
        else:
            self.root = ref
        if not node.open:
            self._grow(node.size, node.height)

    def _grow(self, size: int, height: int) -> None:
        if self.stack:
            parent = self.stack[-1]
            parent.size += size
            parent.height = max(parent.height, height + 1)

    def refuse(self, start: Any, message: str) -> MetadataError:
        return MetadataError([*self.problems, Problem(self.file, *_mark(start), message)])


def _alias_message(name: str, *, defined: bool) -> str:
    if defined:
        return (f"the alias '*{name}' is inside the value it refers to, which would repeat "
                "forever; move it out of that value")
    return (f"the alias '*{name}' refers to an anchor '&{name}' that is not defined before "
            "it; define the anchor first, or quote the value if the '*' is meant as text")


# --- building: nodes -> plain data and positions --------------------------------------


class _Builder:
    """Builds plain data from composed nodes, recording positions and content problems."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.values: dict[DocumentPath, Mark] = {}
        self.keys: dict[DocumentPath, Mark] = {}
        # Keyed by place and text: an anchor copied by many aliases is reported once.
        self.problems: dict[tuple[int, int, str], Problem] = {}
        for problem in problems:
            self.problems[(problem.line, problem.column, problem.message)] = problem

    def build(self, ref: _Ref, path: DocumentPath) -> Any:
        node = ref.target if isinstance(ref, _Alias) else ref
        self.values[path] = ref.mark
        self._check_tag(node, path)
        if node.kind == "mapping":
            return self._mapping(node, path)
        if node.kind == "sequence":
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        if not node.plain:
            self._check_surrogates(node)
            return node.value
        value = plain_scalar(node.value)
        if value is _TOO_LARGE:
            self._problem(node.mark, path, (
                f"the number {node.value} is too large to store; write a smaller "
                "number, or put it in quotes if it is an identifier"))
            return node.value
        return value

    def _mapping(self, node: _Node, path: DocumentPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, key, value in self._entries(node, path):
            self.keys[(*path, name)] = key.mark
            result[name] = self.build(value, (*path, name))
        return result

    def _entries(self, node: _Node, path: DocumentPath) -> list[tuple[str, _Ref, _Ref]]:
        """The mapping's entries in file order, with merge keys (`<<`) expanded in place."""
        explicit: dict[str, tuple[_Ref, _Ref]] = {}
        order: list[str | _Ref] = []
        pairs = zip(node.value[::2], node.value[1::2], strict=True)
        for key, value in pairs:
            name = self._key_name(key, path)
            if name is _MERGE:
                order.append(value)
            elif not isinstance(name, str):
                continue
            elif name in explicit:
                first = explicit[name][0].mark
                self._problem(key.mark, (*path, name), (
                    f"'{name}' appears twice in this mapping (first at line {first[0]}); "
                    "remove or rename one of them"))
            else:
                explicit[name] = (key, value)
                order.append(name)
        entries: dict[str, tuple[str, _Ref, _Ref]] = {}
        for item in order:
            if isinstance(item, str):
                entries[item] = (item, *explicit[item])
                continue
            for name, key, value in self._merged(item, path):
                if name not in explicit and name not in entries:
                    entries[name] = (name, key, value)
        return list(entries.values())

    def _merged(self, ref: _Ref, path: DocumentPath) -> list[tuple[str, _Ref, _Ref]]:
        node = ref.target if isinstance(ref, _Alias) else ref
        sources = node.value if node.kind == "sequence" else [ref]
        merged: list[tuple[str, _Ref, _Ref]] = []
        for source in sources:
            target = source.target if isinstance(source, _Alias) else source
            if target.kind != "mapping":
                self._problem(source.mark, path, (
                    "a merge key '<<' takes a mapping (usually an alias such as "
                    "*defaults) or a list of them; put the value under a normal key, "
                    "or quote '<<' if it is meant as a key"))
                continue
            merged.extend(self._entries(target, path))
        return merged

    def _key_name(self, ref: _Ref, path: DocumentPath) -> str | object | None:
        """The key as text, `_MERGE` for a merge key, or None (problem reported)."""
        node = ref.target if isinstance(ref, _Alias) else ref
        self._check_tag(node, path)
        if node.kind != "scalar":
            self._problem(ref.mark, path, (
                "a key must be plain text, not a list or a mapping; write a name "
                "before the colon"))
            return None
        text: str = node.value
        if not node.plain:
            self._check_surrogates(node)
            return text
        if text == "<<":
            return _MERGE
        value = plain_scalar(text)
        if isinstance(value, str):
            return value
        self._problem(ref.mark, path, _key_message(text, value))
        return None

    def _check_tag(self, node: _Node, path: DocumentPath) -> None:
        if node.tag is not None:
            shown = node.tag.replace("tag:yaml.org,2002:", "!!")
            self._problem(node.mark, path, (
                f"the tag '{shown}' is not allowed in metadata; remove it (and put the "
                "value in quotes if it must stay text)"))

    def _check_surrogates(self, node: _Node) -> None:
        """Escapes such as "\\ud800" in quoted text can smuggle in what is not a character."""
        found = SURROGATE.search(node.value)
        if found:
            self._problem(node.mark, (), SURROGATE_MESSAGE.format(code=ord(found[0])))

    def _problem(self, mark: Mark, path: DocumentPath, message: str) -> None:
        self.problems.setdefault((*mark, message), Problem(self.file, *mark, message, path))


def _key_message(text: str, value: Any) -> str:
    if value is None:
        return ("this entry has no key (or the key is null); write a name before the "
                "colon, or put it in quotes if you mean the text")
    kind = "a true/false value" if isinstance(value, bool) else "a number"
    return f"the key {text} is read as {kind}, but keys must be text; put it in quotes: '{text}'"


# --- syntax errors -> plain sentences --------------------------------------------------


def syntax_problem(error: yaml.YAMLError, text: str, file: str) -> Problem:
    """One Problem for a PyYAML syntax error, with a hint in place of parser jargon."""
    if isinstance(error, yaml.reader.ReaderError):
        index = text.find(chr(error.character)) if isinstance(error.character, int) else -1
        line = text.count("\n", 0, index) + 1 if index >= 0 else 1
        column = index - text.rfind("\n", 0, index) if index >= 0 else 1
        return Problem(file, line, column, (
            "the file contains a character that YAML does not allow; delete it"))
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    line, column = _mark(mark) if mark is not None else (1, 1)
    return Problem(file, line, column, _explain(error, text, line, column))


def _explain(error: yaml.YAMLError, text: str, line: int, column: int) -> str:
    problem = str(getattr(error, "problem", None) or error)
    context = str(getattr(error, "context", None) or "")
    lines = _LINE_BREAK.split(text)
    here = lines[line - 1] if line <= len(lines) else ""
    char = here[column - 1] if column <= len(here) else ""
    start = getattr(error, "context_mark", None)
    opened = _mark(start) if start is not None else (line, column)
    opener = _char_at(lines, opened)
    where = f"line {opened[0]}, column {opened[1]}"
    if char == "\t" or "tab" in problem or "\t" in here[: len(here) - len(here.lstrip())]:
        return "tabs are not allowed for indentation in YAML; use spaces"
    if "mapping values are not allowed" in problem:
        return ("a ': ' is not allowed here; if the value contains a colon, put the whole "
                "value in quotes, otherwise check for a missing space after a colon or a "
                "wrong indentation on this line or the one above")
    if "quoted scalar" in context and "Unicode" in problem:
        return ("this escape (\\u...) is not a character on its own (it may be half of a "
                "surrogate pair); write the character itself instead")
    if "quoted scalar" in context and ("escape" in problem or "hexdecimal" in problem):
        return ("unknown escape sequence (a backslash) in double-quoted text; write a "
                "backslash as \\\\, or use single quotes instead")
    if "quoted scalar" in context:
        kind, quote = ("single", "'") if opener == "'" else ("double", '"')
        return (f"the {kind} quote ({quote}) opened at {where} is never closed; "
                "add the closing quote")
    if "flow sequence" in context or "flow mapping" in context:
        bracket, closer = ("[", "]") if "sequence" in context else ("{", "}")
        return (f"the '{bracket}' opened at {where} is not closed where expected; add the "
                f"missing '{closer}', or a missing comma between its items")
    return _explain_more(problem, context, char)


def _explain_more(problem: str, context: str, char: str) -> str:
    if "cannot start any token" in problem:
        return (f"a value cannot start with '{char}'; put the value in quotes")
    if "could not find expected ':'" in problem:
        return ("this line looks like a key but has no ': ' after it; add a colon and a "
                "space after the key, or check the indentation")
    if "document start" in problem:
        return ("there is more text after the end of the document's top-level value; check "
                "the indentation of this line, or remove it")
    if "anchor" in context or "alias" in context:
        return ("a value starting with '&' or '*' is read as an anchor or alias; put the "
                "value in quotes")
    if "block" in context or "expected key" in problem or "block end" in problem:
        return ("the indentation of this line does not match the lines above it; indent "
                "it exactly like the other entries at its level (with spaces), and do not "
                "mix '- ' list items with 'key: value' entries at the same level")
    return f"this is not valid YAML ({problem}); check this line and the one above it"


def _char_at(lines: list[str], mark: Mark) -> str:
    line, column = mark
    if line <= len(lines) and column <= len(lines[line - 1]):
        return lines[line - 1][column - 1]
    return ""
