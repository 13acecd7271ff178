"""The server's API: call, and the bound on pending acks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from flask_realtime.exceptions import CallTimeoutError, ConfigurationError, DisconnectedError
from flask_realtime.server import SocketIOServer

from .fakes import ManualClock, Peer, Recorder


async def test_call_resolves_with_the_ack(
    peers: dict[str, tuple[Peer, str]], server: SocketIOServer
) -> None:
    peer, sid = peers["a"]
    one = server.call("q", 1, to=sid)
    none = server.call("q", to=sid)
    several = server.call("q", to=sid)
    assert peer.take() == ['420["q",1]', '421["q"]', '422["q"]']
    peer.send('430["x"]', "431[]", '432[1,"y"]')
    assert await one == "x"
    assert await none is None
    assert await several == (1, "y")


async def test_call_fails_after_its_timeout(
    peers: dict[str, tuple[Peer, str]], server: SocketIOServer, clock: ManualClock
) -> None:
    peer, sid = peers["a"]
    future = server.call("q", to=sid, timeout=5)
    clock.advance(4.9)
    assert not future.done()
    clock.advance(0.1)
    with pytest.raises(CallTimeoutError):
        await future
    peer.send("430[1]")  # too late: ignored
    default = server.call("q", to=sid)
    clock.advance(60)
    with pytest.raises(CallTimeoutError):
        await default


async def test_call_to_a_socket_that_is_not_here_fails_at_once(server: SocketIOServer) -> None:
    with pytest.raises(DisconnectedError):
        await server.call("q", to="nobody")
    with pytest.raises(DisconnectedError):
        await server.call("q", to="nobody", namespace="/none")


async def test_call_fails_when_the_socket_leaves(
    peers: dict[str, tuple[Peer, str]], server: SocketIOServer, clock: ManualClock
) -> None:
    peer, sid = peers["a"]
    future = server.call("q", to=sid)
    peer.send("41")
    with pytest.raises(DisconnectedError):
        await future
    assert clock.pending == 0


async def test_a_cancelled_call_stops_waiting(
    peers: dict[str, tuple[Peer, str]], server: SocketIOServer, clock: ManualClock
) -> None:
    peer, sid = peers["a"]
    future = server.call("q", to=sid, timeout=None)
    future.cancel()
    await asyncio.sleep(0)  # done callbacks run on the next loop iteration
    peer.send("430[1]")
    timed = server.call("q", to=sid)
    timed.cancel()
    await asyncio.sleep(0)
    assert clock.pending == 0


async def test_a_call_cancelled_as_its_socket_leaves_is_settled_once(
    peers: dict[str, tuple[Peer, str]], server: SocketIOServer, clock: ManualClock
) -> None:
    peer, sid = peers["a"]
    future = server.call("q", to=sid)
    future.cancel()
    peer.send("41")  # before the done callback of the cancel runs
    await asyncio.sleep(0)
    assert future.cancelled()
    assert clock.pending == 0


async def test_pending_acks_are_bounded_and_the_oldest_fails(
    make_server: Callable[..., SocketIOServer],
) -> None:
    server = make_server(max_pending_acks=2)
    peer = Peer(server)
    sid = peer.connect()
    dropped = Recorder()
    first = server.call("q", to=sid)
    server.emit("q", to=sid, callback=dropped)
    third = server.call("q", to=sid)
    with pytest.raises(CallTimeoutError):
        await first
    server.call("q", to=sid)  # evicts the callback, silently
    peer.send("431[]", "432[3]")
    assert dropped.calls == []
    assert await third == 3


async def test_call_refuses_reserved_names_and_bad_arguments(
    peers: dict[str, tuple[Peer, str]], server: SocketIOServer
) -> None:
    _peer, sid = peers["a"]
    with pytest.raises(ConfigurationError):
        server.call("connect", to=sid)
    with pytest.raises(ConfigurationError):
        server.call("q", object(), to=sid)
