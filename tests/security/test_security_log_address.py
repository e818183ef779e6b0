"""The security log's address and username (engine/security/audit.py): an entry without an address gets the one of
the request being served (`client_address`), never another thread's; a user's entry without a username gets it from
the users table, and one whose user has no row is still written; on both databases."""
from __future__ import annotations

import threading

from crmkit.engine.security.audit import SecurityLog, client_address
from tests.conftest import add_users


def _latest(log: SecurityLog, count: int) -> list[tuple]:
    return [(entry["event"], entry["user_id"], entry["username"], entry["address"])
            for entry in reversed(log.entries(limit=count))]


def test_a_users_entry_gets_the_username_and_one_without_a_user_row_is_still_written(crm):
    users = add_users(crm, [("mei", None, [])])
    log = SecurityLog(crm)
    log.record("attack15.known", user_id=users["mei"])
    log.record("attack15.unknown", user_id=987654)
    log.record("attack15.named", user_id=users["mei"], username="given")
    with crm.engine.begin() as connection:  # inside a caller's transaction too
        log.record("attack15.in_transaction", user_id=users["mei"], connection=connection)
    assert _latest(log, 4) == [("attack15.known", users["mei"], "mei", None),
                               ("attack15.unknown", 987654, None, None),
                               ("attack15.named", users["mei"], "given", None),
                               ("attack15.in_transaction", users["mei"], "mei", None)]


def test_the_address_is_the_blocks_own_and_no_other_threads(crm):
    log = SecurityLog(crm)
    started = threading.Event()
    finish = threading.Event()

    def other_request() -> None:
        with client_address("192.0.2.2"):
            started.set()
            finish.wait(10)
            log.record("attack15.other")

    thread = threading.Thread(target=other_request)
    with client_address("192.0.2.1"):
        thread.start()
        assert started.wait(10)
        log.record("attack15.mine")
        with client_address("192.0.2.9"):
            log.record("attack15.nested")
        log.record("attack15.mine_again", address="198.51.100.7")  # an address given is kept
        worker = threading.Thread(target=lambda: log.record("attack15.started_here"))  # a thread starts without it
        worker.start()
        worker.join()
        finish.set()
        thread.join()
        log.record("attack15.mine_after")
    log.record("attack15.outside")
    assert [(event, address) for event, _user, _name, address in _latest(log, 7)] == [
        ("attack15.mine", "192.0.2.1"), ("attack15.nested", "192.0.2.9"), ("attack15.mine_again", "198.51.100.7"),
        ("attack15.started_here", None), ("attack15.other", "192.0.2.2"), ("attack15.mine_after", "192.0.2.1"),
        ("attack15.outside", None)]
