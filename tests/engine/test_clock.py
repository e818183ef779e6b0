"""`today()` is the acting user's today, taken from the one clock seam (`Crm.clock`)."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from crmkit.engine import RecordValidationError
from crmkit.engine.security.users import SystemDirectory

PACKAGE = """
package: tasks
version: "1.0.0"
objects:
  task:
    title_field: subject
    fields:
      subject: {type: text, required: true}
      due: {type: date}
      opened: {type: date, default: {expression: "today()"}}
    validations:
      - name: due_not_past
        field: due
        condition: "due is not None and due < today()"
        message: The due date is in the past.
"""

#: 17:00 in London is already 01:00 the next day in Shanghai.
MOMENT = datetime(2024, 3, 1, 17, 0, tzinfo=timezone.utc)


@pytest.fixture
def people(crm, install):
    install(PACKAGE)
    crm.clock = lambda: MOMENT
    directory = SystemDirectory(crm)
    london = directory.create_user("london", timezone="UTC", permission_sets=["admin"])
    shanghai = directory.create_user("shanghai", timezone="Asia/Shanghai", permission_sets=["admin"])
    return crm.as_user(london.id), crm.as_user(shanghai.id)


def test_validation_rules_compare_with_the_acting_user_s_today(people):
    london, shanghai = people
    assert london.records("task").create({"subject": "Report", "due": date(2024, 3, 1)})["due"] == date(2024, 3, 1)
    with pytest.raises(RecordValidationError) as caught:
        shanghai.records("task").create({"subject": "Report", "due": date(2024, 3, 1)})
    assert caught.value.errors == {"due": ["The due date is in the past."]}
    assert shanghai.records("task").create({"subject": "Report", "due": date(2024, 3, 2)})


def test_default_expressions_use_the_acting_user_s_today(people):
    london, shanghai = people
    assert london.records("task").create({"subject": "A"})["opened"] == date(2024, 3, 1)
    assert shanghai.records("task").create({"subject": "B"})["opened"] == date(2024, 3, 2)


def test_the_filter_word_today_and_the_rules_agree(people):
    london, shanghai = people
    created = shanghai.records("task").create({"subject": "B"})
    assert [record.id for record in shanghai.records("task").query({"opened": "today"}).records] == [created.id]
    assert london.records("task").query({"opened": "today"}).records == []
    assert shanghai.today() == date(2024, 3, 2) and london.today() == date(2024, 3, 1)
