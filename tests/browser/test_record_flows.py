"""A record's detail page and forms in a real browser: create, related records, errors, lookups, phone width, axe."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import goto, lookup_box, ready, sign_in
from tests.browser.test_foundation_flows import AXE, console_errors
from tests.webapp import WebCrm, record_page_users


@pytest.fixture(scope="module", autouse=True)
def reps(web_crm: WebCrm) -> dict[str, int]:
    """This module's own sales reps, so no other test's sign-ins or settings reach them."""
    return record_page_users(web_crm.url, ("b5", "b6", "b7"))


def unexpected(errors: list[str]) -> list[str]:
    """Console errors other than htmx's note of a 422 answer (a form refused by the engine, shown on purpose)."""
    return [error for error in errors if not error.startswith("Response Status Error Code 422")]


def create_account(page: Page, name: str) -> str:
    """Creates an account through its form; returns the detail page's path."""
    goto(page, "/o/account/new")
    page.get_by_label("Account Name").fill(name)
    page.get_by_label("Type", exact=True).select_option("Customer")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    ready(page)  # the detail page's inline editors are htmx
    return re.sub(r"^https?://[^/]+", "", page.url)


def test_create_an_account_and_a_contact_under_it(page: Page, screenshots: Path) -> None:
    errors = console_errors(page)
    sign_in(page, "rec_b5")
    account_path = create_account(page, "Harbour Logistics")
    expect(page.get_by_role("status")).to_have_text("Account “Harbour Logistics” was created.")
    expect(page.get_by_text(re.compile(r"^ACC-\d{5}$"))).to_be_visible()
    page.screenshot(path=screenshots / "record-account.png", full_page=True)
    contacts = page.get_by_role("region", name="Contacts")
    contacts.get_by_role("link", name="New Contacts").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New Contact")
    ready(page)
    expect(page.locator(".ts-wrapper").filter(has_text="Harbour Logistics")).to_be_visible()  # prefilled lookup
    page.get_by_label("First Name").fill("Mei")
    page.get_by_label("Last Name").fill("Chen")
    page.get_by_label("Email", exact=True).fill("mei.chen@example.com")
    page.screenshot(path=screenshots / "record-contact-form.png", full_page=True)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mei Chen")
    account_link = page.get_by_role("region", name="Contact Information").get_by_role("link", name="Harbour Logistics")
    expect(account_link).to_have_attribute("href", account_path)
    account_link.click()
    expect(page.get_by_role("region", name="Contacts").get_by_role("link", name="Mei Chen")).to_be_visible()
    assert errors == []


