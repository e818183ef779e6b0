"""Demo data: realistic, valid, deterministic for a seed, and for any installed package."""
from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import func, select

from crmkit.engine import Crm
from crmkit.demo import DemoError, DemoGenerator

REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_CRM = REPOSITORY / "apps" / "default_crm.yaml"
ALL_TYPES = REPOSITORY / "tests" / "packages" / "all_types_v1.yaml"
SYSTEM_TIMES = ("created_at", "updated_at")


def open_installed(url: str, *packages: Path) -> Crm:
    crm = Crm.open(url)
    crm.install(*(packages or (DEFAULT_CRM,)))
    return crm


def rows(crm: Crm, object_name: str) -> list[dict[str, Any]]:
    table = crm.runtime.table(object_name)
    with crm.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(select(table).order_by(table.c.id))]


def stored_data(crm: Crm) -> dict[str, list[dict[str, Any]]]:
    """Every record of every object, without the moments it was written."""
    return {name: [{key: value for key, value in row.items() if key not in SYSTEM_TIMES} for row in rows(crm, name)]
            for name in sorted(crm.registry.objects)}


class Filled:
    def __init__(self, crm: Crm, generator: DemoGenerator, created: dict[str, int],
                 progress: int) -> None:
        self.crm, self.generator, self.created = crm, generator, created
        self.progress = progress


@pytest.fixture(scope="module")
def filled(default_crm_sqlite_file, tmp_path_factory) -> Iterator[Filled]:
    """The standard CRM filled once with 400 demo records (seed 7), shared by the read-only tests."""
    path = tmp_path_factory.mktemp("demo") / "crm.db"
    shutil.copyfile(default_crm_sqlite_file, path)
    crm = Crm.open(f"sqlite:///{path}")
    reported: list[int] = []
    generator = DemoGenerator(crm, seed=7)
    created = generator.fill(400, progress=reported.append)
    yield Filled(crm, generator, created, sum(reported))
    crm.close()


# -- the standard CRM ---------------------------------------------------------------------------


def test_a_few_hundred_records_fill_every_object(filled):
    assert set(filled.created) == set(filled.crm.registry.objects)
    assert all(count >= 3 for count in filled.created.values())
    assert 390 <= sum(filled.created.values()) <= 410
    assert filled.progress == sum(filled.created.values())
    for name, count in filled.created.items():
        assert len(rows(filled.crm, name)) == count


def test_parents_come_first_and_children_outnumber_them(filled):
    created = filled.created
    order = list(created)
    assert order.index("account") < order.index("contact") < order.index("opportunity") < order.index("quote")
    assert order.index("quote") < order.index("quote_line") and order.index("product") < order.index("quote_line")
    assert created["activity"] > created["contact"] > created["account"]
    assert created["quote_line"] > created["quote"]


def test_every_record_passes_the_save_pipeline_again(filled):
    """Required fields, options, limits and validation rules: each stored record would save unchanged."""
    crm = filled.crm
    assert filled.generator.rejected == {}
    with crm.engine.connect() as connection:
        for name in crm.registry.objects:
            pipeline = crm.pipeline(name)
            for row in rows(crm, name):
                pipeline.prepare(connection, {}, previous=row, system=True, language="en")


def test_unique_values_are_unique_and_lookups_point_at_existing_records(filled):
    crm = filled.crm
    codes = [row["product_code"] for row in rows(crm, "product") if row["product_code"] is not None]
    assert codes and len(codes) == len(set(codes))
    with crm.engine.connect() as connection:
        for obj in crm.registry.objects.values():
            table = crm.runtime.table(obj.name)
            for fdef in obj.fields.values():
                if not fdef.is_lookup:
                    continue
                target = crm.runtime.table(fdef.to)
                dangling = select(func.count()).select_from(table).where(
                    table.c[fdef.name].is_not(None), ~table.c[fdef.name].in_(select(target.c.id)))
                assert connection.execute(dangling).scalar() == 0, f"{obj.name}.{fdef.name}"
    contacts = rows(crm, "contact")
    assert sum(row["account"] is not None for row in contacts) > len(contacts) / 2


