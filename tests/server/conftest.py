"""Fixtures of the server tests: a server on a manual clock, and peers to talk to it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from flask_realtime.server import SocketIOServer

from .fakes import ManualClock, Peer


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_server(clock: ManualClock) -> Callable[..., SocketIOServer]:
    def make(**options: Any) -> SocketIOServer:
        server = SocketIOServer(**options)
        server.attach(clock.time, clock.call_later)
        return server

    return make


@pytest.fixture
def server(make_server: Callable[..., SocketIOServer]) -> SocketIOServer:
    return make_server()


@pytest.fixture
def peer(server: SocketIOServer) -> Peer:
    return Peer(server)
