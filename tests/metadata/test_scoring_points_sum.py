"""Scoring points are checked against what the score field can STORE, not against its min and max: the score is
the sum of the points of the rules whose condition holds (docs/automation.md), so a rule taking points off a
score kept at 0 or more (`min: 0`) is a valid package; only points no such field could hold (beyond 64 bits,
beyond the precision) are refused at the rule."""
from __future__ import annotations

from tests.metadata.test_attack12_metadata_checks import problems_of, project


def scored(field: str, points: str) -> str:
    return project(f"      email: {{type: email}}\n      score: {field}\n") + (
        "    scoring:\n      field: score\n      rules:\n"
        "        - {condition: 'email', points: 20}\n"
        f"        - {{condition: \"email and email.endswith('@gmail.com')\", points: {points}}}\n")


def test_a_rule_taking_points_off_a_score_kept_at_zero_or_more_is_valid(write_package, catalog):
    assert problems_of(write_package, catalog, scored("{type: integer, min: 0, max: 100}", "-10")) == []


def test_points_beyond_what_the_score_field_stores_are_still_refused(write_package, catalog):
    found = problems_of(write_package, catalog, scored("{type: integer, min: 0}", "99999999999999999999"))
    assert any("package.yaml:14:" in problem and "points" in problem for problem in found), found
