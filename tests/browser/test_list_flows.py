"""The list view in a real browser: filter, sort and search a list; a phone's width; accessibility."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import goto, rep_with_accounts, serious_violations, sign_in
from tests.browser.test_foundation_flows import console_errors
from tests.webapp import WebCrm

ACCOUNTS = [("Lister Alpha Co", "Technology"), ("Lister Beta Co", "Finance"), ("Lister Gamma Co", "Technology")]


@pytest.fixture(scope="module")
def lister(web_crm: WebCrm, base_url: str) -> str:
    """A rep of their own with three accounts (private: no other rep sees them)."""
    return rep_with_accounts(web_crm.url, "lister", [{"name": name, "industry": industry}
                                                     for name, industry in ACCOUNTS])


def row_names(page: Page) -> list[str]:
    return page.locator("#list-results tbody th[scope=row]").all_inner_texts()


def test_filter_sort_and_search_a_list(page: Page, lister: str, screenshots: Path) -> None:
    errors = console_errors(page)
    sign_in(page, lister)
    goto(page, "/o/account")
    expect(page.get_by_role("heading", level=1)).to_have_text("Accounts")
    expect(page.locator("#list-count")).to_have_text("3 records")
    assert row_names(page) == ["Lister Alpha Co", "Lister Beta Co", "Lister Gamma Co"]
    expect(page.get_by_text("Wang Visible Traders")).to_have_count(0)  # another rep's account

    search = page.get_by_role("searchbox", name="Search Accounts")
    search.fill("gamma")  # live: no Enter, the list follows after a pause
    expect(page).to_have_url(re.compile(r"/o/account\?q=gamma$"))
    expect(page.locator("#list-results tbody tr")).to_have_count(1)
    assert row_names(page) == ["Lister Gamma Co"]
    search.fill("")
    expect(page.locator("#list-results tbody tr")).to_have_count(3)

    page.get_by_text("Filters", exact=True).click()
    page.get_by_role("group", name="Industry").get_by_label("Is any of").select_option(["Technology"])
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"/o/account\?industry__in=Technology$"))  # blank controls left out
    expect(page.locator("#list-results tbody tr")).to_have_count(2)

    page.get_by_role("columnheader", name=re.compile("Account Name")).get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"sort=-name"))
    expect(page.get_by_role("columnheader", name=re.compile("Account Name"))).to_have_attribute("aria-sort", "descending")
    assert row_names(page) == ["Lister Gamma Co", "Lister Alpha Co"]
    page.screenshot(path=screenshots / "list-filtered-sorted.png", full_page=True)

    page.reload()  # the address is the view: a bookmark shows the same list
    expect(page.locator("#list-results tbody tr")).to_have_count(2)
    assert row_names(page) == ["Lister Gamma Co", "Lister Alpha Co"]
    assert errors == []


def test_a_bad_filter_value_is_shown_as_a_sentence(page: Page, lister: str) -> None:
    sign_in(page, lister)
    goto(page, "/o/account?annual_revenue__gte=lots")
    expect(page.get_by_role("alert")).to_contain_text("is not a valid value for Annual Revenue")  # the label, not the API name


def test_the_list_fits_a_390_pixel_phone(browser: Browser, base_url: str, lister: str, screenshots: Path) -> None:
    context = browser.new_context(base_url=base_url, viewport={"width": 390, "height": 844}, device_scale_factor=1)
    page = context.new_page()
    errors = console_errors(page)
    sign_in(page, lister)
    goto(page, "/o/account")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "the list page scrolls sideways at 390 px"
    table = page.locator(".list-table")
    assert table.evaluate("element => element.scrollWidth > element.clientWidth")  # the table scrolls in its box
    page.get_by_text("Filters", exact=True).click()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=screenshots / "phone-list.png", full_page=True)
    assert errors == []
    context.close()


def test_the_list_page_has_no_serious_or_critical_accessibility_violations(page: Page, lister: str) -> None:
    sign_in(page, lister)
    goto(page, "/o/account?sort=name")
    page.get_by_text("Filters", exact=True).click()
    assert serious_violations(page) == []
