"""Rollups and stored formulas always equal a fresh recomputation, whatever happened before."""
from __future__ import annotations

import threading
import time
from decimal import Decimal

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import text

from crmkit.engine import Crm
from crmkit.engine.extensions import Extensions
from crmkit.engine.records.errors import RecordNotFound
from crmkit.hookspecs import hookimpl
from crmkit.plugins import make_plugin_manager

from .conftest import ORGANISATION


def test_a_rollup_over_a_lookup_to_the_same_object_counts_each_record_s_children(organisation, crm,
                                                                              assert_derived_values_fresh):
    employees = organisation.records("employee")
    ceo = employees.create({"name": "Ceo", "salary": 300})
    vp = employees.create({"name": "Vp", "manager": ceo.id, "salary": 200, "level": 4})
    rep = employees.create({"name": "Rep", "manager": vp.id, "salary": 100, "level": 1})
    rep2 = employees.create({"name": "Rep2", "manager": vp.id, "salary": 120, "level": 3})
    counts = [employees.get(record.id)["direct_reports"] for record in (ceo, vp, rep, rep2)]
    assert counts == [1, 2, 0, 0]
    assert employees.get(vp.id)["team_payroll"] == Decimal("220")
    assert employees.get(vp.id)["senior_reports"] == 1
    assert_derived_values_fresh(crm)


def test_moving_a_report_to_another_manager_moves_the_count(organisation, crm, assert_derived_values_fresh):
    employees = organisation.records("employee")
    first = employees.create({"name": "First"})
    second = employees.create({"name": "Second"})
    rep = employees.create({"name": "Rep", "manager": first.id})
    employees.update(rep.id, {"manager": second.id}, version=rep.version)
    assert [employees.get(first.id)["direct_reports"], employees.get(second.id)["direct_reports"]] == [0, 1]
    assert employees.get(rep.id)["boss"] == "Second"
    assert_derived_values_fresh(crm)


def test_restore_recomputes_formulas_from_what_they_read_now(organisation, crm, assert_derived_values_fresh):
    departments, employees = organisation.records("department"), organisation.records("employee")
    sales = departments.create({"name": "Sales"})
    li = employees.create({"name": "Li", "department": sales.id})
    batch = employees.delete(li.id)
    renamed = departments.update(sales.id, {"name": "Field sales"}, version=departments.get(sales.id).version)
    organisation.recycle_bin.restore(batch)
    assert employees.get(li.id)["department_name"] == "Field sales"
    assert employees.get(li.id)["unit"] == "Field sales (1)"
    assert departments.get(sales.id)["head_count"] == 1
    assert renamed["label"] == "Field sales (0)"
    assert_derived_values_fresh(crm)


def test_restore_reads_the_current_name_of_the_record_its_lookup_points_to(organisation, crm,
                                                                          assert_derived_values_fresh):
    employees = organisation.records("employee")
    boss = employees.create({"name": "Zhang"})
    rep = employees.create({"name": "Rep", "manager": boss.id})
    batch = employees.delete(rep.id)
    employees.update(boss.id, {"name": "Zhang Wei"}, version=employees.get(boss.id).version)
    organisation.recycle_bin.restore(batch)
    assert employees.get(rep.id)["boss"] == "Zhang Wei"
    assert_derived_values_fresh(crm)


def test_restore_after_the_lookup_target_was_deleted_empties_the_formula(organisation, crm,
                                                                          assert_derived_values_fresh):
    departments, employees = organisation.records("department"), organisation.records("employee")
    sales = departments.create({"name": "Sales"})
    li = employees.create({"name": "Li", "department": sales.id})
    batch = employees.delete(li.id)
    departments.delete(sales.id)
    organisation.recycle_bin.restore(batch)
    restored = employees.get(li.id)
    assert (restored["department"], restored["department_name"], restored["unit"]) == (None, None, None)
    assert_derived_values_fresh(crm)


