"""The server's API: registration, emit (one, rooms, all, exclusions), call, rooms, disconnect."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest

from flask_realtime.engine.socket import CloseReason
from flask_realtime.exceptions import CallTimeoutError, ConfigurationError, DisconnectedError
from flask_realtime.server import SocketIOServer

from .fakes import DeferredInvoker, ManualClock, Peer, Recorder


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


def received(peers: dict[str, tuple[Peer, str]]) -> dict[str, list[str | bytes]]:
    return {name: peer.take() for name, (peer, _sid) in peers.items()}


# -- registration ----------------------------------------------------------------------


def test_registration_checks_its_arguments(server: SocketIOServer) -> None:
    with pytest.raises(ConfigurationError):
        server.on("x", "not callable")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        server.on(3, Recorder())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        server.on_error(None, 3)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        server.on("x", Recorder(), namespace=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        server.dynamic_namespace("/not-a-pattern")  # type: ignore[arg-type]


def test_options_are_checked(make_server: Callable[..., SocketIOServer]) -> None:
    with pytest.raises(ConfigurationError):
        make_server(max_pending_acks=0)
    with pytest.raises(ConfigurationError):
        make_server(namespaces="/chat")


def test_a_namespace_name_without_its_slash_gets_one(server: SocketIOServer) -> None:
    got = Recorder()
    server.on("msg", got, namespace="chat")
    peer = Peer(server)
    sid = peer.connect("/chat")
    peer.emit("msg", namespace="/chat")
    assert got.calls == [(sid,)]


def test_class_based_handlers_are_registered_by_their_method_names(server: SocketIOServer) -> None:
    calls: list[tuple[Any, ...]] = []

    class Chat:
        namespace = "/chat"
        on_ = "not an event"
        on_colour = "not callable"

        def on_connect(self, sid: str, auth: Any) -> None:
            calls.append(("connect", auth))

        def on_say(self, sid: str, text: str) -> str:
            calls.append(("say", text))
            return text.upper()

        def helper(self) -> None:  # pragma: no cover - never called
            calls.append(("helper",))

    server.on_namespace(Chat())
    peer = Peer(server)
    peer.connect("/chat", {"k": 1})
    peer.send('42/chat,1["say","hi"]')
    assert calls == [("connect", {"k": 1}), ("say", "hi")]
    assert peer.take() == ['43/chat,1["HI"]']


def test_the_server_is_an_engine_handler_for_v3_and_v4_sessions(server: SocketIOServer) -> None:
    assert server.parser is not server.legacy_parser
    v3, v4 = Peer(server, protocol=3), Peer(server)
    assert server._clients[v3.eio].parser is server.legacy_parser  # type: ignore[index]
    assert server._clients[v4.eio].parser is server.parser  # type: ignore[index]


# -- emit ------------------------------------------------------------------------------


def test_emit_to_one_socket_sends_the_exact_packet(
    peers: dict[str, tuple[Peer, str]], server: SocketIOServer
) -> None:
    _peer, sid = peers["b"]
    server.emit("hello", "world", {"n": 1}, to=sid)
    assert received(peers) == {"a": [], "b": ['42["hello","world",{"n":1}]'], "c": []}


def test_emit_to_a_room(peers: dict[str, tuple[Peer, str]], server: SocketIOServer) -> None:
    server.emit("ev", to="red")
    assert received(peers) == {"a": ['42["ev"]'], "b": ['42["ev"]'], "c": []}


def test_emit_to_several_rooms_reaches_each_member_once(
    peers: dict[str, tuple[Peer, str]], server: SocketIOServer
) -> None:
    server.emit("ev", 1, to=["red", "blue", "nobody"])
    assert received(peers) == {"a": ['42["ev",1]'], "b": ['42["ev",1]'], "c": ['42["ev",1]']}


def test_emit_to_everyone_in_the_namespace(
    peers: dict[str, tuple[Peer, str]], server: SocketIOServer
) -> None:
    server.on("x", Recorder(), namespace="/other")
    elsewhere = Peer(server)
    elsewhere.connect("/other")
    server.emit("all")
    assert received(peers) == {"a": ['42["all"]'], "b": ['42["all"]'], "c": ['42["all"]']}
    assert elsewhere.take() == []


def test_emit_to_another_namespace(server: SocketIOServer) -> None:
    server.on("x", Recorder(), namespace="/x")
    peer = Peer(server)
    sid = peer.connect("/x")
    peer.connect("/")
    server.emit("ev", 1, namespace="/x")
    server.emit("ev", 2, namespace="/x", to=sid)
    assert peer.take() == ['42/x,["ev",1]', '42/x,["ev",2]']


def test_emit_skips_one_sid(peers: dict[str, tuple[Peer, str]], server: SocketIOServer) -> None:
    server.emit("ev", to="red", skip_sid=peers["a"][1])
    server.emit("all", skip_sid=peers["c"][1])
    assert received(peers) == {"a": ['42["all"]'], "b": ['42["ev"]', '42["all"]'], "c": []}


def test_emit_skips_several_sids(
    peers: dict[str, tuple[Peer, str]], server: SocketIOServer
) -> None:
    server.emit("ev", to=["red", "blue"], skip_sid=[peers["a"][1], peers["c"][1]])
    server.emit("direct", to=peers["b"][1], skip_sid=[peers["b"][1]])
    server.emit("direct", to=peers["b"][1], skip_sid=peers["b"][1])
    assert received(peers) == {"a": [], "b": ['42["ev"]'], "c": []}


def test_emit_to_nobody_sends_nothing(
    peers: dict[str, tuple[Peer, str]], server: SocketIOServer
) -> None:
    server.emit("ev", to="empty-room")
    server.emit("ev", namespace="/unknown")
    server.emit("ev", to="x", namespace="/unknown", callback=Recorder())
    assert received(peers) == {"a": [], "b": [], "c": []}


def test_a_broadcast_hands_the_same_message_objects_to_every_recipient(
    peers: dict[str, tuple[Peer, str]], server: SocketIOServer
) -> None:
    server.emit("file", b"\x00\x01", to=["red", "blue"], volatile=True)
    sent = [peer.eio.sent for peer, _sid in peers.values()]
    first = sent[0]
    assert [m.data for m in first] == ['51-["file",{"_placeholder":true,"num":0}]', b"\x00\x01"]
    assert all(m.volatile for m in first)
    for other in sent[1:]:
        assert len(other) == 2
        assert other[0] is first[0]
        assert other[1] is first[1]


def test_a_single_emit_can_be_volatile(
    peers: dict[str, tuple[Peer, str]], server: SocketIOServer
) -> None:
    peer, sid = peers["a"]
    server.emit("tick", to=sid, volatile=True)
    server.emit("tock", to=sid)
    assert [m.volatile for m in peer.eio.sent] == [True, False]


def test_emit_refuses_reserved_event_names(server: SocketIOServer) -> None:
    with pytest.raises(ConfigurationError):
        server.emit("disconnect")


def test_emit_refuses_arguments_it_cannot_encode(
    peers: dict[str, tuple[Peer, str]], server: SocketIOServer
) -> None:
    with pytest.raises(ConfigurationError):
        server.emit("ev", object(), to=peers["a"][1], callback=Recorder())
    with pytest.raises(ConfigurationError):
        server.emit("ev", object())
    assert received(peers) == {"a": [], "b": [], "c": []}


def test_emit_with_a_callback_gets_the_clients_ack(
    peers: dict[str, tuple[Peer, str]], server: SocketIOServer
) -> None:
    peer, sid = peers["a"]
    answered = Recorder()
    server.emit("question", 1, to=sid, callback=answered)
    [question] = peer.take()
    assert question == '420["question",1]'
    peer.send('430["yes",2]')
    assert answered.calls == [("yes", 2)]
    peer.send('430["again"]')  # an ack is used once
    assert answered.calls == [("yes", 2)]


def test_a_broadcast_with_a_callback_shares_one_ack_id(
    peers: dict[str, tuple[Peer, str]], server: SocketIOServer
) -> None:
    answered = Recorder()
    server.emit("poll", to="red", callback=answered)
    got = received(peers)
    assert got == {"a": ['420["poll"]'], "b": ['420["poll"]'], "c": []}
    peers["a"][0].send('430["a"]')
    peers["b"][0].send('430["b"]')
    peers["c"][0].send('430["c"]')
    assert answered.calls == [("a",), ("b",)]


def test_ack_ids_are_unique_in_a_namespace(
    peers: dict[str, tuple[Peer, str]], server: SocketIOServer
) -> None:
    peer, sid = peers["a"]
    server.emit("one", to=sid, callback=Recorder())
    server.emit("two", callback=Recorder())
    assert peer.take() == ['420["one"]', '421["two"]']


def test_a_callback_runs_through_the_invoker(make_server: Callable[..., SocketIOServer]) -> None:
    invoker = DeferredInvoker()
    server = make_server(invoker=invoker)
    peer = Peer(server)
    sid = peer.connect()
    answered = Recorder()
    server.emit("q", to=sid, callback=answered)
    peer.send("430[1]")
    call = invoker.pop("ack")
    assert (call.kind, call.event, call.args, call.sid) == ("ack", "q", (1,), sid)
    assert answered.calls == []


def test_a_failing_callback_is_logged(
    peers: dict[str, tuple[Peer, str]], server: SocketIOServer, caplog: pytest.LogCaptureFixture
) -> None:
    peer, sid = peers["a"]
    server.emit("q", to=sid, callback=Recorder(raises=ValueError("cb")))
    peer.send("430[]")
    assert "unhandled exception in the ack handler of 'q'" in caplog.text
    assert not peer.eio.closed


def test_an_unknown_ack_is_ignored(peers: dict[str, tuple[Peer, str]]) -> None:
    peer, _sid = peers["a"]
    peer.send("4399[]")
    assert not peer.eio.closed


# -- call ------------------------------------------------------------------------------


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


# -- rooms -----------------------------------------------------------------------------


def test_rooms_are_listed_in_join_order(
    peers: dict[str, tuple[Peer, str]], server: SocketIOServer
) -> None:
    sid = peers["b"][1]
    assert server.rooms(sid) == [sid, "red", "blue"]
    server.enter_room(sid, "red")  # twice: no change
    assert server.rooms(sid) == [sid, "red", "blue"]
    assert server.rooms("nobody") == []


def test_leave_room(peers: dict[str, tuple[Peer, str]], server: SocketIOServer) -> None:
    sid = peers["b"][1]
    server.leave_room(sid, "red")
    server.leave_room(sid, "never-joined")
    server.emit("ev", to="red")
    assert server.rooms(sid) == [sid, "blue"]
    assert received(peers) == {"a": ['42["ev"]'], "b": [], "c": []}


def test_close_room(peers: dict[str, tuple[Peer, str]], server: SocketIOServer) -> None:
    server.close_room("red")
    server.emit("ev", to="red")
    assert received(peers) == {"a": [], "b": [], "c": []}
    assert server.rooms(peers["b"][1]) == [peers["b"][1], "blue"]


def test_room_operations_on_unknown_sockets_do_nothing(server: SocketIOServer) -> None:
    server.enter_room("nobody", "red")
    server.leave_room("nobody", "red")
    server.close_room("red", namespace="/none")
    server.disconnect("nobody")
    assert server.rooms("nobody") == []
    assert server.get_socket("nobody", "/none") is None


def test_rooms_are_per_namespace(make_server: Callable[..., SocketIOServer]) -> None:
    server = make_server(namespaces=["/other"])
    peer = Peer(server)
    main = peer.connect("/")
    other = peer.connect("/other")
    server.enter_room(main, "red")
    server.emit("ev", to="red", namespace="/other")
    assert peer.take() == []
    assert server.rooms(other, "/other") == [other]


def test_a_room_named_like_a_dynamic_pattern_is_just_a_room(server: SocketIOServer) -> None:
    server.on("x", Recorder(), namespace=re.compile(r"/d\d"))
    peer = Peer(server)
    sid = peer.connect("/d1")
    server.enter_room(sid, "r", "/d1")
    server.emit("ev", to="r", namespace="/d1")
    assert peer.take() == ['42/d1,["ev"]']


# -- disconnect and the adapter host ---------------------------------------------------


def test_the_adapter_can_close_a_whole_connection(server: SocketIOServer) -> None:
    gone = Recorder()
    server.on("disconnect", gone)
    peer = Peer(server)
    sid = peer.connect()
    socket = server.get_socket(sid)
    assert socket is not None
    server.disconnect_socket(socket, close=True)
    assert peer.eio.close_reasons == [CloseReason.SERVER_DISCONNECT]
    assert gone.calls == [(sid, CloseReason.SERVER_DISCONNECT)]


def test_the_adapter_can_disconnect_a_socket(server: SocketIOServer) -> None:
    peer = Peer(server)
    sid = peer.connect()
    socket = server.get_socket(sid)
    assert socket is not None
    server.disconnect_socket(socket, close=False)
    assert peer.take() == ["41"]
    assert not peer.eio.closed
