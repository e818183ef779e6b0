"""One database per module (SQLite and PostgreSQL) with a small sales model, two reps and a manager.

Deals are private: each rep sees only the deals they own. `margin` is readable only with the
finance permission set. The rows are kept in `Sales.rows` so tests compute the expected
figures themselves, in Python, from what they inserted.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

SALES = """
package: sales
version: "1.0.0"
roles:
  rep: {}
permission_sets:
  sales:
    roles: [rep]
    objects:
      account: [read]
      deal: [create, read, edit, export]
  finance:
    fields:
      deal.margin: [read, edit]
objects:
  account:
    sharing: public_read
    title_field: name
    fields:
      name: {type: text, required: true}
      industry: {type: picklist, options: [Tech, Finance]}
  deal:
    sharing: private
    title_field: name
    fields:
      name: {type: text, required: true}
      stage: {type: picklist, options: [Prospecting, Negotiation, Won, Lost]}
      amount: {type: currency}
      margin: {type: currency}
      seats: {type: integer}
      opened_on: {type: date}
      close_date: {type: date}
      closed_at: {type: datetime}
      account: {type: lookup, to: account}
reports:
  deals_by_stage:
    label: {en: Deals by stage, zh: 按阶段的交易}
    object: deal
    kind: summary
    group_by:
      - field: stage
    aggregates:
      - {name: deals, function: count}
      - {name: total, function: sum, field: amount}
  account_list:
    label: {en: Accounts, zh: 客户}
    object: account
    kind: tabular
    columns: [name, industry]
"""

U = timezone.utc
#: Moments either side of midnight in Berlin and Shanghai, across the end-of-March change to summer time.
MOMENTS = [
    datetime(2024, 3, 30, 23, 30, tzinfo=U),   # Berlin (UTC+1): 2024-03-31 00:30; UTC: 03-30
    datetime(2024, 3, 31, 22, 30, tzinfo=U),   # Berlin (now UTC+2): 2024-04-01 00:30; a fixed +1 says 03-31
    datetime(2024, 3, 31, 21, 30, tzinfo=U),   # Berlin: 2024-03-31 23:30
    datetime(2024, 6, 30, 16, 30, tzinfo=U),   # Shanghai (UTC+8): 2024-07-01 00:30
    datetime(2024, 12, 31, 15, 59, tzinfo=U),  # Shanghai: 2024-12-31 23:59
    datetime(2024, 12, 31, 16, 0, tzinfo=U),   # Shanghai: 2025-01-01 00:00
    None,
]
STAGES = ["Prospecting", "Negotiation", "Won", "Lost", None]
AMOUNTS = [Decimal("100.10"), Decimal("0.01"), Decimal("5000.00"), None, Decimal("12500.55"), Decimal("49999.99"),
           Decimal("50000.00"), Decimal("3.33"), Decimal("100000.00")]


@dataclass
class Sales:
    crm: Any
    users: dict[str, int]
    accounts: dict[str, int]
    rows: list[dict[str, Any]] = field(default_factory=list)
    team: int = 0

    def seen_by(self, user: str | None) -> list[dict[str, Any]]:
        """The rows `user` may see (None: the system, every row)."""
        if user in (None, "boss"):
            return self.rows
        return [row for row in self.rows if row["owner_id"] == self.users[user]]


@pytest.fixture(scope="module")
def sales(module_database_url, tmp_path_factory) -> Sales:
    from crmkit.engine import Crm
    from crmkit.engine.security.users import SystemDirectory

    crm = Crm.open(module_database_url)
    package = tmp_path_factory.mktemp("sales") / "sales.yaml"
    package.write_text(SALES, encoding="utf-8")
    crm.install(package)
    directory = SystemDirectory(crm)
    users = {
        "wang": directory.create_user("wang", display_name="Wang Fang", role="rep", timezone="Asia/Shanghai").id,
        "li": directory.create_user("li", display_name="Li Lei", role="rep", timezone="Europe/Berlin",
                                    permission_sets=["finance"]).id,
        "boss": directory.create_user("boss", display_name="Boss", permission_sets=["admin"],
                                      timezone="Europe/Berlin").id,
    }
    team = directory.create_team("east")
    directory.add_to_team(team, users["wang"])
    system = crm.as_system()
    accounts = {name: system.records("account").create({"name": name, "industry": industry}).id
                for name, industry in (("Acme", "Tech"), ("Bank", "Finance"), ("Cafe", None))}
    data = Sales(crm, users, accounts, team=team)
    account_cycle = [accounts["Acme"], accounts["Bank"], accounts["Cafe"], None]
    for i in range(36):
        owner = users["wang"] if i % 3 else users["li"]
        opened = date(2024, 1 + i % 12, 1 + (i * 7) % 28)
        closing = date(2024 + (i % 5 == 0), 1 + (i * 5) % 12, 1 + (i * 3) % 28) if i % 7 else None
        row = {"name": f"deal {i:02d}", "stage": STAGES[i % 5], "amount": AMOUNTS[i % 9],
               "margin": Decimal(i) if i % 4 else None, "seats": (i * 13) % 7 if i % 6 else None,
               "opened_on": opened, "close_date": closing, "closed_at": MOMENTS[i % 7],
               "account": account_cycle[i % 4], "owner_id": owner}
        row["id"] = system.records("deal").create(row).id
        data.rows.append(row)
    yield data
    crm.close()
