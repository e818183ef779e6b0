"""The kanban board (/o/<object>/kanban) and moving a card (POST /r/<object>/<id>/move), through the test client."""
from __future__ import annotations

import html
import re
from decimal import Decimal
from typing import Callable

import pytest
from flask.testing import FlaskClient

from tests.ui.conftest import csrf_token
from tests.webapp import IMAGE_PAYLOAD, SCRIPT_PAYLOAD, WebCrm, record_page_users

JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module", autouse=True)
def people(web_crm: WebCrm) -> dict[str, int]:
    """This module's own users: reps kb_1 to kb_3 (kb_3 reads Chinese) and kb_ceo, who may read but not edit."""
    users = record_page_users(web_crm.url, ("1", "2"), prefix="kb_")
    users.update(record_page_users(web_crm.url, ("3",), prefix="kb_", language="zh"))
    users.update(record_page_users(web_crm.url, ("ceo",), prefix="kb_", role="ceo"))
    return users


@pytest.fixture(scope="module")
def deals(web_crm: WebCrm, people: dict[str, int]) -> dict[str, int]:
    """Opportunities of kb_1 (two in Proposal, one in Qualification) and of kb_2 (one in Proposal): name -> id."""
    from crmkit.engine import Crm

    crm = Crm.open(web_crm.url)
    try:
        ids = {}
        for user, rows in (("kb_1", [("Kb Alpha", "Proposal", "1000.50"), ("Kb Beta", "Proposal", "0.25"),
                                     ("Kb Gamma", "Qualification", "300")]),
                           ("kb_2", [("Kb Other", "Proposal", "99999")])):
            context = crm.as_user(people[user])
            account = context.records("account").create({"name": f"{user} Account"}).id
            for name, stage, amount in rows:
                ids[name] = context.records("opportunity").create(
                    {"name": name, "account": account, "stage": stage, "amount": amount}).id
        return ids
    finally:
        crm.close()


def text_of(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))))


def text_of_html(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def column(page: str, key: str) -> str:
    """The text of one column of the board page (its header and cards)."""
    match = re.search(rf'<section class="kanban-column" data-column="{re.escape(key)}".*?</section>', page, re.S)
    assert match, key
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match[0])))


def move(client: FlaskClient, record_id: int, value: str, version: int, view: str = "", **headers: str):
    token = csrf_token(client.get("/o/opportunity/kanban").get_data(as_text=True))
    return client.post(f"/r/opportunity/{record_id}/move", data={"value": value, "version": str(version),
                                                                 "view": view, "csrf_token": token},
                       headers=headers)


def version_of(web_crm: WebCrm, record_id: int) -> tuple[str, int]:
    from crmkit.engine import Crm

    crm = Crm.open(web_crm.url)
    try:
        record = crm.as_system().records("opportunity").get(record_id)
        return record["stage"], record.version
    finally:
        crm.close()


def test_the_board_has_a_column_per_stage_with_the_reps_own_counts_and_totals(signed_in: Callable, deals) -> None:
    client = signed_in("kb_1")
    response = client.get("/o/opportunity/kanban")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    stages = re.findall(r'<section class="kanban-column" data-column="([^"]*)"', page)
    assert stages == ["Prospecting", "Qualification", "Needs Analysis", "Proposal", "Negotiation", "Closed Won",
                      "Closed Lost"]  # stage is required: no "no value" column
    assert "2 records · Sum of Amount: $1,000.75" in column(page, "Proposal")  # kb_2's 99,999 is not counted
    assert "Kb Other" not in page and "99,999" not in page
    assert "1 record · Sum of Amount: $300.00" in column(page, "Qualification")
    assert "0 records · Sum of Amount: $0.00" in column(page, "Negotiation")
    assert f'<a class="kanban-title fw-semibold" href="/r/opportunity/{deals["Kb Alpha"]}">Kb Alpha</a>' in page
    assert "kb_1 Account" in column(page, "Proposal")  # a card field: the account's title
    assert 'id="move-' in page and 'class="kanban-handle' in page


def test_each_card_shows_the_figure_its_columns_total_adds_up_and_the_header_says_what_it_sums(
        signed_in: Callable, deals) -> None:
    proposal = column(signed_in("kb_1").get("/o/opportunity/kanban").get_data(as_text=True), "Proposal")
    assert "Sum of Amount: $1,000.75" in proposal
    shown = [Decimal(figure.replace(",", "")) for figure in re.findall(r"(?<!Sum of )Amount: \$([\d,.]+)", proposal)]
    assert sorted(shown) == [Decimal("0.25"), Decimal("1000.50")] and sum(shown) == Decimal("1000.75")


