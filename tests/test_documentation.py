"""The documentation keeps up with the code: every key, type, hook, command and helper is described."""
from __future__ import annotations

from pathlib import Path

import pytest

from crmkit import hookspecs
from crmkit.cli import main
from crmkit.engine.fieldtypes.builtin import BUILTIN_TYPES
from crmkit.metadata.schema_check import load_schema
from crmkit.sandbox import BUILTIN_FUNCTIONS

DOCS = Path(__file__).resolve().parent.parent / "docs"


def read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def schema_keys() -> set[str]:
    schema = load_schema("package")
    keys = set(schema["properties"])
    for definition in ("object", "extension", "index", "validation", "field"):
        keys |= set(schema["$defs"][definition]["properties"])
    keys |= set(schema["$defs"]["picklist_option"]["oneOf"][1]["properties"])
    return keys


@pytest.mark.parametrize("key", sorted(schema_keys()))
def test_every_metadata_key_is_documented(key):
    assert f"| `{key}` |" in read("metadata.md")


def automation_keys() -> set[str]:
    definitions = load_schema("package")["$defs"]
    return {key for name in ("automation", "automation_action", "transitions", "stage_move", "assignment_rule",
                             "scoring") for key in definitions[name]["properties"]} | set(
        definitions["scoring"]["properties"]["rules"]["items"]["properties"])


@pytest.mark.parametrize("key", sorted(automation_keys()))
def test_every_automation_key_is_documented(key):
    assert f"| `{key}` |" in read("automation.md")


def layout_keys() -> set[str]:
    return {key for definition in load_schema("layout")["$defs"].values()
            for key in definition.get("properties", {})}


@pytest.mark.parametrize("key", sorted(layout_keys()))
def test_every_layout_key_is_documented(key):
    assert f"| `{key}` |" in read("layouts.md")


def report_keys() -> set[str]:
    definitions = load_schema("package")["$defs"]
    return {key for name in ("report", "grouping", "report_aggregate", "report_formula", "dashboard", "widget")
            for key in definitions[name]["properties"]}


@pytest.mark.parametrize("key", sorted(report_keys()))
def test_every_report_key_is_documented(key):
    assert f"| `{key}` |" in read("reports.md")


def security_keys() -> set[str]:
    definitions = load_schema("package")["$defs"]
    return set(definitions["role"]["properties"]) | set(definitions["permission_set"]["properties"]) | set(
        definitions["sharing_rule"]["properties"])


@pytest.mark.parametrize("key", sorted(security_keys()))
def test_every_security_key_is_documented(key):
    assert f"| `{key}` |" in read("permissions.md")


@pytest.mark.parametrize("name", sorted(field_type.name for field_type in BUILTIN_TYPES))
def test_every_field_type_is_documented(name):
    assert f"| `{name}` |" in read("metadata.md")


@pytest.mark.parametrize("hook", sorted(name for name in dir(hookspecs) if name.startswith("crmkit_")))
def test_every_hook_is_documented_with_its_signature(hook):
    import inspect

    parameters = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert f"### {hook}({parameters})" in read("plugins.md")


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_is_documented(command):
    assert f"`crmkit {command}" in read("cli.md")


@pytest.mark.parametrize("function", sorted(BUILTIN_FUNCTIONS))
def test_every_helper_function_is_documented(function):
    assert f"{function}(" in read("sandbox.md")
