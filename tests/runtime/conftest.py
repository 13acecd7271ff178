"""Fixtures of the runtime's HTTP tests: servers on loopback in a background thread, and
raw clients to them (the client itself is in ``httpkit.py``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flask_realtime.runtime.server import Server
from flask_realtime.runtime.thread import ServerThread

from .httpkit import RawHttpClient


@pytest.fixture
def http_server() -> Iterator[Callable[..., ServerThread]]:
    """Start a ``Server(**kwargs)`` on a free port in a ``ServerThread``; stopped after
    the test."""
    started: list[ServerThread] = []

    def start(**kwargs: Any) -> ServerThread:
        kwargs.setdefault("port", 0)
        kwargs.setdefault("wsgi_app", None)
        thread = ServerThread(Server(**kwargs), grace=2.0)
        thread.start()
        started.append(thread)
        return thread

    yield start
    for thread in reversed(started):
        thread.stop()


@pytest.fixture
def http_client() -> Iterator[Callable[..., RawHttpClient]]:
    """Open ``RawHttpClient(port, **kwargs)`` sockets; closed after the test."""
    opened: list[RawHttpClient] = []

    def connect(port: int, **kwargs: Any) -> RawHttpClient:
        client = RawHttpClient(port, **kwargs)
        opened.append(client)
        return client

    yield connect
    for client in opened:
        client.close()
