"""Scoring: points per condition summed into a number field in the save, again when a field a condition reads
changes, and for existing records in batches."""
from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from crmkit.engine.automation.scoring import rescore, scoring_reads

LEADS = """
package: leads
version: "1.0.0"
objects:
  account:
    title_field: name
    fields:
      name: {type: text, required: true}
      industry: {type: picklist, options: [Technology, Retail]}
  lead:
    title_field: name
    fields:
      name: {type: text, required: true}
      email: {type: email}
      rating: {type: picklist, options: [Hot, Warm, Cold]}
      revenue: {type: currency}
      account: {type: lookup, to: account}
      note: {type: text}
      score: {type: integer, read_only: true}
      hot_and_scored: {type: formula, returns: boolean, formula: "score is not None and score >= 30"}
    validations:
      - name: cold_leads_score_low
        condition: "score is not None and score > 100"
        message: {en: Too many points., zh: 分数过高。}
SCORING
"""

SCORING = """    scoring:
      field: score
      rules:
        - {condition: "not is_blank(email)", points: 10}
        - {condition: "rating == 'Hot'", points: 20}
        - {condition: "rating == 'Cold'", points: -5}
        - {condition: "revenue > 1000000", points: 15}
        - {condition: "account.industry == 'Technology'", points: 5}
"""


@pytest.fixture
def leads(crm, install, clock):
    install(LEADS.replace("SCORING\n", SCORING))
    return crm.as_system().records("lead")


def test_a_new_record_gets_the_sum_of_the_points_of_the_conditions_that_hold(leads, crm):
    tech = crm.as_system().records("account").create({"name": "T", "industry": "Technology"})
    lead = leads.create({"name": "L", "email": "a@example.com", "rating": "Hot", "account": tech.id})
    assert lead["score"] == 35 and lead["hot_and_scored"] is True  # formulas see the score
    assert leads.create({"name": "Empty"})["score"] == 0


def test_a_condition_that_cannot_be_evaluated_counts_as_false_and_is_logged(leads, caplog):
    with caplog.at_level(logging.WARNING, logger="crmkit.automation"):
        lead = leads.create({"name": "No revenue", "rating": "Cold"})  # None > 1000000 cannot be compared
    assert lead["score"] == -5
    assert "the condition 'revenue > 1000000' could not be evaluated, counted as false" in caplog.text


def test_changing_a_field_a_condition_reads_rescores_and_other_changes_leave_the_score(leads, crm):
    lead = leads.create({"name": "L", "revenue": "5"})
    lead = leads.update(lead.id, {"revenue": "2000000", "rating": "Warm"}, version=lead.version)
    assert lead["score"] == 15
    assert {"email", "rating", "revenue", "account"} <= scoring_reads(crm.runtime.registry.object("lead"))
    with crm.engine.begin() as connection:  # a score changed behind the platform's back ...
        connection.execute(crm.runtime.table("lead").update().values(score=99))
    lead = leads.update(lead.id, {"note": "called"}, version=lead.version)
    assert lead["score"] == 99  # ... is not recomputed by a change no condition reads
    assert leads.update(lead.id, {"email": "x@example.com"}, version=lead.version)["score"] == 25


def test_the_score_is_checked_by_the_validation_rules_like_any_value(crm, write_package, install, clock):
    install(LEADS.replace("SCORING\n", SCORING.replace("points: 20", "points: 200")))
    from crmkit.engine import RecordValidationError

    with pytest.raises(RecordValidationError) as refused:
        crm.as_system().records("lead").create({"name": "Too hot", "rating": "Hot"})
    assert refused.value.errors["_record"] == ["Too many points."]


def test_rescore_scores_existing_records_in_batches_and_counts_the_changes(crm, install, clock):
    install(LEADS.replace("SCORING\n", ""))
    leads = crm.as_system().records("lead")
    for number in range(5):
        leads.create({"name": f"L{number}", "rating": "Hot" if number % 2 else "Warm"})
    install(LEADS.replace("SCORING\n", SCORING).replace('version: "1.0.0"', 'version: "1.1.0"'))
    batches: list[int] = []
    assert rescore(crm, "lead", batch_size=2, progress=batches.append) == 5
    assert batches == [2, 2, 1]
    assert [record["score"] for record in leads.query(sort=["id"]).records] == [0, 20, 0, 20, 0]
    assert rescore(crm, "lead") == 0  # nothing left to change


def test_rescore_refuses_an_object_without_scoring(crm, install, clock):
    install(LEADS.replace("SCORING\n", ""))
    with pytest.raises(ValueError, match="lead has no scoring rules"):
        rescore(crm, "lead")


def test_a_decimal_score_field_keeps_fractions(crm, install, clock):
    install(LEADS.replace("SCORING\n", SCORING.replace("points: 10", "points: 2.5"))
            .replace("score: {type: integer, read_only: true}", "score: {type: decimal, scale: 1}"))
    lead = crm.as_system().records("lead").create({"name": "F", "email": "f@example.com"})
    assert lead["score"] == Decimal("2.5")
