"""A socket's error handlers: failing event handlers, namespace and default error handlers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from flask_realtime.protocol.parsers import JsonParser
from flask_realtime.protocol.socketio import Packet, PacketType
from flask_realtime.server import SocketIOServer

from .fakes import Peer, Recorder


def test_a_reserved_event_from_a_lenient_parser_is_dropped(
    make_server: Callable[..., SocketIOServer],
) -> None:
    class LenientDecoder:
        def __init__(self) -> None:
            self.real = JsonParser().decoder()

        def feed(self, data: str | bytes) -> Packet | None:
            if data == '2["disconnect"]':
                return Packet(PacketType.EVENT, "/", ["disconnect"])
            return self.real.feed(data)

    class LenientParser(JsonParser):
        def decoder(self) -> LenientDecoder:  # type: ignore[override]
            return LenientDecoder()

    server = make_server(parser=LenientParser())
    gone = Recorder()
    server.on("disconnect", gone)
    server.on("*", gone)
    peer = Peer(server)
    sid = peer.connect()
    peer.send('42["disconnect"]')
    assert gone.calls == []
    assert server.get_socket(sid) is not None


def test_an_unhandled_exception_is_logged_and_the_connection_lives_on(
    server: SocketIOServer, peer: Peer, caplog: pytest.LogCaptureFixture
) -> None:
    server.on("bad", Recorder(raises=RuntimeError("oops")))
    good = Recorder()
    server.on("good", good)
    sid = peer.connect()
    peer.send('421["bad"]', '42["good"]')
    assert "unhandled exception in the event handler of 'bad'" in caplog.text
    assert peer.take() == []
    assert good.calls == [(sid,)]
    assert not peer.eio.closed


def test_the_namespace_error_handler_gets_the_exception_and_answers_the_ack(
    server: SocketIOServer, peer: Peer
) -> None:
    error = RuntimeError("oops")
    errors, default = Recorder(result={"error": "oops"}), Recorder()
    server.on("bad", Recorder(raises=error), namespace="/x")
    server.on_error("/x", errors)
    server.on_error(None, default)
    sid = peer.connect("/x")
    peer.send('42/x,5["bad"]')
    assert errors.calls == [(error,)]  # the exception only, as Flask-SocketIO's
    assert default.calls == []
    assert server.get_socket(sid, "/x") is not None
    assert peer.take() == ['43/x,5[{"error":"oops"}]']


def test_the_default_error_handler_serves_every_namespace(
    server: SocketIOServer, peer: Peer
) -> None:
    default = Recorder()
    server.on("bad", Recorder(raises=ValueError()), namespace="/y")
    server.on_error(None, default)
    peer.connect("/y")
    peer.emit("bad", namespace="/y")
    [(exc,)] = default.calls
    assert isinstance(exc, ValueError)


def test_a_failing_error_handler_is_logged(
    server: SocketIOServer, peer: Peer, caplog: pytest.LogCaptureFixture
) -> None:
    server.on("bad", Recorder(raises=ValueError("one")))
    server.on_error(None, Recorder(raises=ValueError("two")))
    peer.connect()
    peer.send('421["bad"]')
    assert peer.take() == []
    assert "unhandled exception in the event handler of 'bad'" in caplog.text
    assert "two" in caplog.text


async def test_a_cancelled_handler_is_not_an_error(server: SocketIOServer, peer: Peer) -> None:
    running: list[asyncio.Task[Any]] = []
    errors = Recorder()
    server.on_error(None, errors)

    async def forever(sid: str) -> None:
        task = asyncio.current_task()
        assert task is not None
        running.append(task)
        await asyncio.Event().wait()

    server.on("forever", forever)
    peer.connect()
    peer.send('421["forever"]')
    while not running:
        await asyncio.sleep(0)
    running[0].cancel()
    with pytest.raises(asyncio.CancelledError):
        await running[0]
    assert errors.calls == []
    assert peer.take() == []
