"""Layouts travel with the installed package: upgrades change them, a reopened database keeps them."""
from __future__ import annotations

from crmkit.engine import Crm

TICKETS = """\
package: tickets
version: "{version}"
objects:
  ticket:
    title_field: subject
    fields:
      subject: {{type: text, required: true}}
      status: {{type: picklist, options: [New, Done]}}
      hours: {{type: decimal}}
    layouts:
      list: {{columns: [{columns}]}}
      kanban: {{group_by: status, sum: hours}}
"""


def test_an_upgrade_changes_the_layout_and_a_reopened_database_keeps_it(crm, install, database_url):
    install(TICKETS.format(version="1.0.0", columns="subject, status"))
    assert crm.registry.layout("ticket").list.columns == ("subject", "status")
    install(TICKETS.format(version="1.1.0", columns="subject, hours, owner_id"))
    assert crm.registry.layout("ticket").list.columns == ("subject", "hours", "owner_id")
    reopened = Crm.open(database_url)
    try:
        layout = reopened.registry.layout("ticket")
    finally:
        reopened.close()
    assert layout.list.columns == ("subject", "hours", "owner_id")
    assert (layout.board.group_by, layout.board.sum) == ("status", "hours")
    assert "form" in layout.derived and layout.form[0].field_names[0] == "subject"
