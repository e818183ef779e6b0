"""Automation in the web UI: manual rules (a record's buttons, a list's bulk action), notifications (the top
bar's badge, their page) and, for administrators, the run log and the outbox's dead letters.

    POST /r/<object>/<id>/run/<rule>           a manual rule on one record (the detail page's button)
    GET|POST /o/<object>/bulk/run/<rule>       on the records ticked in the list (confirm, then run)
    GET  /notifications                        the user's notifications; POST .../read, .../read-all
    GET  /notifications/badge                  the unread count (htmx, after the page: no page pays for it)
    GET  /admin/automation                     the run log with filters (object, rule, outcome) + dead letters
    GET  /admin/automation/outbox/<id>         one outbox row; POST .../replay makes a dead one pending again

The engine decides everything: who may run a rule (edit permission, the record readable and
editable, engine/automation/manual.py), whose notifications are read, who sees the run log
(administrators). Every change is a POST with the CSRF token (Flask-WTF), then a redirect.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from crmkit.engine.automation.manual import ManualOutcome, manual_rules, run_manual
from crmkit.engine.automation.notifications import Notifications
from crmkit.engine.automation.runlog import AutomationRuns
from crmkit.engine.automation.runlog_tables import OUTCOMES
from crmkit.engine.fieldtypes.presenter import FieldPresenter
from crmkit.engine.query.filters import SYSTEM_DEFS
from crmkit.engine.query.inputs import ascii_whole_number
from crmkit.engine.records.errors import RecordNotFound
from crmkit.ui.bulk_page import selection, selection_values, titles
from crmkit.ui.sessions import safe_next, user_context

blueprint = Blueprint("automation", __name__)

#: Outcome words as shown (en/zh through the catalogs).
OUTCOME_LABELS = {"done": _l("Done"), "failed": _l("Failed, will retry"), "dead": _l("Failed for good"),
                  "stopped": _l("Stopped at the depth limit"), "refused": _l("Refused")}
TRIGGER_LABELS = {"create": _l("Created"), "update": _l("Updated"), "delete": _l("Deleted"),
                  "restore": _l("Restored"), "manual": _l("Run by hand")}


@blueprint.app_context_processor
def automation_helpers() -> dict[str, Any]:
    """`manual_rules_for(object)`: the manual rules the signed-in user may run; `may_see_runs()`: whether they
    are an administrator (the run log's tab). Neither reads the database: the user's rights are loaded."""
    def manual_rules_for(object_name: str) -> list:
        try:
            return manual_rules(user_context(), object_name)
        except Exception:  # no signed-in user (an error page): no buttons
            return []
    def may_see_runs() -> bool:
        policy = user_context().policy
        return policy is None or policy.is_admin

    return {"manual_rules_for": manual_rules_for, "may_see_runs": may_see_runs, "outcome_labels": OUTCOME_LABELS,
            "trigger_labels": TRIGGER_LABELS}


def _record_address(object_name: str, record_id: Any) -> str:
    return url_for("records.detail", object_name=object_name, record_id=record_id)


def _told(outcome: ManualOutcome) -> str:
    if outcome.outcome == "done":
        return _("The rule ran.")
    return outcome.error or _("The rule could not run.")


@blueprint.route("/r/<object_name>/<int:record_id>/run/<rule>", methods=["POST"])
def run_one(object_name: str, record_id: int, rule: str) -> Response:
    """Run the manual rule on the record; back to the record with what happened (404 for a record not seen)."""
    context = user_context()
    context.records(object_name)  # UnknownObject: 404
    outcome = run_manual(context, object_name, rule, [record_id])[record_id]
    if outcome.outcome == "not_found":
        abort(404)
    flash(_told(outcome), "success" if outcome.outcome == "done" else "danger")
    return redirect(_record_address(object_name, record_id), 303)


@blueprint.route("/o/<object_name>/bulk/run/<rule>", methods=["GET", "POST"])
def run_bulk(object_name: str, rule: str) -> Response:
    """GET asks to confirm running the rule on the ticked records; POST runs it on each, as the user."""
    context = user_context()
    obj = context.records(object_name).obj
    found = next((r for r in manual_rules(context, object_name) if r.name == rule), None)
    back = safe_next(request.values.get("next"), url_for("lists.list_view", object_name=obj.name))
    if found is None:
        if context.policy is not None:
            context.policy.require(object_name, "edit")
        abort(404)
    chosen = selection(request.values.getlist("record"))
    if not chosen:
        flash(_("No records were chosen. Tick the records in the list first."), "warning")
        return redirect(back, 303)
    if request.method == "POST":
        outcomes = run_manual(context, object_name, rule, list(chosen))
        done = [record_id for record_id, outcome in outcomes.items() if outcome.outcome == "done"]
        shown = titles(context, obj, list(outcomes))
        failed = [(shown.get(record_id) or f"#{record_id}", _told(outcome)) for record_id, outcome in outcomes.items()
                  if outcome.outcome != "done"]
        if not failed:
            flash(ngettext("The rule ran on %(num)s record.", "The rule ran on %(num)s records.", len(done)), "success")
            return redirect(back, 303)
        body = render_template("automation/bulk_result.html", obj=obj, rule=found, done=len(done), failed=failed,
                               back=back)
        return Response(body, status=200 if done else 422)
    body = render_template("automation/bulk_confirm.html", obj=obj, rule=found, chosen=selection_values(chosen),
                           count=len(chosen), shown=titles(context, obj, list(chosen)), back=back)
    return Response(body)


@blueprint.route("/notifications")
def notifications() -> str:
    """The user's notifications, newest first (`before`: an older page), each linking to its record."""
    notes = Notifications(user_context())
    before = request.args.get("before", type=int)
    items = notes.list(before=before, limit=50)
    older = url_for(".notifications", before=items[-1].id) if len(items) == 50 else None
    presenter = FieldPresenter.for_context(user_context())  # the user's time zone and locale, as the timeline
    shown_at = {note.id: presenter.display_value(SYSTEM_DEFS["created_at"], note.created_at) for note in items}
    return render_template("automation/notifications.html", items=items, older=older, shown_at=shown_at,
                           record_address=_record_address)


@blueprint.route("/notifications/badge")
def badge() -> str:
    """The unread count for the top bar (one indexed count), fetched by htmx once the page has loaded."""
    return render_template("automation/badge.html", count=Notifications(user_context()).unread_count())


@blueprint.route("/notifications/read", methods=["POST"])
def mark_read() -> Response:
    """Mark the given notifications (`id`, repeated) read; with `open`, go on to that record."""
    notes = Notifications(user_context())
    ids = [number for value in request.form.getlist("id") if (number := ascii_whole_number(value)) is not None]
    notes.mark_read(ids)
    target = request.form.get("open", "")
    return redirect(safe_next(target, url_for(".notifications")), 303)


@blueprint.route("/notifications/read-all", methods=["POST"])
def mark_all_read() -> Response:
    count = Notifications(user_context()).mark_all_read()
    flash(ngettext("%(num)s notification marked read.", "%(num)s notifications marked read.", count), "success")
    return redirect(url_for(".notifications"), 303)


def _runs_service() -> AutomationRuns:
    """The run log for an administrator; 403 (PermissionDenied) for anyone else."""
    return AutomationRuns(user_context())


@blueprint.route("/admin/automation")
def admin_runs() -> str:
    """The run log, newest first, filtered by object, rule and outcome; and the outbox's dead letters."""
    service = _runs_service()
    context = user_context()
    filters = {key: (request.args.get(key) or "").strip() or None for key in ("object", "rule", "outcome")}
    if filters["outcome"] not in (None, *OUTCOMES):
        filters["outcome"] = None
    before = request.args.get("before", type=int)
    runs = service.runs(**filters, before=before, limit=50)
    older = url_for(".admin_runs", **{k: v for k, v in filters.items() if v}, before=runs[-1].id) \
        if len(runs) == 50 else None
    registry = context.runtime.registry
    objects = sorted(name for name, obj in registry.objects.items() if obj.automations)
    object_labels = {name: obj.label for name, obj in registry.objects.items()}  # shown in the user's language
    dead = service.dead_letters(limit=100)
    return render_template("automation/admin_runs.html", runs=runs, older=older, filters=filters, objects=objects,
                           outcomes=OUTCOMES, dead=dead, record_address=_record_address,
                           object_labels=object_labels)


@blueprint.route("/admin/automation/outbox/<int:outbox_id>")
def admin_outbox_row(outbox_id: int) -> str:
    """One outbox row as stored: its rule, action, payload, attempts and error (administrators)."""
    row = _runs_service().outbox_row(outbox_id)
    if row is None:
        abort(404)
    return render_template("automation/outbox_row.html", row=row, record_address=_record_address)


@blueprint.route("/admin/automation/outbox/<int:outbox_id>/replay", methods=["POST"])
def admin_replay(outbox_id: int) -> Response:
    """Make a dead row pending again (Outbox.replay); back to the admin page with a message."""
    service = _runs_service()
    try:
        service.replay([outbox_id])
        flash(_("The action will be tried again."), "success")
    except RecordNotFound:
        flash(_("Only an action that failed for good can be replayed."), "warning")
    return redirect(url_for(".admin_runs"), 303)

