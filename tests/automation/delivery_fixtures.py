"""Fixtures of the email and webhook tests: a package with templates, a local SMTP server, a local HTTP server."""
from __future__ import annotations

import http.server
import json
import socket
import textwrap
import threading
from email import message_from_bytes, policy

import pytest

MAILING = textwrap.dedent("""
    package: mailing
    version: "1.0.0"
    objects:
      company:
        title_field: name
        fields:
          name: {type: text, required: true}
          email: {type: email}
          email_opt_out: {type: boolean}
      person:
        title_field: name
        fields:
          name: {type: text, required: true}
          email: {type: email}
          email_opt_out: {type: boolean}
          company: {type: lookup, to: company}
          score: {type: integer}
        email_templates:
          welcome:
            subject: {en: "Welcome, {{ record.name }}", zh: "欢迎，{{ record.name }}"}
            html:
              en: |
                <p>Hello {{ record.name }} of {{ record.company.name }}</p>
              zh: "<p>你好 {{ record.name }}</p>"
            text: {en: "Hello {{ record.name }}, from {{ owner.name }}", zh: "你好 {{ record.name }}"}
          offer:
            marketing: true
            subject: "An offer for {{ record.name }}"
            text: "Unsubscribe: {{ unsubscribe_url }}"
          spin:
            subject: "spin"
            text: "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
        automations:
          - name: welcome
            on: [created]
            condition: "name != 'quiet' and name != 'offer' and name != 'spin'"
            actions:
              - {type: send_email, template: welcome, to: [email, company.email, owner, ops@example.com]}
          - name: chinese
            on: [updated]
            condition: "changed('score') and score == 2"
            actions: [{type: send_email, template: welcome, to: [email], language: zh}]
          - name: offer
            on: [created]
            condition: "name == 'offer'"
            actions: [{type: send_email, template: offer, to: [email]}]
          - name: spin
            on: [created]
            condition: "name == 'spin'"
            actions: [{type: send_email, template: spin, to: [email]}]
          - name: hook
            on: [updated]
            condition: "changed('score') and score == 1"
            actions:
              - {type: call_webhook, url: "http://hooks.test:{port}/in", secret_env: CRMKIT_TEST_HOOK_SECRET, fields: [name, score]}
""")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Inbox:
    """What the local SMTP server received: one email.message per DATA it accepted."""

    def __init__(self) -> None:
        self.messages = []
        self.raw = []  # the bytes of each message as the server took them

    async def handle_DATA(self, server, session, envelope):
        self.raw.append(envelope.original_content)
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"


@pytest.fixture
def smtp_server(monkeypatch):
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    for name, value in {"CRMKIT_SMTP_HOST": "127.0.0.1", "CRMKIT_SMTP_PORT": str(port), "CRMKIT_SMTP_PORT_REAL": str(port),
                        "CRMKIT_SMTP_FROM": "crm@example.com", "CRMKIT_SMTP_TIMEOUT": "10",
                        "CRMKIT_BASE_URL": "https://crm.example.com", "CRMKIT_SECRET_KEY": "k" * 40}.items():
        monkeypatch.setenv(name, value)
    yield inbox
    controller.stop()


class Hooks(http.server.BaseHTTPRequestHandler):
    received: list = []
    status = 204
    #: The body of the answer (none by default).
    answer = b""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).received.append((self.path, dict(self.headers), body))
        self.send_response(type(self).status)
        if type(self).answer:
            self.send_header("Content-Length", str(len(type(self).answer)))
        self.end_headers()
        if type(self).answer:
            self.wfile.write(type(self).answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def hook_server(monkeypatch):
    Hooks.received, Hooks.status, Hooks.answer = [], 204, b""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("CRMKIT_WEBHOOK_HOSTS", "hooks.test")
    monkeypatch.setenv("CRMKIT_TEST_HOOK_SECRET", "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):  # hooks.test: a name the test's resolver gives 127.0.0.1
        return real("127.0.0.1" if host == "hooks.test" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    yield server, Hooks
    server.shutdown()
    server.server_close()


@pytest.fixture
def mailing(crm, install, clock, hook_server):
    server, _ = hook_server
    install(MAILING.replace("{port}", str(server.server_address[1])))
    return crm.as_system()


def body(message) -> str:
    part = message.get_body(("plain",))
    return part.get_content() if part is not None else ""


def json_body(raw: bytes):
    return json.loads(raw)
