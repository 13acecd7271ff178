"""Shared fixtures of the top-level tests (the Flask extension), and the suite's skip check.

No skip may pass a run silently: a test skips only because the user opted out of what it
needs (``support.requirements``: the skip's reason names the variable), or because the
platform cannot run it (POSIX signals on Windows). Any other skip fails the session, as a
failed test would, and is listed at the end of the run.
"""

from __future__ import annotations

import pytest
from flask import Flask

from support.requirements import OPTED_OUT

ALLOWED_SKIPS = (OPTED_OUT, "POSIX")
"""How the reason of an allowed skip begins."""

_unexplained: list[str] = []


@pytest.fixture
def flask_app() -> Flask:
    """A fresh Flask app with a secret key (for the session)."""
    app = Flask("realtime_test")
    app.config["SECRET_KEY"] = "test secret"
    return app


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # (path, line, "Skipped: reason")
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not report.skipped or hasattr(report, "wasxfail"):
        return  # an expected failure (xfail) is reported by pytest itself
    reason = _skip_reason(report)
    if not reason.startswith(ALLOWED_SKIPS):
        _unexplained.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _unexplained and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _unexplained:
        terminalreporter.section("skips that no opt-out variable explains (they fail the run)")
        for line in _unexplained:
            terminalreporter.line(line)
