"""Connection state recovery at the server layer (``server/recovery.py``): the pid, the
offsets, the sessions kept and restored, and every bound, on a manual clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from flask_realtime.engine.lifecycle import CloseReason
from flask_realtime.exceptions import ConfigurationError, ConnectionRefusedError
from flask_realtime.protocol.socketio import Packet, PacketType
from flask_realtime.server import SocketIOServer
from flask_realtime.server.recovery import RecoveryOptions, SessionStore

from .fakes import ManualClock, Peer, Recorder

Make = Callable[..., SocketIOServer]


@pytest.fixture
def recovering(make_server: Make) -> SocketIOServer:
    return make_server(recovery=RecoveryOptions(max_disconnection_duration=60, max_packets=6))


def connect_reply(peer: Peer, namespace: str = "/") -> dict[str, Any]:
    for packet in peer.packets():
        if packet.type is PacketType.CONNECT and packet.namespace == namespace:
            assert isinstance(packet.data, dict)
            return packet.data
    raise AssertionError(f"no CONNECT reply: {peer.wire}")


def events(peer: Peer) -> list[list[Any]]:
    return [p.data for p in peer.packets() if p.type is PacketType.EVENT]


def come_back(server: SocketIOServer, pid: str, offset: str, **auth: Any) -> Peer:
    peer = Peer(server)
    peer.send_packet(Packet(PacketType.CONNECT, "/", {"pid": pid, "offset": offset, **auth}))
    return peer


# -- the wire ---------------------------------------------------------------------------------


def test_without_recovery_the_reply_has_no_pid_and_events_no_offset(
    server: SocketIOServer, peer: Peer
) -> None:
    peer.connect()
    server.emit("news", 1)
    assert set(connect_reply(peer)) == {"sid"}
    assert events(peer) == [["news", 1]]


def test_the_reply_carries_a_pid_and_each_event_an_offset(recovering: SocketIOServer) -> None:
    peer = Peer(recovering)
    sid = peer.connect()
    recovering.emit("news", 1)
    recovering.emit("direct", {"a": 1}, to=sid)
    reply = connect_reply(peer)
    assert reply["sid"] == sid
    assert isinstance(reply["pid"], str)
    assert reply["pid"] != sid
    (news, direct) = events(peer)
    assert news[:2] == ["news", 1]
    assert direct[:2] == ["direct", {"a": 1}]
    assert isinstance(news[2], str)
    assert isinstance(direct[2], str)
    assert news[2] != direct[2]


def test_acked_and_volatile_emits_get_no_offset(recovering: SocketIOServer) -> None:
    peer = Peer(recovering)
    sid = peer.connect()
    recovering.emit("asks", callback=Recorder(), to=sid)
    recovering.emit("volatile", 2, volatile=True)
    assert [e for e in events(peer)] == [["asks"], ["volatile", 2]]
    assert recovering.recovery is not None
    assert recovering.recovery.logged("/") == 0


def test_a_v3_client_gets_no_pid(recovering: SocketIOServer) -> None:
    peer = Peer(recovering, protocol=3)
    (reply,) = peer.packets()
    assert reply.type is PacketType.CONNECT
    assert reply.data is None


# -- recovering -------------------------------------------------------------------------------


def test_a_client_that_comes_back_gets_its_sid_rooms_data_and_missed_events_in_order(
    recovering: SocketIOServer,
) -> None:
    connected = Recorder()
    recovering.on("connect", connected)
    first = Peer(recovering)
    sid = first.connect()
    recovering.enter_room(sid, "red")
    socket = recovering.get_socket(sid)
    assert socket is not None
    socket.user_data["user"] = "ann"
    recovering.emit("seen", 0)
    offset = events(first)[-1][-1]
    pid = connect_reply(first)["pid"]
    first.eio.lose(CloseReason.TRANSPORT_CLOSE)
    recovering.emit("missed", 1)
    recovering.emit("for-red", 2, to="red")
    recovering.emit("for-blue", 3, to="blue")
    recovering.emit("not-red", 4, skip_sid="red")
    recovering.emit("direct", 5, to=sid)
    second = come_back(recovering, pid, offset, token="t")
    reply = connect_reply(second)
    assert reply == {"sid": sid, "pid": pid}
    assert [e[:2] for e in events(second)] == [["missed", 1], ["for-red", 2], ["direct", 5]]
    assert second.wire[0].startswith("40")  # the CONNECT reply first, then the events
    assert recovering.rooms(sid) == [sid, "red"]
    restored = recovering.get_socket(sid)
    assert restored is not None
    assert restored.recovered
    assert restored.user_data == {"user": "ann"}
    # The connect handler runs again, with the auth the client sent.
    assert connected.calls[-1] == (sid, {"pid": pid, "offset": offset, "token": "t"})
    # The recovered socket keeps the same pid and gets offsets as before.
    recovering.emit("after", 6)
    assert events(second)[-1][:2] == ["after", 6]


def test_a_session_is_restored_once(recovering: SocketIOServer) -> None:
    first = Peer(recovering)
    first.connect()
    recovering.emit("seen")
    offset, pid = events(first)[-1][-1], connect_reply(first)["pid"]
    first.eio.lose()
    second = come_back(recovering, pid, offset)
    third = come_back(recovering, pid, offset)
    assert connect_reply(second)["sid"] != connect_reply(third)["sid"]
    assert recovering.get_socket(connect_reply(third)["sid"]).recovered is False  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "reason",
    [CloseReason.TRANSPORT_CLOSE, CloseReason.TRANSPORT_ERROR, CloseReason.PING_TIMEOUT,
     CloseReason.SERVER_SHUTDOWN],
)  # fmt: skip
def test_sessions_are_kept_for_reasons_that_may_be_temporary(
    recovering: SocketIOServer, reason: CloseReason
) -> None:
    first = Peer(recovering)
    sid = first.connect()
    recovering.emit("seen")
    offset, pid = events(first)[-1][-1], connect_reply(first)["pid"]
    first.eio.lose(reason)
    assert connect_reply(come_back(recovering, pid, offset))["sid"] == sid


def test_a_client_or_server_disconnect_ends_the_session(recovering: SocketIOServer) -> None:
    a, b = Peer(recovering), Peer(recovering)
    sid_a, sid_b = a.connect(), b.connect()
    recovering.emit("seen")
    offset = events(a)[-1][-1]
    pid_a, pid_b = connect_reply(a)["pid"], connect_reply(b)["pid"]
    a.send("41")  # the client leaves
    recovering.disconnect(sid_b)  # the server sends it away
    assert recovering.recovery is not None
    assert len(recovering.recovery) == 0
    assert connect_reply(come_back(recovering, pid_a, offset))["sid"] != sid_a
    assert connect_reply(come_back(recovering, pid_b, offset))["sid"] != sid_b


# -- bounds -----------------------------------------------------------------------------------


def test_past_the_window_the_client_gets_a_new_session(
    recovering: SocketIOServer, clock: ManualClock
) -> None:
    first = Peer(recovering)
    sid = first.connect()
    recovering.emit("seen")
    offset, pid = events(first)[-1][-1], connect_reply(first)["pid"]
    first.eio.lose()
    clock.advance(61)
    assert recovering.recovery is not None
    assert len(recovering.recovery) == 0  # swept by its deadline
    second = come_back(recovering, pid, offset)
    reply = connect_reply(second)
    assert reply["sid"] != sid
    assert reply["pid"] != pid
    assert events(second) == []


def test_a_client_that_missed_more_than_max_packets_gets_a_new_session(
    recovering: SocketIOServer,
) -> None:
    first = Peer(recovering)
    sid = first.connect()
    recovering.emit("seen")
    offset, pid = events(first)[-1][-1], connect_reply(first)["pid"]
    first.eio.lose()
    for n in range(6):  # the log keeps 6: "seen" falls out
        recovering.emit("missed", n)
    assert recovering.recovery is not None
    assert recovering.recovery.logged("/") == 6
    assert connect_reply(come_back(recovering, pid, offset))["sid"] != sid


def test_exactly_max_packets_missed_are_all_replayed(recovering: SocketIOServer) -> None:
    first = Peer(recovering)
    sid = first.connect()
    recovering.emit("seen")
    offset, pid = events(first)[-1][-1], connect_reply(first)["pid"]
    first.eio.lose()
    for n in range(5):  # with "seen", the 6 the log keeps
        recovering.emit("missed", n)
    second = come_back(recovering, pid, offset)
    assert connect_reply(second)["sid"] == sid
    assert [e[1] for e in events(second)] == [0, 1, 2, 3, 4]


def test_events_older_than_the_window_are_forgotten(
    recovering: SocketIOServer, clock: ManualClock
) -> None:
    peer = Peer(recovering)
    peer.connect()
    recovering.emit("old")
    clock.advance(61)
    assert recovering.recovery is not None
    assert recovering.recovery.logged("/") == 0
    assert clock.pending == 0  # nothing left to sweep: no timer stays armed


@pytest.mark.parametrize(
    "offset", ["unknown", "", "abc-zz", "-1"], ids=["unknown", "empty", "not-hex", "negative"]
)
def test_offsets_that_are_not_ours_give_a_new_session(
    recovering: SocketIOServer, offset: str
) -> None:
    first = Peer(recovering)
    sid = first.connect()
    recovering.emit("seen")
    pid = connect_reply(first)["pid"]
    first.eio.lose()
    assert connect_reply(come_back(recovering, pid, offset))["sid"] != sid


def test_malformed_recovery_auth_is_a_plain_connect(recovering: SocketIOServer) -> None:
    for auth in ({"pid": 1, "offset": "x"}, {"pid": "x"}, {"pid": None, "offset": 3}):
        peer = Peer(recovering)
        peer.send_packet(Packet(PacketType.CONNECT, "/", auth))
        assert "sid" in connect_reply(peer)


# -- middlewares ------------------------------------------------------------------------------


def _leave_and_return(server: SocketIOServer) -> tuple[str, Peer]:
    first = Peer(server)
    sid = first.connect("/", {"ok": True})
    server.emit("seen")
    offset, pid = events(first)[-1][-1], connect_reply(first)["pid"]
    first.eio.lose()
    return sid, come_back(server, pid, offset)


def test_a_recovered_client_skips_the_middlewares_by_default(recovering: SocketIOServer) -> None:
    calls: list[Any] = []

    def guard(sid: str, auth: Any) -> None:
        calls.append(auth)
        if not auth.get("ok"):
            raise ConnectionRefusedError("no")

    recovering.registry.use("/", guard)
    sid, second = _leave_and_return(recovering)
    assert connect_reply(second)["sid"] == sid
    assert len(calls) == 1


def test_middlewares_run_for_recovered_clients_when_asked(make_server: Make) -> None:
    server = make_server(recovery=RecoveryOptions(skip_middlewares=False))

    def guard(sid: str, auth: Any) -> None:
        if not auth.get("ok"):
            raise ConnectionRefusedError("no")

    server.registry.use("/", guard)
    _sid, second = _leave_and_return(server)
    assert json.loads(str(second.wire[0])[2:]) == {"message": "no"}


# -- options ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (False, None),
        (True, RecoveryOptions()),
        ({"max_disconnection_duration": 5}, RecoveryOptions(max_disconnection_duration=5)),
        ({"skip_middlewares": False, "max_packets": 9},
         RecoveryOptions(skip_middlewares=False, max_packets=9)),
    ],
)  # fmt: skip
def test_the_setting(value: Any, expected: RecoveryOptions | None) -> None:
    assert RecoveryOptions.from_setting(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"max_disconection_duration": 5}, "did you mean max_disconnection_duration"),
        ({"maxDisconnectionDuration": 5}, "has no 'maxDisconnectionDuration'"),
        ({"max_disconnection_duration": 0}, "positive number of seconds"),
        ({"max_disconnection_duration": True}, "positive number of seconds"),
        ({"max_packets": 0}, "positive int"),
        ({"skip_middlewares": "yes"}, "True or False"),
        (120, "True, False, None or a dict"),
    ],
)
def test_bad_settings_are_clear_errors(value: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        RecoveryOptions.from_setting(value)


# -- a backend that answers later (a broker) ------------------------------------------------


class LaterStore(SessionStore):
    """The in-memory store, answering restores only when the test says so."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.waiting: list[Callable[[], None]] = []

    def restore(self, namespace: str, pid: str, offset: str, done: Any) -> None:
        self.waiting.append(lambda: done(self.find(namespace, pid, offset)))


