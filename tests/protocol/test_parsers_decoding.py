"""The JSON Socket.IO parser (protocol/parsers.py): decoding."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from flask_realtime.exceptions import ProtocolError
from flask_realtime.protocol.parsers import DEFAULT_MAX_ATTACHMENTS, MAX_JSON_DEPTH, JsonParser
from flask_realtime.protocol.socketio import Packet

from .parsers_support import BUF, PARSERS, PH0, PH1, T, feed_all


@pytest.fixture(params=sorted(PARSERS))
def make_parser(request: pytest.FixtureRequest) -> Callable[..., JsonParser]:
    return PARSERS[request.param]


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
    with pytest.raises(ProtocolError, match="deeper than 254 levels"):
        decoder.feed('51-["a",' + "[" * 1000 + PH0 + "]" * 1000 + "]")  # orjson reads 1024


def _nested(depth: int) -> str:
    """An EVENT whose data (the outer array is level 1) nests ``depth`` levels."""
    return '2["a",' + "[" * (depth - 1) + "]" * (depth - 1) + "]"


def test_json_as_deep_as_the_encoder_writes_is_accepted_and_encodes_back(
    make_parser: Callable[..., JsonParser],
) -> None:
    parser = make_parser()
    packet = parser.decoder().feed(_nested(MAX_JSON_DEPTH))
    assert packet is not None
    # the ack or echo of it can be written: the depth limit is the encoder's
    assert parser.encode(Packet(T.ACK, "/", packet.data, 1))


def test_json_one_level_deeper_than_the_encoder_writes_is_refused(
    make_parser: Callable[..., JsonParser],
) -> None:
    with pytest.raises(ProtocolError, match=f"deeper than {MAX_JSON_DEPTH} levels"):
        make_parser().decoder().feed(_nested(MAX_JSON_DEPTH + 1))


def test_objects_count_as_levels_too() -> None:
    deep = '2["a",' + '{"k":' * MAX_JSON_DEPTH + "1" + "}" * MAX_JSON_DEPTH + "]"
    with pytest.raises(ProtocolError, match="deeper than"):
        JsonParser().decoder().feed(deep)


def test_brackets_inside_strings_and_wide_packets_are_not_depth() -> None:
    decoder = JsonParser().decoder()
    assert decoder.feed('2["a","' + "[{" * 2000 + '"]') is not None
    assert decoder.feed('2["a",' + ",".join(["[[1]]"] * 2000) + "]") is not None
