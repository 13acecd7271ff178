"""A socket's disconnect: client and server disconnects, the disconnect handler, socket data."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from flask_realtime.engine.socket import CloseReason
from flask_realtime.server import SocketIOServer, SocketState

from .fakes import DeferredInvoker, Peer, Recorder


def test_a_client_disconnect_runs_the_handler_with_its_reason(
    server: SocketIOServer, peer: Peer
) -> None:
    gone = Recorder()
    server.on("disconnect", gone, namespace="/x")
    sid = peer.connect("/x")
    server.enter_room(sid, "room", "/x")
    peer.send("41/x,")
    assert gone.calls == [(sid, "client disconnect")]
    assert server.get_socket(sid, "/x") is None
    assert server.rooms(sid, "/x") == []
    assert not peer.eio.closed
    assert peer.connect("/x") != sid


def test_the_disconnect_handler_still_sees_the_rooms(server: SocketIOServer, peer: Peer) -> None:
    seen: list[list[str]] = []
    server.on("disconnect", lambda sid, reason: seen.append(server.rooms(sid)))
    sid = peer.connect()
    server.enter_room(sid, "a")
    peer.send("41")
    assert seen == [[sid, "a"]]
    assert server.rooms(sid) == []


def test_nothing_is_sent_to_a_socket_whose_disconnect_handler_runs(
    make_server: Callable[..., SocketIOServer],
) -> None:
    invoker = DeferredInvoker()
    server = make_server(invoker=invoker)
    server.on("disconnect", Recorder())
    peer, other = Peer(server), Peer(server)
    sid = peer.connect()
    other.connect()
    other.take()
    peer.send("41")
    call = invoker.pop("disconnect")
    assert call.socket.state is SocketState.DISCONNECTING
    assert server.rooms(sid) == [sid]
    server.emit("news")
    server.emit("direct", to=sid)
    server.enter_room(sid, "late")
    server.disconnect(sid)  # already leaving: nothing more
    assert peer.take() == []
    assert other.take() == ['42["news"]']
    call.done(None)
    assert call.socket.state is SocketState.CLOSED
    assert server.rooms(sid) == []


def test_the_engine_closing_disconnects_every_namespace_with_its_reason(
    server: SocketIOServer, peer: Peer
) -> None:
    gone_main, gone_x = Recorder(), Recorder()
    server.on("disconnect", gone_main)
    server.on("disconnect", gone_x, namespace="/x")
    main_sid = peer.connect("/")
    x_sid = peer.connect("/x")
    peer.eio.lose(CloseReason.PING_TIMEOUT)
    assert gone_main.calls == [(main_sid, "ping timeout")]
    assert gone_x.calls == [(x_sid, "ping timeout")]


def test_a_server_disconnect_tells_the_client_and_the_handler(
    server: SocketIOServer, peer: Peer
) -> None:
    gone = Recorder()
    server.on("disconnect", gone, namespace="/x")
    main_sid = peer.connect("/")
    sid = peer.connect("/x")
    server.disconnect(sid, "/x")
    assert peer.take() == ["41/x,"]
    assert gone.calls == [(sid, CloseReason.SERVER_DISCONNECT)]
    assert server.get_socket(main_sid) is not None
    server.disconnect(sid, "/x")  # already gone: nothing
    assert peer.take() == []
    assert len(gone.calls) == 1


def test_the_disconnect_handler_runs_once(server: SocketIOServer, peer: Peer) -> None:
    gone = Recorder()
    server.on("disconnect", gone)
    sid = peer.connect()
    peer.send("41")
    server.disconnect(sid)
    peer.eio.lose()
    assert len(gone.calls) == 1


def test_a_failing_disconnect_handler_goes_to_the_error_handler_and_cleans_up(
    server: SocketIOServer, peer: Peer
) -> None:
    error = RuntimeError("bye")
    errors = Recorder()
    server.on("disconnect", Recorder(raises=error))
    server.on_error(None, errors)
    sid = peer.connect()
    peer.send("41")
    assert errors.calls == [(error,)]
    assert server.get_socket(sid) is None


def test_a_failing_disconnect_handler_without_error_handler_is_logged(
    server: SocketIOServer, peer: Peer, caplog: pytest.LogCaptureFixture
) -> None:
    server.on("disconnect", Recorder(raises=RuntimeError("bye")))
    sid = peer.connect()
    with caplog.at_level(logging.ERROR):
        peer.send("41")
    assert "unhandled exception in the disconnect handler" in caplog.text
    assert server.get_socket(sid) is None


def test_an_invoker_that_fails_to_run_a_handler_does_not_break_the_server(
    make_server: Callable[..., SocketIOServer], caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenInvoker:
        def invoke(self, call: Any) -> None:
            raise RuntimeError("pool is shut down")

    server = make_server(invoker=BrokenInvoker())
    server.on("connect", Recorder())
    peer = Peer(server)
    peer.send("40")
    assert peer.take() == ['44{"message":"Connection rejected by server"}']
    assert "the invoker failed" in caplog.text


def test_socket_data_is_per_socket(server: SocketIOServer) -> None:
    first, second = Peer(server), Peer(server)
    a = server.get_socket(first.connect())
    b = server.get_socket(second.connect())
    assert a is not None
    assert b is not None
    a.data["user"] = "ann"
    assert b.data == {}
    assert a.data == {"user": "ann"}
    assert repr(a).startswith("<Socket ")
