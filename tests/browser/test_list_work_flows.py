"""The list page's saved views and bulk actions in a real browser: save a view and reopen it, bulk-edit three
records, bulk delete; accessibility with rows selected; a desktop and a 390 px phone."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import goto, ready, rep_with_accounts, serious_violations, sign_in
from tests.browser.test_foundation_flows import console_errors
from tests.webapp import WebCrm

ACCOUNTS = [("Bulker Alpha", "Hot"), ("Bulker Bravo", "Cold"), ("Bulker Charlie", "Cold"), ("Bulker Delta", "Hot"),
            ("Bulker Echo", "Warm")]


@pytest.fixture(scope="module")
def bulker(web_crm: WebCrm, base_url: str) -> str:
    """A rep of their own with five accounts (private: no other rep sees them)."""
    return rep_with_accounts(web_crm.url, "bulker", [{"name": name, "rating": rating} for name, rating in ACCOUNTS])


def row_names(page: Page) -> list[str]:
    return page.locator("#list-results tbody th[scope=row]").all_inner_texts()


def test_save_a_view_and_reopen_it(page: Page, bulker: str) -> None:
    errors = console_errors(page)
    sign_in(page, bulker)
    goto(page, "/o/account?rating__in=Hot&sort=-name")
    assert row_names(page) == ["Bulker Delta", "Bulker Alpha"]
    page.get_by_text("Save as…").click()
    page.get_by_label("View name").fill("Hot accounts")
    page.get_by_role("button", name="Save as new view").click()
    expect(page).to_have_url(re.compile(r"/o/account\?view=\d+$"))
    expect(page.locator("#messages")).to_contain_text("The view “Hot accounts” was saved.")
    goto(page, "/o/account?view=all")
    expect(page.locator("#list-results tbody tr")).to_have_count(5)
    page.locator("#view-picker").click()
    page.get_by_role("link", name="Hot accounts").click()
    expect(page).to_have_url(re.compile(r"/o/account\?view=\d+$"))
    assert row_names(page) == ["Bulker Delta", "Bulker Alpha"]
    page.reload()  # the address is the view
    assert row_names(page) == ["Bulker Delta", "Bulker Alpha"]
    page.get_by_role("link", name="Bulker Delta").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Bulker Delta")
    page.get_by_role("button", name="Recent").click()  # the menu loads when opened
    expect(page.locator("#recent-items")).to_contain_text("Bulker Delta")
    assert errors == []


def test_bulk_edit_three_records(page: Page, bulker: str) -> None:
    errors = console_errors(page)
    sign_in(page, bulker)
    goto(page, "/o/account?view=all&q=Bulker&columns=name,rating")
    count = page.locator("#bulk-count")
    expect(count).to_have_text("0 selected")
    expect(page.get_by_role("button", name="Edit selected")).to_be_disabled()
    page.get_by_role("checkbox", name="Select Bulker Bravo").check()
    page.get_by_role("checkbox", name="Select Bulker Charlie").check()
    echo = page.get_by_role("checkbox", name="Select Bulker Echo")
    echo.focus()
    page.keyboard.press("Space")  # keyboard works as the mouse does
    expect(count).to_have_text("3 selected")
    expect(page.locator("#list-select-all")).to_have_js_property("indeterminate", True)
    page.get_by_label("Field", exact=True).select_option("rating")
    page.get_by_role("button", name="Edit selected").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Edit 3 records")
    page.get_by_label("Rating").select_option("Warm")
    page.get_by_role("button", name="Apply to 3 records").click()
    expect(page).to_have_url(re.compile(r"/o/account\?view=all&q=Bulker&columns=name,rating$"))
    expect(page.locator("#messages")).to_contain_text("3 records were updated.")
    expect(page.locator("#list-results tbody tr", has_text="Warm")).to_have_count(3)
    assert errors == []


def test_bulk_delete_with_select_all(page: Page, bulker: str, browser: Browser, base_url: str,
                                     screenshots: Path) -> None:
    errors = console_errors(page)
    sign_in(page, bulker)
    goto(page, "/o/account?view=all&q=Bulker&rating__in=Hot")
    expect(page.locator("#list-results tbody tr")).to_have_count(2)
    page.get_by_role("checkbox", name="Select all records on this page").check()
    expect(page.locator("#bulk-count")).to_have_text("2 selected")
    assert serious_violations(page) == []
    page.screenshot(path=screenshots / "list-bulk-selected.png", full_page=True)
    page.get_by_role("button", name="Delete selected").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Delete 2 records?")
    page.get_by_role("button", name="Delete 2 records").click()
    expect(page.locator("#messages")).to_contain_text("2 records were moved to the recycle bin.")
    expect(page.locator("#list-empty")).to_be_visible()
    assert errors == []

    phone = browser.new_context(base_url=base_url, viewport={"width": 390, "height": 844}, device_scale_factor=1)
    small = phone.new_page()
    sign_in(small, bulker)
    goto(small, "/o/account?view=all&q=Bulker")
    small.get_by_role("checkbox", name="Select Bulker Bravo").check()
    small.get_by_text("Columns", exact=True).click()
    assert small.evaluate("document.documentElement.scrollWidth") <= 390, "the list scrolls sideways at 390 px"
    small.screenshot(path=screenshots / "phone-list-bulk.png", full_page=True)
    phone.close()



def test_bulk_edit_keeps_the_typed_value_across_a_change_of_field_and_a_refused_value(
        page: Page, web_crm: WebCrm, base_url: str) -> None:
    errors = console_errors(page)
    rep = rep_with_accounts(web_crm.url, "carrier", [{"name": "Carrier One"}, {"name": "Carrier Two"}])
    sign_in(page, rep)
    goto(page, "/o/account?q=Carrier")
    page.get_by_role("checkbox", name="Select all records on this page").check()
    page.get_by_label("Field", exact=True).select_option("employees")
    page.get_by_role("button", name="Edit selected").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Edit 2 records")
    ready(page)  # choosing another field asks for its box through htmx
    page.locator("#bulk-edit-form").evaluate("form => { form.noValidate = true; }")  # the engine's check, not the browser's
    page.get_by_label("Employees").fill("-5")
    page.get_by_role("button", name="Apply to 2 records").click()
    expect(page.get_by_label("Employees")).to_have_value("-5")  # kept, and the error is beside it
    expect(page.locator("#bulk-employees-errors")).to_be_visible()
    ready(page)  # the refused form came back as a new page: htmx sets it up again before the field changes
    page.get_by_label("Employees").fill("2500")
    page.get_by_label("Field to change").select_option("annual_revenue")  # number to currency: kept
    expect(page.get_by_label("Annual Revenue")).to_have_value("2500")
    page.get_by_role("button", name="Apply to 2 records").click()
    expect(page.locator("#messages")).to_contain_text("2 records were updated.")
    assert errors == []
