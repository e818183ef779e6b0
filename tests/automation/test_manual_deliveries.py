"""A manual rule's send_email action: the button and the bulk action queue the message with the record as
the run left it, the worker sends it, and the refusal names the rule as the button does. Marketing mail's
List-Unsubscribe header is the bracketed URL itself."""
from __future__ import annotations

import textwrap

from crmkit.engine.automation.manual import run_manual
from crmkit.engine.security.users import SystemDirectory
from tests.automation.delivery_fixtures import body

PASSWORD = "correct horse battery staple"

NEWSLETTER = textwrap.dedent("""
    package: newsletter
    version: "1.0.0"
    objects:
      member:
        title_field: name
        fields:
          name: {type: text, required: true}
          email: {type: email}
          status: {type: picklist, options: [New, Sent], default: New}
        email_templates:
          news:
            subject: "News for {{ record.name }} ({{ record.status }})"
            text: "Hello {{ record.name }}"
        automations:
          - name: send_news
            label: {en: Send the news, zh: 发送简讯}
            on: [manual]
            condition: "status == 'New'"
            actions:
              - {type: update_record, set: {status: "'Sent'"}}
              - {type: send_email, template: news, to: [email]}
""")


def test_a_manual_rule_sends_its_email_with_the_record_as_the_run_saved_it(crm, install, clock, smtp_server):
    install(NEWSLETTER)
    user = SystemDirectory(crm).create_user("editor", password=PASSWORD, permission_sets=["admin"], language="zh")
    editor = crm.as_user(user.id)
    ann = editor.records("member").create({"name": "Ann", "email": "ann@example.com"})
    assert run_manual(editor, "member", "send_news", [ann.id])[ann.id].outcome == "done"
    (row,) = crm.outbox.rows()
    assert (row["kind"], row["operation"], row["status"]) == ("send_email", "manual", "pending")
    assert crm.outbox.work_due() == {row["id"]: "done"}
    (recipients, message), = smtp_server.messages
    assert recipients == ["ann@example.com"]
    assert message["Subject"] == "News for Ann (Sent)" and body(message).strip() == "Hello Ann"
    again = run_manual(editor, "member", "send_news", [ann.id])[ann.id]
    assert (again.outcome, again.error) == ("refused", "规则“发送简讯”不适用于这条记录。")


def test_the_unsubscribe_header_is_the_bracketed_link_itself_not_an_encoded_word(mailing, crm, smtp_server):
    mailing.records("person").create({"name": "offer", "email": "fay@example.com"})
    while crm.outbox.work_due():
        pass
    (raw,) = smtp_server.raw
    header = next(line for line in raw.decode("ascii").split("\r\n") if line.startswith("List-Unsubscribe:"))
    assert header.startswith("List-Unsubscribe: <https://crm.example.com/unsubscribe/") and header.endswith(">")
    assert "=?" not in header  # RFC 2369: mail clients read the URL from the brackets, never from RFC 2047 words