def test_restoring_a_parent_recounts_children_added_and_relinks_cleared_ones(organisation, crm,
                                                                             assert_derived_values_fresh):
    departments, employees = organisation.records("department"), organisation.records("employee")
    sales = departments.create({"name": "Sales"})
    li = employees.create({"name": "Li", "department": sales.id, "salary": 10})
    batch = departments.delete(sales.id)
    assert employees.get(li.id)["unit"] is None
    organisation.recycle_bin.restore(batch)
    assert departments.get(sales.id)["payroll"] == Decimal("10")
    assert employees.get(li.id)["unit"] == "Sales (1)"
    assert_derived_values_fresh(crm)


def test_bulk_create_keeps_every_derived_value_current(organisation, crm, assert_derived_values_fresh):
    departments, employees = organisation.records("department"), organisation.records("employee")
    sales = departments.create({"name": "Sales"})
    boss = employees.create({"name": "Boss", "department": sales.id})
    employees.bulk_create([{"name": f"Rep {n}", "department": sales.id, "manager": boss.id, "salary": n,
                            "level": n % 5} for n in range(1, 8)], batch_size=3)
    assert employees.get(boss.id)["direct_reports"] == 7
    assert departments.get(sales.id)["label"] == "Sales (8)"
    assert_derived_values_fresh(crm)


def test_privacy_erasure_updates_the_formulas_that_read_the_erased_fields(organisation, crm,
                                                                          assert_derived_values_fresh):
    employees = organisation.records("employee")
    boss = employees.create({"name": "Boss"})
    rep = employees.create({"name": "Rep", "manager": boss.id})
    organisation.privacy.erase("employee", boss.id)
    assert employees.get(rep.id)["boss"] == "[erased]"
    assert_derived_values_fresh(crm)


# Randomised sequences of writes ---------------------------------------------------------

OPERATIONS = st.sampled_from(["department", "employee", "update", "reparent", "rename", "delete_employee",
                              "delete_department", "restore", "bulk"])
STEPS = st.lists(st.tuples(OPERATIONS, st.integers(0, 50), st.integers(0, 50), st.integers(0, 5)),
                 min_size=1, max_size=12)


def _pick(ids: list[int], index: int) -> int | None:
    """One of `ids` chosen by `index`, or None (an empty lookup) one time in len+1."""
    return None if not ids or index % (len(ids) + 1) == len(ids) else ids[index % (len(ids) + 1)]


def _ids(context, name: str) -> list[int]:
    return [record.id for record in context.records(name).query(sort=["id"], limit=1000).records]


def _apply(context, batches: list[str], operation: str, a: int, b: int, small: int) -> None:
    departments, employees = context.records("department"), context.records("employee")
    department_ids, employee_ids = _ids(context, "department"), _ids(context, "employee")
    chosen = _pick(employee_ids, a)
    if operation == "department" or (operation == "rename" and not department_ids):
        departments.create({"name": f"Department {a}"})
    elif operation == "employee" or (chosen is None and operation in ("update", "reparent", "delete_employee")):
        employees.create({"name": f"Person {a}", "salary": Decimal(a) / 4, "level": small,
                          "department": _pick(department_ids, b), "manager": _pick(employee_ids, b)})
    elif operation == "update":
        employees.update(chosen, {"salary": b or None, "level": small}, version=employees.get(chosen).version)
    elif operation == "reparent":
        employees.update(chosen, {"department": _pick(department_ids, b), "manager": _pick(employee_ids, b + small)},
                         version=employees.get(chosen).version)
    elif operation == "rename":
        target = department_ids[a % len(department_ids)]
        departments.update(target, {"name": f"Renamed {b}"}, version=departments.get(target).version)
    elif operation == "delete_employee":
        batches.append(employees.delete(chosen))
    elif operation == "delete_department" and department_ids:
        batches.append(departments.delete(department_ids[a % len(department_ids)]))
    elif operation == "restore" and batches:
        try:
            context.recycle_bin.restore(batches.pop(a % len(batches)))
        except RecordNotFound:
            pass  # its records were restored with another batch's cascade
    elif operation == "bulk":
        employees.bulk_create([{"name": f"Bulk {n}", "salary": n, "level": (n + small) % 5,
                                "department": _pick(department_ids, a + n), "manager": _pick(employee_ids, b + n)}
                               for n in range(small + 1)], batch_size=2)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_any_sequence_of_writes_leaves_every_derived_value_fresh(organisation, crm, assert_derived_values_fresh,
                                                                 steps):
    batches: list[str] = []
    for operation, a, b, small in steps:
        _apply(organisation, batches, operation, a, b, small)
    assert_derived_values_fresh(crm)


