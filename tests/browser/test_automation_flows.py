"""Automation in a real browser: a manual rule's button on a record runs the rule, tells the owner (the top
bar's unread badge, the notifications page) and shows the run on the timeline. (A refused kanban move is
tested in test_kanban_flows.py.)"""
from __future__ import annotations

from typing import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import goto, ready, serving
from tests.ui.test_automation_pages import DESK
from tests.webapp import PASSWORD


@pytest.fixture(scope="module")
def desk_server(tmp_path_factory) -> Iterator[tuple[str, object, dict[str, int]]]:
    """A server of this module's own over a database with the desk package (a manual rule `escalate`)."""
    from crmkit.engine import Crm
    from crmkit.engine.security.users import SystemDirectory

    folder = tmp_path_factory.mktemp("desk-browser")
    (folder / "desk.yaml").write_text(DESK, encoding="utf-8")
    url = f"sqlite:///{folder / 'crm.db'}"
    crm = Crm.open(url)
    crm.install(folder / "desk.yaml")
    agent = SystemDirectory(crm).create_user("agent", password=PASSWORD, role="agent").id
    ticket = crm.as_user(agent).records("ticket").create({"name": "Broken printer", "priority": "Low"})
    with serving(url) as address:
        yield address, crm, {"agent": agent, "ticket": ticket.id}
    crm.close()


def test_a_manual_button_runs_the_rule_and_the_owner_is_notified(page: Page, desk_server) -> None:
    address, crm, ids = desk_server
    goto(page, f"{address}/login")
    page.get_by_label("Username").fill("agent")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{address}/")
    goto(page, f"{address}/r/ticket/{ids['ticket']}")
    page.get_by_role("button", name="Escalate").click()
    expect(page.get_by_role("status").filter(has_text="The rule ran.")).to_be_visible()
    expect(page.locator(".record-highlights")).to_contain_text("High")
    expect(page.locator('#timeline li[data-kind="run"]')).to_contain_text("Run by hand")
    crm.outbox.work_due()  # the worker tells the owner
    page.reload()
    ready(page)
    expect(page.locator("#notifications-count")).to_contain_text("1")
    page.locator("#notifications-link").click()
    expect(page.get_by_role("heading", name="Notifications")).to_be_visible()
    expect(page.locator("#notifications")).to_contain_text("Escalated: Broken printer")
    page.get_by_role("button", name="Open the record").click()
    page.wait_for_url(f"{address}/r/ticket/{ids['ticket']}")
    ready(page)
    expect(page.locator("#notifications-count")).to_have_count(0)
    # Run again: the rule's condition no longer holds, and the user is told so.
    page.get_by_role("button", name="Escalate").click()
    expect(page.locator("#messages")).to_contain_text("does not apply")
