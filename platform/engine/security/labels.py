"""The labels a sentence may name for one user: those of the objects and fields they may read.

An error sentence of the engine names objects and fields by their API names; the web pages and
the API name them by their labels in the user's language (engine/messages.py `translated`, its
`names`). A label is metadata a user learns only where they may read the object or field: a
protected field's label ("Secret Margin") is kept from them by describe, the OpenAPI document and
every form, so a refusal of a key they sent must not tell it either. Anything else keeps the API
name the sentence already has: what the user sent, or a name the platform gave them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

from crmkit.engine.messages import REPORT_NAMES
from crmkit.metadata.model import Label, ObjectDef

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext
    from crmkit.engine.security.access import AccessPolicy

#: `translated`'s `names`: (object, field or None) -> label, or None to keep the API name.
Names = Callable[[str, "str | None"], "str | None"]


def readable_labels(objects: Mapping[str, ObjectDef], language: str, policy: "AccessPolicy | None",
                    system_labels: Mapping[str, Label] | None = None, reports: Mapping[str, Any] | None = None,
                    may_run: Callable[[Any], bool] | None = None) -> Names:
    """Labels in `language` ('zh', 'en-GB', ...) of the objects `policy` may read and of their fields it may read.

    `reports` (name -> ReportDef) give the labels of reports, asked as (messages.REPORT_NAMES, report name): a
    report's label where the user may run it (`may_run`: ReportService.may_run, the reports they are listed; a
    report reading a field hidden from them is not, and neither is its label), every one for `policy` None.

    A field no object declares may be named from `system_labels` (owner, created at: the
    platform's own columns, readable wherever the object is). `policy` None is the platform's
    own system session: every label. An object is read when the policy holds its `read`
    permission (security/access.py); a field, when it is not among the policy's `hidden_fields`
    (protected ones, and values derived from them).
    """

    def label(object_name: str, field_name: str | None) -> str | None:
        if object_name == REPORT_NAMES:
            report = (reports or {}).get(field_name)
            if report is None or (policy is not None and (may_run is None or not _runs(may_run, report))):
                return None
            return report.label.get(language)
        obj = objects.get(object_name)
        if obj is None or (policy is not None and not policy.can(object_name, "read")):
            return None
        if field_name is None:
            return obj.label.get(language)
        field = obj.fields.get(field_name)
        if field is None:
            found = (system_labels or {}).get(field_name)
            return found.get(language) if found is not None else None
        if policy is not None and field_name in policy.hidden_fields(object_name):
            return None
        return field.label.get(language)

    return label


def _runs(may_run: Callable[[Any], bool], report: Any) -> bool:
    """`may_run(report)`, False where it cannot be told (an error's answer must not fail for want of a label)."""
    try:
        return may_run(report)
    except Exception:  # noqa: BLE001
        return False


def labels_of(context: "UserContext | None", objects: Mapping[str, ObjectDef], language: str,
              system_labels: Mapping[str, Label] | None = None, reports: Mapping[str, Any] | None = None
              ) -> Names | None:
    """`readable_labels` of the user of `context`, for an error's sentence; None (API names stay) without a user, or
    where their rights cannot be had now (deactivated meanwhile, the database out of reach: maybe the very problem
    being told). The rights are those the context's first operation loaded, else read now."""
    if context is None:
        return None
    try:
        policy = context.policy
    except Exception:  # noqa: BLE001 - an error's answer must not fail for want of labels
        return None
    if policy is None:
        return None
    may_run = None
    if reports:
        from crmkit.engine.reports.service import ReportService  # reports read security: imported when named

        may_run = ReportService(context).may_run
    return readable_labels(objects, language, policy, system_labels, reports, may_run)
