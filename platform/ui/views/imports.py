"""Importing a file into an object from the browser, and following the import as it runs.

    GET  /o/<object>/import              the upload form
    POST /o/<object>/import              keeps the file, shows the mapping screen (guessed mapping, first rows)
    POST /o/<object>/import/check        a dry run: every row's errors, nothing written; the mapping screen again
    POST /o/<object>/import/start        records the job, runs it in the background, goes to its page
    GET  /imports/<id>                   the job's page: counts, refused rows, live progress (htmx, every second)
    GET  /imports/<id>/errors.csv        every refused row, for download
    POST /imports/<id>/resume            continues a job a stopped process left unfinished

The engine does everything (engine/transfer): reading the file, the mapping, permissions
(create and import, edit for upsert and merge, a column the user may not edit), the import
job. Uploaded files are kept in CRMKIT_IMPORT_FOLDER (default instance/imports) under a
random name, so a resume can read them again.
"""
from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, stream_with_context, \
    url_for

from crmkit.engine.fieldtypes.presenter import FieldPresenter
from crmkit.engine.transfer.background import start_in_background
from crmkit.engine.transfer.duplicates import ACTIONS, RULES
from crmkit.engine.transfer.files import SPREADSHEETS
from crmkit.engine.transfer.importer import ImportOptions, ImportService
from crmkit.engine.transfer.mapping import importable_fields
from crmkit.errors import CrmkitError
from crmkit.ui.errors import sentence
from crmkit.ui.sessions import user_context

blueprint = Blueprint("imports", __name__)
#: File endings accepted for upload: CSV (and text) and the spreadsheets the engine reads.
ENDINGS = (".csv", ".txt", *SPREADSHEETS)
_UPLOAD = re.compile(r"^[0-9a-f]{32}\.[a-z]{3,4}$")
#: Refused rows shown on a page (the whole list is the CSV download).
SHOWN_ERRORS = 200


def import_folder() -> Path:
    folder = Path(current_app.config.get("CRMKIT_IMPORT_FOLDER") or "instance/imports")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def upload_folder() -> Path:
    """The signed-in user's own folder of uploads: a token names a file only in its uploader's folder."""
    folder = import_folder() / f"user-{user_context().actor.user_id}"
    folder.mkdir(exist_ok=True)
    return folder


def uploaded_path(token: str) -> Path:
    """The signed-in user's kept upload named by the form's token; 400 for anything else: no path from the
    browser is trusted, and another user's token (seen over a shoulder, in a log) names nothing here."""
    if not _UPLOAD.match(token or "") or not (upload_folder() / token).is_file():
        abort(400)
    return upload_folder() / token


def field_choices(service: ImportService) -> list[tuple[str, str]]:
    """(field name, label) of the fields the import may set, for the mapping screen's selects."""
    context = user_context()
    presenter = FieldPresenter.for_context(context)
    obj = service.records.obj
    return [(name, presenter.label(presenter.field(obj, name))) for name in
            importable_fields(obj, context.runtime.field_types)]


def unique_fields(service: ImportService) -> list[tuple[str, str]]:
    return [(name, label) for name, label in field_choices(service)
            if name in service.records.obj.fields and service.records.obj.fields[name].unique]


def shown(errors: Any) -> list[dict[str, Any]]:
    """Refused rows with their reason in the user's language (the engine keeps English)."""
    return [{"row": error.row, "column": error.column, "message": sentence(error.message)} for error in errors]


def form_options(header: tuple[str, ...]) -> ImportOptions:
    """The mapping screen's choices as ImportOptions (the mapping: column index -> field, empty = left out)."""
    mapping = {column: request.form.get(f"map-{index}") or None for index, column in enumerate(header)}
    duplicates = request.form.get("duplicates") or None
    return ImportOptions(mapping=mapping, upsert_on=request.form.get("upsert_on") or None,
                         duplicates=duplicates if duplicates in ACTIONS else None,
                         duplicate_rule=request.form.get("match") if request.form.get("match") in RULES else "email",
                         region=(request.form.get("region") or "CN").strip().upper()[:2],
                         automation=request.form.get("automation") == "on",
                         save_mapping_as=(request.form.get("save_mapping") or "").strip() or None)