def test_a_board_whose_cards_leave_out_its_sum_shows_the_summed_field_first() -> None:
    from crmkit.metadata.layouts import KanbanLayout
    from crmkit.ui.kanban_page import card_names

    assert card_names(KanbanLayout(group_by="stage", sum="amount", card=("account", "expected_revenue"))) == (
        "amount", "account", "expected_revenue")
    assert card_names(KanbanLayout(group_by="stage", sum="amount", card=("account", "amount"))) == ("account", "amount")
    assert card_names(KanbanLayout(group_by="stage", sum=None, card=("account",))) == ("account",)


def test_the_list_and_the_board_link_to_each_other_keeping_the_view(signed_in: Callable, deals) -> None:
    client = signed_in("kb_1")
    listed = client.get("/o/opportunity?amount__gte=100").get_data(as_text=True)
    assert 'href="/o/opportunity/kanban?amount__gte=100">Board</a>' in listed
    results = client.get("/o/opportunity?q=alpha", headers={"HX-Request": "true", "HX-Target": "list-results"})
    assert 'hx-swap-oob="true"' in results.get_data(as_text=True)  # the live search keeps the Board link in step
    assert 'href="/o/opportunity/kanban?q=alpha">Board</a>' in results.get_data(as_text=True)
    board = client.get("/o/opportunity/kanban?amount__gte=100")
    page = board.get_data(as_text=True)
    assert 'href="/o/opportunity?amount__gte=100">List</a>' in page
    assert "1 record · Sum of Amount: $1,000.50" in column(page, "Proposal") and "Kb Beta" not in page
    assert "The board shows the records of the filtered view." in text_of(board)
    assert client.get("/o/opportunity/kanban?amount__gte=lots").status_code == 400
    assert "Board</a>" not in client.get("/o/contact").get_data(as_text=True)  # contact: kanban false
    assert client.get("/o/contact/kanban").status_code == 404


def test_labels_and_money_in_the_users_language(signed_in: Callable, people) -> None:
    page = signed_in("kb_3").get("/o/opportunity/kanban").get_data(as_text=True)
    assert ">初步接洽</h3>" in page and "商机" in page
    assert "0 条记录 · 金额合计： US$0.00" in column(page, "Negotiation")  # what the header sums, in Chinese
    assert ">看板</a>" in page and ">列表</a>" in page


def test_a_move_saves_the_stage_and_answers_the_new_counts(signed_in: Callable, web_crm, deals) -> None:
    client = signed_in("kb_1")
    record = deals["Kb Gamma"]
    stage, version = version_of(web_crm, record)
    response = move(client, record, "Negotiation", version, **JSON)
    assert response.status_code == 200
    body = response.get_json()
    assert body["message"] == "“Kb Gamma” moved to Negotiation."
    assert body["version"] == version + 1
    columns = {entry["key"]: (entry["count"], entry["total"]) for entry in body["columns"]}
    assert columns["Qualification"] == ("0 records", "$0.00") and columns["Negotiation"] == ("1 record", "$300.00")
    assert version_of(web_crm, record) == ("Negotiation", version + 1)
    assert f'data-record="{record}" data-version="{version + 1}"' in body["card"]  # the card as saved now
    assert "Expected Revenue: $240.00" in text_of_html(body["card"])  # 80% of 300: the formula followed the stage
    # Without script the form posts and the board is shown again, keeping the view.
    plain = move(client, record, "Qualification", version + 1, view="amount__gte=100")
    assert plain.status_code == 303 and plain.headers["Location"] == "/o/opportunity/kanban?amount__gte=100"


