"""Fixtures for the security tests: cheap password hashing, a clock that tests move by hand, a rep with a package."""
from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import pytest

# Cheap argon2 parameters for the whole run (honoured only while pytest is loaded).
os.environ["CRMKIT_FAST_PASSWORD_HASH"] = "1"


class FakeClock:
    """Now is whatever the test says: `clock.advance(minutes=15)` instead of sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


#: Roles (sales_manager, sales_rep, support) and permission sets (sales, export, reports) to grant.
DIRECTORY_PACKAGE = Path(__file__).resolve().parent.parent / "packages" / "directory.yaml"


@pytest.fixture
def directory(crm, clock):
    """A user directory on a database whose metadata defines the roles and permission sets tests grant."""
    from crmkit.engine.security.users import SystemDirectory

    crm.install(DIRECTORY_PACKAGE)
    return SystemDirectory(crm, clock=clock)


@contextmanager
def rep_world(database_url: str, folder: Path, package: str, margins: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
    """`package` installed in a Crm of its own, a user "rep" holding its `reps` permission set, who owns a deal per
    margin in `margins` (set by the system), and an API client with the rep's token:
    {"crm", "rep", "deals" (ids), "api"}."""
    from crmkit.engine import Crm
    from crmkit.engine.security.tokens import TokenStore
    from crmkit.engine.security.users import SystemDirectory
    from tests.api.conftest import ApiClient, make_app

    crm = Crm.open(database_url)
    try:
        path = folder / "package.yaml"
        path.write_text(package, encoding="utf-8")
        crm.install(path)
        rep = SystemDirectory(crm).create_user("rep", display_name="rep", permission_sets=["reps"]).id
        deals = [crm.as_system().records("deal").create({"name": f"Deal {margin}", "margin": margin,
                                                         "owner_id": rep}).id for margin in margins]
        client = ApiClient(make_app(crm).test_client(), TokenStore(crm).create(rep, "rep's token").token)
        yield {"crm": crm, "rep": rep, "deals": deals, "api": client}
    finally:
        crm.close()
