"""Retention periods set in whole days by an environment variable (the run log's, the change log's)."""
from __future__ import annotations

import os
from datetime import timedelta


def retention_days(variable: str, default_days: int) -> timedelta:
    """The period `variable` sets (a whole number of days >= 1), else `default_days`.

    ValueError naming the variable when it is set to anything else.
    """
    given = os.environ.get(variable, "").strip()
    if not given:
        return timedelta(days=default_days)
    if not (given.isascii() and given.isdigit()) or int(given) < 1:
        raise ValueError(f"{variable} must be a whole number of days (1 or more), not {given!r}.")
    return timedelta(days=int(given))