def disagreeing_links(crm: Crm) -> dict[str, tuple[int, int]]:
    """For each record lookup B and lookup A whose object B's object points to with a field f (an opportunity's
    contact and account; a contact has an account): "object.B.f=A" -> (rows where B's record's f differs from A,
    rows where both are set and B's record has an f)."""
    found = {}
    objects = crm.registry.objects
    with crm.engine.connect() as connection:
        for obj in objects.values():
            table = crm.runtime.table(obj.name)
            lookups = {name: fdef for name, fdef in obj.fields.items() if fdef.is_lookup}
            for b, b_def in lookups.items():
                target = crm.runtime.table(b_def.to).alias("target")
                for f, f_def in objects[b_def.to].fields.items():
                    for a, a_def in lookups.items():
                        if a == b or not f_def.is_lookup or f_def.to != a_def.to:
                            continue
                        joined = table.join(target, target.c.id == table.c[b])
                        both = [table.c[a].is_not(None), target.c[f].is_not(None)]
                        total = connection.execute(select(func.count()).select_from(joined).where(*both)).scalar()
                        wrong = connection.execute(select(func.count()).select_from(joined).where(
                            *both, target.c[f] != table.c[a])).scalar()
                        found[f"{obj.name}.{b}.{f}={a}"] = (wrong, total)
    return found


def test_related_demo_records_belong_to_one_company(filled):
    links = disagreeing_links(filled.crm)
    assert {"opportunity.contact.account=account", "activity.opportunity.account=account",
            "activity.contact.account=account", "quote.opportunity.account=account", "quote.contact.account=account",
            "service_case.contact.account=account", "contact.reports_to.account=account"} <= set(links)
    assert {name: counts for name, counts in links.items() if counts[0]} == {}
    assert links["opportunity.contact.account=account"][1] > 10 and links["activity.contact.account=account"][1] > 10


def test_related_records_texts_speak_of_their_accounts_company(filled):
    from crmkit.demo.values import pools

    companies = {company.name: company for language in pools().companies for company in language}
    crm = filled.crm
    accounts = {row["id"]: row for row in rows(crm, "account")}
    deals = [(row["name"], companies[accounts[row["account"]]["name"]]) for row in rows(crm, "opportunity")]
    assert deals and all(name.startswith(company.short) for name, company in deals)  # "Acme Software - CloudCRM"
    mails = [(row["email"], accounts[row["account"]]) for row in rows(crm, "contact")
             if row["email"] and row["account"] is not None]
    assert len(mails) > 10
    assert all(email.endswith("@" + companies[account["name"]].domain) for email, account in mails)


def test_half_english_half_chinese(filled):
    names = [row["name"] for row in rows(filled.crm, "account")]
    chinese = sum(not name.isascii() for name in names)
    assert 0.25 < chinese / len(names) < 0.75
    assert any(name.endswith("有限公司") for name in names)
    emails = [row["email"] for row in rows(filled.crm, "contact") if row["email"]]
    assert emails and all(email.isascii() and "@" in email for email in emails)


def test_values_look_like_what_the_fields_hold(filled):
    deals = rows(filled.crm, "opportunity")
    assert all(deal["probability"] is not None and deal["close_date"] is not None for deal in deals)
    assert {deal["stage"] for deal in deals} >= {"Prospecting", "Closed Won"}
    lost = [deal for deal in deals if deal["stage"] == "Closed Lost"]
    assert all(deal["loss_reason"] for deal in lost)
    accounts = rows(filled.crm, "account")
    assert all(row["employees"] is None or row["employees"] >= 0 for row in accounts)
    assert any(row["won_amount"] for row in accounts)  # rollups were kept current
    activities = rows(filled.crm, "activity")
    assert all(a["end_time"] is None or a["start_time"] is None or a["end_time"] >= a["start_time"]
               for a in activities)
    quotes = rows(filled.crm, "quote")
    assert any(quote["subtotal"] for quote in quotes)


