"""The standard CRM package: it validates, installs on both databases, and its formulas,
rollups and rules behave as a sales team expects."""
from __future__ import annotations

import os
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from click.testing import CliRunner

from crmkit.engine import Crm, DeleteRestrictedError, RecordValidationError
from crmkit.metadata import validate_paths

DEFAULT_CRM = Path(__file__).resolve().parents[2] / "apps" / "default_crm.yaml"
POSTGRES_URL = os.environ.get("CRMKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
POSTGRES_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
TRACKED = {"account", "contact", "lead", "opportunity", "service_case"}


# -- fixtures: one installed database per backend, shared by this module's tests ---------------
# Each test creates the records it looks at, so sharing the (expensive) install is safe.


def _postgres_schema() -> str:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_DSN, connect_timeout=3, autocommit=True) as connection:
            schema = f"t_{uuid.uuid4().hex[:12]}"
            connection.execute(f'CREATE SCHEMA "{schema}"')
            return schema
    except Exception as error:  # no server, no driver: the PostgreSQL half is skipped
        reason = f"PostgreSQL is not reachable at 127.0.0.1:5432 ({error.__class__.__name__})"
        if os.environ.get("CRMKIT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason}, and CRMKIT_REQUIRE_POSTGRES=1 requires it")
        pytest.skip(reason)


def _drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_DSN, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def default_crm(request, tmp_path_factory) -> Iterator[Crm]:
    """A database with apps/default_crm.yaml installed, on SQLite and on PostgreSQL."""
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('default_crm') / 'crm.db'}"
    else:
        schema = _postgres_schema()
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    crm = Crm.open(url)
    try:
        crm.install(DEFAULT_CRM)
        yield crm
    finally:
        crm.close()
        if schema:
            _drop_schema(schema)


@pytest.fixture
def session(default_crm):
    return default_crm.as_system()


def reload(session, record) -> Any:
    return session.records(record.object).get(record.id)


def create_account(session, name: str = "Acme Corp") -> Any:
    return session.records("account").create({"name": name})


# -- the package as metadata ----------------------------------------------------------------


def raw_package() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_CRM.read_text(encoding="utf-8"))


def test_the_package_validates(catalog):
    registry = validate_paths([DEFAULT_CRM], catalog)
    assert {"account", "contact", "lead", "opportunity", "activity", "product", "quote", "quote_line",
            "campaign", "service_case"} <= set(registry.objects)
    assert registry.packages["default_crm"].version == "1.0.0"


