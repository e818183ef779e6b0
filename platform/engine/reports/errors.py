"""ReportError: why a report cannot be run, exported or drilled into, as a sentence naming the report."""
from __future__ import annotations

from crmkit.errors import CrmkitError


class ReportError(CrmkitError):
    """A report that cannot be run for this user or with these inputs.

    Status 404 for an unknown report or team, 403 when the user may not read (or export)
    the report's object, 422 for a report or input naming a field the user cannot read, or
    that cannot be grouped or aggregated so, and for a bad filter, key or format.
    """

    status = 422
    title = "Report not available"
