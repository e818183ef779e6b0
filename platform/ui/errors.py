"""Every error answers with a friendly page (or, to an htmx request, a partial) and its status; never a traceback.

- CrmkitError (the engine's one base): its status, a heading in the user's language and
  the engine's sentence.
- A signed-in user who no longer exists or whose session ended: back to /login.
- HTTP errors (404, 405, a refused CSRF token, ...): their status with crmkit's own words.
- Anything else is a bug: logged with its traceback on the server, answered with 500.

An htmx request gets the message as a partial placed in the page's message area
(`HX-Retarget: #messages`), so the part of the page that asked is left as it was.
"""
from __future__ import annotations

import re
from typing import Mapping, Sequence

from flask import Flask, Response, g, has_request_context, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from crmkit.api import is_api_request
from crmkit.api.problems import app_problem
from crmkit.engine.fieldtypes.presenter import SYSTEM_LABELS
from crmkit.engine import messages
from crmkit.engine.messages import translated
from crmkit.engine.security.access import UnknownUser
from crmkit.engine.security.labels import labels_of
from crmkit.engine.security.authentication import SessionEnded
from crmkit.errors import CrmkitError
from crmkit.ui.i18n import label_language
from crmkit.ui.sessions import crm, sign_out, user_context

HEADINGS = {
    400: _l("Request not possible"),
    401: _l("Sign-in needed"),
    403: _l("Not allowed"),
    404: _l("Not found"),
    405: _l("Request not possible"),
    409: _l("Conflict"),
    413: _l("Request too large"),
    422: _l("Not saved"),
    429: _l("Too many attempts"),
    500: _l("Something went wrong"),
    503: _l("Service unavailable"),
}
EXPLANATIONS = {
    400: _l("The request could not be understood."),
    403: _l("You do not have permission to open this page."),
    404: _l("There is no page at this address. Check the address, or start again from the home page."),
    405: _l("This page cannot be used that way."),
    413: _l("What was sent is too large."),
    500: _l("An unexpected problem occurred on the server. It has been logged; please try again later."),
}
CSRF_EXPLANATION = _l("The form had expired or did not come from this site. Reload the page and try again.")


def heading(status: int) -> str:
    return str(HEADINGS.get(status) or HEADINGS[500 if status >= 500 else 400])


def sentence(text: str, subject: str | None = None) -> str:
    """The engine's message as a sentence on a page: in the user's language (crmkit.engine.messages,
    docs/errors.md), objects named by their label in it, with a capital first letter.

    `subject` is the object the page is about (default: the address's `<object_name>`, as in
    /o/<object_name> and /r/<object_name>/<id>): a sentence that names one of its fields
    without naming the object (a bad filter value, "'abc' is not a valid value for amount")
    names the field by its label."""
    if subject is None and has_request_context() and request.view_args:
        subject = request.view_args.get("object_name")
    language = label_language()
    objects = crm().registry.objects
    signed_in = has_request_context() and g.get("user") is not None
    names = labels_of(user_context() if signed_in else None, objects, language, SYSTEM_LABELS,
                      getattr(crm().registry, "reports", None))
    text = translated(text, language, crm().extensions.messages, names, subject if subject in objects else None)
    return text[:1].upper() + text[1:] if text else text


def field_sentences(errors: Mapping[str, Sequence[str]] | None) -> dict[str, list[str]]:
    """A RecordValidationError's {field: [message, ...]} with each message a `sentence` (the user's language)."""
    return {name: [sentence(message) for message in messages] for name, messages in (errors or {}).items()}


def error_response(status: int, message: str) -> Response:
    """The error as a page, or as a partial for htmx; always with `status`."""
    if request.headers.get("HX-Request") == "true":
        response = Response(render_template("errors/partial.html", status=status, heading=heading(status),
                                            message=message), status=status)
        response.headers["HX-Retarget"] = "#messages"
        response.headers["HX-Reswap"] = "innerHTML"
        return response
    return Response(render_template("errors/page.html", status=status, heading=heading(status), message=message),
                    status=status)


def to_login() -> Response:
    sign_out()
    target = url_for("auth.login")
    if request.headers.get("HX-Request") == "true":
        response = Response(status=401)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


def crmkit_error(error: CrmkitError) -> Response:
    if is_api_request():
        return app_problem(error)
    if isinstance(error, (UnknownUser, SessionEnded)):
        return to_login()
    return error_response(error.status, sentence(error.message))


def http_error(error: HTTPException) -> Response:
    if is_api_request():  # an unrouted address under /api/v1, or a method it does not take
        return app_problem(error)
    status = error.code or 500
    if isinstance(error, CSRFError):
        return error_response(400, str(CSRF_EXPLANATION))
    explanation = EXPLANATIONS.get(status) or EXPLANATIONS[500 if status >= 500 else 400]
    response = error_response(status, str(explanation))
    if status == 405 and getattr(error, "valid_methods", None):
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def unexpected_error(error: Exception) -> Response:
    from flask import current_app

    if is_api_request():
        return app_problem(error)
    current_app.logger.exception("Unhandled error on %s %s", request.method, request.path)
    return error_response(500, str(EXPLANATIONS[500]))


#: An exception's class name before its message ("MailNotConfigured: email is not configured: ..."), as run log
#: entries and outbox rows written before they were kept as sentences still have it.
CLASS_NAME_PREFIX = re.compile(r"^[A-Z][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*: (?=\S)")


def run_error(text: str | None) -> str:
    """An automation run's or outbox row's error as a sentence in the user's language, without a class name.

    "MailNotConfigured: email is not configured: set ..." (an entry of an older version) reads
    "The action failed: email is not configured: set ..." (in Chinese for a zh user); "" for None."""
    if not text:
        return ""
    prefix = CLASS_NAME_PREFIX.match(text)
    if prefix:
        text = messages.ACTION_FAILED(reason=text[prefix.end():])
    return sentence(text)


def register_error_handlers(app: Flask) -> None:
    app.jinja_env.filters["run_error"] = run_error
    app.register_error_handler(CrmkitError, crmkit_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Exception, unexpected_error)
