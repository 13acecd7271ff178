"""The server's API: emit (one, rooms, all, exclusions) and emit with a callback."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from flask_realtime.exceptions import ConfigurationError
from flask_realtime.server import SocketIOServer

from .fakes import DeferredInvoker, Peer, Recorder, received


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
    # The packet is volatile as a whole: its head may be dropped, its attachment follows.
    assert [(m.volatile, m.follows) for m in first] == [(True, False), (False, True)]
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
