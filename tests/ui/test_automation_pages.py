"""Automation in the web UI: a manual rule's button and bulk action (only for users who may edit, with the
CSRF token), the notifications page and badge, and the administrators' run log with its dead letters."""
from __future__ import annotations

import re
from typing import Iterator

import pytest
from flask import Flask

from tests.ui.conftest import SECRET, csrf_token, sign_in
from tests.webapp import PASSWORD

DESK = """
package: desk
version: "1.0.0"
roles:
  agent: {label: {en: Agent}}
permission_sets:
  agents:
    roles: [agent]
    objects:
      ticket: [create, read, edit]
      note: [create, read]
  readers:
    objects:
      ticket: [read]
objects:
  ticket:
    label: {en: Support Ticket, zh: 工单}
    title_field: name
    sharing: private
    fields:
      name: {type: text, required: true}
      priority: {type: picklist, options: [Low, High]}
      parent: {type: lookup, to: ticket}
    automations:
      - name: escalate
        label: {en: Escalate, zh: 升级}
        on: [manual]
        condition: "priority != 'High'"
        actions:
          - {type: update_record, set: {priority: "'High'"}}
          - {type: notify, to: owner, message: "'Escalated: ' + name"}
      - name: bump_parent
        on: [updated]
        condition: "changed('priority') and parent is not None"
        actions:
          - {type: update_related, lookup: parent, set: {priority: "'High'"}}
  note:
    fields:
      subject: {type: text, required: true}
"""


@pytest.fixture(scope="module")
def desk(tmp_path_factory) -> Iterator[tuple[Flask, object, dict[str, int]]]:
    from crmkit.engine import Crm
    from crmkit.engine.security.users import SystemDirectory
    from crmkit.ui import create_app

    folder = tmp_path_factory.mktemp("desk")
    (folder / "desk.yaml").write_text(DESK, encoding="utf-8")
    crm = Crm.open(f"sqlite:///{folder / 'crm.db'}")
    crm.install(folder / "desk.yaml")
    directory = SystemDirectory(crm)
    users = {"boss": directory.create_user("boss", password=PASSWORD, permission_sets=["admin"]).id,
             "agent": directory.create_user("agent", password=PASSWORD, role="agent").id,
             "reader": directory.create_user("reader", password=PASSWORD, permission_sets=["readers"]).id}
    yield create_app(crm, {"SECRET_KEY": SECRET}), crm, users
    crm.close()


