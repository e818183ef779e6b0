"""The record service: the save pipeline from input to stored, computed, validated values."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from crmkit.engine import RecordNotFound, RecordValidationError, StaleRecordError


def test_create_applies_defaults_coercion_formulas_and_system_fields(projects):
    project = projects.create({"name": "  Apollo  ", "budget": "1,234.50", "headcount": "12", "tags": "Research; Internal"})
    assert project["name"] == "Apollo"
    assert project["budget"] == Decimal("1234.50")
    assert project["headcount"] == 12
    assert project["status"] == "Planned" and project["billable"] is True
    assert project["starts_on"] == date.today()
    assert project["tags"] == ["Internal", "Research"]
    assert project["margin"] == Decimal("246.90")
    assert project.version == 1 and project["created_at"].tzinfo is not None
    stored = projects.get(project.id)
    assert stored.values == project.values


def test_field_errors_are_reported_per_field_all_at_once(projects):
    with pytest.raises(RecordValidationError) as caught:
        projects.create({
            "contact_email": "not-an-email", "contact_phone": "call me", "status": "Paused",
            "headcount": "1.5", "budgt": 3, "margin": 1, "id": 9,
        })
    errors = caught.value.errors
    assert errors["contact_email"] == ["Not a valid email address."]
    assert errors["contact_phone"] == ["Not a valid phone number."]
    assert errors["status"] and "Planned" in errors["status"][0]
    assert errors["headcount"] == ["Not a valid whole number."]
    assert errors["budgt"] == ["is not a field of project. Did you mean 'budget'?"]
    assert errors["margin"] == ["is computed (formula) and cannot be set."]
    assert errors["id"] == ["is set by the platform and cannot be changed."]
    assert errors["name"] == ["is required."]


def test_limits_from_metadata_are_enforced(projects):
    with pytest.raises(RecordValidationError) as caught:
        projects.create({"name": "x" * 81, "headcount": -1, "discount": 101})
    assert set(caught.value.errors) == {"name", "headcount", "discount"}


def test_validation_rules_speak_the_users_language(crm, all_types):
    with pytest.raises(RecordValidationError) as caught:
        all_types.records("project").create({"name": "Apollo", "budget": -5})
    assert caught.value.errors == {"budget": ["Budget must not be negative"]}
    chinese = crm.as_system(language="zh").records("project")
    with pytest.raises(RecordValidationError) as caught:
        chinese.create({"name": "阿波罗", "budget": -5})
    assert caught.value.errors == {"budget": ["预算不能为负"]}


def test_update_recomputes_formulas_and_bumps_the_version(projects):
    project = projects.create({"name": "Apollo", "budget": 100})
    updated = projects.update(project.id, {"budget": 200}, version=project.version)
    assert updated["margin"] == Decimal("40.00") and updated.version == 2
    assert projects.get(project.id)["margin"] == Decimal("40.00")


def test_an_update_that_changes_nothing_keeps_the_version(projects):
    project = projects.create({"name": "Apollo", "budget": 100})
    same = projects.update(project.id, {"budget": "100.00"}, version=1)
    assert same.version == 1


def test_a_stale_version_is_refused_never_overwritten(projects):
    project = projects.create({"name": "Apollo"})
    projects.update(project.id, {"headcount": 3}, version=1)
    with pytest.raises(StaleRecordError) as caught:
        projects.update(project.id, {"headcount": 5}, version=1)
    assert "now at version 2" in str(caught.value)
    assert projects.get(project.id)["headcount"] == 3


def test_missing_records_raise_not_found(projects):
    with pytest.raises(RecordNotFound):
        projects.get(999)
    with pytest.raises(RecordNotFound):
        projects.update(999, {"name": "x"}, version=1)
    with pytest.raises(RecordNotFound):
        projects.get("1 OR 1=1")


def test_lookups_must_point_at_existing_records(projects):
    with pytest.raises(RecordValidationError) as caught:
        projects.create({"name": "Apollo", "company": 41})
    assert caught.value.errors == {"company": ["there is no company record with id 41."]}


def test_formulas_reading_a_lookup_stay_current_when_the_parent_changes(companies, projects):
    acme = companies.create({"name": "Acme"})
    project = projects.create({"name": "Apollo", "company": acme.id})
    assert project["company_name"] == "Acme"
    companies.update(acme.id, {"name": "Acme Holdings"}, version=acme.version)
    assert projects.get(project.id)["company_name"] == "Acme Holdings"


def test_autonumbers_count_up_and_never_repeat(companies):
    codes = [companies.create({"name": f"C{n}"})["code"] for n in range(3)]
    assert codes == ["CO-0001", "CO-0002", "CO-0003"]


def test_rollups_follow_creates_updates_reparenting_and_deletes(companies, projects):
    acme = companies.create({"name": "Acme"})
    globex = companies.create({"name": "Globex"})
    a = projects.create({"name": "A", "company": acme.id, "budget": 100, "status": "Active", "starts_on": "2024-03-01"})
    b = projects.create({"name": "B", "company": acme.id, "budget": 50, "starts_on": "2024-05-01"})
    acme_now = companies.get(acme.id)
    assert (acme_now["project_count"], acme_now["total_budget"], acme_now["active_budget"]) == (2, Decimal("150.00"), Decimal("100.00"))
    assert acme_now["latest_start"] == date(2024, 5, 1)
    projects.update(a.id, {"budget": 70}, version=a.version)
    assert companies.get(acme.id)["total_budget"] == Decimal("120.00")
    projects.update(b.id, {"company": globex.id}, version=b.version)
    assert companies.get(acme.id)["project_count"] == 1
    assert companies.get(globex.id)["total_budget"] == Decimal("50.00")
    projects.delete(a.id)
    acme_now = companies.get(acme.id)
    assert acme_now["project_count"] == 0 and acme_now["total_budget"] is None


def test_unique_fields_name_the_clash(crm, install):
    install("""
        package: crm_unique
        version: "1.0.0"
        objects:
          person:
            fields:
              email: {type: email, unique: true}
    """)
    people = crm.as_system().records("person")
    people.create({"email": "li@example.com"})
    with pytest.raises(RecordValidationError) as caught:
        people.create({"email": "li@example.com"})
    assert caught.value.errors == {"email": ["'li@example.com' is already used by another person record."]}


def test_previous_and_changed_are_available_to_rules_on_update(crm, install):
    install("""
        package: deals
        version: "1.0.0"
        objects:
          deal:
            fields:
              stage: {type: picklist, options: [Open, Won, Lost]}
            validations:
              - name: won_is_final
                condition: "changed('stage') and previous('stage') == 'Won'"
                message: {en: A won deal cannot change stage, zh: 已赢单的商机不能更改阶段}
                field: stage
    """)
    deals = crm.as_system().records("deal")
    deal = deals.create({"stage": "Open"})
    deal = deals.update(deal.id, {"stage": "Won"}, version=deal.version)
    with pytest.raises(RecordValidationError) as caught:
        deals.update(deal.id, {"stage": "Lost"}, version=deal.version)
    assert caught.value.errors == {"stage": ["A won deal cannot change stage"]}


def test_a_transaction_saves_everything_or_nothing(all_types):
    companies = all_types.records("company")
    with pytest.raises(RecordValidationError):
        with all_types.transaction():
            companies.create({"name": "Kept only if all succeed"})
            all_types.records("project").create({"name": "Bad", "budget": -1})
    assert companies.count().value == 0


def test_history_records_who_changed_what(projects):
    project = projects.create({"name": "Apollo", "budget": 10})
    projects.update(project.id, {"budget": 20, "name": "Apollo 11"}, version=1)
    history = projects.history(project.id)
    assert [(h["operation"], h["field"]) for h in history] == [
        ("create", None), ("update", "budget"), ("update", "margin"), ("update", "name")] or \
        sorted((h["operation"], h["field"] or "") for h in history) == sorted(
            [("create", ""), ("update", "budget"), ("update", "margin"), ("update", "name")])
    budget = next(h for h in history if h["field"] == "budget")
    assert (budget["old_value"], budget["new_value"]) == ("10.00", "20.00")


def test_timestamps_are_utc_and_datetime_input_is_normalised(projects):
    project = projects.create({"name": "Apollo", "kickoff": "2024-06-01T10:00:00+08:00"})
    assert projects.get(project.id)["kickoff"] == datetime(2024, 6, 1, 2, 0, tzinfo=timezone.utc)


def test_a_new_parent_counts_zero_children(companies):
    assert companies.create({"name": "Acme"})["project_count"] == 0


def test_rules_may_read_system_fields_which_are_empty_on_create(crm, install):
    install("""
        package: selfref
        version: "1.0.0"
        objects:
          node:
            fields:
              parent: {type: lookup, to: node}
            validations:
              - name: not_own_parent
                condition: "parent and parent.id == id"
                message: A node cannot be its own parent
                field: parent
    """)
    nodes = crm.as_system().records("node")
    node = nodes.create({})
    with pytest.raises(RecordValidationError):
        nodes.update(node.id, {"parent": node.id}, version=node.version)
