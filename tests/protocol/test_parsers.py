"""The JSON Socket.IO parser (protocol/parsers.py)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flask_realtime.exceptions import ConfigurationError, ProtocolError
from flask_realtime.protocol.parsers import (
    DEFAULT_MAX_ATTACHMENTS,
    JsonParser,
    default_json,
)
from flask_realtime.protocol.socketio import Packet, PacketType

from .strategies import as_encoded, sio_packets

T = PacketType
BUF = b"\x01\x02\x03\x04"
PH0 = '{"_placeholder":true,"num":0}'
PH1 = '{"_placeholder":true,"num":1}'


def stdlib_parser(**options: Any) -> JsonParser:
    """A parser made where orjson cannot be imported: the stdlib fallback."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "orjson", None)
        return JsonParser(**options)


PARSERS: dict[str, Callable[..., JsonParser]] = {"orjson": JsonParser, "stdlib": stdlib_parser}


@pytest.fixture(params=sorted(PARSERS))
def make_parser(request: pytest.FixtureRequest) -> Callable[..., JsonParser]:
    return PARSERS[request.param]


def feed_all(parser: JsonParser, pieces: list[str | bytes]) -> Packet:
    """Feed every piece; the last one must complete the packet, the others must not."""
    decoder = parser.decoder()
    for piece in pieces[:-1]:
        assert decoder.feed(piece) is None
    packet = decoder.feed(pieces[-1])
    assert packet is not None
    return packet


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


# Encoding ------------------------------------------------------------------------------


def test_encoder_picks_the_binary_type_by_itself(make_parser: Callable[..., JsonParser]) -> None:
    parser = make_parser()
    assert parser.encode(Packet(T.EVENT, "/", ["a", BUF])) == [f'51-["a",{PH0}]', BUF]
    assert parser.encode(Packet(T.ACK, "/", [BUF], 2)) == [f"61-2[{PH0}]", BUF]
    assert parser.encode(Packet(T.BINARY_EVENT, "/", ["a"])) == ['2["a"]']
    assert parser.encode(Packet(T.BINARY_ACK, "/", [], 2)) == ["32[]"]


def test_encoder_output_is_compact_and_not_ascii_escaped(
    make_parser: Callable[..., JsonParser],
) -> None:
    packet = Packet(T.EVENT, "/", ["chat", {"text": "€ 😀", "n": [1, 2.5, None, True]}])
    assert make_parser().encode(packet) == ['2["chat",{"text":"€ 😀","n":[1,2.5,null,true]}]']


def test_encoder_turns_tuples_into_arrays_and_int_keys_into_strings(
    make_parser: Callable[..., JsonParser],
) -> None:
    parser = make_parser()
    assert parser.encode(Packet(T.EVENT, "/", ["a", (1, 2), {1: "x"}])) == [
        '2["a",[1,2],{"1":"x"}]'
    ]
    assert parser.encode(Packet(T.EVENT, "/", ["a", (BUF,)])) == [f'51-["a",[{PH0}]]', BUF]


def test_encoder_sends_buffers_as_bytes() -> None:
    pieces = JsonParser().encode(Packet(T.EVENT, "/", ["a", bytearray(b"\x01"), memoryview(b"2")]))
    assert pieces == [f'52-["a",{PH0},{PH1}]', b"\x01", b"2"]
    assert all(type(piece) is bytes for piece in pieces[1:])


@pytest.mark.parametrize(
    "packet",
    [
        Packet(T.EVENT, "/", ["a", object()]),
        Packet(T.EVENT, "/", ["a", BUF, object()]),
        Packet(T.ACK, "/", [{1j: 1}]),
        Packet(T.CONNECT, "/", {"token": BUF}),
        Packet(T.CONNECT_ERROR, "/", {"message": object()}),
    ],
)
def test_unserialisable_data_is_a_configuration_error(
    make_parser: Callable[..., JsonParser], packet: Packet
) -> None:
    with pytest.raises(ConfigurationError, match="cannot serialise packet data"):
        make_parser().encode(packet)


def test_nan_is_null_with_orjson_and_refused_by_the_stdlib() -> None:
    packet = Packet(T.EVENT, "/", ["a", float("nan")])
    assert JsonParser().encode(packet) == ['2["a",null]']
    with pytest.raises(ConfigurationError):
        stdlib_parser().encode(packet)


def test_data_nested_too_deeply_is_a_configuration_error() -> None:
    data: list[Any] = [BUF]
    for _ in range(5000):
        data = [data]
    with pytest.raises(ConfigurationError):
        JsonParser().encode(Packet(T.EVENT, "/", ["deep", data]))


def test_custom_json_functions_are_used() -> None:
    def dumps(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), sort_keys=True)

    loaded: list[str] = []

    def loads(text: str) -> Any:
        loaded.append(text)
        return json.loads(text)

    parser = JsonParser(dumps, loads)
    assert parser.encode(Packet(T.EVENT, "/", ["a", {"b": 1, "a": 2}])) == ['2["a",{"a":2,"b":1}]']
    assert parser.encode(Packet(T.EVENT, "/", ["a", BUF])) == [f'51-["a",{PH0}]', BUF]
    assert feed_all(parser, ['2["x"]']) == Packet(T.EVENT, "/", ["x"])
    assert loaded == ['["x"]']


