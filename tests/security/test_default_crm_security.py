"""The standard CRM's security model: private sales data along the role hierarchy."""
from __future__ import annotations

from pathlib import Path

import pytest

from crmkit.engine import RecordNotFound
from crmkit.engine.security.access import PermissionDenied
from crmkit.engine.security.users import SystemDirectory

DEFAULT_CRM = Path(__file__).resolve().parents[2] / "apps" / "default_crm.yaml"


@pytest.fixture
def company(crm, install_once):
    install_once(DEFAULT_CRM)
    directory = SystemDirectory(crm)
    people = {name: directory.create_user(name, role=role).id for name, role in [
        ("wang", "sales_rep"), ("li", "sales_rep"), ("zhang", "sales_manager"), ("chen", "ceo"),
        ("zhao", "support_agent"), ("sun", "marketing_manager")]}
    return crm, people


def opportunity_for(session, name: str):
    account = session.records("account").create({"name": f"{name} Ltd"})
    contact = session.records("contact").create({"last_name": name, "account": account.id, "email": f"{name}@x.cn"})
    deal = session.records("opportunity").create({"name": f"{name} deal", "account": account.id, "amount": 1000,
                                                  "stage": "Prospecting"})
    return account, contact, deal


def test_reps_see_their_own_pipeline_managers_their_team_and_the_ceo_everything(company):
    crm, people = company
    wang, li = crm.as_user(people["wang"]), crm.as_user(people["li"])
    wang_account, wang_contact, wang_deal = opportunity_for(wang, "wang")
    opportunity_for(li, "li")
    assert [d["name"] for d in wang.records("opportunity").query().records] == ["wang deal"]
    with pytest.raises(RecordNotFound):
        li.records("opportunity").get(wang_deal.id)
    with pytest.raises(RecordNotFound):
        li.records("contact").get(wang_contact.id)
    for boss in ("zhang", "chen"):
        names = {d["name"] for d in crm.as_user(people[boss]).records("opportunity").query().records}
        assert names == {"wang deal", "li deal"}
    with pytest.raises(PermissionDenied):
        crm.as_user(people["chen"]).records("opportunity").update(wang_deal.id, {"amount": 1}, version=1)


def test_support_sees_every_account_but_no_pipeline(company):
    crm, people = company
    opportunity_for(crm.as_user(people["wang"]), "wang")
    support = crm.as_user(people["zhao"])
    assert support.records("account").count().value == 1
    with pytest.raises(PermissionDenied):
        support.records("opportunity").query()


def test_products_are_readable_by_all_and_changed_by_managers_only(company):
    crm, people = company
    product = crm.as_user(people["zhang"]).records("product").create({"name": "CRM Pro", "product_code": "P-1"})
    assert crm.as_user(people["wang"]).records("product").get(product.id)["name"] == "CRM Pro"
    with pytest.raises(PermissionDenied):
        crm.as_user(people["wang"]).records("product").update(product.id, {"name": "x"}, version=1)
