"""Browser tests wait for the page's script before they interact: the page says when it is ready, and no test
waits by the clock or opens a page without waiting for its script (tests/browser/conftest.py: goto, ready)."""
from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page

from tests.browser.conftest import goto, sign_in

HERE = Path(__file__).resolve().parent
#: Waits that race the page's script: by the clock, for the network to fall quiet, or a page opened without `ready`;
#: and wait_for_function, whose predicate, once it has to be polled, is run with eval() in the page, which the
#: application's Content-Security-Policy refuses (a locator or `expect` waits without it).
RACY = re.compile(r"wait_for_timeout|time\.sleep|\bsleep\(|networkidle|\b\w+\.goto\(|wait_for_function")


def test_the_page_says_when_its_script_is_ready(page: Page) -> None:
    sign_in(page, "wang")
    goto(page, "/o/account")
    set_up = page.evaluate("""() => [document.documentElement.dataset.crmkitReady, typeof window.htmx,
        Boolean(document.querySelector('select[data-lookup-url]').tomselect)]""")
    assert set_up == ["true", "object", True]  # htmx loaded, the owner filter's autocomplete made


def test_no_browser_test_waits_by_the_clock_or_skips_waiting_for_the_script() -> None:
    racy = [f"{path.name}:{number}: {line.strip()}"
            for path in sorted(HERE.glob("*.py")) if path.name not in ("conftest.py", Path(__file__).name)
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if RACY.search(line)]
    assert racy == []
