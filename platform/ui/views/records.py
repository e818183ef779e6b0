"""One record: its detail page (/r/<object>/<id>), the create and edit forms, delete, lookup suggestions.

Every read and write goes through the signed-in user's engine context: the engine decides
what they may see and change (a record they may not see is "not found", exactly like one
that does not exist), runs the save pipeline and moves deleted records to the recycle bin.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from flask import Blueprint, Response, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from crmkit.engine.context import UserContext
from crmkit.engine.fieldtypes.presenter import FieldPresenter
from crmkit.engine.records.errors import RecordValidationError, StaleRecordError
from crmkit.engine.records.record import Record
from crmkit.metadata.model import FieldDef, ObjectDef
from crmkit.ui import extension_points, record_views as views
from crmkit.ui.app import template_url_for
from crmkit.ui.errors import field_sentences, sentence
from crmkit.ui.display_html import display_html, escaped
from crmkit.ui.i18n import label_text, request_translations
from crmkit.ui.sessions import user_context
from crmkit.ui.timeline_view import timeline_page
from crmkit.ui.views.recent import record_touched

blueprint = Blueprint("records", __name__)
#: The most suggestions a lookup input offers at once.
SUGGESTIONS = 20


def record_url(object_name: str, record_id: int) -> str:
    """A record's detail page address (built once per object and id: app.template_url_for; a page links ~15)."""
    return template_url_for("records.detail", object_name=object_name, record_id=record_id)


def parts(object_name: str) -> tuple[UserContext, ObjectDef, FieldPresenter]:
    """The user's context, the object (UnknownObject, a 404, for a name not installed) and a presenter."""
    context = user_context()
    context.records(object_name)  # follows an upgrade, refuses an unknown name
    return context, context.runtime.registry.object(object_name), FieldPresenter.for_context(context)


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


# ---- detail ------------------------------------------------------------------------------


@blueprint.app_template_global()
def inline_value_html(f: views.ShownField, obj: ObjectDef, record: Record, record_url: Any) -> Markup:
    """A detail page field's value and, when it is editable, its in-place edit button: the markup of the
    `inline_value` macro (records/inline_value_macro.html, which delegates here), one Python call per field
    instead of a macro call (a detail page shows twenty or so; docs/ui.md, "Speed"). Escaped as autoescape
    does; the button's text is the catalog's, as `_()` gives it."""
    value = f'<span class="record-value">{display_html(f.display, record_url)}</span>'
    if not f.editable:
        return Markup(value)
    address = template_url_for("records.inline", object_name=obj.name, record_id=record.id, field_name=f.name)
    return Markup(f'{value}\n<button type="button" class="btn btn-sm btn-link py-0 px-1 align-baseline inline-edit"\n'
                  f'        hx-get="{escaped(address)}"\n'
                  f'        hx-target="closest dd" hx-swap="innerHTML">{request_translations().ugettext("Edit")}'
                  f'<span class="visually-hidden"> {escaped(f.label)}</span></button>')


@blueprint.route("/r/<object_name>/<int:record_id>")
def detail(object_name: str, record_id: int) -> str:
    context, obj, presenter = parts(object_name)
    # The page only reads: the record, lookup titles, names, the timeline, the related lists and the menu's
    # rights share one connection and one operation read (docs/ui.md, "Speed"), as the list page's do. The
    # timeline is handed the record read here, so the engine does not read it again.
    with context.snapshot():
        record = context.records(object_name).get(record_id)
        layout = context.runtime.registry.layout(object_name)
        titles = {**views.lookup_titles(context, obj, [record]), ("user", g.user.id): g.user.display_name}
        timeline, older_url = timeline_page(context, presenter, obj, record)
        page = render_template(
            "records/detail.html", obj=obj, record=record, title=views.record_title(obj, record),
            timeline=timeline, older_url=older_url,
            highlights=views.highlights(context, presenter, obj, layout, record, titles),
            sections=views.detail_sections(context, presenter, obj, layout, record, titles),
            related=views.related_rows(context, presenter, layout, record_id),
            may_edit=views.may(context, object_name, "edit"), may_delete=views.may(context, object_name, "delete"),
            panels=extension_points.detail_panels(context.runtime.extensions.plugin_manager, context, object_name, record),
            record_url=record_url)
    # A write, after the snapshot (which only reads): handed the record read above, the engine puts it in the
    # recent items without reading it again, unless the user's rights changed meanwhile.
    record_touched(context, object_name, record)
    return page


# ---- forms -------------------------------------------------------------------------------


