"""Email templates render in a sandbox with limits: values HTML-escaped in the HTML part only, nothing
outside the values reachable, and a template that runs long, allocates hugely or writes too much is stopped."""
from __future__ import annotations

import pytest

from crmkit.sandbox import SandboxLimitError
from crmkit.sandbox import templates
from crmkit.sandbox.templates import TemplateError, check_template, render_parts


def test_the_html_part_is_escaped_and_the_text_part_is_not():
    parts = render_parts({"html": "<b>{{ record.name }}</b>", "text": "{{ record.name }}"},
                         {"record": {"name": "<script>x</script>"}})
    assert parts == {"html": "<b>&lt;script&gt;x&lt;/script&gt;</b>", "text": "<script>x</script>"}


@pytest.mark.parametrize("source", [
    "{{ record.__class__.__mro__ }}",
    "{{ ''.__class__.__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ record.update({'a': 1}) }}",
    "{{ lipsum.__globals__['os'] }}",
])
def test_a_template_cannot_reach_outside_its_values(source):
    with pytest.raises(TemplateError):
        render_parts({"text": source}, {"record": {"name": "x"}})


def test_an_endless_template_is_stopped_by_the_processor_time_limit(monkeypatch):
    monkeypatch.setattr(templates, "DEFAULT_CPU_SECONDS", 1)
    nested = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    with pytest.raises(SandboxLimitError, match="processor time|longer than"):
        render_parts({"text": nested}, {})


def test_a_huge_allocation_is_stopped_by_the_memory_limit():
    with pytest.raises(SandboxLimitError, match="MB of memory"):
        render_parts({"text": "{{ 'x' * 900000000 }}"}, {})


def test_output_beyond_the_size_limit_is_stopped(monkeypatch):
    monkeypatch.setattr(templates, "MAX_OUTPUT_CHARS", 1000)
    with pytest.raises(SandboxLimitError, match="longer than 1000 characters"):
        render_parts({"text": "{% for i in range(500) %}{{ i }}{% endfor %}"}, {})


def test_a_syntax_error_names_its_line_within_the_template():
    problem = check_template("Hello\n{{ record.name }\n")
    assert problem is not None and problem.line == 2
    assert check_template("Hello {{ record.name }}") is None
