"""Fixtures for the security tests: cheap password hashing and a clock that tests move by hand."""
from __future__ import annotations

import os
from pathlib import Path
from datetime import datetime, timedelta, timezone

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
