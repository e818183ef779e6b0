"""The sandbox's child processes (run_script, email templates) start without crmkit's secrets in their
environment, so code that escaped the sandbox would not find the session key, the database password or the
SMTP password there. The children are swapped for ones that report the environment they were given."""
from __future__ import annotations

import json
import sys

import pytest

from crmkit.sandbox import script, templates

REPORT = ("import json, os, sys; sys.stdin.read(); "
          "sys.stdout.write(json.dumps({'ok': True, 'result': sorted(os.environ), 'log': [], "
          "'parts': {'text': ' '.join(sorted(os.environ))}}))")


@pytest.fixture
def secrets(monkeypatch):
    for name in ("CRMKIT_SECRET_KEY", "CRMKIT_SMTP_PASSWORD", "CRMKIT_DATABASE_URL", "CRMKIT_TEST_HOOK_SECRET"):
        monkeypatch.setenv(name, "s3cret")
    monkeypatch.setenv("LANG", "C.UTF-8")


def test_a_script_child_gets_no_secret(secrets, monkeypatch):
    monkeypatch.setattr(script, "_WORKER_COMMAND", [sys.executable, "-c", REPORT])
    seen = script.run_script("result = 1", {}).result
    assert not [name for name in seen if name.startswith("CRMKIT_")]
    assert "LANG" in seen


def test_a_template_child_gets_no_secret(secrets, monkeypatch):
    monkeypatch.setattr(templates, "_WORKER_COMMAND", [sys.executable, "-I", "-c", REPORT])
    seen = templates.render_parts({"text": "hi"}, {})["text"].split()
    assert not [name for name in seen if name.startswith("CRMKIT_")]


def test_a_template_still_renders_unicode_in_its_child(secrets):
    assert templates.render_parts({"text": "{{ name }} ✓"}, {"name": "张伟"}) == {"text": "张伟 ✓"}
    assert json.dumps(script.run_script("result = record['n'] + '✓'", {"record": {"n": "张"}}).result,
                      ensure_ascii=False) == '"张✓"'