def test_custom_dumps_that_serialises_bytes_still_sends_attachments() -> None:
    def dumps(value: Any) -> str:
        return json.dumps(value, default=lambda o: o.hex(), separators=(",", ":"))

    parser = JsonParser(dumps)
    assert parser.encode(Packet(T.EVENT, "/", ["a", BUF])) == [f'51-["a",{PH0}]', BUF]


def test_custom_loads_failure_is_a_protocol_error() -> None:
    def loads(text: str) -> Any:
        raise KeyError(text)

    with pytest.raises(ProtocolError, match="invalid JSON"):
        JsonParser(loads=loads).decoder().feed('2["a"]')


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"version": 3}, "version must be 4 or 5"),
        ({"max_attachments": -1}, "max_attachments must be a non-negative int"),
        ({"max_attachments": 1.5}, "max_attachments must be a non-negative int"),
        ({"dumps": lambda value: json.dumps(value).encode()}, "must return str"),
    ],
)
def test_bad_options_are_configuration_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        JsonParser(**options)


def test_default_json_is_orjson_when_importable_else_the_stdlib() -> None:
    dumps, loads = default_json()
    assert dumps({"a": "€"}) == '{"a":"€"}'
    assert loads('{"a":"€"}') == {"a": "€"}
    assert loads.__module__ == "orjson"
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "orjson", None)
        dumps, loads = default_json()
    assert dumps({"a": "€", 1: [1.5]}) == '{"a":"€","1":[1.5]}'
    assert loads('{"a":"€"}') == {"a": "€"}
    with pytest.raises(ValueError, match="NaN is not JSON"):
        loads("[NaN]")
    with pytest.raises(TypeError):
        dumps(BUF)


# Decoding ------------------------------------------------------------------------------


def test_decoder_returns_the_type_on_the_wire() -> None:
    assert feed_all(JsonParser(), [f'51-["a",{PH0}]', BUF]).type is T.BINARY_EVENT
    assert feed_all(JsonParser(), ['2["a"]']).type is T.EVENT


def test_decoder_counts_attachments_still_due() -> None:
    decoder = JsonParser().decoder()
    assert decoder.awaiting == 0
    assert decoder.feed(f'52-["a",{PH0},{PH1}]') is None
    assert decoder.awaiting == 2
    assert decoder.feed(b"x") is None
    assert decoder.awaiting == 1
    assert decoder.feed(b"y") == Packet(T.BINARY_EVENT, "/", ["a", b"x", b"y"])
    assert decoder.awaiting == 0
    assert decoder.feed('2["next"]') == Packet(T.EVENT, "/", ["next"])


def test_text_while_attachments_are_due_is_refused_and_resets() -> None:
    decoder = JsonParser().decoder()
    decoder.feed(f'51-["a",{PH0}]')
    with pytest.raises(ProtocolError, match=r"text packet while 1 binary attachment\(s\)"):
        decoder.feed('2["b"]')
    assert decoder.awaiting == 0
    assert decoder.feed('2["b"]') == Packet(T.EVENT, "/", ["b"])


def test_binary_message_when_none_is_due_is_refused() -> None:
    with pytest.raises(ProtocolError, match="no binary attachment was due"):
        JsonParser().decoder().feed(BUF)


def test_binary_packet_with_zero_attachments_is_complete_at_once() -> None:
    decoder = JsonParser().decoder()
    assert decoder.feed('50-["a",1]') == Packet(T.BINARY_EVENT, "/", ["a", 1])
    with pytest.raises(ProtocolError, match="does not name one of the 0 attachments"):
        decoder.feed(f'50-["a",{PH0}]')


def test_attachment_count_is_bounded() -> None:
    wire = "5" + str(DEFAULT_MAX_ATTACHMENTS) + '-["a"]'
    assert JsonParser().decoder().feed(wire) is None
    with pytest.raises(ProtocolError, match="more than the limit of 2"):
        JsonParser(max_attachments=2).decoder().feed('53-["a"]')


def test_wrong_placeholder_after_all_attachments_is_refused() -> None:
    decoder = JsonParser().decoder()
    decoder.feed('51-["a",{"_placeholder":true,"num":1}]')
    with pytest.raises(ProtocolError, match="does not name one of the 1 attachments"):
        decoder.feed(BUF)


def test_placeholder_in_a_plain_event_is_plain_data() -> None:
    # As Node: only binary packets are reconstructed.
    packet = feed_all(JsonParser(), [f'2["a",{PH0}]'])
    assert packet.data == ["a", {"_placeholder": True, "num": 0}]


