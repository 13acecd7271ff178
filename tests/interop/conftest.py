"""Fixtures of the interop tests (the helpers behind them are in ``support.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .support import FAST, NORMAL, EchoServer


@pytest.fixture(scope="module")
def eio_server() -> Iterator[EchoServer]:
    """An Engine.IO echo server with the test suite's heartbeat (0.3 s interval, 0.2 s timeout)."""
    server = EchoServer(FAST).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def eio_server_normal() -> Iterator[EchoServer]:
    """An Engine.IO echo server with default timing."""
    server = EchoServer(NORMAL).start()
    yield server
    server.stop()
