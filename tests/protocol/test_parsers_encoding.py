"""The JSON Socket.IO parser (protocol/parsers.py): encoding, options and JSON functions."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import pytest

from flask_realtime.exceptions import ConfigurationError, ProtocolError
from flask_realtime.protocol.parsers import JsonParser, default_json
from flask_realtime.protocol.socketio import Packet

from .parsers_support import BUF, PARSERS, PH0, PH1, T, feed_all, stdlib_parser


@pytest.fixture(params=sorted(PARSERS))
def make_parser(request: pytest.FixtureRequest) -> Callable[..., JsonParser]:
    return PARSERS[request.param]


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


def test_packet_without_data_is_encoded_without_payload_as_node_does() -> None:
    assert JsonParser().encode(Packet(T.ACK, "/admin", None, 3)) == ["3/admin,3"]


@pytest.mark.parametrize("namespace", ["/", "/chat"])
@pytest.mark.parametrize(
    "args",
    [[], ["ok"], [1, {"a": [None, True]}], [BUF], ["x", {"img": BUF}], [float("nan")]],
    ids=["none", "str", "values", "bytes", "nested-bytes", "nan"],
)
def test_encode_ack_is_what_encode_makes_of_the_ack_packet(
    make_parser: Callable[..., JsonParser], namespace: str, args: list[Any]
) -> None:
    parser = make_parser()
    try:
        expected: list[str | bytes] | type[ConfigurationError] = parser.encode(
            Packet(T.ACK, namespace, args, 42)
        )
    except ConfigurationError:
        expected = ConfigurationError
    if expected is ConfigurationError:  # NaN: the stdlib refuses it, orjson writes null
        with pytest.raises(ConfigurationError):
            parser.encode_ack(namespace, 42, args)
    else:
        assert parser.encode_ack(namespace, 42, args) == expected


def test_encode_ack_refuses_what_cannot_be_serialised(
    make_parser: Callable[..., JsonParser],
) -> None:
    with pytest.raises(ConfigurationError):
        make_parser().encode_ack("/", 1, [object()])


@pytest.mark.parametrize("namespace", ["/", "/chat"])
@pytest.mark.parametrize("ack_id", [None, 7])
@pytest.mark.parametrize(
    "data",
    [["ev"], ["ev", "ok"], ["ev", 1, {"a": [None, True]}], ["ev", BUF], ["ev", {"img": BUF}],
     ["ev", float("nan")]],
    ids=["no-args", "str", "values", "bytes", "nested-bytes", "nan"],
)  # fmt: skip
def test_encode_event_is_what_encode_makes_of_the_event_packet(
    make_parser: Callable[..., JsonParser], namespace: str, ack_id: int | None, data: list[Any]
) -> None:
    parser = make_parser()
    try:
        expected: list[str | bytes] | type[ConfigurationError] = parser.encode(
            Packet(T.EVENT, namespace, data, ack_id)
        )
    except ConfigurationError:
        expected = ConfigurationError
    if expected is ConfigurationError:  # NaN: the stdlib refuses it, orjson writes null
        with pytest.raises(ConfigurationError):
            parser.encode_event(namespace, data, ack_id)
    else:
        assert parser.encode_event(namespace, data, ack_id) == expected


def test_encode_event_refuses_what_cannot_be_serialised(
    make_parser: Callable[..., JsonParser],
) -> None:
    with pytest.raises(ConfigurationError):
        make_parser().encode_event("/", ["ev", object()])
