"""A socket's life: connect handler, events and acks, disconnect, error handlers."""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from flask_realtime.engine.socket import CloseReason
from flask_realtime.exceptions import ConnectionRefusedError
from flask_realtime.protocol.parsers import JsonParser
from flask_realtime.protocol.socketio import Packet, PacketType
from flask_realtime.server import SocketIOServer, SocketState

from .fakes import DeferredInvoker, Peer, Recorder

# -- connect ---------------------------------------------------------------------------


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
    [(_sid, seen)] = errors.calls
    assert seen is error


def test_a_failing_error_handler_of_a_connect_refuses(
    server: SocketIOServer, peer: Peer, caplog: pytest.LogCaptureFixture
) -> None:
    server.on("connect", Recorder(raises=ValueError("first")))
    server.on_error(None, Recorder(raises=ValueError("second")))
    peer.send("40")
    assert peer.take() == ['44{"message":"Connection rejected by server"}']
    assert "unhandled exception in the error handler" in caplog.text


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


# -- events and acks -------------------------------------------------------------------


def test_an_event_reaches_its_handler_with_its_arguments(
    server: SocketIOServer, peer: Peer
) -> None:
    got = Recorder()
    server.on("message", got)
    sid = peer.connect()
    peer.send('42["message",1,"2",{"3":[true]}]')
    assert got.calls == [(sid, 1, "2", {"3": [True]})]
    assert peer.take() == []  # no ack asked, none sent


def test_the_return_value_is_the_ack(server: SocketIOServer, peer: Peer) -> None:
    server.on("message-with-ack", lambda sid, *args: args)
    peer.connect()
    peer.send('42456["message-with-ack",1,"2",{"3":[false]}]')
    assert peer.take() == ['43456[1,"2",{"3":[false]}]']


@pytest.mark.parametrize(
    ("result", "ack"),
    [(None, "4312[]"), ("one", '4312["one"]'), ((1, 2), "4312[1,2]"), ([1, 2], "4312[[1,2]]")],
)
def test_how_a_return_value_becomes_ack_arguments(
    server: SocketIOServer, peer: Peer, result: Any, ack: str
) -> None:
    server.on("q", Recorder(result=result))
    peer.connect()
    peer.send('4212["q"]')
    assert peer.take() == [ack]


def test_acks_in_a_custom_namespace(server: SocketIOServer, peer: Peer) -> None:
    server.on("q", Recorder(result=["a"]), namespace="/x")
    peer.connect("/x")
    peer.send('42/x,12["q"]')
    assert peer.take() == ['43/x,12[["a"]]']


def test_binary_events_and_binary_acks(server: SocketIOServer, peer: Peer) -> None:
    got = Recorder()
    server.on("message", got)
    server.on("message-with-ack", lambda sid, *args: args)
    sid = peer.connect()
    peer.send(
        '452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
        b"\x01\x02\x03",
        b"\x04\x05\x06",
    )
    assert got.calls == [(sid, b"\x01\x02\x03", b"\x04\x05\x06")]
    peer.send(
        '452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
        b"\x01\x02\x03",
        b"\x04\x05\x06",
    )
    assert peer.take() == [
        '462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
        b"\x01\x02\x03",
        b"\x04\x05\x06",
    ]


async def test_an_async_handler_acks_when_it_returns(server: SocketIOServer, peer: Peer) -> None:
    done = asyncio.Event()

    async def handler(sid: str, value: int) -> int:
        await asyncio.sleep(0)
        done.set()
        return value * 2

    server.on("double", handler)
    peer.connect()
    peer.send('427["double",21]')
    await done.wait()
    await asyncio.sleep(0)
    assert peer.take() == ["437[42]"]


def test_an_event_without_a_handler_is_dropped_without_an_ack(
    server: SocketIOServer, peer: Peer
) -> None:
    peer.connect()
    peer.send('421["nobody"]')
    assert peer.take() == []
    assert not peer.eio.closed


