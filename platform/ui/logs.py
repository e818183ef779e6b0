"""Where crmkit's log lines go when the deployment says nothing: CRMKIT_LOG_LEVEL.

A process that configured no logging of its own (gunicorn configures only its own loggers;
`crmkit serve` none) writes nothing of crmkit's: the API's line per call, with its request id,
is dropped. With `CRMKIT_LOG_LEVEL=INFO` (or DEBUG, WARNING, ...) in the environment, the
`crmkit` loggers write to standard error at that level, each line carrying the request id
of the API call it belongs to ("-" outside one):

    2026-12-04 20:21:07,412 INFO crmkit.api [4f1c...e9] GET /api/v1/objects/account -> 200 (3.1 ms, user 1)

A process that configures logging itself (logging.config, gunicorn's --log-config) keeps its
own handlers: the request id is on every record as `request_id` for its formatters.
"""
from __future__ import annotations

import logging
import os
import sys

from crmkit.engine.secret_key import ConfigurationError

#: The environment variable naming the level; unset or empty: crmkit adds no handler.
LEVEL_VARIABLE = "CRMKIT_LOG_LEVEL"
FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class _Handler(logging.StreamHandler):
    """The handler this module adds (so it is added once per process)."""


def log_to_stderr(environment: dict[str, str] | None = None) -> None:
    """Adds a standard-error handler to the `crmkit` logger at CRMKIT_LOG_LEVEL when it is set (once).

    Raises ConfigurationError naming the variable for a level logging does not know.
    """
    given = (environment if environment is not None else os.environ).get(LEVEL_VARIABLE, "").strip().upper()
    if not given:
        return
    level = logging.getLevelName(given)
    if not isinstance(level, int):
        raise ConfigurationError(f"{LEVEL_VARIABLE}={given!r} is no log level; give DEBUG, INFO, WARNING or ERROR.")
    crmkit = logging.getLogger("crmkit")
    crmkit.setLevel(level)
    if any(isinstance(handler, _Handler) for handler in crmkit.handlers):
        return
    handler = _Handler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT, defaults={"request_id": "-"}))
    crmkit.addHandler(handler)
