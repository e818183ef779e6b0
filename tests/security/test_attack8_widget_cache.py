"""Attack on the dashboard widget cache (reports/dashboards.py) inside a write transaction: the key is the user, the
context's rights version, language, zone and metadata generation, and inside `transaction()` that version stays
the one of its start (`refresh_rights` does nothing there). A widget computed inside a transaction counts its own
uncommitted writes; it is kept under the same key a request outside reads, so after the transaction rolled back
the user's next requests are served, for a minute, figures of records that were never saved. SQLite and PostgreSQL.

Now: inside a transaction a widget is computed afresh and kept for nobody.
"""
from __future__ import annotations

import pytest

from tests.security.test_operation_start import PACKAGE, PASSWORD
from crmkit.engine.security.users import SystemDirectory

BOARD = PACKAGE.replace("package: desk", "package: deskboard") + """
reports:
  tickets_by_name:
    label: {en: Tickets}
    object: ticket
    kind: summary
    group_by:
      - field: name
    aggregates:
      - {name: tickets, function: count, label: {en: Tickets}}
dashboards:
  desk:
    label: {en: Desk}
    widgets:
      - {report: tickets_by_name, chart: kpi, value: tickets}
"""


def counted(result) -> int:
    return sum(group.values["tickets"] for group in result.groups) if result.groups else 0


def test_a_widget_computed_inside_a_rolled_back_transaction_is_not_served_afterwards(crm, install):
    install(BOARD)
    rep = SystemDirectory(crm).create_user("rep", password=PASSWORD, role="rep").id
    context = crm.as_user(rep)
    with pytest.raises(LookupError):
        with context.transaction():
            for number in range(3):
                context.records("ticket").create({"name": f"never saved {number}"})
            context.dashboards.widget("desk", 0)
            raise LookupError("a later step fails: the transaction rolls back")
    assert not crm.as_system().records("ticket").query().records
    assert counted(crm.as_user(rep).dashboards.widget("desk", 0)) == 0
