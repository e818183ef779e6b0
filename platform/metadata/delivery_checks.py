"""Do an object's email templates, send_email and call_webhook actions make sense? Each problem at its place.

Templates: every part of every language compiles in the sandboxed Jinja environment (a
syntax error is reported at its own line in the file); a template has an HTML or a text body.
send_email: names one of the object's templates; each recipient is an email field, a lookup
and an email field of its target, `owner`, or an address; marketing mail goes to exactly one
recipient read from a record (the person who can opt out). call_webhook: an http(s) URL,
the environment variable of its secret, and fields of the object.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from crmkit.metadata.automation import AutomationAction
from crmkit.metadata.email_templates import EmailTemplate
from crmkit.metadata.errors import did_you_mean
from crmkit.metadata.errors import Problem
from crmkit.metadata.model import SYSTEM_FIELDS, ObjectDef
from crmkit.metadata.semantic import ObjectScope, Reporter
from crmkit.sandbox.templates import check_template

#: Keys that belong to one delivery action type only.
_KEYS = {"template": "send_email", "to": "send_email", "language": "send_email", "url": "call_webhook",
         "secret_env": "call_webhook", "fields": "call_webhook"}


def check_email_templates(scope: ObjectScope, report: Reporter) -> None:
    for template in scope.obj.email_templates.values():
        if not template.html and not template.text:
            report.at(template.location, f"the email template '{template.name}' has no body: give 'html', 'text' "
                                         "or both.", at_key=True)
        for (part, language), where in template.sources.items():
            problem = check_template(template.part(part, language))
            if problem is not None:
                report.problems.append(Problem(
                    where.file, where.line + problem.line - 1, where.column,
                    f"the {part} ({language}) of email template '{template.name}' is not a valid "
                              f"template: {problem.message} (line {problem.line} of the template); fix its "
                              "Jinja syntax ({{ record.field }}, {% if %}...{% endif %}).", where.path))


def check_delivery_action(scope: ObjectScope, action: AutomationAction, report: Reporter) -> None:
    """The keys of a send_email or call_webhook action."""
    for key, owner in _KEYS.items():
        if getattr(action, key) not in (None, ()) and action.type != owner:
            report.at(action.location, f"'{key}' does not apply to a {action.type} action; it is for {owner}.", key,
                      at_key=True)
    if action.set:
        report.at(action.location, f"'set' does not apply to a {action.type} action.", "set", at_key=True)
    if action.type == "send_email":
        _send_email(scope, action, report)
    else:
        _call_webhook(scope.obj, action, report)


def _send_email(scope: ObjectScope, action: AutomationAction, report: Reporter) -> None:
    obj = scope.obj
    template = obj.email_templates.get(action.template or "")
    if action.template is None:
        report.at(action.location, "a send_email action needs 'template': one of the object's email_templates.")
    elif template is None:
        hint = did_you_mean(action.template, obj.email_templates) or (
            f" Declare it under {obj.name}'s 'email_templates:'.")
        report.at(action.location, f"'{action.template}' is not an email template of {obj.name}.{hint}", "template")
    if not action.to:
        report.at(action.location, "a send_email action needs 'to': an email field, lookup.email_field, owner, or "
                                   "an address.")
    for number, entry in enumerate(action.to):
        problem = _recipient_problem(scope, obj, entry)
        if problem:
            report.at(action.location, problem, "to", number)
    if isinstance(template, EmailTemplate) and template.marketing and (
            len(action.to) != 1 or "@" in action.to[0] or action.to[0] == "owner"):
        report.at(action.location, "marketing mail goes to one person who can opt out: give one recipient in 'to', "
                                   "an email field of the record or lookup.email_field.", "to")


def _recipient_problem(scope: ObjectScope, obj: ObjectDef, entry: str) -> str | None:
    if entry == "owner" or ("@" in entry and "." in entry.rsplit("@", 1)[-1]):
        return None
    name, _, rest = entry.partition(".")
    fdef = obj.fields.get(name)
    if fdef is None:
        hint = did_you_mean(name, obj.fields)
        return f"'{entry}' is not a recipient: not a field of {obj.name}, 'owner' or an email address.{hint}"
    if rest:
        target = scope.objects.get(fdef.to or "") if fdef.is_lookup else None
        if target is None:
            return f"'{name}' is not a lookup field of {obj.name}, so '{entry}' names no related record."
        if target.fields.get(rest) is None or target.fields[rest].type != "email":
            hint = did_you_mean(rest, [n for n, f in target.fields.items() if f.type == "email"])
            return f"'{rest}' is not an email field of {target.name}.{hint}"
        return None
    if fdef.type != "email":
        return f"'{name}' is a {fdef.type} field; a recipient must be an email field."
    return None


def _call_webhook(obj: ObjectDef, action: AutomationAction, report: Reporter) -> None:
    parts = urlsplit(action.url or "")
    if action.url is None:
        report.at(action.location, "a call_webhook action needs 'url': where the record is POSTed.")
    elif parts.scheme not in ("http", "https") or not parts.hostname:
        report.at(action.location, f"'{action.url}' is not an http or https URL.", "url")
    if action.secret_env is None:
        report.at(action.location, "a call_webhook action needs 'secret_env': the environment variable holding "
                                   "its signing secret (whsec_...).")
    if not action.fields:
        report.at(action.location, "a call_webhook action needs 'fields': the fields of the record it sends (only "
                                   "those leave crmkit).")
    for number, name in enumerate(action.fields):
        if name not in obj.fields and name not in SYSTEM_FIELDS:
            hint = did_you_mean(name, obj.fields)
            report.at(action.location, f"'{name}' is not a field of {obj.name}.{hint}", "fields", number)
