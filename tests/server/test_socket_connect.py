"""A socket's connect: the connect handler, refusals, ``always_connect``, and a client that
leaves while its connect handler runs."""

from __future__ import annotations

import asyncio
import builtins
import json
from collections.abc import Callable
from typing import Any

import pytest

from flask_realtime.exceptions import ConnectionRefusedError
from flask_realtime.server import SocketIOServer, SocketState

from .fakes import DeferredInvoker, Peer, Recorder


def test_the_connect_handler_gets_the_auth_payload(server: SocketIOServer, peer: Peer) -> None:
    connected = Recorder()
    server.on("connect", connected)
    sid = peer.connect("/", {"token": "123"})
    assert connected.calls == [(sid, {"token": "123"})]


def test_the_connect_handler_gets_none_without_a_payload(
    server: SocketIOServer, peer: Peer
) -> None:
    connected = Recorder()
    server.on("connect", connected)
    sid = peer.connect("/")
    assert connected.calls == [(sid, None)]


def test_emits_of_the_connect_handler_follow_the_connect_reply(
    server: SocketIOServer, peer: Peer
) -> None:
    # The v5 conformance suite's server: emit "auth" to the new socket on connect.
    def on_connect(sid: str, auth: Any) -> None:
        server.emit("auth", auth or {}, to=sid)
        server.enter_room(sid, "lobby")
        server.emit("lobby", "hello", to="lobby")

    server.on("connect", on_connect)
    peer.send('40{"token":"123"}')
    reply, *rest = peer.take()
    assert isinstance(reply, str)
    assert reply.startswith('40{"sid":')
    assert rest == ['42["auth",{"token":"123"}]', '42["lobby","hello"]']


async def test_emits_of_an_async_connect_handler_follow_the_connect_reply(
    server: SocketIOServer, peer: Peer
) -> None:
    finished = asyncio.Event()

    async def on_connect(sid: str, auth: Any) -> None:
        server.emit("first", to=sid)
        await asyncio.sleep(0)
        server.emit("second", to=sid)
        finished.set()

    server.on("connect", on_connect)
    peer.send("40")
    assert peer.take() == []  # the handler has not run yet: nothing, not even the reply
    await finished.wait()
    reply, *rest = peer.take()
    assert isinstance(reply, str)
    assert reply.startswith('40{"sid":')
    assert rest == ['42["first"]', '42["second"]']


def test_a_socket_is_connecting_while_its_handler_runs(
    make_server: Callable[..., SocketIOServer],
) -> None:
    invoker = DeferredInvoker()
    server = make_server(invoker=invoker)
    server.on("connect", Recorder())
    peer = Peer(server)
    peer.send("40")
    call = invoker.pop("connect")
    socket = call.socket
    assert socket.state is SocketState.CONNECTING
    assert not socket.connected
    assert server.get_socket(call.sid) is socket
    call.done(None)
    assert socket.state is SocketState.CONNECTED
    assert socket.connected


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (ConnectionRefusedError(), '44{"message":"Connection rejected by server"}'),
        (ConnectionRefusedError("nope"), '44{"message":"nope"}'),
        (ConnectionRefusedError("nope", {"why": 1}), '44{"message":"nope","data":{"why":1}}'),
        (builtins.ConnectionRefusedError("x"), '44{"message":"Connection rejected by server"}'),
    ],
)
def test_a_connect_handler_refuses_by_raising(
    server: SocketIOServer, peer: Peer, raised: Exception, expected: str
) -> None:
    server.on("connect", Recorder(raises=raised))
    gone = Recorder()
    server.on("disconnect", gone)
    peer.send("40")
    assert peer.take() == [expected]
    assert not peer.eio.closed
    assert gone.calls == []  # it never connected


def test_a_connect_handler_refuses_by_returning_false(server: SocketIOServer, peer: Peer) -> None:
    connected = Recorder(result=False)
    server.on("connect", connected, namespace="/x")
    peer.send("40/x,")
    assert peer.take() == ['44/x,{"message":"Connection rejected by server"}']
    [(sid, _auth)] = connected.calls
    assert server.get_socket(sid, "/x") is None
    assert server.rooms(sid, "/x") == []
    assert peer.connect("/") != sid


def test_emits_of_a_refused_connect_handler_are_never_sent(
    server: SocketIOServer, peer: Peer
) -> None:
    def on_connect(sid: str, auth: Any) -> bool:
        server.emit("secret", to=sid)
        return False

    server.on("connect", on_connect)
    peer.send("40")
    assert peer.take() == ['44{"message":"Connection rejected by server"}']