MALFORMED: list[tuple[str, str]] = [
    ("", "empty Socket.IO packet"),
    ("7", "unknown Socket.IO packet type"),
    ("a", "unknown Socket.IO packet type"),
    ("/", "unknown Socket.IO packet type"),
    ("5", "invalid attachment count"),
    ('5-["a"]', "invalid attachment count"),
    ('5x-["a"]', "invalid attachment count"),
    ('5\u0661-["a"]', "invalid attachment count"),  # ARABIC-INDIC DIGIT ONE
    ('5²-["a"]', "invalid attachment count"),
    ('512345678901-["a"]', "invalid attachment count"),
    ('511-["a"]', "more than the limit of 10"),
    ("2", "EVENT payload must be a non-empty array"),
    ("2/admin", "EVENT payload must be a non-empty array"),
    ('2/admin["a"]', "EVENT payload must be a non-empty array"),
    ("2/admin,", "EVENT payload must be a non-empty array"),
    ("2[]", "EVENT payload must be a non-empty array"),
    ('2{"a":1}', "EVENT payload must be a non-empty array"),
    ("2[1]", "EVENT name must be a string"),
    ('2["connect"]', "reserved"),
    ("3", "ACK payload must be an array"),
    ("3{}", "ACK payload must be an array"),
    ("0[]", "CONNECT payload must be an object or nothing"),
    ('0"token"', "CONNECT payload must be an object or nothing"),
    ("1{}", "DISCONNECT packet carries no payload"),
    ("4", "CONNECT_ERROR payload must be a string or an object"),
    ("4[]", "CONNECT_ERROR payload must be a string or an object"),
    ("2null", "null payload"),
    ("0null", "null payload"),
    ('2["a"', "invalid JSON"),
    ("2abc", "invalid JSON"),
    ('2/admin,x["a"]', "invalid JSON"),
    ("2[NaN]", "invalid JSON"),
    ('21a["a"]', "invalid JSON"),
    ('2["a"] x', "invalid JSON"),
    ('212345678901234567["a"]', "ack id too long"),
]


@pytest.mark.parametrize(("wire", "message"), MALFORMED)
def test_malformed_packet_is_refused(
    make_parser: Callable[..., JsonParser], wire: str, message: str
) -> None:
    with pytest.raises(ProtocolError, match=message):
        make_parser().decoder().feed(wire)


def test_v4_refuses_connect_data() -> None:
    with pytest.raises(ProtocolError, match="nothing in protocol v4"):
        JsonParser(version=4).decoder().feed('0{"token":"x"}')


def test_error_messages_quote_only_an_excerpt() -> None:
    with pytest.raises(ProtocolError) as info:
        JsonParser().decoder().feed('2["' + "x" * 10_000)
    assert len(str(info.value)) < 100


def test_deeply_nested_json_is_refused(make_parser: Callable[..., JsonParser]) -> None:
    with pytest.raises(ProtocolError):
        make_parser().decoder().feed('2["a",' + "[" * 100_000 + "]" * 100_000 + "]")


def test_binary_packet_nested_too_deeply_is_refused() -> None:
    decoder = JsonParser().decoder()
    decoder.feed('51-["a",' + "[" * 1000 + PH0 + "]" * 1000 + "]")  # orjson goes to 1024
    with pytest.raises(ProtocolError, match="nested too deeply"):
        decoder.feed(BUF)


# Properties ----------------------------------------------------------------------------

ORJSON_V5, STDLIB_V5 = JsonParser(), stdlib_parser()
ORJSON_V4, STDLIB_V4 = JsonParser(version=4), stdlib_parser(version=4)


@settings(max_examples=300)
@given(sio_packets(version=5))
def test_v5_round_trip(packet: Packet) -> None:
    for parser in (ORJSON_V5, STDLIB_V5):
        assert feed_all(parser, parser.encode(packet)) == as_encoded(packet)


@settings(max_examples=200)
@given(sio_packets(version=4))
def test_v4_round_trip(packet: Packet) -> None:
    for parser in (ORJSON_V4, STDLIB_V4):
        assert feed_all(parser, parser.encode(packet)) == as_encoded(packet)


def _feed_raising_only_protocol_error(parser: JsonParser, pieces: list[str | bytes]) -> None:
    decoder = parser.decoder()
    for piece in pieces:
        try:
            decoder.feed(piece)
        except ProtocolError:
            pass


@settings(max_examples=300)
@given(st.lists(st.text() | st.binary(max_size=8), max_size=4))
def test_arbitrary_messages_raise_only_protocol_error(pieces: list[str | bytes]) -> None:
    for parser in (ORJSON_V5, STDLIB_V4):
        _feed_raising_only_protocol_error(parser, pieces)


near_valid = st.builds(
    "".join,
    st.lists(
        st.sampled_from(
            [*"0123456-/,?[]{}x:", "/a", "12", '"a"', '"connect"', "null", "\u0661", PH0]
        ),
        max_size=10,
    ),
)


@settings(max_examples=300)
@given(st.lists(near_valid | st.binary(max_size=4), max_size=4))
def test_near_valid_messages_raise_only_protocol_error(pieces: list[str | bytes]) -> None:
    for parser in (ORJSON_V5, STDLIB_V4):
        _feed_raising_only_protocol_error(parser, pieces)


def test_packet_without_data_is_encoded_without_payload_as_node_does() -> None:
    assert JsonParser().encode(Packet(T.ACK, "/admin", None, 3)) == ["3/admin,3"]
