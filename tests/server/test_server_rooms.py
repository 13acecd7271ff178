"""The server's API: rooms, and the disconnects the adapter asks for."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask_realtime.engine.socket import CloseReason
from flask_realtime.server import SocketIOServer

from .fakes import Peer, Recorder, received


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
