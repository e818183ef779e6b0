"""Browser tests: Playwright drives Debian's Chromium against a crmkit server started on 127.0.0.1.

Without /usr/bin/chromium (or CRMKIT_CHROMIUM) these tests are skipped, saying why, unless
CRMKIT_REQUIRE_BROWSER=1 (as .ci/run sets), which turns the skip into a failure: CI never
passes by skipping. Playwright's own browser downloads are never used.
Screenshots go to tests/browser/screenshots/ (git-ignored) for a person to look at.
"""
from __future__ import annotations

import os
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import pytest

from tests.webapp import PASSWORD, WebCrm, build_web_crm

CHROMIUM = os.environ.get("CRMKIT_CHROMIUM", "/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("CRMKIT_REQUIRE_BROWSER") == "1"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage"]


def chromium_problem() -> str | None:
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)) and not shutil.which(CHROMIUM):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CRMKIT_CHROMIUM)"
    return None


@pytest.fixture(scope="session", autouse=True)
def require_chromium() -> None:
    problem = chromium_problem()
    if problem:
        if REQUIRE_BROWSER:
            pytest.fail(f"{problem}, and CRMKIT_REQUIRE_BROWSER=1 requires it")
        pytest.skip(problem)


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    """pytest-playwright's launch options: Debian's Chromium, headless, quiet."""
    return {"executable_path": CHROMIUM, "headless": True, "args": CHROMIUM_FLAGS}


@pytest.fixture(scope="session")
def web_crm(tmp_path_factory: pytest.TempPathFactory) -> WebCrm:
    return build_web_crm(tmp_path_factory.mktemp("browser"))


def closing_responses(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterator[bytes]]:
    """`app`, whose response bodies are closed even when the browser drops the connection mid-body.

    Werkzeug's development server does not close a body it stops sending (a script download the
    browser cancelled when the page moved on); the file a static response streams is then left to
    the garbage collector, whose ResourceWarning the suite turns into an error in whatever test
    runs next. gunicorn, which serves crmkit in production, closes it as PEP 3333 requires.
    """
    def wrapped(environ: dict, start_response: Callable) -> Iterator[bytes]:
        body = app(environ, start_response)

        def stream() -> Iterator[bytes]:
            try:
                for chunk in body:
                    yield chunk
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()

        return stream()

    return wrapped


@contextmanager
def serving(url: str, secret: str = "browser-test-secret-key-0123456789-abcdefghij",
            extensions: Any = None) -> Iterator[str]:
    """A crmkit server over the database at `url` on a free port of 127.0.0.1; yields its address.

    `extensions`: the plugins' contributions the Crm opens with (default: the installed plugins')."""
    from werkzeug.serving import make_server

    from crmkit.engine import Crm
    from crmkit.ui import create_app

    crm = Crm.open(url, extensions=extensions)
    app = create_app(crm, {"SECRET_KEY": secret})
    server = make_server("127.0.0.1", 0, closing_responses(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="crmkit-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        crm.close()


@pytest.fixture(scope="session")
def base_url(web_crm: WebCrm) -> Iterator[str]:
    """The address of a crmkit server on a free port of 127.0.0.1, for the whole session."""
    with serving(web_crm.url) as address:
        yield address


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS


def ready(page) -> None:
    """Waits until the page's own script is ready: static/crmkit/app.js marks `<html data-crmkit-ready>`
    once every script of the page has set itself up and htmx has processed it.

    Call it before interacting with what script drives (htmx forms and live search, lookups,
    the board's drag and drop, the bulk bar), after the test knows the new page is the one shown
    (`goto` does both; after a click that opens a page, expect its heading or address first):
    the page it left was ready too.
    """
    # A selector, not wait_for_function: a predicate that has to be polled is evaluated with
    # eval() in the page, which the application's Content-Security-Policy refuses.
    page.locator("html[data-crmkit-ready='true']").wait_for(state="attached")


def lookup_box(page, field: str):
    """The text box of a form's lookup `field` once Tom Select has set it up (static/crmkit/app.js:
    crmkitLookups), for a test to focus and type into.

    Waits for Tom Select's own input (`#field-<field>-ts-control`), not for the select: while htmx
    settles a swapped form (a refresh, a refused save), the new select wears the old one's attributes
    for 20 ms, and keys typed then reach the bare select instead of the autocomplete.
    """
    from playwright.sync_api import expect

    box = page.locator(f"#field-{field}-ts-control")
    expect(box).to_be_visible()
    return box


def goto(page, address: str):
    """page.goto(address), then `ready`: the page is loaded and its script set up. Returns the response."""
    response = page.goto(address)
    ready(page)
    return response


def sign_in(page, username: str, password: str = PASSWORD) -> None:
    """Signs in through the form, as a person would, and waits for the home page and its script."""
    goto(page, "/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
    ready(page)


def rep_with_accounts(url: str, username: str, accounts: list[dict[str, Any]]) -> str:
    """A sales rep of a test module's own (private accounts: no other rep sees them) with `accounts`;
    returns the username, whose password is PASSWORD."""
    from crmkit.engine import Crm
    from crmkit.engine.security.users import SystemDirectory

    crm = Crm.open(url)
    try:
        user = SystemDirectory(crm).create_user(username, display_name=username.title(), password=PASSWORD,
                                                role="sales_rep")
        for values in accounts:
            crm.as_user(user.id).records("account").create(values)
    finally:
        crm.close()
    return username


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now, one line each (run by the test, not the page)."""
    from tests.browser.test_foundation_flows import AXE

    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [f"{violation['id']} ({violation['impact']}): {violation['help']} -- "
            f"{[node['target'] for node in violation['nodes']][:3]}"
            for violation in result["violations"] if violation["impact"] in ("serious", "critical")]
