"""The kanban board in a real browser: drag a card, a move the engine refuses, a move by keyboard, phone width, axe."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser.conftest import goto, ready, sign_in
from tests.browser.test_foundation_flows import console_errors, serious_violations
from tests.webapp import WebCrm, record_page_users


@pytest.fixture(scope="module")
def seller(web_crm: WebCrm) -> str:
    """This module's own rep (kb_b1) with opportunities: two in Prospecting, one in Proposal, 21 in Closed Won."""
    from crmkit.engine import Crm

    users = record_page_users(web_crm.url, ("b1",), prefix="kb_")
    crm = Crm.open(web_crm.url)
    try:
        context = crm.as_user(users["kb_b1"])
        account = context.records("account").create({"name": "Kb Board Traders"}).id
        for name, stage, amount in (("Kb Drag", "Prospecting", "100"), ("Kb Key", "Prospecting", "50.5"),
                                    ("Kb Lost", "Proposal", "10")):
            context.records("opportunity").create({"name": name, "account": account, "stage": stage,
                                                   "amount": amount})
        crm.as_system().records("opportunity").bulk_create(
            {"name": f"Kb Won {number:02}", "account": account, "stage": "Closed Won", "amount": "1",
             "owner_id": users["kb_b1"]} for number in range(21))
    finally:
        crm.close()
    return "kb_b1"


def column(page: Page, key: str) -> Locator:
    return page.locator(f'section.kanban-column[data-column="{key}"]')


def drag(page: Page, card: Locator, target: Locator) -> None:
    """Drags a card by its handle onto a column's list, with the mouse, as a person would."""
    handle = card.locator(".kanban-handle").bounding_box()
    drop = target.locator("ul.kanban-cards").bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    page.mouse.move(handle["x"] + 20, handle["y"] + 20, steps=5)
    page.mouse.move(drop["x"] + drop["width"] / 2, drop["y"] + drop["height"] / 2, steps=15)
    page.mouse.up()


def test_drag_a_refused_move_and_a_keyboard_move_on_the_board(page: Page, screenshots: Path, seller: str) -> None:
    errors = console_errors(page)
    page.set_viewport_size({"width": 2100, "height": 900})  # every stage's column on screen
    sign_in(page, seller)
    goto(page, "/o/opportunity")
    page.get_by_role("link", name="Board", exact=True).click()
    expect(page.get_by_role("link", name="Board", exact=True)).to_have_attribute("aria-current", "page")
    ready(page)  # drag and drop is the board's script
    expect(column(page, "Prospecting").locator(".kanban-count")).to_have_text("2 records")
    expect(column(page, "Prospecting").locator(".kanban-total")).to_have_text("$150.50")
    message = page.locator("#kanban-message")

    drag(page, page.locator(".kanban-card", has_text="Kb Drag"), column(page, "Qualification"))
    expect(message).to_have_text("“Kb Drag” moved to Qualification.")
    expect(column(page, "Qualification").locator(".kanban-count")).to_have_text("1 record")
    expect(column(page, "Qualification").locator(".kanban-total")).to_have_text("$100.00")
    expect(page.locator(".kanban-card", has_text="Kb Drag")).to_contain_text("Expected Revenue: $20.00")  # 20%
    expect(column(page, "Prospecting").locator(".kanban-count")).to_have_text("1 record")
    expect(column(page, "Prospecting").locator(".kanban-total")).to_have_text("$50.50")

    drag(page, page.locator(".kanban-card", has_text="Kb Lost"), column(page, "Closed Lost"))
    expect(message).to_have_text("“Kb Lost” was not moved: Loss Reason: Give the reason the opportunity was lost."
                                 "Edit the record")
    expect(message.get_by_role("link", name="Edit the record")).to_have_attribute("href", re.compile(r"/edit$"))
    expect(message).to_have_class("kanban-message alert py-2 alert-danger")
    expect(column(page, "Proposal").locator(".kanban-card", has_text="Kb Lost")).to_be_visible()  # put back
    expect(column(page, "Closed Lost").locator(".kanban-card")).to_have_count(0)
    expect(column(page, "Closed Lost").locator(".kanban-count")).to_have_text("0 records")

    move_to = page.get_by_label("Move “Kb Key” to")
    move_to.focus()
    move_to.select_option("Negotiation")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(message).to_have_text("“Kb Key” moved to Negotiation.")
    expect(column(page, "Negotiation").locator(".kanban-card", has_text="Kb Key")).to_be_visible()
    expect(column(page, "Negotiation").locator(".kanban-count")).to_have_text("1 record")
    expect(column(page, "Prospecting").locator(".kanban-count")).to_have_text("0 records")
    expect(move_to).to_be_focused()
    page.screenshot(path=screenshots / "kanban-board.png", full_page=True)

    assert serious_violations(page) == []

    won = column(page, "Closed Won")
    expect(won.locator(".kanban-card")).to_have_count(20)
    won.get_by_role("link", name="Show more Closed Won").click()  # htmx appends the next cards
    expect(won.locator(".kanban-card")).to_have_count(21)
    expect(won.get_by_role("link", name="Show more Closed Won")).to_have_count(0)

    page.reload()  # the moves were saved
    expect(column(page, "Qualification").locator(".kanban-card", has_text="Kb Drag")).to_be_visible()
    expect(column(page, "Negotiation").locator(".kanban-card", has_text="Kb Key")).to_be_visible()
    expect(column(page, "Proposal").locator(".kanban-card", has_text="Kb Lost")).to_be_visible()
    assert errors == []


