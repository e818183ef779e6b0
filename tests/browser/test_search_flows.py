"""The header search box in a real browser: typing shows the best hits in a dropdown, the arrow
keys choose one and Enter opens it; Escape closes the list; Enter with none chosen opens the search page."""
from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import rep_with_accounts, serious_violations, sign_in
from tests.webapp import WebCrm


def test_typing_in_the_header_box_shows_hits_and_enter_opens_the_chosen_one(page: Page, web_crm: WebCrm,
                                                                            screenshots: Path) -> None:
    rep = rep_with_accounts(web_crm.url, "preview_rep", [{"name": "星辰科技有限公司"}, {"name": "Starlight Optics"}])
    sign_in(page, rep)
    box = page.get_by_role("combobox", name="Search all records")
    box.press_sequentially("xingch", delay=40)
    listbox = page.get_by_role("listbox", name="Best matches")
    expect(listbox).to_be_visible()
    expect(box).to_have_attribute("aria-expanded", "true")
    options = listbox.get_by_role("option")
    expect(options.first).to_contain_text("星辰科技有限公司")
    expect(options.first.locator("mark")).to_have_text("星辰")
    expect(options.first).to_contain_text("Pinyin match")
    expect(options.last).to_have_text("All results for “xingch”")
    assert serious_violations(page) == []
    page.screenshot(path=screenshots / "search-preview.png", full_page=False)

    box.press("Escape")
    expect(listbox).to_be_hidden()
    box.press("ArrowDown")  # opens the list again on its first option
    expect(options.first).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", "search-option-1")
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/r/account/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("星辰科技有限公司")

    box = page.get_by_role("combobox", name="Search all records")
    box.press_sequentially("starl", delay=40)
    expect(page.get_by_role("listbox").get_by_role("option").first).to_contain_text("Starlight Optics")
    box.press("ArrowUp")  # from none chosen: the last option, "All results"
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q=starl$"))
    expect(page.locator(".search-hit mark")).to_have_text("Starl")