def test_a_catch_all_gets_the_events_without_a_handler(server: SocketIOServer, peer: Peer) -> None:
    specific, anything = Recorder(), Recorder(result="caught")
    server.on("known", specific)
    server.on("*", anything)
    sid = peer.connect()
    peer.send('42["known",1]', '423["other",2,3]')
    assert specific.calls == [(sid, 1)]
    assert anything.calls == [(sid, "other", 2, 3)]
    assert peer.take() == ['433["caught"]']


def test_handlers_for_every_namespace_get_the_namespace(server: SocketIOServer, peer: Peer) -> None:
    anywhere, anything = Recorder(), Recorder()
    server.on("ping", anywhere, namespace="*")
    server.on("*", anything, namespace="*")
    server.on("x", Recorder(), namespace="/chat")
    sid = peer.connect("/chat")
    peer.emit("ping", 1, namespace="/chat")
    peer.emit("pong", 2, namespace="/chat")
    assert anywhere.calls == [(sid, "/chat", 1)]
    assert anything.calls == [(sid, "pong", "/chat", 2)]


def test_events_of_a_connecting_socket_are_dropped(
    make_server: Callable[..., SocketIOServer],
) -> None:
    invoker = DeferredInvoker()
    server = make_server(invoker=invoker)
    server.on("connect", Recorder())
    server.on("msg", Recorder())
    peer = Peer(server)
    peer.send("40", '42["msg"]')
    assert [call.kind for call in invoker.calls] == ["connect"]


def test_an_ack_is_not_sent_once_the_client_left(
    make_server: Callable[..., SocketIOServer],
) -> None:
    invoker = DeferredInvoker()
    server = make_server(invoker=invoker)
    server.on("slow", Recorder())
    peer = Peer(server)
    peer.connect()
    peer.send('421["slow"]')
    call = invoker.pop("event")
    peer.send("41")
    invoker.calls.clear()
    call.done("late")
    assert peer.take() == []


def test_a_return_value_that_cannot_be_encoded_is_logged(
    server: SocketIOServer, peer: Peer, caplog: pytest.LogCaptureFixture
) -> None:
    server.on("bad", Recorder(result=object()))
    peer.connect()
    peer.send('421["bad"]')
    assert peer.take() == []
    assert "cannot send the return value" in caplog.text


def test_done_twice_is_ignored_with_a_warning(
    make_server: Callable[..., SocketIOServer], caplog: pytest.LogCaptureFixture
) -> None:
    invoker = DeferredInvoker()
    server = make_server(invoker=invoker)
    server.on("q", Recorder())
    peer = Peer(server)
    peer.connect()
    peer.send('421["q"]')
    call = invoker.pop("event")
    call.done(1)
    call.done(2)
    assert peer.take() == ["431[1]"]
    assert "done() called twice" in caplog.text


# -- error handlers --------------------------------------------------------------------


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
    assert errors.calls == [(sid, error)]
    assert default.calls == []
    assert peer.take() == ['43/x,5[{"error":"oops"}]']


def test_the_default_error_handler_serves_every_namespace(
    server: SocketIOServer, peer: Peer
) -> None:
    default = Recorder()
    server.on("bad", Recorder(raises=ValueError()), namespace="/y")
    server.on_error(None, default)
    sid = peer.connect("/y")
    peer.emit("bad", namespace="/y")
    [(seen_sid, exc)] = default.calls
    assert seen_sid == sid
    assert isinstance(exc, ValueError)


def test_a_failing_error_handler_is_logged(
    server: SocketIOServer, peer: Peer, caplog: pytest.LogCaptureFixture
) -> None:
    server.on("bad", Recorder(raises=ValueError("one")))
    server.on_error(None, Recorder(raises=ValueError("two")))
    peer.connect()
    peer.send('421["bad"]')
    assert peer.take() == []
    assert "unhandled exception in the error handler of 'bad'" in caplog.text


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


# -- disconnect ------------------------------------------------------------------------


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
    assert errors.calls == [(sid, error)]
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
