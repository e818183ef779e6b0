"""Step two of validation: the document's shape, checked against the JSON Schema files."""
from __future__ import annotations

import copy
import hashlib
import json
import threading
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from crmkit.metadata.catalog import Catalog
from crmkit.metadata.errors import Problem, did_you_mean
from crmkit.metadata.source import SourceDocument

JSON_TYPE_NAMES = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping (key: value lines)",
    "array": "a list",
    "null": "empty",
}


@lru_cache(maxsize=None)
def load_schema(name: str = "package") -> dict[str, Any]:
    """A schema file from platform/metadata/schemas/ as a dict (cached; copy before changing)."""
    text = resources.files("crmkit.metadata").joinpath(f"schemas/{name}.schema.json").read_text("utf-8")
    return json.loads(text)


def package_schema(catalog: Catalog) -> dict[str, Any]:
    """The package schema with the layout definitions and the field options that plugin field types add."""
    schema = copy.deepcopy(load_schema("package"))
    schema["$defs"].update(copy.deepcopy(load_schema("layout")["$defs"]))
    field_properties = schema["$defs"]["field"]["properties"]
    for kind in catalog.kinds.values():
        for option, option_schema in kind.option_schemas.items():
            field_properties.setdefault(option, option_schema)
    if catalog.trigger_kinds:
        on = schema["$defs"]["automation"]["properties"]["on"]["items"]
        on["enum"] = [*on["enum"], *sorted(set(catalog.trigger_kinds) - set(on["enum"]))]
    if catalog.chart_kinds:
        chart = schema["$defs"]["widget"]["properties"]["chart"]
        chart["enum"] = [*chart["enum"], *sorted(set(catalog.chart_kinds) - set(chart["enum"]))]
    return schema


@lru_cache(maxsize=8)
def _validator_for(schema_text: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_text))


# Documents already found valid, by a digest of (schema, data): installing the same package
# again (every upgrade check, every test's fresh database) skips the JSON Schema walk, which is
# most of the time a package load takes. Only valid documents are kept, so a document with
# problems is always explained anew, with its own file's lines and columns.
KEPT_VALID_DOCUMENTS = 256
_valid: dict[str, None] = {}
_valid_lock = threading.Lock()


def check_document(document: SourceDocument, catalog: Catalog) -> list[Problem]:
    """Every place where `document` does not have the shape of a package (an empty list: none).

    A document whose data was found valid against the same schema before is not walked again.
    """
    schema_text = json.dumps(package_schema(catalog), sort_keys=True)
    digest = hashlib.sha256(f"{schema_text}\0{document.data!r}".encode("utf-8", "surrogatepass")).hexdigest()
    if digest in _valid:
        return []
    validator = _validator_for(schema_text)
    problems: list[Problem] = []
    for error in validator.iter_errors(document.data):
        problems.extend(_explain(error, document))
    problems = _deduplicate(problems)
    if not problems:
        with _valid_lock:
            if len(_valid) >= KEPT_VALID_DOCUMENTS:
                _valid.pop(next(iter(_valid)))
            _valid[digest] = None
    return problems


def _deduplicate(problems: Iterable[Problem]) -> list[Problem]:
    seen: set[tuple[int, int, str]] = set()
    unique = []
    for problem in problems:
        key = (problem.line, problem.column, problem.message)
        if key not in seen:
            seen.add(key)
            unique.append(problem)
    return unique


