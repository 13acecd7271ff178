"""Shared fixtures of the top-level tests (the Flask extension)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from flask import Flask

WaitUntil = Callable[..., None]


@pytest.fixture
def flask_app() -> Flask:
    """A fresh Flask app with a secret key (for the session)."""
    app = Flask("realtime_test")
    app.config["SECRET_KEY"] = "test secret"
    return app


def _wait_until(condition: Callable[[], object], timeout: float = 5.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(0.005)


@pytest.fixture
def wait_until() -> WaitUntil:
    """``wait_until(condition, timeout=5.0, what="...")``: poll a condition, with a deadline."""
    return _wait_until
