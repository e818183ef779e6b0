"""Automation fixtures: a small sales package with stage transitions and rules, installed per test."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

DEALS = """
package: deals
version: "1.0.0"
objects:
  account:
    title_field: name
    fields:
      name: {type: text, required: true}
      rating: {type: picklist, options: [Cold, Warm, Hot]}
      note: {type: text}
  deal:
    title_field: name
    fields:
      name: {type: text, required: true}
      account: {type: lookup, to: account}
      stage: {type: picklist, options: [New, Qualified, Won, Lost], default: New}
      amount: {type: currency}
      loss_reason: {type: text}
      next_step: {type: text}
      big: {type: formula, returns: boolean, formula: "amount is not None and amount >= 1000"}
    validations:
      - name: won_needs_next_step
        condition: "stage == 'Won' and is_blank(next_step)"
        field: next_step
        message: {en: A won deal needs a next step., zh: 赢单需要下一步。}
    transitions:
      stage:
        initial: [New]
        moves:
          - {from: New, to: Qualified}
          - from: Qualified
            to: Won
            condition: "amount is not None and amount > 0"
            message: {en: A won deal needs an amount., zh: 赢单需要金额。}
          # tests/automation/test_stage_transitions.py protects loss_reason later: a refused move tells whether it is blank
          - {from: "*", to: Lost, requires: [loss_reason], discloses_protected_fields: true}
          - {from: Lost, to: New}
    automations:
      - name: won
        on: [updated]
        condition: "changed('stage') and stage == 'Won'"
        actions:
          - {type: update_record, set: {next_step: "'Hand over'"}}
          - {type: update_related, lookup: account, set: {rating: "'Hot'"}}
          - {type: create_record, object: task, set: {subject: "'Kick-off ' + name", deal: "id"}}
      - name: lost_task
        on: [deleted]
        actions:
          - {type: create_record, object: task, set: {subject: "'Deleted ' + name"}}
  task:
    fields:
      subject: {type: text, required: true}
      deal: {type: lookup, to: deal}
"""

#: A moment tests start at; they move `crm.clock` forward instead of sleeping.
START = datetime(2026, 6, 1, 9, 0, tzinfo=timezone.utc)


class Clock:
    """A controllable `Crm.clock`: `clock.advance(seconds=30)` moves it."""

    def __init__(self, moment: datetime = START) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


@pytest.fixture
def clock(crm) -> Clock:
    crm.clock = Clock()
    return crm.clock


@pytest.fixture
def sales(crm, install, clock):
    """A system context on a database with the deals package installed."""
    install(DEALS)
    return crm.as_system()


def won_deal(sales, name: str = "Big deal", amount: str = "5000"):
    """A deal moved New -> Qualified -> Won (with an account): the `won` rule fires on the last step."""
    account = sales.records("account").create({"name": f"{name} Ltd"})
    deals = sales.records("deal")
    deal = deals.create({"name": name, "account": account.id, "amount": amount})
    deal = deals.update(deal.id, {"stage": "Qualified"}, version=deal.version)
    return account, deals.update(deal.id, {"stage": "Won"}, version=deal.version)


# The email and webhook tests' fixtures (a local SMTP server, a local HTTP server, the mailing package).
from tests.automation.delivery_fixtures import hook_server, mailing, smtp_server  # noqa: E402, F401
