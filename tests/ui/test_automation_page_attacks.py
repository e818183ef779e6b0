"""The automation pages as an outsider probes them: another user's notifications, a hidden record run by id in
a bulk action, the administrators' pages and replay, and redirects that leave the site."""
from __future__ import annotations

import re

from tests.ui.conftest import csrf_token
from tests.ui.test_automation_pages import client_of, desk  # noqa: F401 - the module's app and users


def test_a_user_cannot_read_or_mark_another_users_notifications(desk):  # noqa: F811
    app, crm, users = desk
    ticket = crm.as_system().records("ticket").create({"name": "Boss's secret plan", "priority": "Low",
                                                       "owner_id": users["boss"]})
    from crmkit.engine.automation.manual import run_manual

    run_manual(crm.as_user(users["boss"]), "ticket", "escalate", [ticket.id])
    crm.outbox.work_due()
    boss_page = client_of(app, "boss").get("/notifications").get_data(as_text=True)
    note_id = re.search(r'name="id" value="(\d+)"', boss_page)[1]
    agent = client_of(app, "agent")
    own = agent.get("/notifications").get_data(as_text=True)
    assert "secret plan" not in own
    assert "secret plan" not in agent.get("/notifications", query_string={"before": int(note_id) + 1}).get_data(
        as_text=True)
    agent.post("/notifications/read", data={"id": note_id, "csrf_token": csrf_token(own)})
    agent.post("/notifications/read-all", data={"csrf_token": csrf_token(own)})
    assert 'data-unread="true"' in client_of(app, "boss").get("/notifications").get_data(as_text=True)


def test_opening_a_notification_never_redirects_off_the_site(desk):  # noqa: F811
    app, _, _ = desk
    agent = client_of(app, "agent")
    token = csrf_token(agent.get("/notifications").get_data(as_text=True))
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example/", "javascript:alert(1)"):
        answer = agent.post("/notifications/read", data={"open": target, "csrf_token": token})
        assert answer.status_code == 303 and answer.headers["Location"].endswith("/notifications"), target


def test_a_bulk_run_on_a_hidden_record_tells_nothing_about_it(desk):  # noqa: F811
    app, crm, users = desk
    hidden = crm.as_system().records("ticket").create({"name": "Merger with Initech", "priority": "Low"})
    mine = crm.as_user(users["agent"]).records("ticket").create({"name": "Mine", "priority": "High"})
    agent = client_of(app, "agent")
    confirm = agent.get("/o/ticket/bulk/run/escalate", query_string={"record": [str(hidden.id), str(mine.id)]})
    assert "Merger" not in confirm.get_data(as_text=True)
    answer = agent.post("/o/ticket/bulk/run/escalate", data={
        "record": [str(hidden.id), "99999999"], "csrf_token": csrf_token(confirm.get_data(as_text=True))})
    text = answer.get_data(as_text=True)
    assert "Merger" not in text and "Initech" not in text
    # The hidden record and a missing one read alike.
    said = {record_id: re.search(rf"<li>#{record_id}: (.*?)</li>", text)[1].replace(str(record_id), "N")
            for record_id in (hidden.id, 99999999)}
    assert said[hidden.id] == said[99999999]
    assert crm.as_system().records("ticket").get(hidden.id)["priority"] == "Low"


def test_the_outbox_pages_and_replay_are_for_administrators_only(desk):  # noqa: F811
    app, crm, users = desk
    agent = client_of(app, "agent")
    token = csrf_token(agent.get("/notifications").get_data(as_text=True))
    assert agent.get("/admin/automation/outbox/1").status_code == 403
    assert agent.post("/admin/automation/outbox/1/replay", data={"csrf_token": token}).status_code == 403
    boss = client_of(app, "boss")
    assert boss.post("/admin/automation/outbox/1/replay").status_code == 400  # no CSRF token


def test_odd_numbers_in_the_notification_forms_and_pages_are_no_error(desk):  # noqa: F811
    app, _, _ = desk
    agent = client_of(app, "agent")
    token = csrf_token(agent.get("/notifications").get_data(as_text=True))
    for odd in ("²", "٣", str(2**70), "-1"):
        assert agent.post("/notifications/read", data={"id": odd, "csrf_token": token}).status_code == 303, odd
    assert agent.get("/notifications", query_string={"before": str(2**70)}).status_code == 200
    assert client_of(app, "boss").get("/admin/automation", query_string={"before": str(2**70)}).status_code == 200