def test_the_board_at_phone_width_scrolls_inside_its_own_box(browser: Browser, base_url: str, screenshots: Path,
                                                               seller: str) -> None:
    context = browser.new_context(base_url=base_url, viewport={"width": 390, "height": 844})
    page = context.new_page()
    errors = console_errors(page)
    sign_in(page, seller)
    goto(page, "/o/opportunity/kanban")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "the board page scrolls sideways at 390 px"
    board = page.locator("#kanban-board")
    assert board.evaluate("element => element.scrollWidth > element.clientWidth")  # the columns scroll in the board
    page.screenshot(path=screenshots / "phone-kanban.png", full_page=True)
    assert errors == []
    context.close()


def test_a_card_dragged_over_a_stage_it_may_not_move_to_is_refused_there_and_nothing_is_sent(
        page: Page, seller: str) -> None:
    errors = console_errors(page)
    page.set_viewport_size({"width": 2100, "height": 900})
    sign_in(page, seller)
    goto(page, "/o/opportunity/kanban")
    ready(page)
    moves = []
    page.on("request", lambda request: moves.append(request.url) if request.url.endswith("/move") else None)
    won = column(page, "Closed Won")
    card = won.locator(".kanban-card").first
    title = card.locator(".kanban-title").inner_text()
    expect(card.get_by_role("combobox")).to_have_text("Closed Won")  # no move leaves Closed Won: its one choice
    handle = card.locator(".kanban-handle").bounding_box()
    drop = column(page, "Proposal").locator("ul.kanban-cards").bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    page.mouse.move(handle["x"] + 20, handle["y"] + 20, steps=5)
    page.mouse.move(drop["x"] + drop["width"] / 2, drop["y"] + drop["height"] / 2, steps=15)
    expect(column(page, "Proposal")).to_have_class(re.compile(r"\bkanban-refused\b"))
    expect(column(page, "Proposal")).to_have_attribute("aria-disabled", "true")
    expect(won).not_to_have_class(re.compile(r"\bkanban-refused\b"))
    expect(column(page, "Proposal").locator(".kanban-card", has_text=title)).to_have_count(0)  # not let in
    page.mouse.up()
    expect(column(page, "Proposal")).not_to_have_class(re.compile(r"\bkanban-refused\b"))
    expect(won.locator(".kanban-card", has_text=title)).to_be_visible()
    expect(column(page, "Proposal").locator(".kanban-card", has_text=title)).to_have_count(0)
    expect(page.locator("#kanban-message")).to_have_text("")
    assert moves == [] and errors == []