# Concurrent writes ----------------------------------------------------------------------


class Interleaving:
    """Makes two transactions adding a child to one parent overlap in the worst order.

    Both wait for each other before writing (a barrier in the before-save hook); the
    first to finish its write then holds its transaction open, in the after-save hook,
    until the second is blocked on a lock, and only then commits. On SQLite, whose write
    transactions run one at a time, nothing is held: the barrier would wait forever.
    """

    def __init__(self, postgres: bool) -> None:
        self.postgres = postgres
        self.barrier = threading.Barrier(2, timeout=3)
        self.guard = threading.Lock()
        self.pids: dict[int, int] = {}
        self.first: int | None = None
        #: Set once the setup's own saves are done.
        self.armed = False

    @hookimpl
    def crmkit_before_save(self, context, draft):
        if not (self.armed and self.postgres) or draft.object != "employee":
            return
        with context.writing() as connection:
            self.pids[threading.get_ident()] = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:
            # The other save is already waiting for this one's lock on the parent (formulas reading
            # it lock it when they read): they are serialised before writing, which is fine too.
            pass

    @hookimpl
    def crmkit_after_save(self, context, event):
        if not (self.armed and self.postgres) or event.object != "employee":
            return
        with self.guard:
            if self.first is not None:
                return
            self.first = threading.get_ident()
        other = next((pid for thread, pid in self.pids.items() if thread != self.first), None)
        if other is None:
            return  # the other save is waiting before its write (see crmkit_before_save)
        with context.crm.engine.connect() as monitor:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                waiting = monitor.execute(text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                                          {"pid": other}).scalar()
                monitor.rollback()
                if waiting == "Lock":
                    return
                time.sleep(0.02)
        raise AssertionError("the second transaction never waited for the first")


def test_two_transactions_adding_children_to_one_parent_count_both(database_url, write_package,
                                                                   assert_derived_values_fresh):
    interleaving = Interleaving(postgres=database_url.startswith("postgresql"))
    manager = make_plugin_manager(load_entry_points=False, plugin_dirs=[], extra_plugins=[interleaving])
    crm = Crm.open(database_url, extensions=Extensions.from_plugins(manager))
    try:
        crm.install(write_package(ORGANISATION))
        sales = crm.as_system().records("department").create({"name": "Sales"})
        boss = crm.as_system().records("employee").create({"name": "Boss"})
        failures: list[BaseException] = []
        interleaving.armed = True

        def hire(name: str) -> None:
            try:
                crm.as_system().records("employee").create({"name": name, "department": sales.id,
                                                             "manager": boss.id, "salary": 10})
            except BaseException as error:  # reported by the main thread
                failures.append(error)

        threads = [threading.Thread(target=hire, args=(name,)) for name in ("Li", "Wang")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert failures == []
        department = crm.as_system().records("department").get(sales.id)
        assert (department["head_count"], department["payroll"]) == (2, Decimal("20"))
        assert crm.as_system().records("employee").get(boss.id)["direct_reports"] == 2
        assert_derived_values_fresh(crm)
    finally:
        crm.close()
