"""Connect middlewares, the event gate, outgoing listeners, "disconnecting", and the
socket's ``user_data``, at the server layer (``server/middlewares.py``)."""

from __future__ import annotations

import json
from typing import Any

from flask_realtime.engine.lifecycle import CloseReason
from flask_realtime.exceptions import ClientArgumentsError, ConnectionRefusedError
from flask_realtime.protocol.socketio import PacketType
from flask_realtime.server import SocketIOServer
from flask_realtime.server.cluster_messages import describe_socket
from flask_realtime.typing import Handler

from .fakes import DeferredInvoker, Peer, Recorder

# -- connect middlewares ----------------------------------------------------------------------


def test_middlewares_run_in_order_before_the_connect_handler(
    server: SocketIOServer, peer: Peer
) -> None:
    order: list[str] = []
    for name in ("first", "second"):
        server.registry.use("/", lambda sid, auth, name=name: order.append(f"{name} {auth}"))
    server.on("connect", lambda sid, auth: order.append("connect"))
    peer.connect("/", {"k": 1})
    assert order == ["first {'k': 1}", "second {'k': 1}", "connect"]


def test_a_refusing_middleware_sends_its_message_and_data_and_stops_the_chain(
    server: SocketIOServer, peer: Peer
) -> None:
    later = Recorder()
    connect = Recorder()

    def refuse(sid: str, auth: Any) -> None:
        raise ConnectionRefusedError("unauthorized", {"code": 401})

    server.registry.use("/", refuse)
    server.registry.use("/", later)
    server.on("connect", connect)
    peer.send("40")
    assert peer.take() == ['44{"message":"unauthorized","data":{"code":401}}']
    assert later.calls == []
    assert connect.calls == []
    assert server.namespaces.get("/").sockets == {}  # type: ignore[union-attr]


def test_a_middleware_returning_false_refuses_with_the_default_message(
    server: SocketIOServer, peer: Peer
) -> None:
    server.registry.use("/", lambda sid, auth: False)
    peer.send("40")
    assert peer.take() == ['44{"message":"Connection rejected by server"}']


def test_a_middleware_that_fails_refuses_the_client(server: SocketIOServer, peer: Peer) -> None:
    def broken(sid: str, auth: Any) -> None:
        raise KeyError("oops")

    server.registry.use("/", broken)
    peer.send("40")
    assert peer.take() == ['44{"message":"Connection rejected by server"}']


def test_middlewares_run_before_the_reply_even_with_always_connect(
    make_server: Any,
) -> None:
    server: SocketIOServer = make_server(always_connect=True)
    peer = Peer(server)

    def refuse(sid: str, auth: Any) -> None:
        raise ConnectionRefusedError("no")

    server.registry.use("/", refuse)
    peer.send("40")
    # Refused before the CONNECT reply: a CONNECT_ERROR, never a CONNECT then DISCONNECT.
    assert peer.take() == ['44{"message":"no"}']


def test_a_client_that_leaves_while_a_middleware_runs_is_forgotten(
    make_server: Any,
) -> None:
    invoker = DeferredInvoker()
    server: SocketIOServer = make_server(invoker=invoker)
    peer = Peer(server)
    connect = Recorder()
    server.registry.use("/", Recorder())
    server.on("connect", connect)
    peer.send("40")
    peer.eio.lose()
    invoker.run("connect")  # the middleware finishes after the client left
    assert invoker.calls == []  # the connect handler is not queued
    assert peer.take() == []


def test_middlewares_of_one_namespace_do_not_run_for_another(
    server: SocketIOServer, peer: Peer
) -> None:
    guard = Recorder(result=False)
    server.registry.use("/admin", guard)
    peer.connect("/")
    assert guard.calls == []
    peer.send("40/admin,")
    assert peer.take() == ['44/admin,{"message":"Connection rejected by server"}']


# -- the event gate ---------------------------------------------------------------------------


def test_the_gate_puts_what_it_returns_in_front_of_the_handler(
    server: SocketIOServer, peer: Peer
) -> None:
    seen: list[tuple[str, tuple[Any, ...]]] = []
    handler = Recorder(result="handled")

    def gate(event: str, args: tuple[Any, ...], inner: Handler) -> Handler:
        seen.append((event, args))

        def gated(*call_args: Any) -> Any:
            return ("gated", inner(*call_args))

        return gated

    server.on("go", handler)
    server.registry.handlers("/").gate = gate
    sid = peer.connect()
    peer.emit("go", 1, {"a": 2}, ack=5)
    assert seen == [("go", (1, {"a": 2}))]
    assert handler.calls == [(sid, 1, {"a": 2})]
    assert peer.take() == ['435["gated","handled"]']


def test_without_a_handler_the_gate_is_not_asked(server: SocketIOServer, peer: Peer) -> None:
    asked: list[str] = []

    def gate(event: str, args: tuple[Any, ...], inner: Handler) -> Handler:
        asked.append(event)
        return inner

    server.registry.handlers("/").gate = gate
    peer.connect()
    peer.emit("nobody-listens")
    assert asked == []


# -- the client's mistakes get an error ack ---------------------------------------------------


