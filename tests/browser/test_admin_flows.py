"""The administration pages in a real browser: an administrator creates a user and grants a permission
set, the new user signs in and has what the grant allows; accessibility; a 390 px phone."""
from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import goto, ready, sign_in
from tests.browser.test_foundation_flows import AXE, console_errors

ADMIN_PAGES = ("/admin/users", "/admin/users/new", "/admin/roles", "/admin/teams")


def serious_violations(page: Page) -> list[str]:
    page.evaluate(AXE.read_text(encoding="utf-8"))  # run by the test harness, not by the page: CSP is not involved
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [f"{violation['id']} ({violation['impact']}): {violation['help']} -- "
            f"{[node['target'] for node in violation['nodes']][:3]}"
            for violation in result["violations"] if violation["impact"] in ("serious", "critical")]


def test_an_administrator_creates_a_user_grants_a_set_and_the_user_has_what_it_allows(
        page: Page, screenshots: Path) -> None:
    errors = console_errors(page)
    sign_in(page, "admin")
    page.locator("#user-menu").click()
    page.get_by_role("link", name="Administration").click()
    expect(page).to_have_url(re.compile(r"/admin/users$"))
    page.get_by_role("link", name="New user").click()
    page.get_by_label("Username").fill("campaigner")
    page.get_by_label("Display name").fill("Cam Paigner")
    page.get_by_label("Role").select_option(label="Support agent")
    page.get_by_role("button", name="Create user").click()
    password = page.locator("#shown-password").inner_text()
    assert len(password) >= 16
    page.get_by_role("link", name="Continue to campaigner").click()
    expect(page.get_by_role("heading", name="Cam Paigner")).to_be_visible()
    expect(page.locator("#permission-sets")).to_contain_text("Support user")  # through the role
    page.get_by_label("Grant a permission set", exact=True).select_option(label="Marketing user")
    page.get_by_role("button", name="Grant", exact=True).click()
    expect(page.locator("#messages")).to_contain_text("campaigner now holds the permission set Marketing user.")
    expect(page.locator("#permission-sets")).to_contain_text("Marketing user")
    assert serious_violations(page) == [], page.url
    page.screenshot(path=screenshots / "admin-user.png", full_page=True)
    for address in ADMIN_PAGES:
        goto(page, address + ("?status=all" if address == "/admin/users" else ""))
        assert serious_violations(page) == [], address
    goto(page, "/admin/users?q=campaigner")
    expect(page.locator("tbody tr")).to_have_count(1)
    page.screenshot(path=screenshots / "admin-users.png", full_page=True)

    page.context.clear_cookies()
    sign_in(page, "campaigner", password)
    goto(page, "/o/campaign")  # the granted Marketing user set: campaigns, which the role alone does not give
    expect(page.get_by_role("heading", level=1)).to_have_text("Campaigns")
    page.locator("#user-menu").click()
    expect(page.get_by_role("link", name="Administration")).to_have_count(0)
    assert goto(page, "/admin/users").status == 403
    assert errors == []


def test_the_admin_pages_fit_a_390_pixel_phone(browser: Browser, base_url: str, screenshots: Path) -> None:
    context = browser.new_context(base_url=base_url, viewport={"width": 390, "height": 844}, device_scale_factor=1)
    page = context.new_page()
    errors = console_errors(page)
    sign_in(page, "admin")
    for address, name in (("/admin/users?status=all", "phone-admin-users.png"), ("/admin/roles", None),
                          ("/admin/users/new", None)):
        goto(page, address)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, address
        if name:
            page.screenshot(path=screenshots / name, full_page=True)
    goto(page, "/admin/users?status=all")
    page.locator("tbody a").first.click()
    page.wait_for_url(re.compile(r"/admin/users/\d+$"))  # the user's page, not the list it left
    ready(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=screenshots / "phone-admin-user.png", full_page=True)
    assert errors == []
    context.close()


def test_a_reset_password_repeat_that_differs_is_said_before_the_form_is_sent(page: Page) -> None:
    errors = console_errors(page)
    sign_in(page, "admin")
    goto(page, "/admin/users?q=rep1")
    page.locator("tbody a").first.click()
    page.wait_for_url(re.compile(r"/admin/users/\d+$"))
    ready(page)
    address = page.url
    page.get_by_label("Set this password").check()
    page.get_by_label("New password").fill("a fresh passphrase for the rep")
    repeat = page.get_by_label("Repeat the password")
    repeat.fill("a fresh passphrase for the cat")
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    page.get_by_role("button", name="Reset password").click()
    problem = page.locator("#password-confirm-problem")
    expect(problem).to_have_text("The password and its confirmation differ.")
    expect(problem).to_be_visible()
    expect(repeat).to_have_attribute("aria-invalid", "true")
    expect(repeat).to_be_focused()  # taken to the box to fix
    assert posts == [] and page.url == address  # not sent: the browser said it first
    repeat.fill("a fresh passphrase for the rep")  # typed to match: the message goes
    expect(problem).to_have_text("")
    expect(problem).to_be_hidden()
    assert page.locator('input[name="username"][autocomplete="username"]').is_hidden()
    assert errors == []