def form_page(context: UserContext, obj: ObjectDef, presenter: FieldPresenter, *, record: Record | None,
              form: Any = None, errors: Mapping[str, list[str]] | None = None, status: int = 200,
              conflict: tuple[views.ShownField, ...] | None = None, version: int | None = None) -> Response:
    """The create or edit form (or, to htmx, its body), keeping what was typed and showing the engine's errors."""
    errors = field_sentences(errors)
    layout = context.runtime.registry.layout(obj.name)
    prefill = None if form is not None else request.args.to_dict()
    titles = views.form_lookup_titles(context, obj, record, form if form is not None else prefill)
    refresh = url_for("records.refresh_new", object_name=obj.name) if record is None else \
        url_for("records.refresh_edit", object_name=obj.name, record_id=record.id)
    sections = views.form_sections(context, presenter, obj, layout, row=record, form=form, errors=errors,
                                   prefill=prefill,
                                   refresh_url=refresh, titles=titles)
    top_errors = views.error_lists(obj, presenter, errors, views.placed_names(sections))
    template = "records/form_body.html" if is_htmx() else "records/form.html"
    page = render_template(template, obj=obj, record=record, sections=sections, errors=errors,
                           top_errors=top_errors, conflict=conflict, record_url=record_url,
                           version=version if version is not None else (record.version if record else None),
                           title=views.record_title(obj, record) if record is not None else None,
                           fields_id=views.FORM_FIELDS_ID)
    return Response(page, status=status)


def saved(obj: ObjectDef, record: Record, message: str) -> Response:
    record_touched(user_context(), obj.name, record.id, "edited")
    flash(message, "success")
    target = record_url(obj.name, record.id)
    if is_htmx():
        response = Response(status=204)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, 303)


@blueprint.route("/o/<object_name>/new", methods=["GET", "POST"])
def new(object_name: str) -> Response:
    context, obj, presenter = parts(object_name)
    if context.policy is not None:  # no form for an object the user may not create in (403)
        context.refresh_rights()
        context.policy.require(object_name, "create")
    if request.method == "GET":
        return form_page(context, obj, presenter, record=None)
    # Blank fields are left out, so the engine's defaults (expressions too) apply.
    values = {name: value for name, value in presenter.submitted(obj, request.form).items()
              if value not in ("", None)}
    try:
        record = context.records(object_name).create(values)
    except RecordValidationError as error:
        return form_page(context, obj, presenter, record=None, form=request.form, errors=error.errors, status=422)
    return saved(obj, record, _("%(object)s “%(title)s” was created.", object=label_text(obj.label),
                                title=views.record_title(obj, record)))


@blueprint.route("/r/<object_name>/<int:record_id>/edit", methods=["GET", "POST"])
def edit(object_name: str, record_id: int) -> Response:
    context, obj, presenter = parts(object_name)
    records = context.records(object_name)
    record = records.get(record_id)
    if request.method == "GET":
        return form_page(context, obj, presenter, record=record)
    values = presenter.submitted(obj, request.form)
    try:
        version = int(request.form.get("version", ""))
    except ValueError:
        version = record.version
    try:
        updated = records.update(record_id, values, version=version)
    except RecordValidationError as error:
        return form_page(context, obj, presenter, record=record, form=request.form, errors=error.errors,
                         status=422, version=version)
    except StaleRecordError:
        current = records.get(record_id)
        titles = views.lookup_titles(context, obj, [current])
        conflict = views.changed_by_others(presenter, obj, current, values, titles)
        # The form now carries the current version: saving again is a deliberate overwrite.
        return form_page(context, obj, presenter, record=current, form=request.form, status=409,
                         conflict=conflict, version=current.version)
    return saved(obj, updated, _("Your changes were saved."))


@blueprint.route("/o/<object_name>/form", methods=["POST"], endpoint="refresh_new")
@blueprint.route("/r/<object_name>/<int:record_id>/form", methods=["POST"], endpoint="refresh_edit")
def refresh(object_name: str, record_id: int | None = None) -> Response:
    """The form's fields again for what is typed so far (htmx, when a field that controls
    `visible_when` or a dependent picklist changes); nothing is saved."""
    context, obj, presenter = parts(object_name)
    record = context.records(object_name).get(record_id) if record_id is not None else None
    layout = context.runtime.registry.layout(obj.name)
    refresh_url = request.path
    sections = views.form_sections(context, presenter, obj, layout, row=record, form=request.form,
                                   refresh_url=refresh_url,
                                   titles=views.form_lookup_titles(context, obj, record, request.form))
    return Response(render_template("records/form_fields.html", sections=sections, errors={},
                                    record_url=record_url, fields_id=views.FORM_FIELDS_ID))


# ---- delete ------------------------------------------------------------------------------


@blueprint.route("/r/<object_name>/<int:record_id>/delete", methods=["GET", "POST"])
def delete(object_name: str, record_id: int) -> Response:
    """GET asks for confirmation; POST moves the record (and what cascades with it) to the recycle bin."""
    context, obj, presenter = parts(object_name)
    records = context.records(object_name)
    record = records.get(record_id)
    title = views.record_title(obj, record)
    if request.method == "GET":
        return Response(render_template("records/delete.html", obj=obj, record=record, title=title))
    try:
        version = int(request.form.get("version", ""))
    except ValueError:
        version = None
    records.delete(record_id, version=version)
    flash(_("“%(title)s” was moved to the recycle bin.", title=title), "success")  # the bin: /recycle-bin
    return redirect(f"/o/{object_name}", 303)


