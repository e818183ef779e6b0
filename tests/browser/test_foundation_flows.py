"""The foundation's flows in a real browser: sign in and out, Chinese, search, phone width, accessibility."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import goto, ready, sign_in

AXE = Path(__file__).resolve().parents[2] / "platform" / "ui" / "static" / "vendor" / "axe-core" / "axe.min.js"
PAGES = {"login": "/login", "home": "/", "search": "/search?q=traders", "settings": "/settings"}


def console_errors(page: Page) -> list[str]:
    """Collects the page's script errors and console errors (a CSP violation is one) from now on.

    "Failed to load resource" is left out: Chromium says it of every 4xx page, and the
    sign-in page answers a wrong password with 401 on purpose.
    """
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource") else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def test_sign_in_after_a_wrong_password(page: Page, screenshots: Path) -> None:
    errors = console_errors(page)
    goto(page, "/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    page.get_by_label("Username").fill("wang")
    page.get_by_label("Password").fill("not the right password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("The username or password is incorrect.")
    expect(page.get_by_label("Username")).to_have_value("wang")
    page.screenshot(path=screenshots / "login-wrong-password.png", full_page=True)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, 王伟")
    page.screenshot(path=screenshots / "home.png", full_page=True)
    assert errors == []


def test_signing_out_ends_the_session_for_the_back_button_and_an_old_cookie(page: Page, browser: Browser,
                                                                             base_url: str) -> None:
    sign_in(page, "rep0")
    goto(page, "/settings")
    cookies = page.context.cookies()
    page.get_by_role("button", name="Rep 0").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    page.go_back()
    expect(page).to_have_url(f"{base_url}/login?next=/settings")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    replay = browser.new_context(base_url=base_url)
    replay.add_cookies(cookies)
    stolen = replay.new_page()
    goto(stolen, "/")
    expect(stolen).to_have_url(f"{base_url}/login?next=/")
    replay.close()


def test_switching_to_chinese(page: Page, screenshots: Path) -> None:
    sign_in(page, "rep1")
    page.get_by_role("button", name="Rep 1").click()
    page.get_by_role("button", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh")
    ready(page)  # the menus are Bootstrap's script
    expect(page.get_by_role("button", name="标准 CRM")).to_be_visible()
    page.get_by_role("button", name="标准 CRM").click()
    expect(page.get_by_role("navigation").get_by_role("link", name="客户", exact=True)).to_be_visible()
    page.screenshot(path=screenshots / "home-zh.png", full_page=True)
    goto(page, "/settings")
    expect(page.get_by_role("heading", name="设置")).to_be_visible()


def test_htmx_requests_carry_the_csrf_token(page: Page) -> None:
    sign_in(page, "rep2")  # ready: htmx is loaded and set up
    with page.expect_response("**/language") as answer:
        page.evaluate("htmx.ajax('POST', '/language', {target: '#messages', swap: 'none', "
                      "values: {language: 'zh', next: '/'}})")
    assert answer.value.status in (200, 303)  # 303: redirect after post
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "zh")


def test_global_search_finds_only_what_the_user_may_see(page: Page, screenshots: Path) -> None:
    sign_in(page, "wang")
    page.get_by_role("combobox", name="Search all records").fill("traders")
    page.get_by_role("combobox", name="Search all records").press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q=traders$"))
    expect(page.get_by_role("link", name="Wang Visible Traders")).to_have_attribute("href", re.compile(r"^/r/account/\d+$"))
    expect(page.get_by_text("Li Hidden Traders")).to_have_count(0)
    expect(page.get_by_role("heading", name="Accounts")).to_be_visible()
    page.screenshot(path=screenshots / "search.png", full_page=True)


@pytest.mark.parametrize("name", sorted(PAGES))
def test_pages_fit_a_390_pixel_phone(browser: Browser, base_url: str, screenshots: Path, name: str) -> None:
    context = browser.new_context(base_url=base_url, viewport={"width": 390, "height": 844}, device_scale_factor=1)
    page = context.new_page()
    errors = console_errors(page)
    if name != "login":
        sign_in(page, "rep3")
    goto(page, PAGES[name])
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, f"{name} scrolls sideways at 390 px"
    if name != "login":
        toggler = page.get_by_role("button", name="Show the navigation")
        expect(toggler).to_be_visible()
        toggler.click()
        expect(page.locator("#main-nav.show")).to_be_visible()  # Bootstrap's script runs under the CSP
        expect(page.locator(".collapsing")).to_have_count(0)
        expect(page.get_by_role("combobox", name="Search all records").first).to_be_visible()
    page.screenshot(path=screenshots / f"phone-{name}.png", full_page=True)
    assert errors == []
    context.close()


@pytest.mark.parametrize("name", sorted(PAGES))
def test_no_serious_or_critical_accessibility_violations(page: Page, name: str) -> None:
    if name != "login":
        sign_in(page, "rep4")
    goto(page, PAGES[name])
    assert serious_violations(page) == [], name


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now, one line each (id, impact, help, where)."""
    page.evaluate(AXE.read_text(encoding="utf-8"))  # run by the test harness, not by the page: CSP is not involved
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [f"{violation['id']} ({violation['impact']}): {violation['help']} -- "
            f"{[node['target'] for node in violation['nodes']][:3]}"
            for violation in result["violations"] if violation["impact"] in ("serious", "critical")]