@pytest.fixture
def later(make_server: Make, clock: ManualClock) -> tuple[SocketIOServer, LaterStore]:
    server = make_server(recovery=RecoveryOptions())
    store = LaterStore(RecoveryOptions(), clock.deadlines, clock.time)
    server.recovery = store
    return server, store


def _left(server: SocketIOServer) -> tuple[str, str, str]:
    first = Peer(server)
    sid = first.connect()
    server.emit("seen")
    offset, pid = events(first)[-1][-1], connect_reply(first)["pid"]
    first.eio.lose()
    return sid, pid, offset


def test_a_later_answer_makes_the_socket_then(later: tuple[SocketIOServer, LaterStore]) -> None:
    server, store = later
    sid, pid, offset = _left(server)
    server.emit("missed")
    peer = come_back(server, pid, offset)
    assert peer.wire == []  # nothing until the backend answers
    store.waiting.pop()()
    assert connect_reply(peer) == {"sid": sid, "pid": pid}
    assert [e[0] for e in events(peer)] == ["missed"]


def test_a_second_connect_while_restoring_is_a_violation(
    later: tuple[SocketIOServer, LaterStore],
) -> None:
    server, _store = later
    _sid, pid, offset = _left(server)
    peer = come_back(server, pid, offset)
    peer.send_packet(Packet(PacketType.CONNECT, "/", None))
    assert peer.eio.close_reasons == [CloseReason.TRANSPORT_ERROR]