# ---- lookups -----------------------------------------------------------------------------


@blueprint.route("/o/<object_name>/suggest")
def suggest(object_name: str) -> Response:
    """Records for a lookup input: JSON [{"value": id, "text": title}], as the engine's `suggest` finds them."""
    context, obj, presenter = parts(object_name)
    text = request.args.get("q", "").strip()[:200]
    found = context.records(object_name).suggest(text or None, limit=SUGGESTIONS)
    return jsonify([{"value": str(record_id), "text": title} for record_id, title in found])


# ---- inline edit -------------------------------------------------------------------------


def field_parts(object_name: str, record_id: int, field_name: str
                ) -> tuple[UserContext, ObjectDef, FieldPresenter, Record, FieldDef, bool]:
    """The record and one field of its layout's form the user may read (404 for any other name),
    and whether they may edit it in place."""
    context, obj, presenter = parts(object_name)
    record = context.records(object_name).get(record_id)
    item = context.runtime.registry.layout(object_name).form_field(field_name)
    if item is None or field_name not in obj.fields or not views.may_read_field(context, obj, field_name):
        abort(404)
    editable = views.may(context, object_name, "edit") and \
        views.inline_editable(context, presenter, obj, field_name, item.read_only)
    return context, obj, presenter, record, obj.fields[field_name], editable


def inline_value(context: UserContext, obj: ObjectDef, presenter: FieldPresenter, record: Record, fdef: FieldDef,
                 editable: bool) -> Response:
    """The field's value as the detail page shows it, with its Edit button when `editable`."""
    titles = views.lookup_titles(context, obj, [record])
    shown = views.ShownField(fdef.name, presenter.label(fdef),
                             presenter.display(fdef, record, views.title_of(fdef, record, titles)), editable)
    return Response(render_template("records/inline_value.html", obj=obj, record=record, f=shown,
                                    record_url=record_url))


def inline_editor(context: UserContext, obj: ObjectDef, presenter: FieldPresenter, record: Record, fdef: FieldDef, *,
                  typed: list[str] | None = None, errors: Sequence[str] = (), status: int = 200,
                  conflict: views.ShownField | None = None) -> Response:
    """A one-field form for `fdef`, holding `typed` (else the stored value), the errors and a conflict's value."""
    inline_presenter = FieldPresenter(presenter.field_types, presenter.registry, presenter.show, "inline-")
    titles = views.form_lookup_titles(context, obj, record, request.form if typed is not None else None)
    title = titles.get((fdef.to, views.as_id(typed[-1] if typed else record.get(fdef.name)))) \
        if fdef.type == "lookup" else None
    widget = inline_presenter.widget(fdef, record, typed=typed, title=title)
    values = views.stored_values(context, obj, record, presenter.submitted(obj, request.form) if typed else {})
    widget = views.stage_choices(views.allowed_choices(widget, fdef, values), obj, fdef, record)
    return Response(render_template("records/inline_edit.html", obj=obj, record=record, w=widget,
                                    errors=[sentence(message) for message in errors], conflict=conflict),
                    status=status)


@blueprint.route("/r/<object_name>/<int:record_id>/field/<field_name>", methods=["GET", "POST"])
def inline(object_name: str, record_id: int, field_name: str) -> Response:
    """One field of the detail page: GET its editor (`?show=1`: its value), POST saves it alone."""
    context, obj, presenter, record, fdef, editable = field_parts(object_name, record_id, field_name)
    if request.method == "GET":
        if request.args.get("show") or not editable:
            return inline_value(context, obj, presenter, record, fdef, editable)
        return inline_editor(context, obj, presenter, record, fdef)
    values = presenter.submitted(obj, request.form, names=[field_name])
    typed = request.form.getlist(field_name)
    try:
        version = int(request.form.get("version", ""))
    except ValueError:
        version = record.version
    try:
        updated = context.records(object_name).update(record_id, values, version=version)
    except RecordValidationError as error:
        # Its own errors, then any other the save ran into (a validation rule), named by field.
        errors = field_sentences(error.errors)
        messages = errors.get(field_name, []) + views.error_lists(obj, presenter, errors, [field_name])
        return inline_editor(context, obj, presenter, record, fdef, typed=typed, errors=messages, status=422)
    except StaleRecordError:
        current = context.records(object_name).get(record_id)
        theirs = views.changed_by_others(presenter, obj, current, values, views.lookup_titles(context, obj, [current]))
        return inline_editor(context, obj, presenter, current, fdef, typed=typed, status=409,
                             conflict=theirs[0] if theirs else views.ShownField(fdef.name, presenter.label(fdef),
                                                                                presenter.display(fdef, current)))
    record_touched(context, object_name, record_id, "edited")
    return inline_value(context, obj, presenter, updated, fdef, editable)
