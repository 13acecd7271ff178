"""Wait for something to become true, with a deadline: the one waiter of the test suite.

``wait_until(predicate, timeout, what)`` polls ``predicate`` until it returns something
truthy and returns that value; past the deadline it fails the test, saying what it waited
for. Code that already holds a :class:`threading.Condition` notified on every change (the
recorders of :mod:`support.recorder`) passes it as ``condition``: the waiter then sleeps on
it instead of polling, and wakes as soon as something changes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

__all__ = ["DEFAULT_TIMEOUT", "POLL_INTERVAL", "wait_until"]

T = TypeVar("T")

DEFAULT_TIMEOUT = 5.0
"""Seconds a wait lasts unless told otherwise."""
POLL_INTERVAL = 0.005
"""Seconds between two looks at a predicate (without a condition)."""


def wait_until(
    predicate: Callable[[], T],
    timeout: float = DEFAULT_TIMEOUT,
    what: str | Callable[[], str] = "",
    *,
    condition: threading.Condition | None = None,
    interval: float = POLL_INTERVAL,
) -> T:
    """Wait until ``predicate()`` is truthy and return its value; fail after ``timeout`` s.

    Args:
        predicate: looked at at once, then after every ``interval`` (or notification).
        timeout: seconds before the test fails.
        what: what is awaited, for the failure message; a callable is called only on
            failure, so it may describe the state at the deadline.
        condition: a condition the caller holds, notified whenever the predicate may have
            changed; the wait sleeps on it rather than polling.
        interval: seconds between two looks, when there is no ``condition``.

    Raises:
        pytest.fail.Exception: the deadline passed first.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        left = deadline - time.monotonic()
        if left <= 0:
            described = what() if callable(what) else what
            pytest.fail(f"timed out after {timeout:g} s waiting for {described or predicate}")
        if condition is None:
            time.sleep(min(interval, left))
        else:
            condition.wait(left)
