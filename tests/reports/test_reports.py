"""Reports computed by the database, checked against figures computed here in Python from the inserted rows.

Every test runs on SQLite and on PostgreSQL (one database per module, tests/reports/conftest.py).
"""
from __future__ import annotations

import io
import zipfile
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable
from zoneinfo import ZoneInfo

import pytest

from crmkit.engine.reports.errors import ReportError
from crmkit.metadata.model import Label
from crmkit.metadata.reports import Aggregate, Grouping, ReportDef, SummaryFormula

CENT = Decimal("0.01")

AGGREGATES = (
    Aggregate("deals", "count"),
    Aggregate("accounts", "count_distinct", field="account"),
    Aggregate("total", "sum", field="amount"),
    Aggregate("average", "avg", field="amount"),
    Aggregate("smallest", "min", field="amount"),
    Aggregate("largest", "max", field="amount"),
    Aggregate("won", "count", where={"stage": "Won"}),
    Aggregate("won_total", "sum", field="amount", where={"stage": "Won"}),
    Aggregate("cycle", "avg", days_between=("opened_on", "close_date")),
    Aggregate("first_close", "min", field="close_date"),
)
FORMULAS = (SummaryFormula("win_rate", "won / deals", "percent"),
            SummaryFormula("per_account", "total / accounts", "money"))


def report(kind: str = "summary", **options: Any) -> ReportDef:
    options.setdefault("aggregates", AGGREGATES if kind != "tabular" else ())
    if options["aggregates"] == AGGREGATES:
        options.setdefault("formulas", FORMULAS)
    return ReportDef(name=f"test_{kind}", label=Label.of({"en": "Test", "zh": "测试"}), object="deal", kind=kind,
                     **options)


# ---- the figures, computed here -------------------------------------------------------------

def figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Every aggregate and formula of AGGREGATES/FORMULAS over `rows`, in Python."""
    amounts = [row["amount"] for row in rows if row["amount"] is not None]
    cycles = [(row["close_date"] - row["opened_on"]).days for row in rows
              if row["close_date"] is not None and row["opened_on"] is not None]
    won = [row for row in rows if row["stage"] == "Won"]
    won_amounts = [row["amount"] for row in won if row["amount"] is not None]
    closes = [row["close_date"] for row in rows if row["close_date"] is not None]
    values = {
        "deals": len(rows),
        "accounts": len({row["account"] for row in rows if row["account"] is not None}),
        "total": sum(amounts) if amounts else None,
        "average": (sum(amounts) / len(amounts)).quantize(CENT, ROUND_HALF_UP) if amounts else None,
        "smallest": min(amounts) if amounts else None,
        "largest": max(amounts) if amounts else None,
        "won": len(won),
        "won_total": sum(won_amounts) if won_amounts else None,
        "cycle": (Decimal(sum(cycles)) / len(cycles)).quantize(CENT, ROUND_HALF_UP) if cycles else None,
        "first_close": min(closes) if closes else None,
    }
    values["win_rate"] = values["won"] / values["deals"] if values["deals"] else None
    values["per_account"] = (values["total"] / values["accounts"]).quantize(CENT, ROUND_HALF_UP) \
        if values["total"] is not None and values["accounts"] else None
    return values


def expected_groups(rows: list[dict[str, Any]], levels: list[Callable[[dict], Any]]) -> dict[tuple, dict]:
    """{key of every level's groups: figures} for `levels` key functions."""
    groups: dict[tuple, list] = defaultdict(list)
    for row in rows:
        key = tuple(level(row) for level in levels)
        for depth in range(1, len(levels) + 1):
            groups[key[:depth]].append(row)
    return {key: figures(members) for key, members in groups.items()}


def as_found(result) -> dict[tuple, dict]:
    return {group.key: group.values for group in result.groups}


def local_day(moment: datetime | None, zone: str) -> date | None:
    return None if moment is None else moment.astimezone(ZoneInfo(zone)).date()


def month(day: date | None) -> date | None:
    return None if day is None else day.replace(day=1)


def fiscal_year_start(day: date | None, start: int) -> date | None:
    if day is None:
        return None
    year = day.year if day.month >= start else day.year - 1
    return date(year, start, 1)


def fiscal_quarter_start(day: date | None, start: int) -> date | None:
    if day is None:
        return None
    months = (day.year * 12 + day.month - 1) - (start - 1)
    months -= months % 3
    months += start - 1
    return date(months // 12, months % 12 + 1, 1)


def industry(sales) -> Callable[[dict], Any]:
    names = {sales.accounts["Acme"]: "Tech", sales.accounts["Bank"]: "Finance"}
    return lambda row: names.get(row["account"])


# ---- summary reports ------------------------------------------------------------------------

def test_every_aggregate_subtotal_and_total_of_a_summary_matches_the_rows(sales):
    result = sales.crm.as_user(sales.users["boss"]).reports.run(report(
        group_by=(Grouping("stage"), Grouping("account.industry"))))
    expected = expected_groups(sales.rows, [lambda row: row["stage"], industry(sales)])
    assert as_found(result) == expected
    assert result.grand_total == figures(sales.rows)
    assert [group.key for group in result.groups if group.level == 1] == \
        [("Prospecting",), ("Negotiation",), ("Won",), ("Lost",), (None,)]  # picklist order, no value last
    assert result.groups[0].labels == ("Prospecting",)
    assert [c.name for c in result.value_columns][-2:] == ["win_rate", "per_account"]


def test_subtotals_added_up_from_the_finest_groups_match_the_rows(sales):
    """Without a distinct count, SQLite sums the finest groups up level by level (PostgreSQL: grouping sets)."""
    addable = tuple(a for a in AGGREGATES if a.function != "count_distinct")
    result = sales.crm.as_user(sales.users["li"]).reports.run(report(
        group_by=(Grouping("account"), Grouping("opened_on", bucket="quarter"), Grouping("stage")),
        aggregates=addable))
    rows = sales.seen_by("li")
    quarter = lambda row: date(row["opened_on"].year, (row["opened_on"].month - 1) // 3 * 3 + 1, 1)  # noqa: E731
    names = [a.name for a in addable]
    expected = {key: {name: values[name] for name in names} for key, values in
                expected_groups(rows, [lambda row: row["account"], quarter, lambda row: row["stage"]]).items()}
    assert as_found(result) == expected
    assert result.grand_total == {name: figures(rows)[name] for name in names}
    labels = {g.key[0]: g.labels[0] for g in result.groups if g.level == 1}
    assert labels == {**{i: n for n, i in sales.accounts.items() if i in labels}, None: "(none)"}


def test_a_rep_under_private_sharing_gets_only_their_rows_in_every_figure(sales):
    for rep in ("wang", "li"):
        result = sales.crm.as_user(sales.users[rep]).reports.run(report(group_by=(Grouping("stage"),)))
        mine = sales.seen_by(rep)
        assert as_found(result) == expected_groups(mine, [lambda row: row["stage"]])
        assert result.grand_total == figures(mine)
        assert result.grand_total["deals"] < len(sales.rows)


def test_a_rep_with_records_shared_to_them_and_their_team_counts_each_visible_row_once(sales):
    """The row filter with shares (`owner = me OR id IN shared`; on PostgreSQL `id = ANY(ARRAY(...))`): every
    figure over the rep's own rows and the rows shared with them or their team, a row shared twice and a row
    they own and is shared counted once; the other rep sees none of them."""
    boss = sales.crm.as_user(sales.users["boss"]).sharing
    wang, li = sales.users["wang"], sales.users["li"]
    lis = [row for row in sales.rows if row["owner_id"] == li]
    own = next(row for row in sales.rows if row["owner_id"] == wang)
    made = [boss.share("deal", lis[0]["id"], user_id=wang), boss.share("deal", lis[1]["id"], user_id=wang, access="edit"),
            boss.share("deal", lis[2]["id"], team_id=sales.team), boss.share("deal", lis[2]["id"], user_id=wang),
            boss.share("deal", own["id"], team_id=sales.team)]
    try:
        visible = sales.seen_by("wang") + lis[:3]
        context = sales.crm.as_user(wang)
        levels = [lambda row: row["stage"], lambda row: month(row["close_date"])]
        result = context.reports.run(report(group_by=(Grouping("stage"), Grouping("close_date", bucket="month"))))
        assert as_found(result) == expected_groups(visible, levels)
        assert result.grand_total == figures(visible)
        assert context.records("deal").count(exact=True).value == len(visible)
        others = sales.crm.as_user(li).reports.run(report(group_by=(Grouping("stage"),)))
        assert others.grand_total == figures(sales.seen_by("li"))
    finally:
        for share_id in made:
            boss.unshare(share_id)
    assert sales.crm.as_user(wang).reports.run(report()).grand_total == figures(sales.seen_by("wang"))


def test_groups_by_owner_are_labelled_with_their_names_and_sorted_by_an_aggregate(sales):
    result = sales.crm.as_user(sales.users["boss"]).reports.run(report(group_by=(Grouping("owner_id"),),
                                                                       sort=("-deals",)))
    expected = expected_groups(sales.rows, [lambda row: row["owner_id"]])
    assert as_found(result) == expected
    assert [group.labels for group in result.groups] == [("Wang Fang",), ("Li Lei",)]  # 24 deals, then 12
    assert result.group_columns[0].label == "Owner"
    in_chinese = sales.crm.as_user(sales.users["boss"], language="zh").reports.run(
        report(group_by=(Grouping("owner_id"),)))
    assert in_chinese.group_columns[0].label == "负责人"


@pytest.mark.parametrize("viewer, zone", [("boss", "Europe/Berlin"), ("wang", "Asia/Shanghai")])
def test_date_buckets_of_moments_fall_on_the_viewers_calendar_across_daylight_saving(sales, viewer, zone):
    rows = sales.seen_by(viewer)
    context = sales.crm.as_user(sales.users[viewer])
    by_day = context.reports.run(report(group_by=(Grouping("closed_at", bucket="day"),), aggregates=AGGREGATES[:1]))
    assert {g.key: g.values["deals"] for g in by_day.groups} == \
        {key[:1]: values["deals"] for key, values in
         expected_groups(rows, [lambda row: local_day(row["closed_at"], zone)]).items()}
    by_month = context.reports.run(report(group_by=(Grouping("closed_at", bucket="month"),),
                                          aggregates=AGGREGATES[:1]))
    expected = expected_groups(rows, [lambda row: month(local_day(row["closed_at"], zone))])
    assert {g.key: g.values["deals"] for g in by_month.groups} == {k: v["deals"] for k, v in expected.items()}
    if zone == "Europe/Berlin":
        # 2024-03-31 22:30 UTC is 1 April 00:30 in Berlin (summer time): April, not March.
        assert by_month.groups[0].labels == ("2024-03",) and (date(2024, 4, 1),) in as_found(by_month)


def test_week_quarter_and_year_buckets_of_dates(sales):
    context = sales.crm.as_user(sales.users["boss"])
    for bucket, start in (("week", lambda d: d - timedelta(days=d.weekday())),
                          ("quarter", lambda d: date(d.year, (d.month - 1) // 3 * 3 + 1, 1)),
                          ("year", lambda d: date(d.year, 1, 1))):
        result = context.reports.run(report(group_by=(Grouping("close_date", bucket=bucket),)))
        expected = expected_groups(
            sales.rows, [lambda row, start=start: start(row["close_date"]) if row["close_date"] else None])
        assert as_found(result) == expected, bucket
    weeks = context.reports.run(report(group_by=(Grouping("opened_on", bucket="week"),), aggregates=AGGREGATES[:1]))
    monday = [g for g in weeks.groups if g.key == (date(2024, 1, 1),)]  # 2024-01-01 is a Monday: its own week
    assert monday and monday[0].labels == ("2024-W01",)


def test_fiscal_years_starting_in_april_are_named_by_the_year_they_end_in(sales):
    result = sales.crm.as_user(sales.users["boss"]).reports.run(report(group_by=(
        Grouping("close_date", bucket="fiscal_year", fiscal_year_start_month=4),
        Grouping("close_date", bucket="fiscal_quarter", fiscal_year_start_month=4))))
    expected = expected_groups(sales.rows, [lambda row: fiscal_year_start(row["close_date"], 4),
                                            lambda row: fiscal_quarter_start(row["close_date"], 4)])
    assert as_found(result) == expected
    labels = {g.key: g.labels for g in result.groups}
    assert labels[(date(2024, 4, 1),)] == ("FY2025",)
    assert labels[(date(2024, 4, 1), date(2025, 1, 1))] == ("FY2025", "FY2025 Q4")


def test_date_bucket_labels_are_in_the_viewers_language_and_keep_their_keys(sales):
    chinese = sales.crm.as_user(sales.users["boss"], language="zh-CN")
    groups = (Grouping("close_date", bucket="fiscal_year", fiscal_year_start_month=4),
              Grouping("close_date", bucket="fiscal_quarter", fiscal_year_start_month=4))
    labels = {g.key: g.labels for g in chinese.reports.run(report(group_by=groups)).groups}
    assert labels[(date(2024, 4, 1), date(2025, 1, 1))] == ("2025财年", "2025财年第4季度")
    for bucket, key, label in (("quarter", date(2024, 1, 1), "2024年第1季度"), ("month", date(2024, 1, 1), "2024年1月"),
                               ("week", date(2024, 1, 1), "2024年第1周"), ("year", date(2024, 1, 1), "2024年")):
        result = chinese.reports.run(report(group_by=(Grouping("opened_on", bucket=bucket),), aggregates=AGGREGATES[:1]))
        found = [g.labels for g in result.groups if g.key == (key,)]
        assert found == [(label,)], bucket
    english = sales.crm.as_user(sales.users["boss"]).reports.run(
        report(group_by=(Grouping("opened_on", bucket="quarter"),), aggregates=AGGREGATES[:1]))
    assert [g.labels for g in english.groups if g.key == (date(2024, 1, 1),)] == [("2024 Q1",)]


def test_numeric_ranges_are_half_open_and_keyed_by_their_lower_bound(sales):
    result = sales.crm.as_user(sales.users["boss"]).reports.run(report(
        group_by=(Grouping("amount", ranges=(Decimal("100.10"), 50000)),)))

    def band(row: dict) -> Any:
        amount = row["amount"]
        if amount is None:
            return None
        return "<100.10" if amount < Decimal("100.10") else Decimal("100.10") if amount < 50000 else 50000

    assert as_found(result) == expected_groups(sales.rows, [band])
    assert [g.labels[0] for g in result.groups] == ["< 100.10", "100.10–50,000", "≥ 50,000", "No amount"]


def test_the_empty_group_of_a_bucket_or_range_is_named_by_the_missing_field_in_each_language(sales):
    by_month = report(group_by=(Grouping("closed_at", bucket="month"),), aggregates=AGGREGATES[:1])
    by_range = report(group_by=(Grouping("amount", ranges=(100,)),), aggregates=AGGREGATES[:1])
    for language, no_date, no_amount in (("en", "No closed at", "No amount"), ("zh", "无Closed at", "无Amount")):
        context = sales.crm.as_user(sales.users["boss"], language=language)
        assert context.reports.run(by_month).groups[-1].labels == (no_date,)
        assert context.reports.run(by_range).groups[-1].labels == (no_amount,)
    # Other groupings keep "(none)": a deal without an account.
    assert sales.crm.as_user(sales.users["boss"]).reports.run(
        report(group_by=(Grouping("account"),))).groups[-1].labels == ("(none)",)


# ---- matrix and tabular ---------------------------------------------------------------------

def test_a_matrix_has_cells_row_subtotals_column_totals_and_a_grand_total(sales):
    rows = sales.seen_by("wang")
    result = sales.crm.as_user(sales.users["wang"]).reports.run(report(
        "matrix", group_by=(Grouping("stage"),), columns_by=(Grouping("account.industry"),)))
    cells = expected_groups(rows, [lambda row: row["stage"], industry(sales)])
    assert result.cells == {((stage,), (kind,)): values for (stage, *rest), values in cells.items() if rest
                            for kind in rest}
    assert as_found(result) == {key: values for key, values in cells.items() if len(key) == 1}
    assert result.column_totals == {key: values for key, values in
                                    expected_groups(rows, [industry(sales)]).items()}
    assert result.column_keys == (("Tech",), ("Finance",), (None,))
    assert result.grand_total == figures(rows)


def test_a_tabular_report_sorts_limits_and_names_lookups(sales):
    result = sales.crm.as_user(sales.users["li"]).reports.run(report(
        "tabular", columns=("name", "account", "account.industry", "owner_id", "amount"), sort=("-amount", "name"),
        limit=4))
    mine = sorted(sales.seen_by("li"), key=lambda row: row["name"])
    mine.sort(key=lambda row: (row["amount"] is None, -(row["amount"] or 0)))
    names = {v: k for k, v in sales.accounts.items()}
    assert [row.record_id for row in result.rows] == [row["id"] for row in mine[:4]]
    assert result.rows[0].values == {"name": mine[0]["name"], "account": names.get(mine[0]["account"]),
                                     "account.industry": industry(sales)(mine[0]), "owner_id": "Li Lei",
                                     "amount": mine[0]["amount"]}
    assert result.truncated and result.grand_total == {"record_count": len(mine)}
    assert [c.name for c in result.columns] == ["name", "account", "account.industry", "owner_id", "amount"]


# ---- filters and drill-down -----------------------------------------------------------------

def test_page_and_dashboard_filters_narrow_every_figure(sales):
    context = sales.crm.as_user(sales.users["boss"])
    definition = report(group_by=(Grouping("stage"),), page_filters=("stage", "amount"), date_field="close_date",
                        filter={"stage": {"ne": "Lost"}})
    result = context.reports.run(definition, filters={"amount": {"gte": 100}},
                                 date_range=(date(2024, 3, 1), date(2024, 12, 31)), team_id=sales.team)
    kept = [row for row in sales.rows if row["stage"] != "Lost" and row["amount"] is not None
            and row["amount"] >= 100 and row["close_date"] is not None
            and date(2024, 3, 1) <= row["close_date"] <= date(2024, 12, 31) and row["owner_id"] == sales.users["wang"]]
    assert result.grand_total == figures(kept) and kept
    owners = context.reports.run(definition, owner_ids=[sales.users["li"]])
    assert owners.grand_total == figures([row for row in sales.rows if row["stage"] != "Lost"
                                          and row["owner_id"] == sales.users["li"]])
    with pytest.raises(ReportError, match="can be filtered on the page by stage, amount, not by 'seats'") as refused:
        context.reports.run(definition, filters={"or": [{"stage": "Won"}, {"seats": 3}]})
    assert refused.value.status == 422


@pytest.mark.parametrize("viewer", ["boss", "wang"])
def test_the_drilldown_filter_of_every_group_and_cell_selects_exactly_its_records(sales, viewer):
    context = sales.crm.as_user(sales.users[viewer])
    records = context.records("deal")
    definition = report(group_by=(Grouping("closed_at", bucket="month"), Grouping("account.industry"),
                                  Grouping("amount", ranges=(1000, 50000))), aggregates=AGGREGATES[:1],
                        filter={"stage": {"ne": "Lost"}})
    result = context.reports.run(definition)
    for group in result.groups:
        found = records.count(context.reports.drilldown(definition, group.key), exact=True).value
        assert found == group.values["deals"], group
    matrix = report("matrix", group_by=(Grouping("close_date", bucket="fiscal_quarter", fiscal_year_start_month=4),),
                    columns_by=(Grouping("account"),), aggregates=AGGREGATES[:1])
    cells = context.reports.run(matrix)
    for (row_key, column_key), values in cells.cells.items():
        assert records.count(context.reports.drilldown(matrix, row_key, column_key), exact=True).value == \
            values["deals"]


# ---- permissions ----------------------------------------------------------------------------

@pytest.mark.parametrize("use", [
    {"group_by": (Grouping("margin", ranges=(10,)),)},
    {"group_by": (Grouping("stage"),), "aggregates": (Aggregate("m", "sum", field="margin"),)},
    {"group_by": (Grouping("stage"),), "aggregates": (Aggregate("m", "count", where={"margin": {"gt": 1}}),)},
    {"group_by": (Grouping("stage"),), "filter": {"margin": None}},
])
def test_a_field_the_user_may_not_read_cannot_be_grouped_summed_or_filtered(sales, use):
    definition = report(**{"aggregates": AGGREGATES[:1], **use})
    wang = sales.crm.as_user(sales.users["wang"]).reports
    with pytest.raises(ReportError, match="the report 'test_summary' reads fields you may not see") as refused:
        wang.run(definition)
    assert refused.value.status == 403 and "margin" not in str(refused.value)
    assert not wang.may_run(definition)
    allowed = sales.crm.as_user(sales.users["li"]).reports.run(definition)  # li holds the finance permission set
    assert allowed.groups and allowed.grand_total


def test_a_user_who_may_not_read_the_object_is_refused(sales):
    from crmkit.engine.security.users import SystemDirectory

    nobody = SystemDirectory(sales.crm).create_user("nobody_reports")
    with pytest.raises(ReportError, match="the report 'test_summary' cannot be run for you") as refused:
        sales.crm.as_user(nobody.id).reports.run(report(group_by=(Grouping("stage"),)))
    assert refused.value.status == 403


# ---- exports --------------------------------------------------------------------------------

def test_exports_write_the_table_without_formulas(sales):
    context = sales.crm.as_user(sales.users["boss"])
    summary = report(group_by=(Grouping("stage"),), aggregates=AGGREGATES[:3], formulas=())
    text = b"".join(context.reports.export(summary, "csv")).decode("utf-8")
    lines = text.lstrip("\ufeff").splitlines()
    assert lines[0] == "Stage,deals,accounts,total"
    expected = figures(sales.rows)
    assert lines[-1] == f"Total,{expected['deals']},{expected['accounts']},{expected['total']}"
    accounts = ReportDef(name="accounts", label=Label.of("Accounts"), object="account", kind="tabular",
                         columns=("name",), filter={"name": "=1+2"})
    admin = sales.crm.as_system()
    created = admin.records("account").create({"name": "=1+2"})
    try:
        assert b"".join(admin.reports.export(accounts, "csv", bom=False)).decode().splitlines() == ["Name", "'=1+2"]
        workbook = zipfile.ZipFile(io.BytesIO(b"".join(admin.reports.export(accounts, "xlsx"))))
        sheet = workbook.read("xl/worksheets/sheet1.xml").decode()
        assert "<f>" not in sheet and "=1+2" in (workbook.read("xl/sharedStrings.xml").decode()
                                                 if "xl/sharedStrings.xml" in workbook.namelist() else sheet)
    finally:
        admin.records("account").delete(created.id)
    with pytest.raises(ReportError, match="exported as csv, xlsx or json"):
        context.reports.export(summary, "pdf")


def test_the_xlsx_export_writes_an_amount_a_double_cannot_hold_exactly(sales, tmp_path):
    from python_calamine import CalamineWorkbook

    deals = ReportDef(name="big_deals", label=Label.of("Big deals"), object="deal", kind="tabular",
                      columns=("name", "amount"), filter={"name": {"startswith": "big amount"}}, sort=("name",))
    admin = sales.crm.as_system()
    created = [admin.records("deal").create({"name": "big amount 1", "amount": "1234567890123456.78"}),
               admin.records("deal").create({"name": "big amount 2", "amount": "1200.50"})]
    try:
        path = tmp_path / "report.xlsx"
        path.write_bytes(b"".join(admin.reports.export(deals, "xlsx")))
        header, *rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
        # 18 significant digits: a double would make it 1234567890123456.8 (Excel: 1.23457E+15); a text cell keeps it.
        assert rows == [["big amount 1", "1234567890123456.78"], ["big amount 2", 1200.5]]
    finally:
        for record in created:
            admin.records("deal").delete(record.id)


def test_the_json_export_is_the_same_table_for_programs(sales):
    import json

    context = sales.crm.as_user(sales.users["boss"])
    summary = report(group_by=(Grouping("stage"),), aggregates=AGGREGATES[:3], formulas=())
    exported = json.loads(b"".join(context.reports.export(summary, "json")).decode("utf-8"))
    assert exported["columns"] == ["Stage", "deals", "accounts", "total"]
    assert exported["kind"] == "summary" and exported["truncated"] is False
    lines = b"".join(context.reports.export(summary, "csv", bom=False)).decode("utf-8").splitlines()
    expected = figures(sales.rows)
    assert exported["rows"][-1] == ["Total", expected["deals"], expected["accounts"], str(expected["total"])]
    assert len(exported["rows"]) == len(lines) - 1
    accounts = ReportDef(name="accounts", label=Label.of("Accounts"), object="account", kind="tabular",
                         columns=("name",), filter={"name": "=1+2"})
    admin = sales.crm.as_system()
    created = admin.records("account").create({"name": "=1+2"})
    try:  # for programs: the value as stored, nothing neutralised
        assert json.loads(b"".join(admin.reports.export(accounts, "json")))["rows"] == [["=1+2"]]
    finally:
        admin.records("account").delete(created.id)


def test_summary_formulas_give_none_on_division_by_zero():
    from crmkit.engine.reports.formulas import formula_value

    assert formula_value("won / closed", {"won": 3, "closed": 0}, "percent") is None
    assert formula_value("won / closed", {"won": 3, "closed": 4}, "percent") == 0.75
    assert formula_value("(total - cost) / cost", {"total": Decimal("150"), "cost": Decimal("100")}, "number") == 0.5
    assert formula_value("total * 2", {"total": None}, "money") is None
    from crmkit.engine.query import QueryError

    for code in ("__import__('os')", "won ** 2", "won if won else 1"):
        with pytest.raises(QueryError, match="may use only aggregate names, numbers"):
            formula_value(code, {"won": 1})


# ---- installed reports ----------------------------------------------------------------------

def test_installed_reports_are_run_by_name_and_listed_for_those_who_may_read_their_object(sales):
    from crmkit.engine.security.users import SystemDirectory

    wang = sales.crm.as_user(sales.users["wang"])
    assert [r.name for r in wang.reports.names()] == ["account_list", "deals_by_stage"]
    result = wang.reports.run("deals_by_stage")
    assert result.label == "Deals by stage" and result.grand_total == \
        {"deals": len(sales.seen_by("wang")), "total": figures(sales.seen_by("wang"))["total"]}
    outsider = SystemDirectory(sales.crm).create_user("outsider_reports")
    assert sales.crm.as_user(outsider.id).reports.names() == []
    with pytest.raises(ReportError, match="there is no report named 'nothing'") as unknown:
        wang.reports.run("nothing")
    assert unknown.value.status == 404
    from crmkit.engine.messages import translated

    assert translated(unknown.value.message, "zh") == "不存在名为“nothing”的报表。"


def test_a_total_that_fits_is_exact_in_any_read_order_and_one_beyond_64_bits_is_a_sentence_on_sqlite(
        database_url, tmp_path):
    """SQLite's SUM stops when its running total passes 64 bits; the report then adds again exactly."""
    from crmkit.engine import Crm
    from crmkit.engine.database import NumberOutOfRange

    crm = Crm.open(database_url)
    try:
        package = tmp_path / "tally.yaml"
        package.write_text('package: tally\nversion: "1.0.0"\nobjects:\n  tally:\n    fields:\n'
                           '      kind: {type: picklist, options: [A, B]}\n      n: {type: integer}\n', encoding="utf-8")
        crm.install(package)
        records = crm.as_system().records("tally")
        for kind, n in (("A", 2**62), ("A", 2**62), ("A", -(2**62)), ("A", 1), ("B", 2**62 + 2**61), ("B", 2**62 + 2**61)):
            records.create({"kind": kind, "n": n})
        definition = ReportDef(name="tally", label=Label.of("Tally"), object="tally", kind="summary",
                               group_by=(Grouping("kind"),), aggregates=(Aggregate("total", "sum", field="n"),),
                               filter={"kind": "A"})
        assert as_found(crm.as_system().reports.run(definition)) == {("A",): {"total": 2**62 + 1}}
        both = ReportDef(name="tally", label=Label.of("Tally"), object="tally", kind="summary",
                         group_by=(Grouping("kind"),), aggregates=(Aggregate("total", "sum", field="n"),))
        if crm.engine.dialect.name == "sqlite":
            with pytest.raises(NumberOutOfRange, match="beyond what SQLite stores"):
                crm.as_system().reports.run(both)
        else:
            assert as_found(crm.as_system().reports.run(both))[("B",)] == {"total": 2 * (2**62 + 2**61)}
    finally:
        crm.close()


def test_a_kept_statement_is_never_served_to_another_user_nor_after_the_rights_changed(sales):
    """One definition run by users of other rights, and by one context across a grant and a revoke: a run's
    statement is kept per rights (reports/compiler.py `_plan`), so each run sees exactly what its rights allow."""
    from crmkit.engine.security.users import SystemDirectory

    by_stage = report(group_by=(Grouping("stage"),), aggregates=AGGREGATES[:1])
    with_margin = report(group_by=(Grouping("stage"),),
                         aggregates=(*AGGREGATES[:1], Aggregate("m", "sum", field="margin")))
    for rep in ("li", "wang", "li", "boss", "wang"):
        result = sales.crm.as_user(sales.users[rep]).reports.run(by_stage)
        assert as_found(result) == {key: {"deals": values["deals"]} for key, values in
                                    expected_groups(sales.seen_by(rep), [lambda row: row["stage"]]).items()}
    li = sales.crm.as_user(sales.users["li"]).reports
    assert li.run(with_margin).grand_total["m"] == sum(row["margin"] or 0 for row in sales.seen_by("li"))
    with pytest.raises(ReportError, match="reads fields you may not see"):
        sales.crm.as_user(sales.users["wang"]).reports.run(with_margin)
    assert li.run(with_margin).grand_total["m"] == sum(row["margin"] or 0 for row in sales.seen_by("li"))

    directory = SystemDirectory(sales.crm)
    newcomer = directory.create_user("kept_plan_rep", role="rep").id
    reports = sales.crm.as_user(newcomer).reports
    with pytest.raises(ReportError, match="reads fields you may not see"):
        reports.run(with_margin)
    directory.grant("finance", user_id=newcomer)
    try:
        assert reports.run(with_margin).grand_total == {"deals": 0, "m": None}  # sees no deal, may read margin
    finally:
        directory.revoke("finance", user_id=newcomer)
    with pytest.raises(ReportError, match="reads fields you may not see"):
        reports.run(with_margin)


def test_a_run_filtered_by_a_decimal_reuses_its_kept_statement(sales):
    """The API reads JSON numbers as Decimals (`filter={"amount": {"gte": 1000.5}}`): such a run is kept and
    served again like any other (the service makes filter values JSON before the plan's key is taken: the same
    digits as text are the same statement), and another value is another statement."""
    from crmkit.engine.reports import compiler

    reports = sales.crm.as_user(sales.users["boss"]).reports
    by_stage = report(group_by=(Grouping("stage"),), aggregates=AGGREGATES[:1], page_filters=("amount",))
    compiler._PLANS.clear()
    first = reports.run(by_stage, filters={"amount": {"gte": Decimal("1000.5")}})
    assert len(compiler._PLANS) == 1
    assert reports.run(by_stage, filters={"amount": {"gte": Decimal("1000.5")}}).rows == first.rows
    assert len(compiler._PLANS) == 1
    reports.run(by_stage, filters={"amount": {"gte": Decimal("2000")}})
    reports.run(by_stage, filters={"amount": {"gte": "1000.5"}})
    assert len(compiler._PLANS) == 2
    expected = expected_groups([row for row in sales.seen_by("boss") if (row["amount"] or 0) >= Decimal("1000.5")
                                and row["amount"] is not None], [lambda row: row["stage"]])
    assert as_found(first) == {key: {"deals": values["deals"]} for key, values in expected.items()}