def test_a_move_the_engine_refuses_answers_its_sentence(signed_in: Callable, web_crm, deals) -> None:
    client = signed_in("kb_1")
    record = deals["Kb Beta"]
    _, version = version_of(web_crm, record)
    refused = move(client, record, "Closed Lost", version, **JSON)
    assert refused.status_code == 422
    assert refused.get_json() == {"message": "“Kb Beta” was not moved: Loss Reason: Give the reason the opportunity was "
                                             "lost.",
                                  "fix": {"url": f"/r/opportunity/{record}/edit", "text": "Edit the record"}}
    stale = move(client, record, "Negotiation", version - 1 if version > 1 else version + 5, **JSON)
    assert stale.status_code == 409 and "Someone changed this record" in stale.get_json()["message"]
    assert version_of(web_crm, record) == ("Proposal", version)
    assert move(client, record, "Nonsense", version, **JSON).status_code == 422
    assert move(client, deals["Kb Other"], "Negotiation", 1, **JSON).status_code == 404  # kb_2's: not found


def test_a_user_who_may_not_edit_sees_no_move_controls_and_is_refused(signed_in: Callable, web_crm, deals) -> None:
    client = signed_in("kb_ceo")
    page = client.get("/o/opportunity/kanban").get_data(as_text=True)
    assert "Kb Alpha" in page and "Kb Other" in page  # the CEO reads every opportunity
    assert 'id="move-' not in page and "kanban-handle" not in page and "data-may-move" not in page
    _, version = version_of(web_crm, deals["Kb Alpha"])
    refused = move(client, deals["Kb Alpha"], "Negotiation", version, **JSON)
    assert refused.status_code == 403
    assert refused.get_json() == {"message": "You may not change the Stage of Opportunities."}
    assert move(client, deals["Kb Alpha"], "Negotiation", version).status_code == 403
    assert version_of(web_crm, deals["Kb Alpha"]) == ("Proposal", version)


def test_more_cards_of_one_column(signed_in: Callable, web_crm, people) -> None:
    from crmkit.engine import Crm

    crm = Crm.open(web_crm.url)
    try:
        context = crm.as_user(people["kb_2"])
        account = context.records("account").create({"name": "kb_2 Many"}).id
        for number in range(23):
            context.records("opportunity").create({"name": f"Kb Many {number:02}", "account": account,
                                                   "stage": "Needs Analysis"})
    finally:
        crm.close()
    client = signed_in("kb_2")
    page = client.get("/o/opportunity/kanban?q=many").get_data(as_text=True)
    assert "23 records" in column(page, "Needs Analysis")
    assert len(re.findall(r'class="kanban-title[^>]*>Kb Many', page)) == 20  # a search is newest first
    assert "Kb Many 22" in page and "Kb Many 02" not in page
    more = re.search(r'hx-get="([^"]*column=[^"]*)"', page)[1]  # the column's "Show more"
    assert "column=Needs+Analysis" in more and "q=many" in more
    rest = client.get(html.unescape(more), headers={"HX-Request": "true"})
    assert rest.status_code == 200
    assert re.findall(r'class="kanban-title[^>]*>(Kb Many \d\d)', rest.get_data(as_text=True)) == \
        ["Kb Many 02", "Kb Many 01", "Kb Many 00"]
    assert "<section" not in rest.get_data(as_text=True) and "Show more" not in rest.get_data(as_text=True)


def test_labels_values_and_titles_on_the_board_are_escaped(signed_in: Callable) -> None:
    """The probe object's labels, option and record name are script and image payloads (tests/webapp.py)."""
    response = signed_in("wang").get("/o/probe/kanban")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert SCRIPT_PAYLOAD not in page and IMAGE_PAYLOAD not in page
    assert "Probe record &#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert ">No value</h3>" in page  # kind is not required


def test_the_boards_counts_totals_and_cards_are_read_in_one_snapshot(signed_in: Callable, app, deals) -> None:
    """One operation read for the whole board (UserContext.snapshot): on PostgreSQL one moment, so a column's count
    is that of the cards it shows even while others move cards."""
    from sqlalchemy import event

    client = signed_in("kb_1")
    client.get("/o/opportunity/kanban")  # what a policy reads once and keeps is read before counting
    statements: list[str] = []

    def executed(connection, cursor, statement, *rest) -> None:
        statements.append(statement)

    engine = app.extensions["crmkit"].crm.engine
    event.listen(engine, "before_cursor_execute", executed)
    try:
        page = client.get("/o/opportunity/kanban").get_data(as_text=True)
    finally:
        event.remove(engine, "before_cursor_execute", executed)
    assert "Kb Alpha" in column(page, "Proposal") and "Kb Other" not in page
    assert len([sql for sql in statements if "crmkit_metadata_state" in sql]) == 1, "\n".join(s[:90] for s in statements)