# -- determinism and repeated runs ----------------------------------------------------------------


def test_demo_records_fire_no_rule_that_emails_or_calls_webhooks_unless_asked(default_crm_copy):
    crm = Crm.open(default_crm_copy())
    generator = DemoGenerator(crm, seed=3)
    generator.fill(200, objects=["lead"])
    assert generator.held_rules == ["lead.welcome_web_lead"]
    kinds = [row["kind"] for row in crm.outbox.rows(limit=1000)]
    assert "send_email" not in kinds
    web_leads = [row for row in rows(crm, "lead") if row["source"] == "Web" and row["email"] and not row["email_opt_out"]]
    assert web_leads  # the rule would have fired for them
    loud = DemoGenerator(crm, seed=4)
    loud.fill(200, objects=["lead"], outgoing=True)
    assert loud.held_rules == [] and "send_email" in [row["kind"] for row in crm.outbox.rows(limit=1000)]
    crm.close()


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data(default_crm_copy):
    data = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        crm = Crm.open(default_crm_copy(name))
        DemoGenerator(crm, seed=seed).fill(120)
        data.append(stored_data(crm))
        crm.close()
    assert data[0] == data[1]
    assert data[0] != data[2]


def test_a_second_run_adds_records_without_unique_clashes(default_crm_copy):
    crm = Crm.open(default_crm_copy())
    first = DemoGenerator(crm, seed=1).fill(60)
    second = DemoGenerator(crm, seed=1).fill(60)
    assert len(rows(crm, "product")) == first["product"] + second["product"]
    codes = [row["product_code"] for row in rows(crm, "product") if row["product_code"]]
    assert len(codes) == len(set(codes))
    crm.close()


def test_tiny_counts_still_give_a_few_of_each(default_crm_copy):
    crm = Crm.open(default_crm_copy())
    created = DemoGenerator(crm).fill(1)
    assert set(created) == set(crm.registry.objects) and all(count >= 3 for count in created.values())
    crm.close()


def test_only_the_objects_asked_for(default_crm_copy):
    crm = Crm.open(default_crm_copy())
    created = DemoGenerator(crm).fill(40, objects=["contact", "account"])
    assert list(created) == ["account", "contact"]
    assert rows(crm, "lead") == []
    with pytest.raises(DemoError, match="no object 'acount'"):
        DemoGenerator(crm).fill(10, objects=["acount"])
    crm.close()


def test_demo_data_on_both_databases(crm):
    crm.install(DEFAULT_CRM)
    generator = DemoGenerator(crm, seed=5)
    created = generator.fill(150)
    assert all(count >= 3 for count in created.values()) and generator.rejected == {}


# -- any package ------------------------------------------------------------------------------------


def test_another_package_with_every_field_type(sqlite_url):
    crm = open_installed(sqlite_url, ALL_TYPES)
    generator = DemoGenerator(crm, seed=11)
    created = generator.fill(60)
    assert set(created) == {"company", "project"} and generator.rejected == {}
    projects = rows(crm, "project")
    assert any(p["tags"] for p in projects) and any(p["kickoff"] for p in projects)
    assert all(p["discount"] is None or 0 <= p["discount"] <= 100 for p in projects)
    assert all(p["legacy_code"] is None or len(p["legacy_code"]) <= 20 for p in projects)
    crm.close()


