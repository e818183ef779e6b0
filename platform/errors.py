"""The one base of every error a user can cause: a sentence, a short title and an HTTP status.

    try:
        crm.as_user(alice).records("account").create({"name": ""})
    except CrmkitError as error:
        error.title      # "Invalid record": a heading for a page, a toast or a problem+json `title`
        error.message    # "the record is not valid: name: is required.": the sentence to show
        error.status     # 422: the HTTP status the web UI and the API answer with

The web UI renders a CrmkitError as a page or partial and the API as problem+json
(RFC 9457: `title`, `status`, `detail`); the command line prints the message and exits
non-zero. Anything else that escapes is a bug in crmkit, not a mistake of the user.

Every layer may import this module (the sandbox too), so it imports nothing of crmkit.
Each layer keeps its own subclasses next to the code that raises them:

    CrmkitError                              400 "Request not possible"
      MetadataError      crmkit.metadata     422 "Invalid metadata"
      UnknownObject      crmkit.metadata     404 "Unknown object" (also a KeyError)
      SandboxError       crmkit.sandbox      422 "Admin code failed"
      PluginError        crmkit.plugins      500 "Plugin not loaded"
      QueryError         crmkit.engine.query 400 "Invalid query" (UnsearchableText: NUL, lone surrogates)
      MigrationError     crmkit.engine       409 "Migration refused"
      DatabaseError      crmkit.engine       503 "Database unavailable" (busy, unreachable, missing, bad URL)
      UnstorableText, NumberOutOfRange  crmkit.engine  400 (text or a number no database takes)
      RecordError        crmkit.engine       400 "Request not possible" (not found, invalid, stale, ...)
        PermissionDenied, UnknownUser, AuthenticationError, UserError, DemoError,
        SavedViewError (crmkit.engine.saved_views)
"""
from __future__ import annotations


class CrmkitError(Exception):
    """Base of every error a user can cause; never a traceback, never a raw driver message.

    `message` is one or more sentences a non-programmer can act on, `title` a short heading
    ("Not found", "Invalid record"), and `status` the HTTP status code (RFC 9110) the web
    UI and the API answer with. Subclasses set `title` and `status` as class attributes; an
    instance may override either.
    """

    status: int = 400
    title: str = "Request not possible"

    def __init__(self, message: str, *, title: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title
        if status is not None:
            self.status = status

    def __str__(self) -> str:
        return self.message

    def to_problem(self) -> dict[str, object]:
        """The error as an RFC 9457 problem document: {"title", "status", "detail"}."""
        return {"title": self.title, "status": self.status, "detail": self.message}
