"""A field of every field type in a real browser, on a 390 px phone: fill every widget, fix an error, save,
edit in place, filter the list; screenshots at phone and desktop width; axe on the form and the detail page."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import goto, lookup_box, serving, sign_in
from tests.browser.test_foundation_flows import AXE
from tests.browser.test_record_flows import unexpected
from tests.browser.test_foundation_flows import console_errors
from tests.webapp import build_every_field_type_crm

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def specimen_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server of its own over the standard CRM plus tests/packages/every_field_type.yaml."""
    from crmkit.engine import Crm

    web = build_every_field_type_crm(tmp_path_factory.mktemp("browser-specimens"))
    crm = Crm.open(web.url)
    try:
        crm.as_user(web.users["wang"]).records("specimen_group").create({"name": "North group"})
    finally:
        crm.close()
    with serving(web.url) as address:
        yield address


def serious_violations(page: Page) -> list[str]:
    page.evaluate(AXE.read_text(encoding="utf-8"))  # run by the test harness, not by the page: CSP is not involved
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [f"{violation['id']} ({violation['impact']}): {violation['help']} -- "
            f"{[node['target'] for node in violation['nodes']][:3]}"
            for violation in result["violations"] if violation["impact"] in ("serious", "critical")]


def fits(page: Page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{page.url} scrolls sideways"


def field(page: Page, name: str):
    return page.locator(f"#field-{name}")


def test_every_widget_on_a_phone_create_fix_an_error_edit_in_place_and_filter(browser: Browser, specimen_url: str,
                                                                              screenshots: Path) -> None:
    context = browser.new_context(base_url=specimen_url, viewport=PHONE, device_scale_factor=1)
    page = context.new_page()
    errors = console_errors(page)
    sign_in(page, "wang")
    goto(page, "/o/specimen/new")
    fits(page, 390)
    assert serious_violations(page) == []
    field(page, "name").fill("Phone specimen")
    with page.expect_response("**/o/specimen/form"):
        field(page, "stage").select_option("Lost")  # shows the dependent loss reason
    field(page, "loss_reason").select_option("Price")
    lookup_box(page, "group").focus()  # the refreshed form's Tom Select over /o/specimen_group/suggest
    with page.expect_response(re.compile(r"/o/specimen_group/suggest\?q=Nor")):
        page.keyboard.type("Nor")
    page.get_by_role("option", name="North group").click()
    field(page, "tags").select_option(["Red", "Blue"])
    field(page, "active").check()
    field(page, "headcount").fill("42")
    field(page, "score").fill("3.142")
    field(page, "discount").fill("60")  # over 50 without a budget: the validation rule refuses it
    field(page, "starts_on").fill("2026-03-01")
    field(page, "kickoff").fill("2026-03-01T09:30")
    field(page, "email").fill("phone@example.com")
    field(page, "phone").fill("+86 10 8888 8888")
    field(page, "website").fill("example.com")
    field(page, "mobile").fill("138 1234 5678")
    field(page, "credit_code").fill("91350100M000100Y43")
    field(page, "notes").fill("Line one\nLine two")
    fits(page, 390)
    page.screenshot(path=screenshots / "phone-every-field-type-form.png", full_page=True)
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        page.get_by_role("button", name="Save").click()
    assert answer.value.status == 422
    expect(page.locator("#field-discount-errors")).to_have_text("A discount over 50% needs a budget.")
    expect(field(page, "discount")).to_have_attribute("aria-invalid", "true")
    expect(field(page, "headcount")).to_have_value("42")  # what was typed is kept
    page.screenshot(path=screenshots / "phone-every-field-type-error.png", full_page=True)
    field(page, "budget").fill("1000")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Phone specimen")
    for shown in ["$1,000.00", "60.00%", "Mar 1, 2026", "North group", "https://example.com", "138 1234 5678",
                  "$200.00"]:
        expect(page.get_by_text(shown, exact=True).first).to_be_visible()
    fits(page, 390)
    assert serious_violations(page) == []
    page.screenshot(path=screenshots / "phone-every-field-type-detail.png", full_page=True)

    headcount = page.locator('dd[data-field="headcount"]')
    headcount.get_by_role("button", name="Edit Headcount").click()
    headcount.get_by_label("Headcount").fill("43")
    headcount.get_by_role("button", name="Save Headcount").click()
    expect(headcount).to_contain_text("43")
    tags = page.locator('dd[data-field="tags"]')
    tags.get_by_role("button", name="Edit Tags").click()
    tags.get_by_label("Tags").select_option(["Green"])
    tags.get_by_role("button", name="Save Tags").click()
    expect(tags).to_contain_text("Green")
    fits(page, 390)
    detail = page.url

    goto(page, "/o/specimen")
    fits(page, 390)
    page.locator("details.list-filters summary").click()
    page.locator("#filter-stage-in").select_option(["Lost"])
    page.locator("#filter-starts_on-gte").fill("2026-02-01")
    page.locator("#filter-starts_on-lte").fill("2026-03-31")
    page.locator("#filter-active-eq").select_option("true")
    with page.expect_response(re.compile(r"/o/specimen\?.*stage__in=Lost")):
        page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_role("link", name="Phone specimen")).to_be_visible()
    expect(page.locator("details.list-filters")).not_to_have_attribute("open", "")  # folded: the results show
    page.locator("details.list-filters summary").click()
    page.locator("#filter-headcount-gte").fill("50")
    with page.expect_response(re.compile(r"/o/specimen\?.*headcount__gte=50")):
        page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_role("link", name="Phone specimen")).to_have_count(0)
    fits(page, 390)
    page.screenshot(path=screenshots / "phone-every-field-type-list.png", full_page=True)
    assert unexpected(errors) == []
    context.close()

    desktop = browser.new_context(base_url=specimen_url, viewport=DESKTOP, device_scale_factor=1)
    page = desktop.new_page()
    sign_in(page, "wang")
    for name, path in [("form", "/o/specimen/new"), ("detail", re.sub(r"^https?://[^/]+", "", detail)),
                       ("list", "/o/specimen")]:
        goto(page, path)
        page.screenshot(path=screenshots / f"every-field-type-{name}.png", full_page=True)
    desktop.close()
