"""One engine connection: CONNECT routing, namespaces, connect timeout, misbehaviour, v3."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable

import pytest

from flask_realtime.engine.socket import CloseReason
from flask_realtime.server import SocketIOServer
from flask_realtime.server.client import new_sid, query_auth

from .fakes import ManualClock, Peer, Recorder

SID = re.compile(r"^[A-Za-z0-9_-]{20}$")


def reply_sid(text: str | bytes, prefix: str = "40") -> str:
    assert isinstance(text, str)
    assert text.startswith(prefix)
    payload = json.loads(text[len(prefix) :])
    assert list(payload) == ["sid"]
    return str(payload["sid"])


# -- CONNECT ---------------------------------------------------------------------------


def test_connect_to_the_main_namespace_replies_with_a_fresh_sid(
    server: SocketIOServer, peer: Peer
) -> None:
    peer.send("40")
    [reply] = peer.take()
    sid = reply_sid(reply)
    assert SID.match(sid)
    assert sid != peer.eio.sid
    socket = server.get_socket(sid)
    assert socket is not None
    assert socket.eio is peer.eio
    assert server.rooms(sid) == [sid]


def test_connect_to_a_custom_namespace_replies_in_that_namespace(
    server: SocketIOServer, peer: Peer
) -> None:
    server.on("connect", Recorder(), namespace="/custom")
    peer.send("40/custom,")
    [reply] = peer.take()
    sid = reply_sid(reply, "40/custom,")
    assert server.get_socket(sid, "/custom") is not None
    assert server.get_socket(sid, "/") is None


def test_connect_without_the_trailing_comma_is_accepted(server: SocketIOServer, peer: Peer) -> None:
    server.on("x", Recorder(), namespace="/custom")
    peer.send("40/custom")
    reply_sid(peer.take()[0], "40/custom,")


def test_connect_to_an_unknown_namespace_is_refused_as_node_does(peer: Peer) -> None:
    peer.send("40/random")
    assert peer.take() == ['44/random,{"message":"Invalid namespace"}']
    assert not peer.eio.closed
    peer.send("40")
    reply_sid(peer.take()[0])


def test_sids_are_unique_per_namespace_and_connection(server: SocketIOServer) -> None:
    server.on("x", Recorder(), namespace="/a")
    first, second = Peer(server), Peer(server)
    sids = {first.connect("/"), first.connect("/a"), second.connect("/"), second.connect("/a")}
    assert len(sids) == 4


def test_one_connection_joins_several_namespaces_and_events_stay_in_theirs(
    server: SocketIOServer, peer: Peer
) -> None:
    in_main, in_chat = Recorder(), Recorder()
    server.on("msg", in_main)
    server.on("msg", in_chat, namespace="/chat")
    main_sid = peer.connect("/")
    chat_sid = peer.connect("/chat")
    peer.emit("msg", 1)
    peer.emit("msg", 2, namespace="/chat")
    assert in_main.calls == [(main_sid, 1)]
    assert in_chat.calls == [(chat_sid, 2)]


def test_a_second_connect_to_the_same_namespace_closes_the_connection(
    server: SocketIOServer, peer: Peer
) -> None:
    gone = Recorder()
    server.on("disconnect", gone)
    sid = peer.connect("/")
    peer.send("40")
    assert peer.eio.close_reasons == [CloseReason.TRANSPORT_ERROR]
    assert gone.calls == [(sid, CloseReason.TRANSPORT_ERROR)]
    assert server.get_socket(sid) is None


def test_a_connect_error_from_the_client_closes_the_connection(peer: Peer) -> None:
    peer.connect()
    peer.send('44{"message":"no"}')
    assert peer.eio.close_reasons == [CloseReason.TRANSPORT_ERROR]


@pytest.mark.parametrize(
    "garbage", ["4abc", "42{}", '42abc["message-with-ack",1]', "4", '42["connect"]', "49"]
)
def test_a_malformed_packet_closes_only_that_connection(
    server: SocketIOServer, garbage: str, caplog: pytest.LogCaptureFixture
) -> None:
    got = Recorder()
    server.on("message", got)
    bad, good = Peer(server), Peer(server)
    bad.connect()
    good_sid = good.connect()
    with caplog.at_level(logging.INFO, logger="flask_realtime.server.client"):
        bad.send(garbage)
    assert bad.eio.close_reasons == [CloseReason.TRANSPORT_ERROR]
    assert "invalid packet" in caplog.text
    good.emit("message", "still here")
    assert got.calls == [(good_sid, "still here")]
    assert not good.eio.closed


def test_an_unexpected_binary_attachment_closes_the_connection(peer: Peer) -> None:
    peer.connect()
    peer.send(b"\x01\x02")
    assert peer.eio.close_reasons == [CloseReason.TRANSPORT_ERROR]


def test_packets_for_a_namespace_not_joined_are_dropped(server: SocketIOServer, peer: Peer) -> None:
    got = Recorder()
    server.on("msg", got, namespace="/other")
    peer.connect("/")
    peer.emit("msg", 1, namespace="/other")
    peer.send("41/other,")
    assert got.calls == []
    assert not peer.eio.closed


def test_messages_after_the_engine_closed_are_ignored(server: SocketIOServer, peer: Peer) -> None:
    got, gone = Recorder(), Recorder()
    server.on("msg", got)
    server.on("disconnect", gone)
    peer.connect()
    assert repr(server._clients[peer.eio]).startswith(f"<Client {peer.eio.sid} namespaces=['/']")  # type: ignore[index]
    peer.eio.lose()
    peer.eio.lose()  # a second report of the close changes nothing
    peer.emit("msg", 1)
    assert got.calls == []
    assert len(gone.calls) == 1


# -- connect timeout -------------------------------------------------------------------


def test_a_client_that_never_connects_is_closed_after_the_connect_timeout(
    server: SocketIOServer, clock: ManualClock
) -> None:
    peer = Peer(server)
    clock.advance(44.9)
    assert not peer.eio.closed
    clock.advance(0.1)
    assert peer.eio.close_reasons == [CloseReason.SERVER_DISCONNECT]


def test_joining_a_namespace_stops_the_connect_timeout(
    server: SocketIOServer, clock: ManualClock
) -> None:
    peer = Peer(server)
    peer.connect()
    assert clock.pending == 0
    clock.advance(3600)
    assert not peer.eio.closed


def test_a_refused_connect_does_not_stop_the_connect_timeout(
    server: SocketIOServer, clock: ManualClock
) -> None:
    server.on("connect", Recorder(result=False))
    peer = Peer(server)
    peer.send("40")
    clock.advance(45)
    assert peer.eio.close_reasons == [CloseReason.SERVER_DISCONNECT]


def test_the_connect_timeout_is_a_setting_and_can_be_disabled(
    make_server: Callable[..., SocketIOServer], clock: ManualClock
) -> None:
    quick = Peer(make_server(connect_timeout=2.5))
    never = Peer(make_server(connect_timeout=None))
    clock.advance(2.5)
    assert quick.eio.closed
    clock.advance(100000)
    assert not never.eio.closed


def test_closing_the_engine_cancels_the_connect_timeout(
    server: SocketIOServer, clock: ManualClock
) -> None:
    peer = Peer(server)
    peer.eio.lose()
    assert clock.pending == 0


# -- namespaces over the wire ----------------------------------------------------------


def test_namespaces_listed_in_the_options_are_accepted_without_handlers(
    make_server: Callable[..., SocketIOServer],
) -> None:
    server = make_server(namespaces=["/a", "b"])
    peer = Peer(server)
    peer.connect("/a")
    peer.connect("/b")
    peer.send("40/c,")
    assert peer.take() == ['44/c,{"message":"Invalid namespace"}']


def test_namespaces_star_accepts_any_namespace(make_server: Callable[..., SocketIOServer]) -> None:
    server = make_server(namespaces="*")
    anywhere = Recorder(result="ok")
    server.on("ping", anywhere, namespace="*")
    peer = Peer(server)
    sid = peer.connect("/whatever")
    peer.emit("ping", 1, namespace="/whatever", ack=3)
    assert anywhere.calls == [(sid, "/whatever", 1)]
    assert peer.take() == ['43/whatever,3["ok"]']


def test_a_dynamic_namespace_shares_its_parents_handlers(server: SocketIOServer) -> None:
    pattern = re.compile(r"/dyn-\d+")
    connected, echoed = Recorder(), Recorder(result="back")
    server.on("connect", connected, namespace=pattern)
    server.on("echo", echoed, namespace=pattern)
    peer = Peer(server)
    first = peer.connect("/dyn-1")
    second = peer.connect("/dyn-22")
    peer.emit("echo", "x", namespace="/dyn-22", ack=0)
    assert connected.calls == [(first, None), (second, None)]
    assert echoed.calls == [(second, "x")]
    assert peer.take() == ['43/dyn-22,0["back"]']
    peer.send("40/dyn-x")
    assert peer.take() == ['44/dyn-x,{"message":"Invalid namespace"}']


def test_a_dynamic_namespace_function_decides_with_the_auth(server: SocketIOServer) -> None:
    seen: list[tuple[str, object]] = []

    def allow(name: str, auth: object) -> bool:
        seen.append((name, auth))
        return isinstance(auth, dict) and auth.get("token") == "ok"

    server.dynamic_namespace(allow)
    peer = Peer(server)
    peer.send('40/room-1,{"token":"bad"}')
    assert peer.take() == ['44/room-1,{"message":"Invalid namespace"}']
    peer.connect("/room-1", {"token": "ok"})
    assert seen == [("/room-1", {"token": "bad"}), ("/room-1", {"token": "ok"})]


def test_a_dynamic_child_is_forgotten_with_its_last_socket(server: SocketIOServer) -> None:
    server.dynamic_namespace(re.compile(r"/t-\d"))
    peer = Peer(server)
    peer.connect("/t-1")
    assert server.namespaces.get("/t-1") is not None
    peer.send("41/t-1,")
    assert server.namespaces.get("/t-1") is None
    peer.connect("/t-1")  # created again


# -- Engine.IO v3 clients (Socket.IO v4) -----------------------------------------------


def test_a_v3_client_is_connected_to_the_main_namespace_on_open(server: SocketIOServer) -> None:
    connected = Recorder()
    server.on("connect", connected)
    peer = Peer(server, protocol=3)
    assert peer.take() == ["40"]
    [(sid, auth)] = connected.calls
    assert auth is None
    assert server.get_socket(sid) is not None


def test_a_v3_client_passes_its_auth_in_the_namespace_query(server: SocketIOServer) -> None:
    connected = Recorder()
    server.on("connect", connected, namespace="/admin")
    peer = Peer(server, protocol=3)
    peer.take()
    peer.send("40/admin?token=abc&x=1&x=2,")
    assert peer.take() == ["40/admin,"]
    [(_sid, auth)] = connected.calls
    assert auth == {"token": "abc", "x": ["1", "2"]}


def test_a_v3_client_gets_its_errors_as_strings(server: SocketIOServer) -> None:
    server.on("connect", Recorder(result=False), namespace="/admin")
    peer = Peer(server, protocol=3)
    peer.take()
    peer.send("40/nowhere,")
    peer.send("40/admin,")
    assert peer.take() == [
        '44/nowhere,"Invalid namespace"',
        '44/admin,"Connection rejected by server"',
    ]


def test_a_v3_client_exchanges_events_and_acks(server: SocketIOServer) -> None:
    server.on("hi", Recorder(result=(1, b"\x00")))
    peer = Peer(server, protocol=3)
    peer.take()
    peer.send('42["hi"]', '425["hi"]')
    assert peer.take() == ['461-5[1,{"_placeholder":true,"num":0}]', b"\x00"]


def test_a_v3_client_is_refused_by_the_main_namespace(server: SocketIOServer) -> None:
    from flask_realtime.exceptions import ConnectionRefusedError

    server.on("connect", Recorder(raises=ConnectionRefusedError("go away", {"code": 7})))
    peer = Peer(server, protocol=3)
    assert peer.take() == ['44{"code":7}']


# -- helpers ---------------------------------------------------------------------------


def test_new_sids_are_20_urlsafe_characters_and_differ() -> None:
    sids = {new_sid() for _ in range(100)}
    assert len(sids) == 100
    assert all(SID.match(sid) for sid in sids)


def test_query_auth_parses_like_node() -> None:
    assert query_auth(None) is None
    assert query_auth("") == {}
    assert query_auth("a=1&b=&a=2&c=%20") == {"a": ["1", "2"], "b": "", "c": " "}


def test_a_connection_joins_at_most_max_namespaces(server: SocketIOServer) -> None:
    server.max_namespaces = 2
    server.dynamic_namespace(re.compile(r"/dyn-\d+"))
    peer = Peer(server)
    peer.connect("/dyn-1")
    second = peer.connect("/dyn-2")
    peer.send("40/dyn-3,")
    assert peer.take() == ['44/dyn-3,{"message":"Too many namespaces"}']
    # Nothing was made for the refused name, and the connection goes on.
    assert server.namespaces.get("/dyn-3") is None
    assert [n.name for n in server.namespaces.live()] == ["/dyn-1", "/dyn-2"]
    assert not peer.eio.closed
    peer.send("41/dyn-2,")  # leaving one makes room for another
    assert server.get_socket(second, "/dyn-2") is None
    peer.connect("/dyn-3")