def _explain(error: ValidationError, document: SourceDocument) -> list[Problem]:
    path = tuple(error.absolute_path)
    if "propertyNames" in error.absolute_schema_path and isinstance(error.instance, str):
        # jsonschema reports a bad key as an error of its parent mapping; point at the key.
        key = error.instance
        return [document.problem(path + (key,), f"'{key}' is not a valid name: use lowercase letters, digits and "
                                                f"underscores, starting with a letter (for example "
                                                f"'{_suggest_identifier(key)}').", at_key=True)]
    name = _describe(path)
    validator = error.validator
    if validator == "additionalProperties":
        return _unknown_keys(error, document, path, name)
    if validator == "required":
        return [document.problem(path, _missing_message(error, name))]
    if validator == "type":
        expected = error.validator_value
        expected_names = [expected] if isinstance(expected, str) else list(expected)
        wanted = " or ".join(JSON_TYPE_NAMES.get(t, t) for t in expected_names)
        return [document.problem(path, f"{name} must be {wanted}, not {_shown(error.instance)}.")]
    if validator == "enum":
        allowed = [str(v) for v in error.validator_value]
        hint = did_you_mean(str(error.instance), allowed)
        return [document.problem(path, f"{name} must be one of {', '.join(allowed)}, not {_shown(error.instance)}.{hint}")]
    if validator == "pattern":
        return [document.problem(path, _pattern_message(error, name))]
    if validator in ("oneOf", "not"):
        described = error.schema.get("description", "")
        return [document.problem(path, f"{name} has the wrong form. {described}".strip())]
    return [document.problem(path, f"{name}: {_plain(error)}")]


def _unknown_keys(error: ValidationError, document: SourceDocument, path: tuple, name: str) -> list[Problem]:
    allowed = sorted(error.schema.get("properties", {}))
    instance = error.instance if isinstance(error.instance, dict) else {}
    problems = []
    for key in instance:
        if key in allowed:
            continue
        hint = did_you_mean(key, allowed) or f" Allowed keys are: {', '.join(allowed)}."
        problems.append(document.problem(path + (key,), f"unknown key '{key}' in {name}.{hint}", at_key=True))
    return problems


def _missing_message(error: ValidationError, name: str) -> str:
    missing = [key for key in error.validator_value if key not in (error.instance or {})]
    examples = {"version": 'version: "1.0.0"', "package": "package: my_package", "type": "type: text",
                "fields": "fields: {name: {type: text}}", "condition": 'condition: "amount < 0"',
                "message": "message: {en: ..., zh: ...}", "name": "name: my_rule", "value": "value: ..."}
    parts = [f"'{key}' (for example `{examples[key]}`)" if key in examples else f"'{key}'" for key in missing]
    return f"{name} is missing {', '.join(parts)}."


def _pattern_message(error: ValidationError, name: str) -> str:
    value = str(error.instance)
    if error.validator_value.startswith("^[a-z]"):
        return (f"'{value}' is not a valid name for {name}: use lowercase letters, digits and underscores, "
                f"starting with a letter (for example '{_suggest_identifier(value)}').")
    if "(0|[1-9]" in error.validator_value:
        return f"'{value}' is not a semantic version; write it like \"1.0.0\" (in quotes)."
    described = error.schema.get("description", "")
    return f"{_shown(value)} is not allowed for {name}. {described}".strip()


def _is_identifier(text: str) -> bool:
    import re

    return re.fullmatch(r"[a-z][a-z0-9_]{0,62}", text) is not None


def _suggest_identifier(text: str) -> str:
    import re

    cleaned = re.sub(r"[^a-z0-9_]+", "_", text.strip().lower()).strip("_")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"x_{cleaned}".rstrip("_")
    return cleaned[:63]


def _describe(path: tuple) -> str:
    """Name the thing at `path` the way an author thinks of it."""
    if not path:
        return "the package"
    names = {
        ("objects",): "objects",
        ("extends",): "extends",
    }
    if path in names:
        return names[path]
    if len(path) >= 4 and path[-2] == "fields":
        return f"field '{path[-1]}'"
    if len(path) >= 5 and path[-3] == "fields":
        return f"'{path[-1]}' of field '{path[-2]}'"
    if len(path) == 2 and path[0] in ("objects", "extends"):
        return f"object '{path[1]}'"
    if len(path) >= 4 and path[-2] == "validations":
        return f"validation rule {path[-1] + 1}"
    last = path[-1]
    return f"'{last}'" if isinstance(last, str) else f"item {last + 1} of '{path[-2]}'"


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _plain(error: ValidationError) -> str:
    message = error.message
    return message[0].lower() + message[1:] if message else "is not valid"
