"""The JSON Socket.IO parser (protocol/parsers.py): the examples of the protocol specs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from flask_realtime.protocol.parsers import JsonParser
from flask_realtime.protocol.socketio import Packet

from .parsers_support import BUF, PARSERS, PH0, PH1, T, feed_all


@pytest.fixture(params=sorted(PARSERS))
def make_parser(request: pytest.FixtureRequest) -> Callable[..., JsonParser]:
    return PARSERS[request.param]


# Every example of docs/socket.io-protocol/v5-current.md (socketio/socket.io).
SPEC_V5: list[tuple[Packet, list[str | bytes]]] = [
    # "Packet encoding / Examples"
    (Packet(T.CONNECT), ["0"]),
    (
        Packet(T.CONNECT, "/admin", {"sid": "oSO0OpakMV_3jnilAAAA"}),
        ['0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}'],
    ),
    (
        Packet(T.CONNECT_ERROR, "/", {"message": "Not authorized"}),
        ['4{"message":"Not authorized"}'],
    ),
    (Packet(T.EVENT, "/", ["foo"]), ['2["foo"]']),
    (Packet(T.EVENT, "/admin", ["bar"]), ['2/admin,["bar"]']),
    (Packet(T.BINARY_EVENT, "/", ["baz", BUF]), [f'51-["baz",{PH0}]', BUF]),
    (
        Packet(T.BINARY_EVENT, "/admin", ["baz", b"\x01\x02", b"\x03\x04"]),
        [f'52-/admin,["baz",{PH0},{PH1}]', b"\x01\x02", b"\x03\x04"],
    ),
    (Packet(T.EVENT, "/", ["foo"], 12), ['212["foo"]']),
    (Packet(T.ACK, "/admin", ["bar"], 13), ['3/admin,13["bar"]']),
    (Packet(T.BINARY_ACK, "/", ["bar", BUF], 15), [f'61-15["bar",{PH0}]', BUF]),
    (Packet(T.DISCONNECT), ["1"]),
    (Packet(T.DISCONNECT, "/admin"), ["1/admin,"]),
    # "Exchange protocol" and "Sample session"
    (Packet(T.CONNECT, "/", {"sid": "wZX3oN0bSVIhsaknAAAI"}), ['0{"sid":"wZX3oN0bSVIhsaknAAAI"}']),
    (Packet(T.CONNECT, "/admin", {"token": "123"}), ['0/admin,{"token":"123"}']),
    (Packet(T.ACK, "/", [], 12), ["312[]"]),
    (Packet(T.EVENT, "/", ["hey", "Jude"]), ['2["hey","Jude"]']),
    (Packet(T.CONNECT, "/admin"), ["0/admin,"]),
    (
        Packet(T.CONNECT, "/admin", {"sid": "-G5j-67EZFp-q59rADQM"}),
        ['0/admin,{"sid":"-G5j-67EZFp-q59rADQM"}'],
    ),
    (Packet(T.EVENT, "/admin", ["tellme"], 1), ['2/admin,1["tellme"]']),
    (Packet(T.BINARY_ACK, "/admin", [BUF], 1), [f"61-/admin,1[{PH0}]", BUF]),
]

# Every example of docs/socket.io-protocol/v4.md (socketio/socket.io).
SPEC_V4: list[tuple[Packet, list[str | bytes]]] = [
    (Packet(T.CONNECT), ["0"]),
    (Packet(T.CONNECT, "/admin"), ["0/admin,"]),
    (Packet(T.DISCONNECT, "/admin"), ["1/admin,"]),
    (Packet(T.EVENT, "/", ["hello", 1]), ['2["hello",1]']),
    (
        Packet(T.EVENT, "/admin", ["project:delete", 123], 456),
        ['2/admin,456["project:delete",123]'],
    ),
    (Packet(T.ACK, "/admin", [], 456), ["3/admin,456[]"]),
    (Packet(T.CONNECT_ERROR, "/admin", "Not authorized"), ['4/admin,"Not authorized"']),
    (
        Packet(T.BINARY_EVENT, "/", ["hello", b"\x01\x02\x03"]),
        [f'51-["hello",{PH0}]', b"\x01\x02\x03"],
    ),
    (
        Packet(T.BINARY_EVENT, "/admin", ["project:delete", b"\x01\x02\x03"], 456),
        [f'51-/admin,456["project:delete",{PH0}]', b"\x01\x02\x03"],
    ),
    (
        Packet(T.BINARY_ACK, "/admin", [b"\x03\x02\x01"], 456),
        [f"61-/admin,456[{PH0}]", b"\x03\x02\x01"],
    ),
    # "CONNECT": extra information in the namespace, exposed as the packet's query
    (
        Packet(T.CONNECT, "/admin", query="token=1234&uid=abcd"),
        ["0/admin?token=1234&uid=abcd,"],
    ),
    (Packet(T.EVENT, "/", ["hello"]), ['2["hello"]']),
    (Packet(T.BINARY_ACK, "/admin", [BUF], 1), [f"61-/admin,1[{PH0}]", BUF]),
]


@pytest.mark.parametrize(("packet", "wire"), SPEC_V5)
def test_v5_spec_example(
    make_parser: Callable[..., JsonParser], packet: Packet, wire: list[str | bytes]
) -> None:
    parser = make_parser()
    assert parser.encode(packet) == wire
    assert feed_all(parser, wire) == packet


@pytest.mark.parametrize(("packet", "wire"), SPEC_V4)
def test_v4_spec_example(
    make_parser: Callable[..., JsonParser], packet: Packet, wire: list[str | bytes]
) -> None:
    parser = make_parser(version=4)
    assert parser.encode(packet) == wire
    assert feed_all(parser, wire) == packet


def test_v4_query_on_the_default_namespace() -> None:
    parser = JsonParser(version=4)
    packet = feed_all(parser, ["0/?token=abc"])
    assert packet == Packet(T.CONNECT, "/", query="token=abc")
    assert parser.encode(packet) == ["0/?token=abc,"]


def test_v5_keeps_a_question_mark_in_the_namespace() -> None:
    assert feed_all(JsonParser(), ["0/admin?x=1,"]) == Packet(T.CONNECT, "/admin?x=1")


def test_v4_splits_the_query_of_connect_only() -> None:
    parser = JsonParser(version=4)
    assert feed_all(parser, ['2/a?b,["x"]']).namespace == "/a?b"
