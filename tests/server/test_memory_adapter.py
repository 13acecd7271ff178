"""The in-memory adapter: membership, selection, encode once and write many."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from flask_realtime.engine.message import OutgoingMessage
from flask_realtime.engine.socket import CloseReason
from flask_realtime.exceptions import ConfigurationError
from flask_realtime.protocol.parsers import JsonParser
from flask_realtime.protocol.socketio import Packet, PacketType
from flask_realtime.server import BroadcastOptions, InMemoryAdapter, Socket, SocketIOServer

from .fakes import Peer, Recorder


class CountingParser(JsonParser):
    """The JSON parser, counting its encode calls."""

    def __init__(self) -> None:
        super().__init__()
        self.encoded = 0

    def encode(self, packet: Packet) -> list[str | bytes]:
        self.encoded += 1
        return super().encode(packet)

    def encode_event(
        self, namespace: str, data: list[Any], ack_id: int | None = None
    ) -> list[str | bytes]:
        self.encoded += 1  # its own encoding (no bytes in these tests: no encode() inside)
        return super().encode_event(namespace, data, ack_id)


def event(*data: Any) -> Packet:
    return Packet(PacketType.EVENT, "/", list(data))


def opts(
    rooms: tuple[str, ...] = (), skip: tuple[str, ...] = (), **flags: bool
) -> BroadcastOptions:
    return BroadcastOptions(frozenset(rooms), frozenset(skip), **flags)


@pytest.fixture
def counting() -> CountingParser:
    return CountingParser()


@pytest.fixture
def crowd(
    make_server: Callable[..., SocketIOServer], counting: CountingParser
) -> tuple[SocketIOServer, list[Peer], list[str]]:
    server = make_server(parser=counting)
    peers = [Peer(server) for _ in range(50)]
    sids = [peer.connect() for peer in peers]
    for peer in peers:
        peer.clear()
    counting.encoded = 0
    return server, peers, sids


def test_a_broadcast_encodes_once_and_writes_the_same_message_to_everyone(
    crowd: tuple[SocketIOServer, list[Peer], list[str]], counting: CountingParser
) -> None:
    server, peers, _sids = crowd
    server.emit("news", {"n": 1})
    assert counting.encoded == 1
    [message] = peers[0].eio.sent
    assert message.data == '2["news",{"n":1}]'
    assert all(peer.eio.sent == [message] and peer.eio.sent[0] is message for peer in peers)


def test_a_binary_broadcast_encodes_once_too(
    crowd: tuple[SocketIOServer, list[Peer], list[str]], counting: CountingParser
) -> None:
    server, peers, sids = crowd
    server.enter_room(sids[0], "r")
    server.enter_room(sids[1], "r")
    server.emit("blob", b"\x01", b"\x02", to=["r", sids[2]])
    assert counting.encoded == 1
    first = peers[0].eio.sent
    assert [m.data for m in first] == [
        '52-["blob",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
        b"\x01",
        b"\x02",
    ]
    for peer in peers[1:3]:
        assert all(a is b for a, b in zip(peer.eio.sent, first, strict=True))
    assert all(peer.eio.sent == [] for peer in peers[3:])


def test_a_broadcast_with_acks_encodes_once(
    crowd: tuple[SocketIOServer, list[Peer], list[str]], counting: CountingParser
) -> None:
    server, peers, _sids = crowd
    answered = Recorder()
    server.emit("poll", callback=answered)
    assert counting.encoded == 1
    for peer in peers:
        peer.send('430["ok"]')
    assert len(answered.calls) == 50


def test_a_single_emit_encodes_once(
    crowd: tuple[SocketIOServer, list[Peer], list[str]], counting: CountingParser
) -> None:
    server, peers, sids = crowd
    server.emit("direct", to=sids[7])
    assert counting.encoded == 1
    assert peers[7].take() == ['42["direct"]']


def test_recipients_are_chosen_before_the_first_write(server: SocketIOServer) -> None:
    first, second = Peer(server), Peer(server)
    first.connect()
    second.connect()
    first.clear()
    second.clear()
    gone = Recorder()
    server.on("disconnect", gone)

    # Writing to the first client makes the engine drop the second one, synchronously.
    def drop_other(message: OutgoingMessage) -> None:
        if not second.eio.closed:
            second.eio.lose(CloseReason.TRANSPORT_ERROR)

    first.eio.on_send = drop_other
    server.emit("news")
    server.emit("more")
    assert len(gone.calls) == 1
    assert first.take() == ['42["news"]', '42["more"]']


def test_membership(server: SocketIOServer) -> None:
    adapter = server.adapter
    assert isinstance(adapter, InMemoryAdapter)
    peer = Peer(server)
    sid = peer.connect()
    socket = server.get_socket(sid)
    assert socket is not None
    adapter.add(socket, "a")
    adapter.add(socket, "b")
    adapter.add(socket, "a")
    assert adapter.rooms("/", sid) == [sid, "a", "b"]
    assert adapter.room_members("/", "a") == [sid]
    adapter.remove(socket, "a")
    adapter.remove(socket, "a")
    assert adapter.room_members("/", "a") == []
    assert adapter.rooms("/", sid) == [sid, "b"]
    adapter.remove_all(socket)
    adapter.remove_all(socket)
    adapter.remove(socket, "b")
    assert adapter.rooms("/", sid) == []
    assert adapter.room_members("/", "b") == []
    assert adapter.local_sockets("/", opts()) == []


def test_removing_an_unknown_socket_does_nothing(server: SocketIOServer) -> None:
    first, second = Peer(server), Peer(server)
    sid = first.connect()
    other = second.connect()
    socket = server.get_socket(sid)
    assert socket is not None
    server.adapter.remove_all(socket)
    server.adapter.remove_all(socket)
    assert server.adapter.rooms("/", other) == [other]


def test_selection(server: SocketIOServer) -> None:
    adapter = server.adapter
    peers = [Peer(server) for _ in range(4)]
    sids = [peer.connect() for peer in peers]
    sockets = [server.get_socket(sid) for sid in sids]
    for i in (0, 1):
        server.enter_room(sids[i], "x")
    for i in (1, 2):
        server.enter_room(sids[i], "y")

    def chosen(o: BroadcastOptions) -> list[Socket | None]:
        return adapter.local_sockets("/", o)

    assert chosen(opts()) == sockets
    assert chosen(opts(("x",))) == sockets[0:2]
    assert chosen(opts(("x", "y"))) in (sockets[0:3], [sockets[1], sockets[2], sockets[0]])
    assert sorted(map(id, chosen(opts(("x", "y"))))) == sorted(map(id, sockets[0:3]))
    assert chosen(opts(("x",), (sids[0],))) == sockets[1:2]
    assert chosen(opts((), ("x",))) == sockets[2:4]
    assert chosen(opts((), ("x", "y"))) == sockets[3:4]
    assert chosen(opts((), ("nobody", "none"))) == sockets
    assert chosen(opts(("nobody",))) == []
    assert adapter.local_sockets("/none", opts()) == []


def test_join_leave_and_disconnect_a_selection(server: SocketIOServer) -> None:
    adapter = server.adapter
    gone = Recorder()
    server.on("disconnect", gone)
    peers = [Peer(server) for _ in range(3)]
    sids = [peer.connect() for peer in peers]
    adapter.add_sockets("/", opts((), (sids[2],)), iter(["a", "b"]))
    assert [adapter.rooms("/", sid) for sid in sids] == [
        [sids[0], "a", "b"],
        [sids[1], "a", "b"],
        [sids[2]],
    ]
    adapter.del_sockets("/", opts(("a",)), iter(["a", "b"]))
    assert [adapter.rooms("/", sid) for sid in sids] == [[sid] for sid in sids]
    adapter.disconnect_sockets("/", opts((sids[0], sids[1])), close=False)
    assert sorted(call[0] for call in gone.calls) == sorted(sids[0:2])
    assert peers[0].wire[-1] == "41"
    adapter.disconnect_sockets("/", opts(), close=True)
    assert peers[2].eio.close_reasons == [CloseReason.SERVER_DISCONNECT]


def test_operations_on_an_empty_namespace_do_nothing(server: SocketIOServer) -> None:
    adapter = server.adapter
    adapter.broadcast("/none", event("x"), opts())
    assert adapter.broadcast_with_ack("/none", event("x"), opts(), lambda s: None) == 0
    adapter.add_sockets("/none", opts(), ["a"])
    adapter.del_sockets("/none", opts(), ["a"])
    adapter.disconnect_sockets("/none", opts(), close=True)
    assert adapter.rooms("/none", "sid") == []


def test_broadcast_with_ack_counts_and_reports_each_recipient(server: SocketIOServer) -> None:
    peers = [Peer(server) for _ in range(3)]
    sids = [peer.connect() for peer in peers]
    seen: list[str] = []
    count = server.adapter.broadcast_with_ack(
        "/",
        Packet(PacketType.EVENT, "/", ["q"], 9),
        opts((), (sids[1],)),
        lambda s: seen.append(s.sid),
    )
    assert count == 2
    assert seen == [sids[0], sids[2]]
    assert peers[0].wire[-1] == '429["q"]'


async def test_an_unbound_adapter_says_so_and_the_hooks_are_harmless() -> None:
    adapter = InMemoryAdapter()
    with pytest.raises(ConfigurationError):
        _ = adapter.host
    await adapter.open()
    await adapter.close()
