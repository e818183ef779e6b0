"""Notifications and the run log take any number a request carries without failing: an id or a page cursor
beyond what the database stores (past 64 bits) matches nothing or everything older, as it would on SQLite."""
from __future__ import annotations

from crmkit.engine.automation.notifications import Notifications
from crmkit.engine.automation.runlog import AutomationRuns

HUGE = 2**70


def test_an_id_past_64_bits_marks_nothing_read(crm, clock):
    notes = Notifications(crm.as_system())
    assert notes.mark_read([HUGE, -HUGE]) == 0


def test_a_cursor_past_64_bits_pages_from_the_newest(crm, clock):
    assert Notifications(crm.as_system()).list(before=HUGE) == []
    assert Notifications(crm.as_system()).list(before=-HUGE) == []
    assert AutomationRuns(crm.as_system()).runs(before=HUGE) == []
    assert AutomationRuns(crm.as_system()).runs(before=-HUGE, record_id=HUGE) == []
