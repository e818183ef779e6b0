"""Values in tables (a list page, a detail page's related lists, the users page) never wrap inside a word or a
number; a table wider than the screen scrolls inside its own region and the page itself never scrolls
sideways: on a desktop and on a 390 px phone. A phone number or a date is never split, in a table or not."""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.conftest import goto, sign_in
from tests.webapp import PASSWORD, WebCrm

LONG_ACCOUNT = {"name": "Supercalifragilistic International Holdings Limited", "phone": "+1 (555) 010-0199-1234",
                "billing_city": "Llanfairpwllgwyngyll", "annual_revenue": 123456789012}

#: The text of every table cell, phone number and date (visually hidden hints left out) on more than one line.
WRAPPED_CELLS = """() => {
  const wrapped = [];
  for (const cell of document.querySelectorAll('table td, table th, a[href^="tel:"], time')) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    const lines = new Set();
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!node.textContent.trim() || node.parentElement.closest('.visually-hidden')) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const rect of range.getClientRects()) if (rect.width > 0) lines.add(Math.round(rect.top / 4));
    }
    if (lines.size > 1) wrapped.push(cell.innerText);
  }
  return wrapped;
}"""

#: [scrollWidth, clientWidth] of each scrolling region that holds a table.
TABLE_REGIONS = """() => [...document.querySelectorAll('.table-responsive')].map(
  region => [region.scrollWidth, region.clientWidth, getComputedStyle(region).overflowX])"""


@pytest.fixture(scope="module")
def wide_records(web_crm: WebCrm) -> tuple[str, int]:
    """A rep of this module's own with an account of long values and three contacts of long values under it."""
    from crmkit.engine import Crm
    from crmkit.engine.security.users import SystemDirectory

    crm = Crm.open(web_crm.url)
    try:
        user = SystemDirectory(crm).create_user("widevalues", display_name="Wide Values", password=PASSWORD,
                                                role="sales_rep")
        records = crm.as_user(user.id)
        account = records.records("account").create(LONG_ACCOUNT)
        for n in range(3):
            records.records("contact").create({
                "first_name": "Bartholomew", "last_name": f"Featherstonehaugh{n}", "account": account.id,
                "title": "Vice President of Engineering", "phone": "+44 20 7946 0958",
                "email": f"bartholomew.featherstonehaugh{n}@example-enterprises.com"})
    finally:
        crm.close()
    return "widevalues", account.id


@pytest.mark.parametrize("width", [390, 1280])
def test_table_values_stay_on_one_line_and_wide_tables_scroll_in_their_own_region(
        browser: Browser, base_url: str, wide_records: tuple[str, int], width: int, screenshots: Path) -> None:
    username, account_id = wide_records
    context = browser.new_context(base_url=base_url, viewport={"width": width, "height": 900})
    page: Page = context.new_page()
    try:
        sign_in(page, username)
        for address in ("/o/account", "/o/contact", f"/r/account/{account_id}"):
            goto(page, address)
            assert page.evaluate(WRAPPED_CELLS) == [], f"values wrap on {address} at {width} px"
            assert page.evaluate("document.documentElement.scrollWidth") <= width, \
                f"{address} scrolls sideways at {width} px"
            regions = page.evaluate(TABLE_REGIONS)
            assert regions and all(overflow == "auto" for _, _, overflow in regions), address
            if width == 390:
                assert any(scroll > client for scroll, client, _ in regions), \
                    f"the wide table of {address} does not scroll in its region"
            page.screenshot(path=screenshots / f"table-values-{width}{address.replace('/', '-')}.png",
                            full_page=True)
    finally:
        context.close()
