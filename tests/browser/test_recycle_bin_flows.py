"""The recycle bin and a record's timeline in a real browser: delete, restore, see the history; axe; phone width."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import goto, ready, sign_in
from tests.browser.test_foundation_flows import AXE, console_errors
from tests.browser.test_record_flows import create_account
from tests.webapp import WebCrm, record_page_users


@pytest.fixture(scope="module", autouse=True)
def reps(web_crm: WebCrm) -> dict[str, int]:
    """This module's own sales rep, so no other test's sign-ins or settings reach them."""
    return record_page_users(web_crm.url, ("bin1",))


def serious_violations(page: Page) -> list[str]:
    page.evaluate(AXE.read_text(encoding="utf-8"))  # run by the test harness, not by the page: CSP is not involved
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [f"{violation['id']} ({violation['impact']}): {violation['help']} -- "
            f"{[node['target'] for node in violation['nodes']][:3]}"
            for violation in result["violations"] if violation["impact"] in ("serious", "critical")]


def fits_a_phone(page: Page, name: str, screenshots: Path, *, axe: bool) -> None:
    """The page at 390 px: no sideways scrolling, a screenshot, and (if `axe`) no serious axe finding."""
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    ready(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, f"{name} scrolls sideways at 390 px"
    page.screenshot(path=screenshots / f"phone-{name}.png", full_page=True)
    if axe:
        assert serious_violations(page) == [], name
    page.set_viewport_size({"width": 1280, "height": 900})


def test_delete_a_record_restore_it_from_the_bin_and_read_its_timeline(page: Page, screenshots: Path) -> None:
    errors = console_errors(page)
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, "rec_bin1")
    record_path = create_account(page, "Phoenix Freight")
    industry = page.locator('dd[data-field="industry"]')
    industry.get_by_role("button", name="Edit Industry").click()
    industry.get_by_label("Industry").select_option("Energy")
    industry.get_by_role("button", name="Save Industry").click()
    expect(industry).to_contain_text("Energy")

    page.get_by_role("link", name="Delete").click()
    page.get_by_role("button", name="Delete").click()
    expect(page.locator("#messages")).to_contain_text("“Phoenix Freight” was moved to the recycle bin.")
    ready(page)  # the user menu is Bootstrap's dropdown

    page.get_by_role("button", name="Rec bin1").click()  # the user menu
    page.get_by_role("link", name="Recycle bin").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Recycle bin")
    ready(page)
    row = page.get_by_role("row").filter(has_text="Phoenix Freight")
    expect(row).to_contain_text("Rec bin1")
    page.screenshot(path=screenshots / "recycle-bin.png", full_page=True)
    fits_a_phone(page, "recycle-bin", screenshots, axe=True)  # at 390 px the table scrolls in its own box

    row.get_by_role("button", name="Restore Phoenix Freight").click()
    expect(page.get_by_role("status")).to_contain_text("“Phoenix Freight” was restored.")
    page.get_by_role("link", name="Open the restored record").click()
    page.wait_for_url(f"**{record_path}")
    ready(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Phoenix Freight")

    timeline = page.get_by_role("region", name="Timeline")
    entries = timeline.get_by_role("listitem")
    expect(entries.nth(0)).to_contain_text("Restored the record from the recycle bin")
    expect(entries.nth(1)).to_contain_text("Moved the record to the recycle bin")
    expect(entries.nth(2)).to_contain_text(re.compile(r"Industry:\s+from\s+\S+.*\s+to\s+Energy"))
    expect(entries.last).to_contain_text("Created the record")
    expect(entries.nth(0)).to_contain_text("Rec bin1")
    timeline.scroll_into_view_if_needed()
    page.screenshot(path=screenshots / "record-timeline.png", full_page=True)
    assert serious_violations(page) == []
    fits_a_phone(page, "record-timeline", screenshots, axe=False)
    assert errors == []


def test_older_timeline_entries_load_in_place_and_take_the_focus(page: Page, web_crm: WebCrm, reps) -> None:
    from crmkit.engine import Crm

    crm = Crm.open(web_crm.url)
    try:
        accounts = crm.as_user(reps["rec_bin1"]).records("account")
        record = accounts.create({"name": "Busy Freight"})
        for n in range(24):
            record = accounts.update(record.id, {"name": f"Busy Freight {n}"}, version=record.version)
    finally:
        crm.close()
    errors = console_errors(page)
    sign_in(page, "rec_bin1")
    goto(page, f"/r/account/{record.id}")
    entries = page.get_by_role("region", name="Timeline").locator("li.timeline-entry")
    expect(entries).to_have_count(20)
    page.get_by_role("link", name="Older entries").click()
    expect(entries).to_have_count(25)
    expect(entries.nth(20)).to_be_focused()
    expect(entries.last).to_contain_text("Created the record")
    expect(page.get_by_role("link", name="Older entries")).to_have_count(0)
    assert errors == []
