"""The standard CRM's automation: a lead arriving without an owner goes to the sales reps in turn, and every lead
is scored; `crmkit setup` creates the demo sales reps the assignment draws from."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from crmkit.cli import main
from crmkit.demo.users import assignment_roles, demo_owners
from crmkit.engine import Crm, RecordValidationError
from crmkit.engine.automation.scoring import rescore
from tests.conftest import add_users

DEFAULT_CRM = Path(__file__).resolve().parents[2] / "apps" / "default_crm.yaml"


def test_new_leads_are_assigned_in_turn_and_scored(crm, clock):
    crm.install(DEFAULT_CRM)
    reps = add_users(crm, [("rep_a", "sales_rep", []), ("rep_b", "sales_rep", []), ("boss", "sales_manager", [])])
    leads = crm.as_system().records("lead")
    hot = leads.create({"last_name": "Wang", "company": "Acme", "email": "wang@acme.example", "rating": "Hot",
                        "industry": "Technology", "annual_revenue": "25000000", "employees": 500})
    cold = leads.create({"last_name": "Li", "company": "Tiny", "phone": "+86 10 1234 5678", "rating": "Cold"})
    kept = leads.create({"last_name": "Own", "company": "Mine", "email": "own@x.example", "owner_id": reps["boss"]})
    assert [hot["owner_id"], cold["owner_id"]] == [reps["rep_a"], reps["rep_b"]]
    assert kept["owner_id"] == reps["boss"]  # entered with its owner: not reassigned
    own = crm.as_user(reps["rep_b"]).records("lead").create({"last_name": "Zhao", "company": "Own", "email": "z@own.example"})
    assert own["owner_id"] == reps["rep_b"]  # a rep entering a lead keeps it (keep_own) ...
    assert leads.create({"last_name": "Next", "company": "N", "email": "n@n.example"})["owner_id"] == reps["rep_a"]  # ... no turn
    assert (hot["score"], cold["score"], kept["score"]) == (10 + 30 + 10 + 20 + 5, 10 - 10, 10)
    warmer = leads.update(cold.id, {"rating": "Warm"}, version=cold.version)
    assert warmer["score"] == 25 and warmer["owner_id"] == reps["rep_b"]  # assignment is for new leads only
    assert rescore(crm, "lead") == 0


def test_setup_creates_demo_sales_reps_who_own_demo_records(tmp_path):
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    result = CliRunner().invoke(main, ["--database", url, "setup", "--records", "40"])
    assert result.exit_code == 0, result.output
    assert "Demo users (no password until one is set): wang.fang, emma.clark, li.wei" in result.output
    crm = Crm.open(url)
    try:
        assert assignment_roles(crm) == ["sales_rep"]
        reps = demo_owners(crm)  # a second call adds nobody
        assert [(rep.username, rep.role, rep.active) for rep in reps] == [
            ("wang.fang", "sales_rep", True), ("emma.clark", "sales_rep", True), ("li.wei", "sales_rep", True)]
        owners = {record["owner_id"] for record in crm.as_system().records("account").query(limit=100).records}
        assert owners & {rep.id for rep in reps}
        arrived = crm.as_system().records("lead").create({"last_name": "Web", "company": "Form", "email": "w@f.example"})
        assert arrived["owner_id"] in {rep.id for rep in reps}
    finally:
        crm.close()
    rescored = CliRunner().invoke(main, ["--database", url, "rescore", "lead", "--batch-size", "7"])
    assert (rescored.exit_code, rescored.output) == (0, "Rescored lead: 0 score(s) changed.\n")
    refused = CliRunner().invoke(main, ["--database", url, "rescore", "account"])
    assert refused.exit_code == 1 and "account has no scoring rules; declare them under 'scoring:'" in refused.output


def test_a_lead_who_registers_on_the_website_is_welcomed_once_in_both_languages(crm, clock, smtp_server):
    crm.install(DEFAULT_CRM)
    add_users(crm, [("rep_a", "sales_rep", [])])  # the lead's owner, by round robin: named in the message
    leads = crm.as_system().records("lead")
    leads.create({"last_name": "王", "first_name": "芳", "company": "星辰", "email": "wang@xc.example", "source": "Web"})
    leads.create({"last_name": "Phone", "company": "P", "email": "p@p.example", "source": "Phone Inquiry"})
    leads.create({"last_name": "Quiet", "company": "Q", "email": "q@q.example", "source": "Web", "email_opt_out": True})
    outcomes = crm.outbox.work_due()
    assert list(outcomes.values()) == ["done"]  # only the web lead with an address who did not opt out
    (recipients, message), = smtp_server.messages
    assert recipients == ["wang@xc.example"]
    assert message["Subject"] == "感谢您的关注 / Thank you for registering, 芳"
    text = message.get_body(("plain",)).get_content()
    assert "王芳，您好" in text and "Hello 芳 王" in text and "rep_a" in text
    assert crm.outbox.work_due() == {} and len(smtp_server.messages) == 1


def test_an_opportunity_is_won_only_with_an_amount_whether_it_moves_there_or_is_entered_won(crm):
    crm.install(DEFAULT_CRM)
    system = crm.as_system()
    account = system.records("account").create({"name": "Acme"})
    deals = system.records("opportunity")
    values = {"name": "Deal", "account": account.id, "close_date": "2026-12-01"}
    with pytest.raises(RecordValidationError) as entered:
        deals.create({**values, "stage": "Closed Won"})
    assert entered.value.errors == {"amount": ["A won opportunity needs an amount."]}
    open_deal = deals.create({**values, "stage": "Prospecting"})
    with pytest.raises(RecordValidationError) as moved:
        deals.update(open_deal.id, {"stage": "Closed Won"}, version=open_deal.version)
    assert moved.value.errors == {"amount": ["is required when Stage moves to 'Closed Won'."]}
    assert deals.create({**values, "stage": "Closed Won", "amount": "10"})["stage"] == "Closed Won"
