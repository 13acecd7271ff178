"""What the suite needs from the machine, and the one way to go without it.

A test that needs something outside Python (Chromium, Node, the ``openssl`` command,
uvloop, a Redis or RabbitMQ server) calls :func:`missing` when it is not there. That
*fails* the test, saying what to install, unless the user opted out of that one thing by
setting its variable to ``1`` (the README lists them), in which case the test is skipped
and the skip names the variable. So ``make test`` never passes on a machine that silently
lacked a real peer; the session-level check in ``tests/conftest.py`` fails a run that
skipped anything else.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

__all__ = ["OPTED_OUT", "OPT_OUTS", "missing", "opted_out"]

OPT_OUTS = {
    "browser": "FLASK_REALTIME_SKIP_BROWSER",
    "node": "FLASK_REALTIME_SKIP_NODE",
    "openssl": "FLASK_REALTIME_SKIP_TLS",
    "uvloop": "FLASK_REALTIME_SKIP_UVLOOP",
    "redis": "FLASK_REALTIME_SKIP_REDIS",
    "rabbitmq": "FLASK_REALTIME_SKIP_RABBITMQ",
}
"""The thing a test needs -> the variable that, set to ``1``, skips the tests that need it."""

OPTED_OUT = "opted out with "
"""How every allowed skip's reason begins (the session check looks for it)."""


def opted_out(what: str) -> bool:
    """Whether the user chose to run without ``what`` (its variable is ``1``)."""
    return os.environ.get(OPT_OUTS[what]) == "1"


def missing(what: str, problem: str, *, required: bool = False) -> NoReturn:
    """Fail the test because ``what`` is not there (``problem`` says how it was looked for).

    Skip instead when the user opted out of ``what``, unless ``required``: the
    environment itself asks for it (``REDIS_URL`` set, say), so opting out would be a
    contradiction and the failure stands.
    """
    variable = OPT_OUTS[what]
    if opted_out(what) and not required:
        pytest.skip(f"{OPTED_OUT}{variable}=1: {problem}")
    pytest.fail(
        f"{problem}. Install it, or set {variable}=1 to skip the tests that need it.",
        pytrace=False,
    )