def test_a_field_error_then_save_with_the_lookup_picked_by_typing(page: Page, screenshots: Path, web_crm: WebCrm,
                                                                  reps: dict[str, int]) -> None:
    from crmkit.engine import Crm

    crm = Crm.open(web_crm.url)
    try:  # more accounts before it than the autocomplete shows on focus: typing must find it anyway
        accounts = crm.as_user(reps["rec_b6"]).records("account")
        for number in range(25):
            accounts.create({"name": f"Aardvark {number:02}"})
    finally:
        crm.close()
    errors = console_errors(page)
    sign_in(page, "rec_b6")
    create_account(page, "Lantern Foods")
    goto(page, "/o/contact/new")
    page.get_by_label("First Name").fill("Ada")
    page.get_by_label("Email", exact=True).fill("not an address")
    page.get_by_label("Title", exact=True).fill("CTO")
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        page.get_by_role("button", name="Save").click()
    assert answer.value.status == 422
    expect(page.get_by_role("alert")).to_contain_text("The record was not saved.")
    expect(page.locator("#record-errors")).to_be_focused()  # taken to the summary, not left on a moved button
    expect(page.get_by_label("Email", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#field-last_name-errors")).to_be_visible()
    expect(page.get_by_label("First Name")).to_have_value("Ada")
    expect(page.get_by_label("Title", exact=True)).to_have_value("CTO")
    page.screenshot(path=screenshots / "record-form-errors.png", full_page=True)
    page.get_by_label("Last Name").fill("Lovelace")
    page.get_by_label("Email", exact=True).fill("ada@example.com")
    lookup_box(page, "account").focus()  # the refused form's Tom Select over /o/account/suggest
    page.keyboard.type("Lant")
    page.get_by_role("option", name="Lantern Foods").click()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ada Lovelace")
    expect(page.get_by_role("region", name="Contact Information").get_by_role("link", name="Lantern Foods")).to_be_visible()
    assert unexpected(errors) == []


def test_enter_in_a_lookup_picks_the_first_record_matching_the_typed_text_not_none(page: Page) -> None:
    sign_in(page, "rec_b7")
    create_account(page, "Quokka Logistics")
    goto(page, "/o/contact/new")
    page.get_by_label("Last Name").fill("Enter")
    page.get_by_label("Email", exact=True).fill("enter@example.com")
    page.get_by_role("combobox", name="Account").focus()
    with page.expect_response(lambda response: "/o/account/suggest?q=Quokka" in response.url):
        page.keyboard.type("Quokka")
    expect(page.get_by_role("option", name="Quokka Logistics")).to_have_class(re.compile(r"\bactive\b"))
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter")
    expect(page.get_by_role("region", name="Contact Information").get_by_role("link", name="Quokka Logistics")).to_be_visible()


def test_a_late_answer_for_text_typed_earlier_leaves_the_first_match_chosen(page: Page) -> None:
    """Answers can arrive out of order on a busy network: the list loaded on focus (typed text "") answering after
    the one for "Wombat" must not move the choice back to None, or Enter saves the contact without its account."""
    sign_in(page, "rec_b7")
    create_account(page, "Wombat Freight")
    goto(page, "/o/contact/new")
    page.get_by_label("Last Name").fill("Late")
    page.get_by_label("Email", exact=True).fill("late@example.com")
    held = []
    page.route(re.compile(r"/o/account/suggest\?q=$"), lambda route: held.append(route))  # the list loaded on focus waits here
    box = lookup_box(page, "account")
    box.focus()
    with page.expect_response(lambda response: "/o/account/suggest?q=Wombat" in response.url):
        page.keyboard.type("Wombat")
    chosen = page.get_by_role("option", name="Wombat Freight")
    expect(chosen).to_have_class(re.compile(r"\bactive\b"))
    assert len(held) == 1
    wrapper = page.locator(".ts-wrapper").filter(has=box)
    held[0].continue_()
    expect(wrapper).not_to_have_class(re.compile(r"\bloading\b"))  # Tom Select took the late answer in
    expect(chosen).to_have_class(re.compile(r"\bactive\b"))
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Late")
    expect(page.get_by_role("region", name="Contact Information").get_by_role("link", name="Wombat Freight")).to_be_visible()


def test_a_picklist_that_controls_a_section_shows_it_when_changed(page: Page) -> None:
    errors = console_errors(page)
    sign_in(page, "rec_b6")
    goto(page, "/o/opportunity/new")
    expect(page.get_by_label("Loss Reason")).to_have_count(0)
    with page.expect_response("**/o/opportunity/form"):
        page.get_by_label("Stage").select_option("Closed Lost")
    expect(page.get_by_label("Loss Reason")).to_be_visible()
    assert errors == []


@pytest.mark.parametrize("kind", ["detail", "new", "edit"])
def test_record_pages_fit_a_390_pixel_phone_and_pass_axe(browser: Browser, base_url: str, screenshots: Path,
                                                         kind: str) -> None:
    context = browser.new_context(base_url=base_url, viewport={"width": 390, "height": 844}, device_scale_factor=1)
    page = context.new_page()
    errors = console_errors(page)
    sign_in(page, "rec_b7")
    detail = create_account(page, f"Phone Width {kind}")
    goto(page, {"detail": detail, "new": "/o/contact/new", "edit": f"{detail}/edit"}[kind])
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, f"{kind} scrolls sideways at 390 px"
    page.screenshot(path=screenshots / f"phone-record-{kind}.png", full_page=True)
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    serious = [f"{violation['id']} ({violation['impact']}): {violation['help']} -- "
               f"{[node['target'] for node in violation['nodes']][:3]}"
               for violation in result["violations"] if violation["impact"] in ("serious", "critical")]
    assert serious == [], f"{kind}: {serious}"
    assert errors == []
    context.close()


def test_inline_edit_of_one_field(page: Page, screenshots: Path) -> None:
    errors = console_errors(page)
    sign_in(page, "rec_b5")
    create_account(page, "Inline Edit Works")
    industry = page.locator('dd[data-field="industry"]')
    industry.get_by_role("button", name="Edit Industry").click()
    industry.get_by_label("Industry").select_option("Energy")
    page.screenshot(path=screenshots / "record-inline-edit.png", full_page=False)
    industry.get_by_role("button", name="Save Industry").click()
    expect(industry).to_contain_text("Energy")
    expect(industry.get_by_role("button", name="Edit Industry")).to_be_visible()
    page.reload()
    expect(page.locator('dd[data-field="industry"]')).to_contain_text("Energy")
    assert errors == []


def test_inline_editors_work_from_the_keyboard_escape_cancels_and_the_focus_comes_back(page: Page) -> None:
    errors = console_errors(page)
    sign_in(page, "rec_b6")
    create_account(page, "Keyboard Editing")
    for field, label, control in [("phone", "Phone", "input"), ("industry", "Industry", "select"),
                                  ("parent_account", "Parent Account", "lookup")]:
        cell = page.locator(f'dd[data-field="{field}"]')
        edit = cell.get_by_role("button", name=f"Edit {label}", exact=True)
        edit.focus()
        page.keyboard.press("Enter")
        expect(cell.locator("form.inline-editor")).to_be_visible()
        if control == "lookup":  # the focus is in Tom Select's box, its list open; a first Escape closes the list
            expect(cell.locator(".ts-control input")).to_be_focused()
            page.keyboard.type("zz")
            expect(cell.locator(".ts-dropdown")).to_be_visible()
            page.keyboard.press("Escape")
            # The list stays closed (static/crmkit/app.js: crmkitKeepClosedAfterEscape), though Tom Select's
            # pause after typing or the search for "zz" may end after this Escape: the next one is the editor's.
            expect(cell.locator(".ts-dropdown")).to_be_hidden()
            expect(cell.locator("form.inline-editor")).to_be_visible()
        else:
            expect(cell.get_by_label(label, exact=True)).to_be_focused()
            if control == "input":
                page.keyboard.type("+86 10 1234 5678")
        page.keyboard.press("Escape")
        expect(cell.locator("form.inline-editor")).to_have_count(0)
        expect(edit).to_be_focused()  # the keyboard user is where they were
    expect(page.locator('dd[data-field="phone"]')).not_to_contain_text("1234 5678")  # cancelled: nothing saved

    phone = page.locator('dd[data-field="phone"]')
    phone.get_by_role("button", name="Edit Phone", exact=True).click()
    # The editor comes over htmx: keys typed before its box has the focus are lost.
    expect(phone.get_by_label("Phone", exact=True)).to_be_focused()
    page.keyboard.type("+86 10 8765 4321")
    page.keyboard.press("Enter")  # saves
    expect(phone).to_contain_text("8765 4321")
    expect(phone.get_by_role("button", name="Edit Phone", exact=True)).to_be_focused()
    assert unexpected(errors) == []


def test_a_lookups_list_closed_with_escape_stays_closed_when_the_search_is_answered_after_it(page: Page) -> None:
    """Escape closes an inline editor's lookup list while the search for the text typed just before
    is still out; its answer, coming after, does not open the list again, so the next Escape cancels."""
    errors = console_errors(page)
    sign_in(page, "rec_b7")
    create_account(page, "Late Answer")
    cell = page.locator('dd[data-field="parent_account"]')
    cell.get_by_role("button", name="Edit Parent Account", exact=True).click()
    dropdown = cell.locator(".ts-dropdown")
    expect(cell.locator(".ts-control input")).to_be_focused()
    expect(dropdown).to_be_visible()  # opened on focus, with the records loaded then
    # A slow network on cue: the page's fetch holds the search for "zz" until the test lets it go.
    page.evaluate("""() => {
        const fetchNow = window.fetch;
        let release;
        const released = new Promise((resolve) => { release = resolve; });
        window.crmkitTestRelease = release;
        window.fetch = (address, ...rest) => {
            if (!String(address).includes("?q=zz")) {
                return fetchNow(address, ...rest);
            }
            document.documentElement.dataset.testHeld = "zz";
            return released.then(() => fetchNow(address, ...rest));
        };
    }""")
    page.keyboard.type("zz")
    expect(page.locator("html[data-test-held='zz']")).to_be_attached()  # Tom Select has asked for "zz"
    expect(dropdown).to_be_visible()
    page.keyboard.press("Escape")
    expect(dropdown).to_be_hidden()
    page.evaluate("window.crmkitTestRelease()")
    # Tom Select's wrapper loses its "loading" class once the answer has been handled (list opened or not).
    expect(cell.locator(".ts-wrapper")).not_to_have_class(re.compile(r"\bloading\b"))
    expect(dropdown).to_be_hidden()
    expect(cell.locator("form.inline-editor")).to_be_visible()
    page.keyboard.press("Escape")
    expect(cell.locator("form.inline-editor")).to_have_count(0)
    expect(cell.get_by_role("button", name="Edit Parent Account", exact=True)).to_be_focused()
    assert unexpected(errors) == []


def test_the_list_pages_pop_up_panels_close_on_escape(page: Page) -> None:
    sign_in(page, "rec_b7")
    goto(page, "/o/account")
    columns = page.locator("details#list-columns")
    columns.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(columns).to_have_attribute("open", "")
    page.keyboard.press("Tab")
    page.keyboard.press("Escape")
    expect(columns).not_to_have_attribute("open", "")
    expect(columns.locator("summary")).to_be_focused()
