"""Outgoing mail: SMTP settings from the environment, and one message's SMTP transaction in steps.

    settings = SmtpSettings.from_environment()      # CRMKIT_SMTP_HOST, ... (docs/automation.md)
    with SmtpTransaction(settings, recipients) as smtp:
        smtp.envelope()          # connect, STARTTLS/login, MAIL FROM, RCPT TO: nothing is sent yet
        smtp.data(message)       # the one step after which the message may exist at the server

The steps are separate so that the caller can record "this message is about to be handed
over" between the envelope and DATA (automation/deliveries.py): a failure before DATA is
safe to retry; one during DATA is not (RFC 5321 section 4.1.1.4: the server takes the message
when it answers the final ".", and a connection lost before the answer leaves it unknown).
"""
from __future__ import annotations

import os
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from types import TracebackType
from typing import Sequence

from crmkit.engine import messages
from crmkit.engine.automation.actions import ActionRefused

#: Seconds a connection or an SMTP reply may take before the attempt fails (and is retried).
DEFAULT_TIMEOUT = 30.0


class MailNotConfigured(ActionRefused):
    """CRMKIT_SMTP_HOST or CRMKIT_SMTP_FROM is not set: the row is dead after one attempt, with this sentence.

    Retrying cannot help until the configuration changes, so it is not retried (an ActionRefused is
    permanent); an administrator replays the dead row once email is configured."""

    title = "Email not configured"


class DataRefused(Exception):
    """The server answered DATA with an error: the message was not taken (safe to send again)."""

    def __init__(self, code: int, reply: str) -> None:
        super().__init__(messages.SMTP_REFUSED_MESSAGE(reply=f"{code} {reply}"))
        self.code = code


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how mail is sent (from CRMKIT_SMTP_* environment variables)."""

    host: str
    port: int
    sender: str
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    ssl: bool = False
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_environment(cls) -> "SmtpSettings":
        """CRMKIT_SMTP_HOST, _PORT (25; 465 with _SSL; 587 with _STARTTLS), _USER, _PASSWORD, _FROM,
        _STARTTLS, _SSL (1/true/yes), _TIMEOUT (seconds). MailNotConfigured without a host or sender."""
        env = os.environ
        host, sender = env.get("CRMKIT_SMTP_HOST"), env.get("CRMKIT_SMTP_FROM")
        if not host or not sender:
            missing = " and ".join(name for name, value in (("CRMKIT_SMTP_HOST", host), ("CRMKIT_SMTP_FROM", sender))
                                   if not value)
            raise MailNotConfigured(messages.EMAIL_NOT_CONFIGURED(variables=missing))
        use_ssl, starttls = _flag(env.get("CRMKIT_SMTP_SSL")), _flag(env.get("CRMKIT_SMTP_STARTTLS"))
        port = int(env.get("CRMKIT_SMTP_PORT") or (465 if use_ssl else 587 if starttls else 25))
        return cls(host=host, port=port, sender=sender, user=env.get("CRMKIT_SMTP_USER") or None,
                   password=env.get("CRMKIT_SMTP_PASSWORD") or None, starttls=starttls, ssl=use_ssl,
                   timeout=float(env.get("CRMKIT_SMTP_TIMEOUT") or DEFAULT_TIMEOUT))

    @property
    def domain(self) -> str:
        """The sender's domain: the right-hand side of every Message-ID crmkit makes."""
        return self.sender.rsplit("@", 1)[-1].strip(" >") or "crmkit.invalid"


class SmtpTransaction:
    """One message's SMTP session: `envelope()`, then `data()`; closed on leaving the block."""

    def __init__(self, settings: SmtpSettings, recipients: Sequence[str]) -> None:
        self.settings = settings
        self.recipients = list(recipients)
        self.client: smtplib.SMTP | None = None

    def __enter__(self) -> "SmtpTransaction":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self.client is not None:
            try:
                self.client.quit()
            except (smtplib.SMTPException, OSError):
                self.client.close()

    def envelope(self) -> None:
        """Connect, secure, log in, MAIL FROM and RCPT TO. ActionRefused when the server refuses
        the sender or every recipient for good (5xx); SMTPException or OSError otherwise (retried)."""
        settings = self.settings
        context = ssl.create_default_context()
        if settings.ssl:
            client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        self.client = client
        client.ehlo()
        if settings.starttls:
            client.starttls(context=context)
            client.ehlo()
        if settings.user:
            client.login(settings.user, settings.password or "")
        code, reply = client.mail(settings.sender)
        if code != 250:
            self._refused(code, reply, messages.SMTP_REFUSED_SENDER)
        accepted = []
        for address in self.recipients:
            code, reply = client.rcpt(address)
            if code in (250, 251):
                accepted.append(address)
            elif code < 500:
                raise smtplib.SMTPResponseException(code, reply)
        if not accepted:
            self._refused(code, reply, messages.SMTP_REFUSED_RECIPIENTS)

    @staticmethod
    def _refused(code: int, reply: bytes, message: messages.Message) -> None:
        if code >= 500:
            raise ActionRefused(message(reply=f"{code} {reply.decode(errors='replace')}"))
        raise smtplib.SMTPResponseException(code, reply)

    def data(self, message: EmailMessage) -> None:
        """Hand the message over. DataRefused when the server answers with an error; any other
        exception (a lost connection, a timeout) leaves it unknown whether the server took it."""
        assert self.client is not None, "envelope() first"
        try:
            # Headers folded at RFC 5322's 998 characters: at 78, Python's email package writes a header with a
            # long unbreakable word (the List-Unsubscribe <URL>) as an RFC 2047 encoded-word, which mail clients
            # do not read as a URL (RFC 2369 wants the bracketed URL itself). Bodies are encoded already.
            self.client.data(message.as_bytes(policy=message.policy.clone(linesep="\r\n", max_line_length=998)))
        except smtplib.SMTPDataError as error:
            raise DataRefused(error.smtp_code, error.smtp_error.decode(errors="replace")) from None