def test_crmkit_validate_reports_no_problems():
    from crmkit.cli import main

    result = CliRunner().invoke(main, ["validate", str(DEFAULT_CRM)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "valid: default_crm 1.0.0 (10 objects)"


def _bilingual_problems(path: str, label: Any) -> list[str]:
    if not isinstance(label, dict) or not label.get("en") or not label.get("zh"):
        return [f"{path}: {label!r} needs both en and zh"]
    return []


def test_every_label_option_and_message_is_in_english_and_chinese():
    package = raw_package()
    problems = _bilingual_problems("label", package.get("label"))
    problems += _bilingual_problems("description", package.get("description"))
    for object_name, obj in package["objects"].items():
        for key in ("label", "plural_label", "description"):
            problems += _bilingual_problems(f"{object_name}.{key}", obj.get(key))
        for field_name, field in obj["fields"].items():
            where = f"{object_name}.{field_name}"
            problems += _bilingual_problems(f"{where}.label", field.get("label"))
            for option in field.get("options", ()):
                value = option.get("value") if isinstance(option, dict) else option
                label = option.get("label") if isinstance(option, dict) else None
                problems += _bilingual_problems(f"{where} option {value}", label)
        for rule in obj.get("validations", ()):
            problems += _bilingual_problems(f"{object_name} rule {rule['name']}", rule.get("message"))
    assert problems == []


def test_chinese_users_see_the_terms_they_know(catalog):
    objects = validate_paths([DEFAULT_CRM], catalog).objects
    terms = {name: objects[name].label.get("zh") for name in objects}
    assert terms == {
        "account": "客户", "contact": "联系人", "lead": "线索", "opportunity": "商机", "activity": "活动",
        "product": "产品", "quote": "报价单", "quote_line": "报价明细", "campaign": "市场活动",
        "service_case": "服务工单",
    }
    stages = {option.value: option.label.get("zh") for option in objects["opportunity"].fields["stage"].options}
    assert stages["Closed Won"] == "赢单" and stages["Closed Lost"] == "输单"


def test_every_object_has_a_title_field_and_the_core_ones_keep_history(catalog):
    objects = validate_paths([DEFAULT_CRM], catalog).objects
    assert all(obj.title_field in obj.fields for obj in objects.values())
    assert {name for name, obj in objects.items() if obj.track_history} == TRACKED


# -- behaviour on a real database -------------------------------------------------------------


def test_an_account_gets_a_number_and_its_defaults(session):
    account = create_account(session, "北京星辰科技有限公司")
    assert account["account_number"].startswith("ACC-") and len(account["account_number"]) == 9
    assert account["type"] == "Prospect"


def test_creating_an_opportunity_computes_probability_and_expected_revenue(session):
    account = create_account(session)
    opportunities = session.records("opportunity")
    deal = opportunities.create({"name": "Acme - CRM", "account": account.id, "stage": "Proposal", "amount": "1000"})
    assert deal["probability"] == Decimal("60")
    assert deal["expected_revenue"] == Decimal("600.00")
    assert deal["close_date"] > datetime.now(timezone.utc).date()
    assert deal["is_closed"] is False

    won = opportunities.update(deal.id, {"stage": "Closed Won"}, version=deal.version)
    assert (won["probability"], won["expected_revenue"], won["is_won"]) == (Decimal("100"), Decimal("1000.00"), True)


def test_a_new_opportunity_starts_prospecting_at_ten_percent(session):
    account = create_account(session)
    deal = session.records("opportunity").create({"name": "Small deal", "account": account.id, "amount": 250})
    assert deal["stage"] == "Prospecting"
    assert deal["probability"] == Decimal("10")
    assert deal["expected_revenue"] == Decimal("25.00")


def test_an_opportunity_without_amount_expects_no_revenue(session):
    account = create_account(session)
    deal = session.records("opportunity").create({"name": "Unsized", "account": account.id, "stage": "Negotiation"})
    assert deal["probability"] == Decimal("80")
    assert deal["expected_revenue"] == Decimal("0")


def test_a_lost_opportunity_needs_a_reason(session):
    account = create_account(session)
    opportunities = session.records("opportunity")
    with pytest.raises(RecordValidationError) as refused:
        opportunities.create({"name": "Lost", "account": account.id, "stage": "Closed Lost", "amount": 10})
    assert refused.value.errors == {"loss_reason": ["Give the reason the opportunity was lost."]}
    lost = opportunities.create({"name": "Lost", "account": account.id, "stage": "Closed Lost", "amount": 10,
                                 "loss_reason": "Price"})
    assert (lost["probability"], lost["expected_revenue"]) == (Decimal("0"), Decimal("0"))


def test_an_opportunity_needs_an_account(session):
    with pytest.raises(RecordValidationError) as refused:
        session.records("opportunity").create({"name": "Orphan", "close_date": "2030-01-31"})
    assert "account" in refused.value.errors


def test_a_quote_total_follows_its_lines(session):
    account = create_account(session)
    deal = session.records("opportunity").create({"name": "Quoted", "account": account.id, "amount": 5000})
    product = session.records("product").create({"name": "CloudCRM Enterprise", "list_price": "100.00"})
    quote = session.records("quote").create({"name": "Q1", "opportunity": deal.id, "tax_rate": 13})
    assert quote["status"] == "Draft"
    lines = session.records("quote_line")

    first = lines.create({"quote": quote.id, "product": product.id, "quantity": 3})  # price from the product
    assert (first["unit_price"], first["discount"]) == (Decimal("100.00"), Decimal("0"))
    assert first["amount"] == Decimal("300.00")
    second = lines.create({"quote": quote.id, "product": product.id, "quantity": 2, "unit_price": "50",
                           "discount": "10"})
    assert second["amount"] == Decimal("90.00")
    totals = reload(session, quote)
    assert (totals["line_count"], totals["subtotal"]) == (2, Decimal("390.00"))
    assert (totals["tax"], totals["grand_total"]) == (Decimal("50.70"), Decimal("440.70"))

    lines.update(first.id, {"quantity": 1}, version=first.version)
    totals = reload(session, quote)
    assert (totals["subtotal"], totals["grand_total"]) == (Decimal("190.00"), Decimal("214.70"))

    lines.delete(second.id)
    totals = reload(session, quote)
    assert totals["line_count"] == 1
    assert (totals["subtotal"], totals["grand_total"]) == (Decimal("100.00"), Decimal("113.00"))


def test_a_quoted_product_cannot_be_deleted(session):
    account = create_account(session)
    deal = session.records("opportunity").create({"name": "Quoted", "account": account.id})
    product = session.records("product").create({"name": "Edge Server", "list_price": 10})
    quote = session.records("quote").create({"name": "Q2", "opportunity": deal.id})
    session.records("quote_line").create({"quote": quote.id, "product": product.id})
    with pytest.raises(DeleteRestrictedError):
        session.records("product").delete(product.id)


def test_account_rollups_follow_opportunities(session):
    account = create_account(session)
    opportunities = session.records("opportunity")
    first = opportunities.create({"name": "A", "account": account.id, "stage": "Proposal", "amount": 1000,
                                  "close_date": "2025-03-31"})
    opportunities.create({"name": "B", "account": account.id, "stage": "Qualification", "amount": 300})
    opportunities.create({"name": "C", "account": account.id, "stage": "Closed Lost", "amount": 700,
                          "loss_reason": "Competitor"})
    rollups = reload(session, account)
    assert (rollups["open_opportunity_count"], rollups["pipeline_amount"]) == (2, Decimal("1300.00"))
    assert not rollups["won_amount"]

    opportunities.update(first.id, {"stage": "Closed Won"}, version=first.version)
    rollups = reload(session, account)
    assert (rollups["open_opportunity_count"], rollups["pipeline_amount"]) == (1, Decimal("300.00"))
    assert (rollups["won_amount"], rollups["last_won_date"]) == (Decimal("1000.00"), date(2025, 3, 31))

    opportunities.delete(first.id)
    rollups = reload(session, account)
    assert not rollups["won_amount"] and rollups["open_opportunity_count"] == 1


def test_account_counts_its_contacts(session):
    account = create_account(session)
    contacts = session.records("contact")
    wang = contacts.create({"last_name": "王", "first_name": "伟", "mobile": "+86 138 0000 0000", "account": account.id})
    contacts.create({"last_name": "Smith", "first_name": "Jane", "email": "jane@acme.example", "account": account.id})
    assert reload(session, account)["contact_count"] == 2
    contacts.delete(wang.id)
    assert reload(session, account)["contact_count"] == 1


def test_an_account_with_opportunities_cannot_be_deleted_but_its_contacts_stay(session):
    account = create_account(session)
    contact = session.records("contact").create({"last_name": "Li", "email": "li@acme.example", "account": account.id})
    deal = session.records("opportunity").create({"name": "Keep me", "account": account.id})
    with pytest.raises(DeleteRestrictedError):
        session.records("account").delete(account.id)
    session.records("opportunity").delete(deal.id)
    session.records("account").delete(account.id)
    assert reload(session, contact)["account"] is None


def test_contact_full_name_follows_the_naming_order_of_the_language(session):
    contacts = session.records("contact")
    chinese = contacts.create({"last_name": "王", "first_name": "伟", "phone": "+86 10 8888 8888"})
    english = contacts.create({"last_name": "Smith", "first_name": "Jane", "phone": "+1 415 555 0100"})
    surname_only = contacts.create({"last_name": "Müller", "email": "m@example.com"})
    assert (chinese["full_name"], english["full_name"], surname_only["full_name"]) == ("王伟", "Jane Smith", "Müller")
    assert chinese["do_not_call"] is False


def test_a_phone_number_typed_in_full_width_is_stored_in_ascii(session):
    """A Chinese input method's full-width digits, plus and brackets are the same number (Unicode NFKC)."""
    contacts = session.records("contact")
    contact = contacts.create({"last_name": "王", "phone": "＋８６ （１０） ８８８８ ８８８８"})
    assert contact["phone"] == "+86 (10) 8888 8888"
    updated = contacts.update(contact.id, {"phone": "１３８ ００１３ ８０００"}, version=contact.version)
    assert updated["phone"] == "138 0013 8000"


def test_a_contact_needs_an_email_or_a_phone(default_crm):
    with pytest.raises(RecordValidationError) as refused:
        default_crm.as_system().records("contact").create({"last_name": "Nobody"})
    assert refused.value.errors == {"_record": ["Give an email address or a phone number."]}
    with pytest.raises(RecordValidationError) as refused:
        default_crm.as_system(language="zh").records("contact").create({"last_name": "张"})
    assert refused.value.errors == {"_record": ["请至少填写电子邮箱或电话号码。"]}


def test_a_lead_is_converted_only_when_qualified(session):
    leads = session.records("lead")
    lead = leads.create({"last_name": "Chen", "company": "Summit Foods", "email": "chen@summit.example",
                         "product_interest": ["Software", "Support"]})
    assert (lead["status"], lead["converted"], lead["full_name"]) == ("New", False, "Chen")
    with pytest.raises(RecordValidationError) as refused:
        leads.update(lead.id, {"converted": True}, version=lead.version)
    assert list(refused.value.errors) == ["status"]
    converted = leads.update(lead.id, {"converted": True, "status": "Qualified"}, version=lead.version)
    assert converted["converted"] is True


def test_an_activity_is_a_task_due_today_unless_told_otherwise(session):
    activity = session.records("activity").create({"subject": "Call back"})
    assert (activity["type"], activity["status"], activity["priority"]) == ("Task", "Not Started", "Normal")
    assert activity["due_date"] == datetime.now(timezone.utc).date()
    with pytest.raises(RecordValidationError) as refused:
        session.records("activity").create({"subject": "Meeting", "type": "Meeting",
                                            "start_time": "2026-03-02T10:00:00Z", "end_time": "2026-03-02T09:00:00Z"})
    assert list(refused.value.errors) == ["end_time"]


def test_a_new_records_defaults_are_given_before_the_save_as_the_save_computes_them(session):
    from crmkit.sandbox.functions import add_months

    today = datetime.now(timezone.utc).date()
    deal = session.records("opportunity").new_record_defaults()
    assert deal["close_date"] == add_months(today, 3) and deal["stage"] == "Prospecting"
    assert "close_date" not in session.records("opportunity").new_record_defaults({"close_date": date(2031, 1, 31)})
    line = session.records("quote_line").new_record_defaults()  # `product.list_price` needs a product: the save's
    assert "unit_price" not in line and line["quantity"] == 1
    assert session.records("activity").new_record_defaults()["due_date"] == today


def test_a_case_is_numbered_and_needs_a_resolution_to_close(session):
    cases = session.records("service_case")
    case = cases.create({"subject": "无法登录系统", "origin": "WeChat"})
    assert case["case_number"].startswith("CASE-") and case["status"] == "New" and case["opened_at"] is not None
    with pytest.raises(RecordValidationError):
        cases.update(case.id, {"status": "Closed"}, version=case.version)
    closed = cases.update(case.id, {"status": "Closed", "resolution": "Password reset."}, version=case.version)
    assert closed["status"] == "Closed"


def test_history_is_kept_for_the_core_objects(session):
    account = create_account(session)
    session.records("account").update(account.id, {"rating": "Hot"}, version=account.version)
    assert session.records("account").history(account.id)


def test_an_account_cannot_be_its_own_parent(session):
    parent = create_account(session, "Parent Group")
    child = session.records("account").create({"name": "Child Ltd.", "parent_account": parent.id})
    assert child["parent_account"] == parent.id
    with pytest.raises(RecordValidationError) as refused:
        session.records("account").update(parent.id, {"parent_account": parent.id}, version=parent.version)
    assert refused.value.errors == {"parent_account": ["An account cannot be its own parent."]}


def test_people_are_found_by_their_name_as_written_in_chinese_and_in_english(session):
    """First and last name are separate fields; the full name (the title) is searchable too,
    so 张伟 (surname and given name side by side in no single field but the full name) is found."""
    account = create_account(session, "Search Test Ltd")
    contact = session.records("contact").create({"first_name": "伟", "last_name": "张", "account": account.id,
                                                   "email": "zhang.wei@example.cn"})
    lead = session.records("lead").create({"first_name": "浩然", "last_name": "王", "company": "王氏集团",
                                             "phone": "+86 21 5555 0100"})
    english = session.records("contact").create({"first_name": "Sarah", "last_name": "Moore", "account": account.id,
                                                   "email": "sarah@example.com"})
    assert contact.id in [record.id for record in session.records("contact").query(search="张伟").records]
    assert lead.id in [record.id for record in session.records("lead").query(search="王浩然").records]
    assert english.id in [record.id for record in session.records("contact").query(search="sarah moore").records]
    assert contact.id in [record.id for record in session.records("contact").query(search="zhangwei").records]
