"""Email templates and the send_email / call_webhook actions in metadata: frozen model objects, and every
mistake (a template's Jinja syntax error included) a sentence at its file:line:column."""
from __future__ import annotations

import dataclasses
import textwrap

import pytest

from crmkit.metadata import MetadataError, validate_paths
from crmkit.metadata.email_templates import EmailTemplate
from tests.automation.delivery_fixtures import MAILING

BASE = textwrap.dedent("""
    package: shop
    version: "1.0.0"
    objects:
      client:
        fields:
          name: {type: text}
          email: {type: email}
          phone: {type: phone}
        email_templates:
          hello:
            subject: "Hi {{ record.name }}"
            text: |
              Dear {{ record.name }},
              {% if record.phone %}we will call{% endif %}
        automations:
          - name: greet
            on: [created]
            actions:
""")


def problems(write_package, catalog, actions: str, base: str = BASE) -> list[str]:
    with pytest.raises(MetadataError) as caught:
        validate_paths([write_package(base + textwrap.indent(textwrap.dedent(actions), " " * 10))], catalog)
    return [problem.format() for problem in caught.value.problems]


def test_templates_and_delivery_actions_are_frozen_and_keep_what_was_written(write_package, catalog):
    person = validate_paths([write_package(MAILING.replace("{port}", "8080"))], catalog).object("person")
    welcome = person.email_templates["welcome"]
    assert isinstance(welcome, EmailTemplate) and not welcome.marketing and person.email_templates["offer"].marketing
    assert welcome.part("subject", "zh") == "欢迎，{{ record.name }}" and welcome.part("text", "fr").startswith("Hello")
    send = person.automations[0].actions[0]
    assert (send.type, send.template, send.to) == ("send_email", "welcome", ("email", "company.email", "owner",
                                                                            "ops@example.com"))
    hook = person.automations[-1].actions[0]
    assert (hook.url, hook.secret_env, hook.fields) == ("http://hooks.test:8080/in", "CRMKIT_TEST_HOOK_SECRET",
                                                        ("name", "score"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        welcome.marketing = True


def test_a_template_syntax_error_is_reported_at_its_own_line_in_the_file(write_package, catalog):
    broken = BASE.replace("{% if record.phone %}", "{% if record.phone %").replace(
        "actions:\n", "actions: [{type: send_email, template: hello, to: [email]}]\n")
    with pytest.raises(MetadataError) as caught:
        validate_paths([write_package(broken)], catalog)
    (problem,) = [problem.format() for problem in caught.value.problems]
    line = [text.strip() for text in broken.lstrip().splitlines()].index(
        "{% if record.phone %we will call{% endif %}") + 1
    assert f"package.yaml:{line}:" in problem.split(" ")[0]
    assert "the text (en) of email template 'hello' is not a valid template" in problem
    assert "(line 2 of the template)" in problem


@pytest.mark.parametrize(("action", "expected"), [
    ("- {type: send_email, template: helo, to: [email]}", "'helo' is not an email template of client. "
                                                          "Did you mean 'hello'?"),
    ("- {type: send_email, to: [email]}", "a send_email action needs 'template'"),
    ("- {type: send_email, template: hello, to: [phone]}", "'phone' is a phone field; a recipient must be an "
                                                           "email field."),
    ("- {type: send_email, template: hello, to: [nobody]}", "'nobody' is not a recipient"),
    ("- {type: send_email, template: hello, to: [email], url: 'http://x.test'}",
     "'url' does not apply to a send_email action; it is for call_webhook."),
    ("- {type: call_webhook, url: 'ftp://x.test', secret_env: HOOK, fields: [name]}",
     "ftp://x.test"),
    ("- {type: call_webhook, url: 'https://x.test', fields: [name]}", "needs 'secret_env'"),
    ("- {type: call_webhook, url: 'https://x.test', secret_env: HOOK, fields: [nam]}",
     "'nam' is not a field of client. Did you mean 'name'?"),
    ("- {type: call_webhook, url: 'https://x.test', secret_env: HOOK}", "needs 'fields'"),
])
def test_each_mistake_in_a_delivery_action_is_a_sentence_at_its_place(write_package, catalog, action, expected):
    found = problems(write_package, catalog, action)
    assert any(expected in problem for problem in found), found
    assert all(problem.split(":")[1].isdigit() and problem.split(":")[2].isdigit() for problem in found)


def test_marketing_mail_must_go_to_one_person_who_can_opt_out(write_package, catalog):
    base = BASE.replace("      hello:\n", "      hello:\n        marketing: true\n")
    found = problems(write_package, catalog, "- {type: send_email, template: hello, to: [email, owner]}", base)
    assert any("marketing mail goes to one person who can opt out" in problem for problem in found)


def test_an_update_action_still_needs_set_now_that_the_schema_allows_actions_without_it(write_package, catalog):
    found = problems(write_package, catalog, "- {type: update_record}")
    assert any("this update_record action needs 'set'" in problem for problem in found), found
