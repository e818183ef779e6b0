"""Values as the databases give them back (SQLite's scaled integers, PostgreSQL's NUMERIC) are shown exactly."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

from crmkit.engine.fieldtypes.presentation import Presentation
from crmkit.engine.fieldtypes.presenter import FieldPresenter

PACKAGES = Path(__file__).resolve().parent.parent / "packages"


def test_a_saved_record_of_every_field_type_reads_back_for_english_and_chinese_users(crm):
    crm.install(PACKAGES / "all_types_v1.yaml")
    session = crm.as_system()
    company = session.records("company").create({"name": "星辰科技"})
    project = session.records("project").create({
        "name": "Apollo", "notes": "line one\nline two", "headcount": 1200, "score": "2.5",
        "budget": Decimal("0.10") + Decimal("0.20"), "discount": "12.5", "billable": False,
        "starts_on": date(2024, 12, 31), "kickoff": datetime(2024, 12, 31, 20, 30, tzinfo=timezone.utc),
        "contact_email": "li@example.cn", "contact_phone": "+86 10 8888 8888", "website": "example.com",
        "status": "Active", "tags": ["Research", "Internal"], "company": company.id,
    })
    record = session.records("project").get(project.id)
    fields = crm.runtime.registry.object("project").fields
    shown = {}
    for language, zone, currency in (("en", "America/New_York", "USD"), ("zh", "Asia/Shanghai", "CNY")):
        show = Presentation.of(language, zone, currency)
        presenter = FieldPresenter(crm.runtime.field_types, crm.runtime.registry, show)
        shown[language] = {name: presenter.display(fields[name], record, title=company["name"]).text
                           for name in fields}
    assert shown["en"] | {"legacy_code": "", "rating": ""} == {
        "name": "Apollo", "notes": "line one\nline two", "headcount": "1,200", "score": "2.500",
        "budget": "$0.30", "discount": "12.50%", "billable": "No", "starts_on": "Dec 31, 2024",
        "kickoff": "Dec 31, 2024, 3:30:00\u202fPM", "contact_email": "li@example.cn",
        "contact_phone": "+86 10 8888 8888", "website": "https://example.com", "status": "Active",
        "tags": "Internal and Research", "company": "星辰科技", "margin": "$0.06", "company_name": "星辰科技",
        "legacy_code": "", "rating": "",
    }
    assert {name: shown["zh"][name] for name in ("budget", "billable", "starts_on", "kickoff", "tags", "margin")} == {
        "budget": "¥0.30", "billable": "否", "starts_on": "2024年12月31日", "kickoff": "2025年1月1日 04:30:00",
        "tags": "Internal和Research", "margin": "¥0.06"}
    assert shown["zh"]["legacy_code"] == "无值"


def test_a_users_presenter_follows_their_language_and_time_zone(crm):
    from crmkit.engine.security.users import SystemDirectory

    crm.install(PACKAGES / "all_types_v1.yaml")
    wang = SystemDirectory(crm).create_user("wang", role=None, language="zh", timezone="Asia/Shanghai")
    presenter = FieldPresenter.for_context(crm.as_user(wang.id), currency="CNY")
    kickoff = presenter.registry.object("project").fields["kickoff"]
    assert presenter.show == Presentation("zh", "Asia/Shanghai", "CNY")
    assert presenter.display(kickoff, {"kickoff": datetime(2024, 12, 31, 20, 30, tzinfo=timezone.utc)}).text == \
        "2025年1月1日 04:30:00"
