"""What a user is told when an automation rule could not run on their save or their manual run.

    told(context, rule, reason)   # the sentence with its reason, or without it for a non-administrator

A rule's reason is the sandbox's sentence, which may quote a value ("invalid literal for
int() with base 10: '<the value>'", "there is no key '<the value>'") of a field hidden from
the user or of a related record they cannot see: rules read the whole record. So only an
administrator (or the platform itself) is told the reason; anyone else is told that the rule
could not run and that the run log (administrators only) says why. The run log always keeps
the whole sentence.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from crmkit.engine import messages

if TYPE_CHECKING:
    from crmkit.engine.context import UserContext


def may_see_reasons(context: "UserContext") -> bool:
    """Whether the context's user is told why a rule could not run: the platform and administrators."""
    policy = context.policy
    return policy is None or policy.is_admin


def told(context: "UserContext", rule: str, reason: str, language: str | None = None) -> str:
    """The sentence for the user: RULE_FAILED with `reason`, or RULE_FAILED_WITHHELD (in `language`, else English)."""
    if may_see_reasons(context):
        message, params = messages.RULE_FAILED, {"rule": rule, "reason": reason}
    else:
        message, params = messages.RULE_FAILED_WITHHELD, {"rule": rule}
    return message.in_language(language, **params) if language else message(**params)