def test_a_client_arguments_error_answers_an_ack_with_the_error(
    server: SocketIOServer, peer: Peer
) -> None:
    details: list[dict[str, object]] = [{"loc": ["p", "x"], "msg": "bad", "type": "int_type"}]

    def typed(sid: str, value: Any) -> None:
        raise ClientArgumentsError("invalid arguments for 'typed': p", details)

    server.on("typed", typed)
    peer.connect()
    peer.emit("typed", {"x": "a"}, ack=3)
    peer.emit("typed", {"x": "a"})  # no ack asked: nothing sent
    (reply,) = peer.take()
    assert isinstance(reply, str)
    assert reply.startswith("433")
    assert json.loads(reply[3:]) == [
        {"error": "invalid arguments for 'typed': p", "details": details}
    ]


def test_other_handler_errors_still_send_no_ack(server: SocketIOServer, peer: Peer) -> None:
    def broken(sid: str) -> None:
        raise RuntimeError("bug")

    server.on("broken", broken)
    peer.connect()
    peer.emit("broken", ack=1)
    assert peer.take() == []


# -- outgoing listeners -----------------------------------------------------------------------


def test_outgoing_listeners_see_direct_emits_broadcasts_and_calls(
    server: SocketIOServer,
) -> None:
    seen: list[tuple[Any, ...]] = []
    server.registry.on_outgoing("/", lambda *args: seen.append(args))
    a, b = Peer(server), Peer(server)
    sid_a, sid_b = a.connect(), b.connect()
    server.emit("direct", 1, to=sid_a)
    server.emit("everyone", {"x": 2})
    server.enter_room(sid_b, "room")
    server.emit("room", callback=Recorder(), to="room")
    assert seen[0] == (sid_a, "direct", 1)
    assert sorted(seen[1:3]) == sorted([(sid_a, "everyone", {"x": 2}),
                                        (sid_b, "everyone", {"x": 2})])  # fmt: skip
    assert seen[3:] == [(sid_b, "room")]


def test_outgoing_listeners_of_another_namespace_are_not_called(
    server: SocketIOServer, peer: Peer
) -> None:
    seen: list[tuple[Any, ...]] = []
    server.registry.on_outgoing("/other", lambda *args: seen.append(args))
    peer.connect()
    server.emit("hello")
    assert seen == []
    assert peer.take() == ['42["hello"]']


def test_a_failing_outgoing_listener_does_not_stop_the_emit(
    server: SocketIOServer, peer: Peer
) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("listener bug")

    server.registry.on_outgoing("/", broken)
    sid = peer.connect()
    server.emit("still", to=sid)
    server.emit("sent")
    assert peer.take() == ['42["still"]', '42["sent"]']


# -- "disconnecting" --------------------------------------------------------------------------


def test_disconnecting_runs_before_disconnect_with_the_rooms_still_joined(
    server: SocketIOServer, peer: Peer
) -> None:
    order: list[tuple[str, Any, list[str]]] = []

    def disconnecting(sid: str, reason: Any) -> None:
        order.append(("disconnecting", reason, server.rooms(sid)))

    def disconnect(sid: str, reason: Any) -> None:
        order.append(("disconnect", reason, server.rooms(sid)))

    server.on("disconnecting", disconnecting)
    server.on("disconnect", disconnect)
    sid = peer.connect()
    server.enter_room(sid, "lobby")
    peer.eio.lose()
    assert order == [
        ("disconnecting", CloseReason.TRANSPORT_CLOSE, [sid, "lobby"]),
        ("disconnect", CloseReason.TRANSPORT_CLOSE, [sid, "lobby"]),
    ]
    assert server.rooms(sid) == []


def test_disconnecting_alone_releases_the_socket_when_done(make_server: Any) -> None:
    invoker = DeferredInvoker()
    server: SocketIOServer = make_server(invoker=invoker)
    peer = Peer(server)
    rooms_seen: list[list[str]] = []
    server.on("disconnecting", lambda sid, reason: rooms_seen.append(server.rooms(sid)))
    sid = peer.connect()  # no connect handler: nothing for the invoker yet
    peer.send("41")
    assert server.rooms(sid) == [sid]  # still in its room while the handler is pending
    invoker.run("disconnect")
    assert rooms_seen == [[sid]]
    assert server.rooms(sid) == []


# -- user_data ----------------------------------------------------------------------------------


def test_user_data_is_what_fetch_sockets_describes(server: SocketIOServer, peer: Peer) -> None:
    sid = peer.connect()
    socket = server.get_socket(sid)
    assert socket is not None
    assert describe_socket(socket, [sid])["data"] == {}
    socket.user_data["user"] = {"name": "ann"}
    described = describe_socket(socket, [sid])
    assert described["data"] == {"user": {"name": "ann"}}
    described["data"]["other"] = 1  # a copy: the socket's dict is its own
    assert socket.user_data == {"user": {"name": "ann"}}
    socket.data["internal"] = object()  # the layers' cache never leaves the process
    assert "internal" not in describe_socket(socket, [sid])["data"]


def test_connect_error_packets_are_never_sent_for_accepted_sockets(
    server: SocketIOServer, peer: Peer
) -> None:
    server.registry.use("/", Recorder())
    peer.connect()
    assert all(p.type is not PacketType.CONNECT_ERROR for p in peer.packets())
