"""Reading metadata files: plain data, positions for every node, and plain-sentence problems."""
from __future__ import annotations

import doctest
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from crmkit.metadata import yaml_loader
from crmkit.metadata.errors import MetadataError
from crmkit.metadata.source import (
    MAX_FILE_BYTES, Position, SourceDocument, load_file, load_package_files, load_text,
)

PACKAGE = """\
package: sales
version: 1.0.0
objects:
  deal:
    label: Deal
    fields:
      - name: amount
        type: currency
      - {name: stage, options: [Open, Won]}
"""


def problems(action: Callable[[], Any]) -> list[tuple[int, int, str]]:
    """(line, column, message) of every problem `action` raises."""
    with pytest.raises(MetadataError) as caught:
        action()
    return [(p.line, p.column, p.message) for p in caught.value.problems]


def only_problem(text: str, file: str = "pkg.yaml") -> tuple[int, int, str]:
    found = problems(lambda: load_text(text, file))
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(params=["libyaml", "pure"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test with the libyaml parser and with PyYAML's pure-Python one."""
    if request.param == "libyaml":
        if not hasattr(yaml, "CSafeLoader"):
            pytest.skip("PyYAML was built without libyaml")
        monkeypatch.setattr(yaml_loader, "LOADER", yaml.CSafeLoader)
    else:
        monkeypatch.setattr(yaml_loader, "LOADER", yaml.SafeLoader)
    return request.param


# --- positions -------------------------------------------------------------------------


def test_values_and_keys_know_their_line_and_column(parser: str) -> None:
    doc = load_text(PACKAGE, "sales.yaml")
    assert doc.file == "sales.yaml"
    stage = {"name": "stage", "options": ["Open", "Won"]}
    assert doc.data["objects"]["deal"]["fields"][1] == stage
    assert doc.value_positions[()] == Position(1, 1)
    assert doc.value_positions[("version",)] == Position(2, 10)
    assert doc.key_positions[("objects", "deal")] == Position(4, 3)
    assert doc.value_positions[("objects", "deal", "fields", 0)] == Position(7, 9)
    assert doc.key_positions[("objects", "deal", "fields", 0, "type")] == Position(8, 9)
    assert doc.value_positions[("objects", "deal", "fields", 0, "type")] == Position(8, 15)
    assert doc.value_positions[("objects", "deal", "fields", 1)] == Position(9, 9)
    assert doc.key_positions[("objects", "deal", "fields", 1, "options")] == Position(9, 23)
    assert doc.value_positions[("objects", "deal", "fields", 1, "options", 1)] == Position(9, 39)


def test_position_gives_the_value_or_with_at_key_the_key() -> None:
    doc = load_text(PACKAGE, "sales.yaml")
    assert doc.position(("objects", "deal", "label")) == Position(5, 12)
    assert doc.position(("objects", "deal", "label"), at_key=True) == Position(5, 5)
    assert doc.position(("objects", "deal", "fields", 0), at_key=True) == Position(7, 9)


def test_an_unknown_path_falls_back_to_its_nearest_known_ancestor() -> None:
    doc = load_text(PACKAGE, "sales.yaml")
    assert doc.position(("objects", "deal", "plural_label")) == Position(4, 3)
    assert doc.position(("objects", "deal", "fields", 7, "name")) == Position(6, 5)
    assert doc.position(("nothing", "here")) == Position(1, 1)
    problem = doc.problem(("objects", "deal", "plural_label"), "plural_label is missing")
    assert (problem.file, problem.line, problem.column) == ("sales.yaml", 4, 3)
    assert problem.path == ("objects", "deal", "plural_label")
    assert str(problem) == ("sales.yaml:4:3: plural_label is missing "
                            "(at objects.deal.plural_label)")


def test_a_document_with_no_positions_still_answers() -> None:
    doc = SourceDocument("x.yaml", {}, {}, {})
    assert doc.position(("a", 1)) == Position(1, 1)


def test_columns_count_characters_not_bytes(parser: str) -> None:
    doc = load_text("label: Café 😀\nnote: [é, 😀, x]\n", "pkg.yaml")
    assert doc.value_positions[("note", 2)] == Position(2, 14)


@pytest.mark.parametrize("text, file", [
    ("a: 1\r\nb:\r\n  - x\r\n  - y\r\n", "p.yaml"),
    ('{"a": 1,\r\n "b": [\r\n  "x",\r\n  "y"]}', "p.json"),
])
def test_windows_line_endings_count_as_one_line(text: str, file: str) -> None:
    doc = load_text(text, file)
    assert doc.data == {"a": 1, "b": ["x", "y"]}
    assert doc.value_positions[("b", 1)] == Position(4, 5 if file == "p.yaml" else 3)


def test_the_usage_example_in_the_module_docstring_runs() -> None:
    from crmkit.metadata import source

    assert doctest.testmod(source).failed == 0


def test_an_alias_points_at_itself_and_its_contents_at_the_anchor() -> None:
    doc = load_text("base: &base\n  type: text\nother: *base\n", "pkg.yaml")
    assert doc.data == {"base": {"type": "text"}, "other": {"type": "text"}}
    assert doc.value_positions[("other",)] == Position(3, 8)
    assert doc.value_positions[("other", "type")] == Position(2, 9)
    doc.data["other"]["type"] = "number"
    assert doc.data["base"]["type"] == "text", "each alias gets its own copy"


# --- scalars: the YAML 1.2 core schema, narrowed -------------------------------------------


@pytest.mark.parametrize("written, value", [
    ("true", True), ("True", True), ("TRUE", True), ("false", False), ("FALSE", False),
    ("null", None), ("Null", None), ("~", None), ("", None),
    ("12", 12), ("-3", -3), ("+4", 4), ("0", 0),
    ("1.5", 1.5), (".5", 0.5), ("1.", 1.0), ("1e3", 1000.0), ("-2.5E-1", -0.25),
    ("Yes", "Yes"), ("No", "No"), ("on", "on"), ("OFF", "OFF"), ("y", "y"), ("n", "n"),
    ("2024-01-01", "2024-01-01"), ("2024-01-01 10:00:00", "2024-01-01 10:00:00"),
    ("1:30", "1:30"), ("007", "007"), ("02134", "02134"), ("0x1F", "0x1F"),
    ("0o17", "0o17"), ("1_000", "1_000"), (".inf", ".inf"), (".nan", ".nan"), ("=", "="),
    ("'true'", "true"), ('"12"', "12"), ("'null'", "null"), ("! 12", "12"),
])
def test_scalars_follow_the_core_schema_and_everything_else_stays_text(
        written: str, value: Any) -> None:
    data = load_text(f"value: {written}\n", "pkg.yaml").data
    assert data["value"] == value
    assert type(data["value"]) is type(value)


def test_options_such_as_yes_and_no_stay_text() -> None:
    data = load_text("options: [Yes, No, Maybe]\n", "p.yaml").data
    assert data == {"options": ["Yes", "No", "Maybe"]}


def test_a_number_too_large_to_store_is_a_problem() -> None:
    assert only_problem("limit: 1e999\n") == (1, 8, (
        "the number 1e999 is too large to store; write a smaller number, or put it in "
        "quotes if it is an identifier"))


# --- content problems -------------------------------------------------------------------


def test_a_duplicate_key_is_reported_at_the_second_one() -> None:
    text = "package: sales\nobjects:\n  deal:\n    label: Deal\n    label: Deals\n"
    assert only_problem(text) == (5, 5, (
        "'label' appears twice in this mapping (first at line 4); remove or rename one of them"))


def test_every_content_problem_is_reported_at_once() -> None:
    text = "name: a\n1: one\nname: b\nvalue: !!python/object/apply:os.system [ls]\n"
    assert problems(lambda: load_text(text, "pkg.yaml")) == [
        (2, 1, "the key 1 is read as a number, but keys must be text; put it in quotes: '1'"),
        (3, 1, "'name' appears twice in this mapping (first at line 1); remove or rename one "
               "of them"),
        (4, 8, "the tag '!!python/object/apply:os.system' is not allowed in metadata; remove "
               "it (and put the value in quotes if it must stay text)"),
    ]


@pytest.mark.parametrize("text, message", [
    ("1: x\n", "the key 1 is read as a number, but keys must be text; put it in quotes: '1'"),
    ("2.5: x\n", "the key 2.5 is read as a number, but keys must be text; put it in quotes: '2.5'"),
    ("true: x\n", "the key true is read as a true/false value, but keys must be text; put it "
                  "in quotes: 'true'"),
    ("null: x\n", "this entry has no key (or the key is null); write a name before the colon, "
                  "or put it in quotes if you mean the text"),
    ("[a, b]: x\n", "a key must be plain text, not a list or a mapping; write a name before "
                    "the colon"),
])
def test_keys_must_be_text(text: str, message: str) -> None:
    assert only_problem(text) == (1, 1, message)


def test_quoted_keys_and_words_like_yes_are_fine_keys() -> None:
    data = load_text("'1': x\nyes: y\n'true': z\n", "p.yaml").data
    assert data == {"1": "x", "yes": "y", "true": "z"}


@pytest.mark.parametrize("tagged, shown", [
    ("!!python/object:os.system x", "!!python/object:os.system"),
    ("!!str 12", "!!str"),
    ("!custom x", "!custom"),
    ("!!map {a: 1}", "!!map"),
])
def test_tags_are_refused(tagged: str, shown: str) -> None:
    assert only_problem(f"value: {tagged}\n") == (1, 8, (
        f"the tag '{shown}' is not allowed in metadata; remove it (and put the value in "
        "quotes if it must stay text)"))


def test_merge_keys_copy_entries_and_written_keys_win() -> None:
    text = ("defaults: &d {type: text, required: false}\n"
            "more: &m {required: true, length: 80}\n"
            "field:\n  name: title\n  <<: [*d, *m]\n  type: string\n")
    doc = load_text(text, "pkg.yaml")
    assert doc.data["field"] == {"name": "title", "required": False, "length": 80, "type": "string"}
    assert list(doc.data["field"]) == ["name", "required", "length", "type"]
    assert doc.key_positions[("field", "length")] == Position(2, 27)
    assert doc.value_positions[("field", "type")] == Position(6, 9)


def test_a_merge_key_needs_a_mapping() -> None:
    assert only_problem("field:\n  <<: 1\n") == (2, 7, (
        "a merge key '<<' takes a mapping (usually an alias such as *defaults) or a list "
        "of them; put the value under a normal key, or quote '<<' if it is meant as a key"))


def test_an_alias_must_follow_its_anchor() -> None:
    assert only_problem("a: *later\nb: &later x\n") == (1, 4, (
        "the alias '*later' refers to an anchor '&later' that is not defined before it; "
        "define the anchor first, or quote the value if the '*' is meant as text"))


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    assert only_problem("a: &loop\n  - *loop\n") == (2, 5, (
        "the alias '*loop' is inside the value it refers to, which would repeat forever; "
        "move it out of that value"))


# --- limits ----------------------------------------------------------------------------


def test_an_alias_bomb_is_refused_quickly() -> None:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    started = time.perf_counter()
    line, _, message = only_problem("\n".join(lines) + "\n")
    # Refused after a few hundred values; expanding the 10**10 would take hours. The bound
    # is loose so that a loaded machine passes too.
    assert time.perf_counter() - started < 10
    assert (line, message) == (6, (
        "the file holds more than 200,000 values once its aliases (*name) are expanded; "
        "this limit protects the server. Split the package into several files, or use "
        "fewer aliases"))


DEPTH_MESSAGE = ("the data is nested more than 64 levels deep here; metadata never needs "
                 "that much, so flatten this part")


@pytest.mark.parametrize("file", ["deep.yaml", "deep.json"])
def test_deep_nesting_is_refused(file: str) -> None:
    assert only_problem("[" * 100_000 + "]" * 100_000, file) == (1, 65, DEPTH_MESSAGE)


class _EarlyLimitLoader(yaml.SafeLoader):
    """A parser with a nesting limit of its own that it enforces while scanning ahead,
    as libyaml does from PyYAML 6.0.4 on (1,000 levels there, 100 here)."""

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:  # noqa: N803
        if self.flow_level >= 100:
            mark = self.get_mark()
            raise yaml.scanner.ScannerError("while increasing flow level", mark,
                                            "exceeded maximum nesting depth", mark)
        super().fetch_flow_collection_start(TokenClass)


@pytest.mark.parametrize("loader", ["libyaml", "pure", "early limit"])
@pytest.mark.parametrize("text, where", [
    ("[" * 100_000 + "]" * 100_000, (1, 65)),
    ("a:\n  b:\n    c: " + "[" * 100_000, (3, 69)),  # two mappings and the root, then 62
    ("a: [x, {y: " + "{z: " * 200, (1, 4 + 4 + 4 * 62)),
    ("a: [b,\n" + "[" * 500 + "\n", (2, 63)),  # the root and a list on line 1
])
def test_the_depth_limit_does_not_depend_on_the_parser(
        loader: str, text: str, where: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    if loader == "libyaml" and not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML was built without libyaml")
    classes = {"libyaml": getattr(yaml, "CSafeLoader", None), "pure": yaml.SafeLoader,
               "early limit": _EarlyLimitLoader}
    monkeypatch.setattr(yaml_loader, "LOADER", classes[loader])
    assert only_problem(text, "deep.yaml") == (*where, DEPTH_MESSAGE)


def test_a_syntax_error_before_deep_nesting_is_reported_as_such(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yaml_loader, "LOADER", _EarlyLimitLoader)
    line, column, message = only_problem("a: b: c\nd: " + "[" * 5000, "bad.yaml")
    assert (line, column) == (1, 5)
    assert message.startswith("a ': ' is not allowed here")


def test_sixty_four_levels_are_fine() -> None:
    assert load_text("[" * 64 + "]" * 64, "ok.yaml").data is not None
    assert load_text("[" * 64 + "]" * 64, "ok.json").data is not None


def test_depth_counts_what_an_alias_copies() -> None:
    text = "a: &deep " + "[" * 40 + "]" * 40 + "\nb: " + "[" * 30 + "*deep" + "]" * 30 + "\n"
    assert only_problem(text) == (2, 34, DEPTH_MESSAGE)


def test_a_file_over_the_size_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"[" * (MAX_FILE_BYTES + 1))
    message = (f"the file is larger than the limit of 5 MiB ({MAX_FILE_BYTES + 1:,} bytes); "
               "split the package into several files")
    assert problems(lambda: load_file(big)) == [(1, 1, message)]
    assert problems(lambda: load_text("#" * (MAX_FILE_BYTES + 1), "big.yaml")) == [(1, 1, message)]


def test_a_json_file_over_the_node_limit_is_refused() -> None:
    line, column, message = only_problem("[" + "0," * 200_000 + "0]", "many.json")
    assert (line, column) == (1, 400_000)  # the 200,000th number: one more than the limit
    assert message.startswith("the file holds more than 200,000 values;")


# --- YAML syntax -------------------------------------------------------------------------


@pytest.mark.parametrize("text, where, message", [
    ("package: sales\nobjects:\n\tdeal: {}\n", (3, 1),
     "tabs are not allowed for indentation in YAML; use spaces"),
    ("objects:\n  deal:\n    label: Deal\n\tplural: Deals\n", (4, 1),
     "tabs are not allowed for indentation in YAML; use spaces"),
    ("help: Use this: not that\n", (1, 15),
     "a ': ' is not allowed here; if the value contains a colon, put the whole value in "
     "quotes, otherwise check for a missing space after a colon or a wrong indentation on "
     "this line or the one above"),
    ('package: sales\nlabel: "Sales\nversion: 1\n', (4, 1),
     'the double quote (") opened at line 2, column 8 is never closed; add the closing quote'),
    ("label: 'Sales\n", (2, 1),
     "the single quote (') opened at line 1, column 8 is never closed; add the closing quote"),
    ("options: [Open, Won\nlabel: x\n", (2, 6),
     "the '[' opened at line 1, column 10 is not closed where expected; add the missing ']', "
     "or a missing comma between its items"),
    ("field: {name: x\n", (2, 1),
     "the '{' opened at line 1, column 8 is not closed where expected; add the missing '}', "
     "or a missing comma between its items"),
    ("a:\n  b: 1\n c: 2\n", (3, 2),
     "the indentation of this line does not match the lines above it; indent it exactly like "
     "the other entries at its level (with spaces), and do not mix '- ' list items with "
     "'key: value' entries at the same level"),
    ("owner: @me\n", (1, 8), "a value cannot start with '@'; put the value in quotes"),
    ("price: &\n", (1, 9),
     "a value starting with '&' or '*' is read as an anchor or alias; put the value in quotes"),
])
def test_syntax_errors_are_plain_sentences_at_the_problem(
        parser: str, text: str, where: tuple[int, int], message: str) -> None:
    assert only_problem(text) == (*where, message)


@pytest.mark.parametrize("text", ['path: "C:\\qtemp"\n', 'path: "C:\\Users\\me"\n'])
def test_an_unknown_escape_in_double_quotes_is_explained(parser: str, text: str) -> None:
    line, column, message = only_problem(text)
    assert line == 1 and 10 <= column <= 12  # the parsers differ by a character or two
    assert message == ("unknown escape sequence (a backslash) in double-quoted text; write a "
                       "backslash as \\\\, or use single quotes instead")


def test_a_second_document_is_refused() -> None:
    assert only_problem("package: a\n---\npackage: b\n") == (2, 1, (
        "a second YAML document starts here (after '---'); write one package document per "
        "file, and move this one to a file of its own"))


@pytest.mark.parametrize("text", ["", "\n  \n", "# only a comment\n", "\ufeff"])
def test_a_file_without_a_document_is_empty(text: str) -> None:
    assert only_problem(text) == (
        1, 1, "the file is empty; a package needs at least `package:` and `version:`")


@pytest.mark.parametrize("text, data", [
    ("---\n", None), ("null\n", None), ("- a\n- b\n", ["a", "b"]), ("hello\n", "hello"),
])
def test_a_document_that_is_not_a_mapping_is_returned_as_is(text: str, data: Any) -> None:
    assert load_text(text, "pkg.yaml").data == data


def test_control_characters_are_refused_where_they_are() -> None:
    assert problems(lambda: load_text("label: a\x00b\nnote: \x1b[1m\n", "p.yaml")) == [
        (1, 9, "the file contains the invisible or invalid character U+0000, which metadata "
               "does not allow; delete it (such characters often come from copying text out "
               "of another program)"),
        (2, 7, "the file contains the invisible or invalid character U+001B, which metadata "
               "does not allow; delete it (such characters often come from copying text out "
               "of another program)"),
    ]


def test_an_escaped_half_character_in_json_is_refused() -> None:
    assert only_problem('{"label": "a\\ud800b"}', "p.json") == (1, 11, (
        "this text contains an escape for half a character (\\uD800, a surrogate); write the "
        "character itself instead"))


def test_an_escaped_half_character_in_yaml_is_refused(parser: str) -> None:
    # YAML has no surrogate pairs; libyaml refuses the escape, PyYAML's parser keeps it.
    expected = {
        "libyaml": (1, 12, "this escape (\\u...) is not a character on its own (it may be "
                           "half of a surrogate pair); write the character itself instead"),
        "pure": (1, 8, "this text contains an escape for half a character (\\uD83D, a "
                       "surrogate); write the character itself instead"),
    }
    assert only_problem('label: "a\\ud83d\\ude00"\n') == expected[parser]


def test_an_escaped_pair_is_one_character_in_json() -> None:
    assert load_text('{"smile": "\\ud83d\\ude00"}', "p.json").data == {"smile": "😀"}


# --- JSON --------------------------------------------------------------------------------

JSON_PACKAGE = """\
{
  "package": "sales",
  "objects": {
    "deal": {"fields": [{"name": "amount"}, {"name": "stage", "options": ["Open", 2]}]}
  }
}
"""


def test_json_values_and_keys_know_their_line_and_column() -> None:
    doc = load_text(JSON_PACKAGE, "sales.json")
    assert doc.data["objects"]["deal"]["fields"][1]["options"] == ["Open", 2]
    assert doc.value_positions[()] == Position(1, 1)
    assert doc.key_positions[("package",)] == Position(2, 3)
    assert doc.value_positions[("package",)] == Position(2, 14)
    assert doc.value_positions[("objects", "deal", "fields", 0)] == Position(4, 25)
    assert doc.key_positions[("objects", "deal", "fields", 1, "name")] == Position(4, 46)
    assert doc.value_positions[("objects", "deal", "fields", 1, "options", 1)] == Position(4, 83)


def test_json_is_chosen_by_suffix_or_by_format() -> None:
    assert load_text('{"on": true}', "P.JSON").data == {"on": True}
    data = load_text('{"a": [1, 2.5, null]}', "notes.txt", format="json").data
    assert data == {"a": [1, 2.5, None]}
    with pytest.raises(MetadataError):
        load_text("a: 1", "notes.txt", format="json")
    with pytest.raises(ValueError):
        load_text("a: 1", "notes.txt", format="toml")


@pytest.mark.parametrize("text, where, message", [
    ('{\n  "a": 1\n  "b": 2\n}', (3, 3),
     "a comma is expected here, between two entries; check the end of the previous entry"),
    ('{"a": 1,\n}', (2, 1),
     "JSON does not allow a comma before a closing bracket; remove the comma"),
    ("[1, 2, ]", (1, 8),
     "JSON does not allow a comma before a closing bracket; remove the comma"),
    ("{'a': 1}", (1, 2),
     "JSON needs double quotes (\"), not single quotes ('), around text and keys"),
    ('{"a": {"b": [1, 2]', (1, 19),
     "the '{' opened at line 1, column 7 is never closed; add the missing '}'"),
    ('{"a": "x', (1, 7), "this text is never closed; add the closing double quote (\")"),
    ('{"a" 1}', (1, 6), "a colon (:) is expected here, after the key"),
    ('{"a": }', (1, 7), "a value is missing here; write text in double quotes, a number, true, "
                        "false, null, an object {...} or a list [...]"),
    ('{"a": 1}}', (1, 9), "there is more after the end of the JSON value; a file holds one object "
                          "(check for a stray bracket or a missing comma)"),
    ('{"a": "\\q"}', (1, 8), "invalid escape sequence in text; write a backslash as \\\\"),
])
def test_json_syntax_errors_are_plain_sentences_at_the_problem(
        text: str, where: tuple[int, int], message: str) -> None:
    assert only_problem(text, "pkg.json") == (*where, message)


def test_json_duplicate_keys_nan_and_huge_numbers_are_all_reported() -> None:
    text = '{"name": "a",\n "size": NaN,\n "name": "b",\n "big": 1e400}'
    assert problems(lambda: load_text(text, "pkg.json")) == [
        (2, 10, "NaN is not valid in JSON metadata; write a number, or null"),
        (3, 2, "'name' appears twice in this mapping (first at line 1); remove or rename one "
               "of them"),
        (4, 9, "the number 1e400 is too large to store; write a smaller number, or put it in "
               "quotes if it is an identifier"),
    ]


def test_an_empty_json_file_is_empty() -> None:
    assert only_problem("  \n", "pkg.json") == (
        1, 1, "the file is empty; a package needs at least `package:` and `version:`")


# --- files and folders ------------------------------------------------------------------


def test_load_file_accepts_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "pkg.yaml"
    path.write_bytes(b"\xef\xbb\xbfpackage: sales\nlabel: Caf\xc3\xa9\n")
    doc = load_file(path)
    assert doc.file == str(path)
    assert doc.data == {"package": "sales", "label": "Café"}
    assert doc.key_positions[("package",)] == Position(1, 1)


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "pkg.yaml"
    path.write_bytes(b"package: sales\nlabel: Caf\xe9 Noir\n")
    assert problems(lambda: load_file(path)) == [(2, 11, (
        "the file is not valid UTF-8 text (byte 0xE9 on line 2 cannot be read); save the "
        "file as UTF-8 in your editor"))]


def test_utf16_is_named(tmp_path: Path) -> None:
    path = tmp_path / "pkg.yaml"
    path.write_bytes("package: sales\n".encode("utf-16"))
    assert problems(lambda: load_file(path)) == [
        (1, 1, "the file is saved as UTF-16; save it as UTF-8 in your editor")]


def test_a_missing_file_or_a_folder_is_a_problem_for_load_file(tmp_path: Path) -> None:
    assert problems(lambda: load_file(tmp_path / "nope.yaml")) == [
        (1, 1, "this file does not exist; check the path")]
    assert problems(lambda: load_file(tmp_path)) == [
        (1, 1, "this is a folder, not a file; give a *.yaml or *.json file")]


def test_a_folder_loads_every_metadata_file_sorted_by_relative_path(tmp_path: Path) -> None:
    for name in ["b/c.yml", "a.yaml", "a/b.json", "a-b.YAML", "notes.txt", ".git/x.yaml",
                 "b/.draft.yaml"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(json.dumps({"file": name}), encoding="utf-8")
    documents = load_package_files(tmp_path)
    assert [doc.data["file"] for doc in documents] == ["a-b.YAML", "a.yaml", "a/b.json", "b/c.yml"]
    assert documents[2].file == str(tmp_path / "a" / "b.json")


def test_a_single_file_path_loads_that_file(tmp_path: Path) -> None:
    (tmp_path / "pkg.yaml").write_text("package: sales\n", encoding="utf-8")
    assert [doc.data for doc in load_package_files(tmp_path / "pkg.yaml")] == [{"package": "sales"}]


def test_problems_of_every_file_in_a_folder_come_together(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("a: 1\na: 2\n", encoding="utf-8")
    (tmp_path / "b.json").write_text('{"x": }', encoding="utf-8")
    with pytest.raises(MetadataError) as caught:
        load_package_files(tmp_path)
    found = [(Path(p.file).name, p.line) for p in caught.value.problems]
    assert found == [("a.yaml", 2), ("b.json", 1)]


def test_an_empty_folder_or_a_missing_path_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "readme.md").write_text("hi", encoding="utf-8")
    assert problems(lambda: load_package_files(tmp_path)) == [(1, 1, (
        "this folder holds no metadata files (*.yaml, *.yml or *.json); give the folder "
        "that holds the package"))]
    assert problems(lambda: load_package_files(tmp_path / "missing")) == [(1, 1, (
        "this path does not exist; check the spelling, and give the file or the folder "
        "that holds the package"))]


def test_a_device_is_neither_a_package_file_nor_a_folder() -> None:
    assert problems(lambda: load_package_files("/dev/null")) == [(1, 1, (
        "this is not a file or a folder (a device, a pipe or a socket); give the *.yaml or *.json file or the "
        "folder that holds the package"))]


# --- properties ------------------------------------------------------------------------

FUZZ = settings(max_examples=300, deadline=None, database=None)
YAMLISH = st.lists(st.sampled_from([
    "a", "b", "1", "0.5", "true", "null", "<<", ":", ": ", "-", "- ", " ", "  ", "\n", "\t",
    "[", "]", "{", "}", ",", "'", '"', "\\", "&a ", "*a", "!", "!!str ", "#", "|", ">",
    "---", "...", "?", "%", "@", "`", "~", "\ufeff", "\x00", "é", "😀", "\r\n",
])).map("".join)


def assert_plain(data: Any) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            assert isinstance(key, str)
            assert_plain(value)
    elif isinstance(data, list):
        for item in data:
            assert_plain(item)
    else:
        assert data is None or isinstance(data, (str, int, float, bool))


def assert_loads_or_explains(action: Callable[[], SourceDocument]) -> None:
    try:
        doc = action()
    except MetadataError as error:
        assert error.problems
        for problem in error.problems:
            assert problem.line >= 1 and problem.column >= 1 and problem.message
        return
    assert_plain(doc.data)
    assert () in doc.value_positions


@FUZZ
@given(text=st.one_of(st.text(), YAMLISH), file=st.sampled_from(["p.yaml", "p.json"]))
def test_any_text_loads_or_gives_problems(text: str, file: str) -> None:
    assert_loads_or_explains(lambda: load_text(text, file))


@FUZZ
@given(raw=st.one_of(st.binary(), YAMLISH.map(lambda text: text.encode("utf-8"))))
def test_any_bytes_load_or_give_problems(
        tmp_path_factory: pytest.TempPathFactory, raw: bytes) -> None:
    path = tmp_path_factory.getbasetemp() / "fuzz.yaml"
    path.write_bytes(raw)
    assert_loads_or_explains(lambda: load_file(path))


# Lone surrogates are refused (tested above); json.dumps leaves DEL unescaped, which is refused.
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x7f"))
PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers() | TEXT
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)


def all_paths(data: Any, path: tuple = ()) -> set[tuple]:
    found = {path}
    if isinstance(data, dict):
        items: Any = data.items()
    else:
        items = enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        found |= all_paths(value, (*path, key))
    return found


@FUZZ
@given(data=PLAIN, indent=st.sampled_from([None, 2, "\t"]))
@example(data={"a\x00": ["\x1b", "😀", 1e-05, -0.0]}, indent="\t")
def test_json_round_trips_with_a_position_for_every_node(data: Any, indent: Any) -> None:
    text = json.dumps(data, indent=indent, ensure_ascii=True)
    doc = load_text(text, "p.json")
    assert doc.data == data
    assert set(doc.value_positions) == all_paths(data)
    lines = text.split("\n")
    for path, where in doc.value_positions.items():
        value = doc.data
        for part in path:
            value = value[part]
        assert lines[where.line - 1][where.column - 1] == json.dumps(value)[0]
    for where in doc.key_positions.values():
        assert lines[where.line - 1][where.column - 1] == '"'


WORDS = st.text(alphabet="abnoyesfNOYTrul ", max_size=8)  # includes yes, no, on, null, ...
YAML_DATA = st.recursive(
    st.none() | st.booleans() | st.integers() | WORDS
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(WORDS, inner, max_size=4),
    max_leaves=20,
)


@FUZZ
@given(data=YAML_DATA, flow=st.booleans())
def test_yaml_written_by_pyyaml_reads_back_the_same(data: Any, flow: bool) -> None:
    doc = load_text(yaml.safe_dump(data, default_flow_style=flow), "p.yaml")
    assert doc.data == data
    assert set(doc.value_positions) == all_paths(data)