def test_a_client_that_leaves_while_restoring_gets_nothing(
    later: tuple[SocketIOServer, LaterStore],
) -> None:
    server, store = later
    sid, pid, offset = _left(server)
    peer = come_back(server, pid, offset)
    peer.eio.lose()
    store.waiting.pop()()
    assert peer.wire == []
    assert server.get_socket(sid) is None


def test_an_emit_that_cannot_be_encoded_is_not_kept_for_replay(
    recovering: SocketIOServer,
) -> None:
    first = Peer(recovering)
    first.connect()
    recovering.emit("seen")
    offset, pid = events(first)[-1][-1], connect_reply(first)["pid"]
    first.eio.lose()
    recovering.emit("bad", object())  # to nobody: not encoded, so not refused either
    recovering.emit("good", 1)
    second = come_back(recovering, pid, offset)
    assert connect_reply(second)["pid"] == pid
    assert [e[:2] for e in events(second)] == [["good", 1]]


def test_binary_events_are_replayed_with_their_attachments(recovering: SocketIOServer) -> None:
    first = Peer(recovering)
    first.connect()
    recovering.emit("seen")
    offset, pid = events(first)[-1][-1], connect_reply(first)["pid"]
    first.eio.lose()
    recovering.emit("blob", b"\x00\x01", {"nested": b"\xff"})
    second = come_back(recovering, pid, offset)
    assert connect_reply(second)["pid"] == pid
    (blob,) = [p for p in second.packets() if p.type is PacketType.BINARY_EVENT]
    assert blob.data[:3] == ["blob", b"\x00\x01", {"nested": b"\xff"}]
    assert isinstance(blob.data[3], str)  # the offset, after the attachments' arguments