STRICT_PACKAGE = """
package: strict
version: "1.0.0"
objects:
  region:
    fields:
      title: {type: text, required: true, unique: true, max_length: 12}
      capital: {type: lookup, to: office, on_delete: set_null}
  office:
    fields:
      code: {type: text, required: true, unique: true, max_length: 8}
      email: {type: email, required: true, unique: true}
      phone: {type: phone, unique: true}
      number: {type: integer, unique: true, min: 100, max: 100000000}
      opened: {type: date, unique: true}
      region: {type: lookup, to: region, required: true, on_delete: cascade}
      parent: {type: lookup, to: office, on_delete: set_null}
      tier: {type: picklist, options: [Bronze, Silver, Gold, Platinum], required: true}
      seats: {type: integer, min: 1, max: 500}
      flagship: {type: boolean}
    validations:
      - name: flagship_is_platinum
        condition: "flagship and tier != 'Platinum'"
        message: Only a platinum office can be the flagship.
      - name: gold_is_big
        condition: "tier == 'Gold' and (seats is None or seats < 400)"
        message: A gold office has at least 400 seats.
"""


def test_unique_required_cycles_and_hard_rules_in_any_package(sqlite_url, write_package):
    crm = open_installed(sqlite_url, write_package(STRICT_PACKAGE))
    generator = DemoGenerator(crm, seed=2)
    created = generator.fill(300)
    assert list(created) == ["region", "office"]  # office needs a region; region's link back is optional
    assert generator.rejected == {}
    offices = rows(crm, "office")
    assert len(offices) == created["office"]
    for name in ("code", "email", "phone", "number", "opened"):
        values = [row[name] for row in offices if row[name] is not None]
        assert len(values) == len(set(values)), name
    assert all(len(row["code"]) <= 8 and 100 <= (row["number"] or 100) for row in offices)
    assert all(row["tier"] != "Gold" or row["seats"] >= 400 for row in offices)
    assert any(row["parent"] for row in offices)  # self-lookups point at earlier offices
    titles = [row["title"] for row in rows(crm, "region")]
    assert all(len(title) <= 12 for title in titles) and len(titles) == len(set(titles))
    crm.close()


def test_every_rollup_and_formula_equals_a_fresh_recomputation(filled, assert_derived_values_fresh):
    assert_derived_values_fresh(filled.crm)


def test_closed_deals_were_created_before_they_closed_over_a_spread_of_days(filled):
    deals = rows(filled.crm, "opportunity")
    now = datetime.now(timezone.utc)
    closed = [deal for deal in deals if deal["stage"] in ("Closed Won", "Closed Lost")]
    cycles = [(deal["close_date"] - deal["created_at"].date()).days for deal in closed]
    assert closed and all(7 <= days <= 181 for days in cycles)
    assert len(set(cycles)) > len(cycles) // 2  # spread, not one figure
    assert all(aware(deal["created_at"]) <= now for deal in deals)
    # The record's history starts when it was created.
    history = filled.crm.runtime.system_table("crmkit_history")
    with filled.crm.engine.connect() as connection:
        created = dict(connection.execute(select(history.c.record_id, history.c.changed_at).where(
            history.c.object == "opportunity", history.c.operation == "create")).all())
    assert created and all(aware(created[deal["id"]]) == aware(deal["created_at"])
                           for deal in deals if deal["id"] in created)


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def test_the_pipeline_has_won_lost_and_open_deals_in_a_realistic_mix(default_crm_copy):
    crm = Crm.open(default_crm_copy("mix"))
    try:
        DemoGenerator(crm, seed=42).fill(1500, objects=["account", "contact", "opportunity"])
        stages = [deal["stage"] for deal in rows(crm, "opportunity")]
        lost = [deal for deal in rows(crm, "opportunity") if deal["stage"] == "Closed Lost"]
    finally:
        crm.close()
    share = {stage: stages.count(stage) / len(stages) for stage in set(stages)}
    assert 0.1 < share["Closed Won"] < 0.35 and 0.07 < share["Closed Lost"] < 0.3
    assert share["Prospecting"] > share["Negotiation"] > 0  # the pipeline narrows
    assert all(deal["loss_reason"] for deal in lost)
