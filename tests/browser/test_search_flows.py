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
    options = page.get_by_role("listbox").get_by_role("option")
    # The answer for all the typed text, not one for "star" shown while "l" was on its way (a slow machine).
    expect(options.last).to_have_text("All results for “starl”")
    expect(options.first).to_contain_text("Starlight Optics")
    box.press("ArrowUp")  # from none chosen: the last option, "All results"
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q=starl$"))
    expect(page.locator(".search-hit mark")).to_have_text("Starl")


def test_escape_closes_the_list_and_an_answer_coming_after_it_does_not_open_it_again(page: Page,
                                                                                     web_crm: WebCrm) -> None:
    rep = rep_with_accounts(web_crm.url, "late_answer_rep", [{"name": "Starlight Optics"}])
    sign_in(page, rep)
    box = page.get_by_role("combobox", name="Search all records")
    preview = page.locator("#search-preview")
    box.press_sequentially("star", delay=40)
    expect(preview.get_by_role("option").last).to_have_text("All results for “star”")
    # A slow network on cue: the page holds the request for "starl" until the test lets it go.
    page.evaluate("""() => {
        const open = XMLHttpRequest.prototype.open, send = XMLHttpRequest.prototype.send;
        let release;
        const released = new Promise((resolve) => { release = resolve; });
        window.crmkitTestRelease = release;
        XMLHttpRequest.prototype.open = function (method, address, ...rest) {
            this.crmkitTestAddress = String(address);
            return open.call(this, method, address, ...rest);
        };
        XMLHttpRequest.prototype.send = function (...body) {
            if (!this.crmkitTestAddress.includes("q=starl")) {
                return send.apply(this, body);
            }
            document.documentElement.dataset.testHeld = "starl";
            released.then(() => send.apply(this, body));
        };
    }""")
    box.press("l")
    expect(page.locator("html[data-test-held='starl']")).to_be_attached()  # htmx has asked for "starl"
    box.press("Escape")
    expect(preview).to_be_hidden()
    page.evaluate("window.crmkitTestRelease()")
    expect(preview.locator("a[role=option]").last).to_have_text("All results for “starl”")  # the answer came
    expect(preview).to_be_hidden()  # and did not open the list Escape closed
    expect(box).to_have_attribute("aria-expanded", "false")
    expect(box).to_have_value("starl")
    box.press("ArrowDown")  # the user asks for it: open, on its first option
    expect(preview).to_be_visible()
    expect(preview.get_by_role("option").first).to_have_attribute("aria-selected", "true")
