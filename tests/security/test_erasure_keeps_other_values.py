"""An erasure scrubs the person's values from the change log, and only those (security/erasure_traces.py): the
erased record's own change rows have its erased fields emptied and the values replaced where its formulas quote
them, while its other fields stay as the record keeps them. A short erased name ("Li") is not cut out of a
picklist value or a company name the record still holds ('LinkedIn' is not '[erased]nkedIn' in the feed that
syncs other systems). SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

from crmkit.engine.records.changes import ChangeFeed

PACKAGE = """
package: erasure_keeps_values
version: "1.0.0"
objects:
  person:
    title_field: last_name
    fields:
      last_name: {type: text, personal: true}
      source: {type: picklist, options: [LinkedIn, Website]}
      company: {type: text}
"""


def test_the_erased_records_change_rows_keep_the_values_the_record_keeps(crm, write_package, install_once):
    install_once(write_package(PACKAGE))
    system = crm.as_system()
    person = system.records("person").create({"last_name": "Li", "source": "LinkedIn", "company": "Limited Ltd"})
    system.privacy.erase("person", person.id)
    kept = system.records("person").get(person.id)
    assert (kept["source"], kept["company"]) == ("LinkedIn", "Limited Ltd")
    rows = [change["data"]["fields"] for change in ChangeFeed(system).read(None, limit=100, settle=timedelta(0)).changes
            if change["data"]["object"] == "person"]
    assert [(row["last_name"], row["source"], row["company"]) for row in rows] == [
        (None, "LinkedIn", "Limited Ltd"), (None, "LinkedIn", "Limited Ltd")]