def test_a_failing_connect_handler_refuses_and_logs(
    server: SocketIOServer, peer: Peer, caplog: pytest.LogCaptureFixture
) -> None:
    server.on("connect", Recorder(raises=KeyError("boom")))
    peer.send("40")
    assert peer.take() == ['44{"message":"Connection rejected by server"}']
    assert "unhandled exception in the connect handler" in caplog.text


@pytest.mark.parametrize(("returned", "accepted"), [(None, True), (False, False)])
def test_the_error_handler_decides_for_a_failing_connect_handler(
    server: SocketIOServer, peer: Peer, returned: Any, accepted: bool
) -> None:
    error = ValueError("bad")
    errors = Recorder(result=returned)
    server.on("connect", Recorder(raises=error))
    server.on_error("/", errors)
    peer.send("40")
    [reply] = peer.take()
    assert reply.startswith("40") is accepted
    [(seen,)] = errors.calls
    assert seen is error


def test_a_failing_error_handler_of_a_connect_refuses(
    server: SocketIOServer, peer: Peer, caplog: pytest.LogCaptureFixture
) -> None:
    server.on("connect", Recorder(raises=ValueError("first")))
    server.on_error(None, Recorder(raises=ValueError("second")))
    peer.send("40")
    assert peer.take() == ['44{"message":"Connection rejected by server"}']
    assert "unhandled exception in the connect handler" in caplog.text
    assert "second" in caplog.text


def test_always_connect_replies_before_the_handler_runs(
    make_server: Callable[..., SocketIOServer],
) -> None:
    server = make_server(always_connect=True)
    peer = Peer(server)
    seen: list[list[str | bytes]] = []

    def on_connect(sid: str, auth: Any) -> None:
        seen.append(peer.take())
        server.emit("welcome", to=sid)

    server.on("connect", on_connect)
    peer.send("40")
    [[reply]] = seen
    assert isinstance(reply, str)
    assert reply.startswith('40{"sid":')
    assert peer.take() == ['42["welcome"]']


def test_always_connect_without_a_connect_handler(
    make_server: Callable[..., SocketIOServer],
) -> None:
    server = make_server(always_connect=True)
    peer = Peer(server)
    sid = peer.connect()
    assert peer.take() == []  # the reply only, taken by connect()
    assert server.get_socket(sid) is not None


def test_always_connect_disconnects_when_the_handler_refuses(
    make_server: Callable[..., SocketIOServer],
) -> None:
    server = make_server(always_connect=True)
    gone = Recorder()
    server.on("connect", Recorder(result=False), namespace="/x")
    server.on("disconnect", gone, namespace="/x")
    peer = Peer(server)
    peer.send("40/x,")
    reply, bye = peer.take()
    assert isinstance(reply, str)
    sid = json.loads(reply.removeprefix("40/x,"))["sid"]
    assert bye == "41/x,"
    assert server.get_socket(sid, "/x") is None
    assert gone.calls == []


def test_a_connect_handler_finishing_after_the_client_left_changes_nothing(
    make_server: Callable[..., SocketIOServer],
) -> None:
    invoker = DeferredInvoker()
    server = make_server(invoker=invoker)
    server.on("connect", Recorder())
    gone = Recorder()
    server.on("disconnect", gone)
    peer = Peer(server)
    peer.send("40")
    call = invoker.pop("connect")
    server.emit("early", to=call.sid)
    peer.eio.lose()
    call.done(None)
    assert peer.take() == []
    assert server.get_socket(call.sid) is None
    assert gone.calls == []
    assert invoker.calls == []


def test_disconnecting_a_connecting_socket_refuses_it(
    make_server: Callable[..., SocketIOServer],
) -> None:
    invoker = DeferredInvoker()
    server = make_server(invoker=invoker)
    server.on("connect", Recorder())
    peer = Peer(server)
    peer.send("40")
    call = invoker.pop("connect")
    server.disconnect(call.sid)
    call.done(None)
    assert peer.take() == ['44{"message":"Connection rejected by server"}']
    assert server.get_socket(call.sid) is None


def test_a_socket_refuses_an_illegal_state_move(server: SocketIOServer, peer: Peer) -> None:
    socket = server.get_socket(peer.connect())
    assert socket is not None
    with pytest.raises(AssertionError, match="illegal"):
        socket._move(SocketState.CONNECTING)
