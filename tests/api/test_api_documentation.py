"""docs/api.md names every endpoint the API serves (a test fails when one is added without its documentation)."""
from __future__ import annotations

import re

from tests.api.conftest import REPOSITORY

#: The docs' names of the route arguments.
ARGUMENTS = {"object_name": "object", "record_id": "id", "child": "child", "name": "name", "index": "i"}


def documented_form(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda match: f"<{ARGUMENTS[match[1]]}>", rule)


def test_every_endpoint_is_in_docs_api_md(api_app):
    text = (REPOSITORY / "docs" / "api.md").read_text(encoding="utf-8")
    missing = []
    for rule in api_app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if f"{method} {documented_form(rule.rule)}" not in text:
                missing.append(f"{method} {documented_form(rule.rule)}")
    assert missing == []