def mapping_page(service: ImportService, token: str, name: str, *, options: ImportOptions | None = None,
                 report: Any = None, problem: str | None = None, status: int = 200) -> Response:
    preview = service.preview(uploaded_path(token), options or ImportOptions())
    if options is not None and options.mapping is not None:
        chosen = {column: field for column, field in options.mapping.items() if field}
    else:
        chosen = dict(preview.mapping)
    body = render_template(
        "imports/mapping.html", obj=service.records.obj, preview=preview, chosen=chosen, token=token, name=name,
        fields=field_choices(service), unique=unique_fields(service), options=options or ImportOptions(),
        report=report, errors=shown(report.errors[:SHOWN_ERRORS]) if report else (), problem=problem,
        actions=ACTIONS, rules=RULES)
    return Response(body, status=status)


@blueprint.route("/o/<object_name>/import", methods=["GET", "POST"])
def upload(object_name: str) -> Response:
    service = ImportService(user_context(), object_name)
    service.require()  # PermissionDenied: a page saying why
    if request.method == "GET":
        return Response(render_template("imports/upload.html", obj=service.records.obj, problem=None,
                                        endings=", ".join(ENDINGS)))
    sent = request.files.get("file")
    ending = Path(sent.filename or "").suffix.lower() if sent else ""
    if sent is None or ending not in ENDINGS:
        body = render_template("imports/upload.html", obj=service.records.obj, endings=", ".join(ENDINGS),
                               problem=sentence(_choose_file(ENDINGS)))
        return Response(body, status=400)
    token = f"{uuid.uuid4().hex}{ending}"
    sent.save(upload_folder() / token)
    try:
        return mapping_page(service, token, sent.filename or token)
    except CrmkitError as error:  # the file cannot be read, or nothing in it maps
        body = render_template("imports/upload.html", obj=service.records.obj, endings=", ".join(ENDINGS),
                               problem=sentence(error.message))
        return Response(body, status=error.status)


def _choose_file(endings: tuple[str, ...]) -> str:
    from flask_babel import gettext as _

    return _("Choose a file ending in %(endings)s.", endings=", ".join(endings))


@blueprint.route("/o/<object_name>/import/check", methods=["POST"])
def check(object_name: str) -> Response:
    service = ImportService(user_context(), object_name)
    token, name = request.form.get("upload", ""), request.form.get("name", "")
    path = uploaded_path(token)
    options = form_options(service.preview(path).header)
    try:
        report = service.dry_run(path, options)
    except CrmkitError as error:
        return mapping_page(service, token, name, options=options, problem=sentence(error.message),
                            status=error.status)
    return mapping_page(service, token, name, options=options, report=report)


@blueprint.route("/o/<object_name>/import/start", methods=["POST"])
def start(object_name: str) -> Response:
    context = user_context()
    service = ImportService(context, object_name)
    token, name = request.form.get("upload", ""), request.form.get("name", "")
    path = uploaded_path(token)
    options = form_options(service.preview(path).header)
    try:
        job_id = service.start(path, options)
    except CrmkitError as error:
        return mapping_page(service, token, name, options=options, problem=sentence(error.message),
                            status=error.status)
    start_in_background(context.crm, job_id)
    return redirect(url_for("imports.job", job_id=job_id), code=303)


@blueprint.route("/imports/<int:job_id>")
def job(job_id: int) -> Response:
    service = ImportService.for_job(user_context(), job_id)  # UnknownImportJob: 404
    found = service.job(job_id)
    template = "imports/progress.html" if request.headers.get("HX-Request") == "true" else "imports/job.html"
    errors = shown(service.errors(job_id, limit=SHOWN_ERRORS))
    return Response(render_template(template, job=found, obj=service.records.obj, errors=errors,
                                    job_error=sentence(found.error) if found.error else ""))


@blueprint.route("/imports/<int:job_id>/errors.csv")
def errors_csv(job_id: int) -> Response:
    service = ImportService.for_job(user_context(), job_id)
    # The reasons in the user's language, as the job page shows them (the engine keeps English); translated while
    # the response streams, in this request's context (its user's labels and language).
    lines = (line.encode("utf-8") for line in service.error_report(job_id, shown=sentence))
    response = Response(stream_with_context(lines), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="import-{job_id}-errors.csv"'
    return response


@blueprint.route("/imports/<int:job_id>/resume", methods=["POST"])
def resume(job_id: int) -> Response:
    context = user_context()
    service = ImportService.for_job(context, job_id)
    if service.job(job_id).status != "done":
        start_in_background(context.crm, job_id)
    return redirect(url_for("imports.job", job_id=job_id), code=303)
