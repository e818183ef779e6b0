"""The owner filter of a list in a real browser: an autocomplete over /users/suggest, not a list of every user."""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import goto, sign_in
from tests.browser.test_foundation_flows import console_errors


def test_the_owner_filter_suggests_users_as_one_types_and_filters_by_the_chosen_one(page: Page) -> None:
    errors = console_errors(page)
    sign_in(page, "admin")
    goto(page, "/o/account")
    page.get_by_text("Filters", exact=True).click()
    owner = page.get_by_role("group", name="Owner").get_by_role("combobox", name="Is", exact=True)
    owner.focus()  # by keyboard, as a person tabbing through the filters would
    page.keyboard.type("王")
    option = page.get_by_role("option", name="王伟")
    expect(option).to_be_visible()
    option.click()
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"/o/account\?owner_id__eq=\d+$"))
    expect(page.locator("#list-results")).to_contain_text("Wang Visible Traders")
    expect(page.locator("#list-results")).not_to_contain_text("Li Hidden Traders")
    assert errors == []
