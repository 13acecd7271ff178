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
        return SocketIOServer(deadlines=clock.deadlines, clock=clock.time, **options)

    return make


@pytest.fixture
def server(make_server: Callable[..., SocketIOServer]) -> SocketIOServer:
    return make_server()


@pytest.fixture
def peer(server: SocketIOServer) -> Peer:
    return Peer(server)


@pytest.fixture
def peers(server: SocketIOServer) -> dict[str, tuple[Peer, str]]:
    """Three clients in "/", with their sids: a and b in room "red", b and c in "blue"."""
    out = {}
    for name in "abc":
        peer = Peer(server)
        out[name] = (peer, peer.connect())
    server.enter_room(out["a"][1], "red")
    server.enter_room(out["b"][1], "red")
    server.enter_room(out["b"][1], "blue")
    server.enter_room(out["c"][1], "blue")
    for peer, _sid in out.values():
        peer.clear()
    return out
