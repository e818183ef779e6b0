"""A small sales package with private deals, a protected field and a protected title, and its people.

    rep_a, rep_b  role rep (below manager); see only their own deals
    boss          role manager: sees the reps' deals
    finance       role rep plus the finance set: sees deal.margin and memo.code
    admin         the admin permission set
    team "north"  rep_a and finance
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

PACKAGE = """
package: sales_views
version: "1.0.0"
roles:
  manager: {label: {en: Manager, zh: 经理}}
  rep: {parent: manager, label: {en: Sales rep, zh: 销售代表}}
  it_lead: {label: {en: IT lead, zh: 信息技术主管}}
permission_sets:
  selling:
    roles: [manager, rep]
    objects:
      deal: [create, read, edit, delete]
      memo: [create, read, edit, delete]
  finance:
    fields:
      deal.margin: [read, edit]
      memo.code: [read, edit]
  user_manager:
    roles: [it_lead]
    system: [manage_users]
  memo_reader:
    objects:
      memo: [read]
objects:
  deal:
    label: {en: Deal, zh: 交易}
    title_field: name
    sharing: private
    fields:
      name: {type: text, required: true, searchable: true}
      amount: {type: currency}
      stage: {type: picklist, options: [New, Won, Lost]}
      margin: {type: currency}
  memo:
    label: {en: Memo, zh: 备忘}
    title_field: code
    sharing: private
    fields:
      code: {type: text}
      body: {type: text}
"""


class StepClock:
    """Every reading is one second after the previous one, so "newest first" is never a tie."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@dataclass
class Office:
    crm: object
    ids: dict[str, int]
    north: int

    def session(self, name: str):
        return self.crm.as_user(self.ids[name])


@pytest.fixture
def office(crm, write_package, state_snapshots) -> Office:
    """The package installed, then (on a StepClock) its people and team made: once per worker, copied per test."""
    path = write_package(PACKAGE)

    def build(built) -> tuple[dict[str, int], int, datetime]:
        from crmkit.engine.security.users import SystemDirectory

        built.install(path)
        built.clock = StepClock()
        directory = SystemDirectory(built)
        ids = {
            "rep_a": directory.create_user("rep_a", role="rep").id,
            "rep_b": directory.create_user("rep_b", role="rep").id,
            "boss": directory.create_user("boss", role="manager").id,
            "finance": directory.create_user("finance", role="rep", permission_sets=["finance"]).id,
            "admin": directory.create_user("admin", permission_sets=["admin"]).id,
        }
        north = directory.create_team("north", {"en": "North", "zh": "北区"})
        directory.add_to_team(north, ids["rep_a"])
        directory.add_to_team(north, ids["finance"])
        return ids, north, built.clock.now

    ids, north, now = state_snapshots.apply(crm, ("workspace office", PACKAGE), build, source=path)
    crm.clock = StepClock()
    crm.clock.now = now  # where the clock the people were made on stopped
    return Office(crm, ids, north)
