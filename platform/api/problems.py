"""Errors as RFC 9457 problem details (`application/problem+json`), never a traceback.

    HTTP/1.1 422 Unprocessable Content
    Content-Type: application/problem+json

    {"type": "about:blank", "title": "Invalid record", "status": 422,
     "detail": "the record is not valid: name: is required.",
     "errors": {"name": ["is required."]}, "request_id": "5f0c..."}

A CrmkitError (the engine's one error base) gives its title, status and message, in the
caller's language; a RecordValidationError adds `errors`, keyed by field name (record-wide
ones under `_record`). HTTP errors (404, 405, 415, 429, ...) are problems too; anything else
is logged with its traceback and answered 500 with a sentence.
"""
from __future__ import annotations

import json
from typing import Any

from flask import Response, current_app, g, request
from werkzeug.exceptions import HTTPException

from crmkit.api.blueprint import blueprint, crm, language, logger, request_id, unrouted_language
from crmkit.engine import messages
from crmkit.engine.fieldtypes.presenter import SYSTEM_LABELS
from crmkit.engine.messages import title_in, translated
from crmkit.engine.records.errors import RecordValidationError
from crmkit.engine.security.labels import labels_of
from crmkit.errors import CrmkitError

PROBLEM_JSON = "application/problem+json"

#: Sentences for HTTP errors that are not the engine's.
HTTP_DETAILS = {
    400: messages.HTTP_BAD_REQUEST(),
    401: messages.HTTP_TOKEN_NEEDED(),
    403: messages.HTTP_FORBIDDEN(),
    404: messages.HTTP_NOT_FOUND(),
    405: messages.HTTP_METHOD(),
    406: messages.HTTP_JSON_ONLY(),
    413: messages.HTTP_TOO_LARGE(),
    415: messages.HTTP_SEND_JSON(),
    429: messages.HTTP_TOO_MANY(),
    500: messages.HTTP_SERVER_ERROR(),
}


class Problem(CrmkitError):
    """A problem of the API itself (not the engine's): a bad header, body or parameter."""


class PreconditionFailed(CrmkitError):
    status = 412
    title = "Changed by someone else"


class PreconditionRequired(CrmkitError):
    status = 428
    title = "Version needed"


class UnsupportedMediaType(CrmkitError):
    status = 415
    title = "Unsupported media type"


def problem(status: int, title: str, detail: str, **extra: Any) -> Response:
    """A problem+json response (RFC 9457 section 3.1 members, plus `request_id` and any `extra`).

    `title` is given in English (an error's `title`, an HTTP status's name) and answered in the
    caller's language, like `detail` (messages.title_in)."""
    body = {"type": "about:blank", "title": title_in(title, language(), status), "status": status, "detail": detail, **extra,
            "request_id": request_id()}
    return Response(json.dumps(body, ensure_ascii=False, default=str), status=status, mimetype=PROBLEM_JSON)


def localized(message: str, subject: str | None = None) -> str:
    """An engine sentence in the caller's language (engine/messages.py), the objects and fields the caller may read
    named by their labels (security/labels.py), the system fields (created_at, owner_id) by the labels describe gives
    them; others keep the API name the sentence has."""
    objects = crm().registry.objects
    lang = language()
    names = labels_of(g.get("api_context"), objects, lang, SYSTEM_LABELS, getattr(crm().registry, "reports", None))
    return translated(message, lang, crm().extensions.messages, names, subject if subject in objects else None)


def crmkit_problem(error: CrmkitError) -> Response:
    subject = getattr(error, "subject", None) or (request.view_args or {}).get("object_name")
    extra: dict[str, Any] = {}
    errors = error.errors if isinstance(error, RecordValidationError) else getattr(error, "field_errors", None)
    if errors:
        extra["errors"] = {name: [localized(text, subject) for text in texts] for name, texts in errors.items()}
    operation = getattr(error, "operation", None)
    if operation is not None:
        extra["operation"] = operation
    extra.update(getattr(error, "problem_extra", None) or {})  # members an error adds (ChangesExpired's cursor)
    response = problem(error.status, error.title, localized(error.message, subject), **extra)
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="crmkit"'
    return response


def http_problem(error: HTTPException) -> Response:
    status = error.code or 500
    detail = HTTP_DETAILS.get(status) or HTTP_DETAILS[500 if status >= 500 else 400]
    response = problem(status, error.name, localized(detail))
    if status == 405 and getattr(error, "valid_methods", None):
        response.headers["Allow"] = ", ".join(error.valid_methods)
    if status == 429:
        retry = getattr(error, "retry_after", None)  # limits.py: whole seconds
        response.headers["Retry-After"] = str(retry if isinstance(retry, int) else 60)
    return response


def unexpected_problem(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return http_problem(error)
    if isinstance(error, CrmkitError):
        return crmkit_problem(error)
    logger.exception("Unhandled error on %s %s", request.method, request.path)
    return problem(500, "Internal Server Error", localized(HTTP_DETAILS[500]))


blueprint.register_error_handler(CrmkitError, crmkit_problem)
blueprint.register_error_handler(HTTPException, http_problem)
blueprint.register_error_handler(Exception, unexpected_problem)


def app_problem(error: Exception) -> Response:
    """The problem for an error the app-wide handlers caught under /api/v1 (an unrouted 404 or 405)."""
    current_app.logger.debug("API problem outside the blueprint: %r", error)
    if isinstance(error, HTTPException) and error.code in (404, 405):  # a routing error: in the token user's language
        unrouted_language()
    return unexpected_problem(error)