def client_of(app: Flask, username: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = f"10.77.{len(username)}.{sum(map(ord, username)) % 250}"
    assert sign_in(client, username).status_code == 302
    return client


def test_the_manual_button_runs_the_rule_as_the_user_and_notifies_the_owner(desk):
    app, crm, users = desk
    ticket = crm.as_user(users["agent"]).records("ticket").create({"name": "Printer", "priority": "Low"})
    agent = client_of(app, "agent")
    page = agent.get(f"/r/ticket/{ticket.id}").get_data(as_text=True)
    assert 'data-manual-rule="escalate"' in page and ">Escalate<" in page
    assert agent.post(f"/r/ticket/{ticket.id}/run/escalate").status_code == 400  # no CSRF token
    answer = agent.post(f"/r/ticket/{ticket.id}/run/escalate", data={"csrf_token": csrf_token(page)})
    assert answer.status_code == 303
    assert crm.as_system().records("ticket").get(ticket.id)["priority"] == "High"
    crm.outbox.work_due()
    assert "1" in agent.get("/notifications/badge").get_data(as_text=True)
    notes = agent.get("/notifications").get_data(as_text=True)
    assert "Escalated: Printer" in notes
    note_id = re.search(r'name="id" value="(\d+)"', notes)[1]
    opened = agent.post("/notifications/read", data={"id": note_id, "open": f"/r/ticket/{ticket.id}",
                                                     "csrf_token": csrf_token(notes)})
    assert opened.status_code == 303 and opened.headers["Location"].endswith(f"/r/ticket/{ticket.id}")
    assert agent.get("/notifications/badge").get_data(as_text=True).strip() == ""
    timeline = agent.get(f"/r/ticket/{ticket.id}").get_data(as_text=True)
    assert 'data-kind="run"' in timeline and "Run by hand" in timeline


def test_who_may_not_edit_sees_no_button_and_is_refused_and_a_hidden_record_is_not_found(desk):
    app, crm, users = desk
    mine = crm.as_system().records("ticket").create({"name": "Read only", "priority": "Low",
                                                     "owner_id": users["reader"]})
    hidden = crm.as_system().records("ticket").create({"name": "Hidden", "priority": "Low"})
    reader = client_of(app, "reader")
    page = reader.get(f"/r/ticket/{mine.id}").get_data(as_text=True)
    assert "data-manual-rule" not in page
    assert reader.post(f"/r/ticket/{mine.id}/run/escalate", data={"csrf_token": csrf_token(page)}).status_code == 403
    agent = client_of(app, "agent")
    token = csrf_token(agent.get("/notifications").get_data(as_text=True))
    assert agent.post(f"/r/ticket/{hidden.id}/run/escalate", data={"csrf_token": token}).status_code == 404
    assert crm.as_system().records("ticket").get(hidden.id)["priority"] == "Low"


def test_the_bulk_action_runs_the_rule_on_the_ticked_records(desk):
    app, crm, users = desk
    records = crm.as_user(users["agent"]).records("ticket")
    first, second = (records.create({"name": f"Bulk {n}", "priority": "Low"}) for n in (1, 2))
    agent = client_of(app, "agent")
    listing = agent.get("/o/ticket").get_data(as_text=True)
    assert 'data-manual-rule="escalate"' in listing
    chosen = [f"{first.id}:{first.version}", f"{second.id}:{second.version}"]
    confirm = agent.get("/o/ticket/bulk/run/escalate", query_string={"record": chosen})
    assert confirm.status_code == 200 and "Bulk 1" in confirm.get_data(as_text=True)
    done = agent.post("/o/ticket/bulk/run/escalate",
                      data={"record": chosen, "csrf_token": csrf_token(confirm.get_data(as_text=True))})
    assert done.status_code == 303
    assert {records.get(r.id)["priority"] for r in (first, second)} == {"High"}


def test_the_run_log_page_is_for_administrators_with_filters_and_dead_letters_replayed(desk):
    app, crm, users = desk
    system = crm.as_system()
    parent = system.records("ticket").create({"name": "Parent", "priority": "Low"})
    child = system.records("ticket").create({"name": "Child", "priority": "Low", "parent": parent.id})
    system.records("ticket").update(child.id, {"priority": "High"}, version=child.version)
    system.records("ticket").delete(parent.id)
    crm.outbox.work_due()  # the parent is gone: the row is dead
    (dead,) = [row for row in crm.outbox.rows(status="dead") if row["rule"] == "ticket.bump_parent"]
    assert client_of(app, "agent").get("/admin/automation").status_code == 403
    boss = client_of(app, "boss")
    assert 'href="/admin/automation"' in boss.get("/admin/users").get_data(as_text=True)  # the admin tabs
    page = boss.get("/admin/automation", query_string={"outcome": "dead"}).get_data(as_text=True)
    assert "ticket.bump_parent" in page and 'data-outcome="done"' not in page
    assert f"/admin/automation/outbox/{dead['id']}" in page
    row_page = boss.get(f"/admin/automation/outbox/{dead['id']}").get_data(as_text=True)
    assert "update_related" in row_page and "no ticket record" in row_page
    replayed = boss.post(f"/admin/automation/outbox/{dead['id']}/replay", data={"csrf_token": csrf_token(row_page)})
    assert replayed.status_code == 303
    assert next(row for row in crm.outbox.rows() if row["id"] == dead["id"])["status"] == "pending"


def test_a_notification_says_when_in_the_users_time_zone_and_language(desk):
    from datetime import timedelta, timezone

    from crmkit.engine.automation.manual import run_manual
    from crmkit.engine.automation.notifications import Notifications
    from crmkit.engine.security.users import SystemDirectory

    app, crm, users = desk
    zhou = SystemDirectory(crm).create_user("zhou.agent", password=PASSWORD, role="agent", language="zh",
                                            timezone="Asia/Shanghai").id
    ticket = crm.as_user(zhou).records("ticket").create({"name": "打印机", "priority": "Low"})
    run_manual(crm.as_user(zhou), "ticket", "escalate", [ticket.id])
    crm.outbox.work_due()
    (note,) = Notifications(crm.as_user(zhou)).list()
    at = note.created_at.replace(tzinfo=note.created_at.tzinfo or timezone.utc)
    beijing = at.astimezone(timezone(timedelta(hours=8)))
    page = client_of(app, "zhou.agent").get("/notifications").get_data(as_text=True)
    assert f"{beijing.year}年{beijing.month}月{beijing.day}日 {beijing:%H:%M:%S}" in page
    assert "UTC" not in page.split('id="notifications"')[1]


def test_the_run_log_names_objects_by_their_labels(desk):
    app, crm, users = desk
    ticket = crm.as_user(users["agent"]).records("ticket").create({"name": "Labelled", "priority": "Low"})
    from crmkit.engine.automation.manual import run_manual
    run_manual(crm.as_user(users["agent"]), "ticket", "escalate", [ticket.id])
    label = "Support Ticket"  # not its name: the page shows labels
    page = client_of(app, "boss").get("/admin/automation", query_string={"object": "ticket"}).get_data(as_text=True)
    assert f'<option value="ticket" selected>{label}</option>' in page
    assert f">{label} #{ticket.id}</a>" in page


def test_a_chinese_user_is_refused_the_run_log_and_reads_run_errors_in_chinese_without_class_names(desk):
    from sqlalchemy import update

    from crmkit.engine.automation.runlog import RUN_TABLE
    from crmkit.engine.security.users import SystemDirectory

    app, crm, users = desk
    directory = SystemDirectory(crm)
    directory.create_user("zhao.agent", password=PASSWORD, role="agent", language="zh")
    directory.create_user("zhao.boss", password=PASSWORD, permission_sets=["admin"], language="zh")
    refused = client_of(app, "zhao.agent").get("/admin/automation")
    assert refused.status_code == 403
    assert "自动化运行日志仅供管理员查看" in refused.get_data(as_text=True)
    assert "administrators" not in refused.get_data(as_text=True)
    ticket = crm.as_user(users["agent"]).records("ticket").create({"name": "Mail", "priority": "Low"})
    from crmkit.engine.automation.manual import run_manual
    run_manual(crm.as_user(users["agent"]), "ticket", "escalate", [ticket.id])
    table = crm.runtime.system_table(RUN_TABLE)
    with crm.engine.begin() as connection:  # an entry as an older version wrote it: the class name first
        connection.execute(update(table).where(table.c.record_id == ticket.id).values(
            error="MailNotConfigured: email is not configured: set CRMKIT_SMTP_HOST (docs/automation.md)."))
    page = client_of(app, "zhao.boss").get("/admin/automation", query_string={"object": "ticket"}).get_data(as_text=True)
    assert "MailNotConfigured" not in page
    assert "动作执行失败：邮件尚未配置：请设置 CRMKIT_SMTP_HOST" in page


def test_a_notification_about_a_record_since_moved_away_shows_neither_its_message_nor_a_way_to_it(desk):
    from crmkit.engine.automation.manual import run_manual
    from crmkit.engine.security.users import SystemDirectory

    app, crm, users = desk
    qian = SystemDirectory(crm).create_user("qian.agent", password=PASSWORD, role="agent", language="zh").id
    ticket = crm.as_user(qian).records("ticket").create({"name": "Merger plan", "priority": "Low"})
    run_manual(crm.as_user(qian), "ticket", "escalate", [ticket.id])
    crm.outbox.work_due()
    client = client_of(app, "qian.agent")
    assert "Escalated: Merger plan" in client.get("/notifications").get_data(as_text=True)
    current = crm.as_system().records("ticket").get(ticket.id)
    crm.as_system().records("ticket").update(ticket.id, {"owner_id": users["boss"]}, version=current.version)
    page = client.get("/notifications").get_data(as_text=True).split('id="notifications"')[1]
    assert "Merger plan" not in page and "您已无法打开此记录。" in page
    assert f"/r/ticket/{ticket.id}" not in page
