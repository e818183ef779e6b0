"""Stage transitions through the web UI's write paths: a kanban move and a bulk edit of the standard
CRM's opportunity stage are refused with the engine's sentence, in the user's language."""
from __future__ import annotations

import html
import re
from typing import Callable

import pytest
from werkzeug.datastructures import MultiDict

from tests.ui.conftest import csrf_token
from tests.webapp import WebCrm, record_page_users

JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module", autouse=True)
def people(web_crm: WebCrm) -> dict[str, int]:
    """This module's own reps: st_1 (English) and st_2 (Chinese)."""
    users = record_page_users(web_crm.url, ("1",), prefix="st_")
    users.update(record_page_users(web_crm.url, ("2",), prefix="st_", language="zh"))
    return users


@pytest.fixture
def engine(web_crm: WebCrm):
    from crmkit.engine import Crm

    crm = Crm.open(web_crm.url)
    yield crm
    crm.close()


def deal(engine, people, user: str, name: str, stage: str, amount: str | None = "100"):
    context = engine.as_user(people[user])
    account = context.records("account").create({"name": f"{name} Account"}).id
    return context.records("opportunity").create({"name": name, "account": account, "stage": stage, "amount": amount,
                                                  "loss_reason": "Price" if stage == "Closed Lost" else None})


def move(client, record, value: str):
    token = csrf_token(client.get("/o/opportunity/kanban").get_data(as_text=True))
    return client.post(f"/r/opportunity/{record.id}/move", headers=JSON,
                       data={"value": value, "version": str(record.version), "view": "", "csrf_token": token})


def text_of(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))))


def test_a_kanban_move_out_of_closed_won_is_refused_with_the_engines_sentence(signed_in: Callable, engine,
                                                                           people) -> None:
    won = deal(engine, people, "st_1", "St Won", "Closed Won")
    refused = move(signed_in("st_1"), won, "Negotiation")
    assert refused.status_code == 422
    assert refused.get_json()["message"] == "“St Won” was not moved: Stage: Cannot change once it is 'Closed Won'."
    assert engine.as_system().records("opportunity").get(won.id)["stage"] == "Closed Won"


def test_a_kanban_move_to_closed_won_needs_an_amount_and_says_so_in_chinese(signed_in: Callable, engine,
                                                                         people) -> None:
    open_deal = deal(engine, people, "st_2", "St Open", "Negotiation", amount=None)
    client = signed_in("st_2")
    refused = move(client, open_deal, "Closed Won")
    assert refused.status_code == 422
    assert "销售阶段改为“赢单”时此字段为必填项。" in refused.get_json()["message"], refused.get_json()
    assert engine.as_system().records("opportunity").get(open_deal.id)["stage"] == "Negotiation"
    allowed = move(client, open_deal, "Proposal")
    assert allowed.status_code == 200


def test_a_bulk_edit_of_the_stage_saves_the_allowed_moves_and_reports_the_refused_one(signed_in: Callable, engine,
                                                                                   people) -> None:
    lost = deal(engine, people, "st_1", "St Negotiation", "Negotiation")
    won = deal(engine, people, "st_1", "St Closed", "Closed Won")
    open_deal = deal(engine, people, "st_1", "St Proposal", "Proposal")
    client = signed_in("st_1")
    token = csrf_token(client.get("/o/opportunity").get_data(as_text=True))
    pairs = [("record", f"{record.id}:{record.version}") for record in (lost, won, open_deal)]
    response = client.post("/o/opportunity/bulk/edit", data=MultiDict(
        [*pairs, ("field", "stage"), ("stage", "Qualification"), ("csrf_token", token)]))
    assert response.status_code == 200
    text = text_of(response)
    assert "2 updated, 1 not." in text
    assert "St Closed Stage: Cannot change once it is 'Closed Won'." in text
    stages = {record.id: engine.as_system().records("opportunity").get(record.id)["stage"]
              for record in (lost, won, open_deal)}
    assert stages == {lost.id: "Qualification", won.id: "Closed Won", open_deal.id: "Qualification"}
